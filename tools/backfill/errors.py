"""How the backfill command fails: the one error a user must fix, and the exit statuses."""

from __future__ import annotations

from typing import Final

from bulk.errors import BulkError

# Exit statuses (README, "Loading your catalogue"; docs/bulk.md). REJECTED is apart from BAD_INPUT so a script can
# tell "the run went through, but some lines are in the rejects file" from "nothing was imported: fix the named
# thing". UNFINISHED means nothing failed but the run stopped before every job was started (``--no-wait`` with parts
# that must wait for an earlier job): run the same command again.
EXIT_OK: Final = 0
EXIT_REJECTED: Final = 1
EXIT_BAD_INPUT: Final = 2
EXIT_UNFINISHED: Final = 3


# A problem the user must fix before anything can be imported (a missing dataset, a wrong bucket, a CSV header that
# does not fit the schema, missing credentials); printed as one line, exit status 2. One class with the code the
# command shares with the spill workflow (lambdas/bulk/), which raises it under its own name.
BackfillError = BulkError
