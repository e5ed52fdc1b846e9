"""The one error of the bulk path: a problem that stops an import before anything is written."""

from __future__ import annotations


class BulkError(Exception):
    """A problem to fix before anything can be imported: a missing dataset, a dataset of another type or not
    ACTIVE, a schema without a field its type needs, a wrong bucket. The message is one line naming it.

    The backfill command prints it and exits with status 2 (``tools.backfill.errors.BackfillError`` is this class);
    the spill workflow fails its step with it, which resumes the event source mapping and alarms.
    """
