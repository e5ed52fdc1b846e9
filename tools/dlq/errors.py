"""How the DLQ tool fails: the one error a user must fix, and the exit statuses."""

from __future__ import annotations

from typing import Final

# Exit statuses (README, "What the tools promise"). UNFINISHED is apart from FAILED so that a person or a script
# can tell "something failed: look at it" from "nothing failed, but this run did not reach everything: run the
# same command again".
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2  # argparse's own, for parser.error
EXIT_UNFINISHED: Final = 3


class DlqToolError(Exception):
    """A problem the user must fix (a bad argument, a refused request); printed as one line."""


def check_distinct_queues(dlq_url: str, queue_url: str) -> None:
    """Refuse to move messages from the DLQ into itself.

    Raises
    ------
    DlqToolError
        The two URLs name the same queue.
    """
    if dlq_url.rstrip("/") == queue_url.rstrip("/"):
        raise DlqToolError(SAME_QUEUE)


SAME_QUEUE: Final = "--queue-url is the DLQ itself: messages would go round in circles"
