"""Dataset import jobs, the rules both callers share: statuses, attempt names, finding a job by name, modes.

- **Names** are deterministic, so a crash after a create never starts a job twice: the caller names a part's (or a
  folder's) first attempt, and ListDatasetImportJobs finds it again. A job that ended CREATE FAILED keeps its name
  for ever (the service refuses a second job of that name), so a retry is ``<name>-r2``, ``-r3``: a failed job
  imported nothing, so the retry duplicates nothing.
- **Modes** (docs/bulk.md, "FULL and INCREMENTAL"): a dataset's first bulk import must be FULL, which replaces
  earlier bulk records and keeps what Put* wrote; INCREMENTAL adds and replaces by id. Only a first job may be FULL.
"""

from __future__ import annotations

import re
from typing import Any, Final

from import_rules import FULL, INCREMENTAL

ACTIVE: Final = "ACTIVE"
CREATE_FAILED: Final = "CREATE FAILED"
TERMINAL: Final = frozenset({ACTIVE, CREATE_FAILED})
_RETRY: Final = re.compile(r"-r(\d+)$")


def attempt_name(base: str, attempt: int) -> str:
    """The job name of a part's ``attempt``-th try."""
    return base if attempt == 1 else f"{base}-r{attempt}"


def list_jobs(personalize: Any, dataset_arn: str) -> dict[str, dict[str, Any]]:
    """Every import job of a dataset, by name (DatasetImportJobSummary)."""
    jobs: dict[str, dict[str, Any]] = {}
    for page in personalize.get_paginator("list_dataset_import_jobs").paginate(datasetArn=dataset_arn):
        jobs.update((job["jobName"], job) for job in page.get("datasetImportJobs", []))
    return jobs


def latest_attempt(jobs: dict[str, dict[str, Any]], base: str) -> tuple[int, dict[str, Any] | None]:
    """The highest attempt of a part among ``jobs``, and that job's summary (0 and None when there is none)."""
    found = 1 if base in jobs else 0
    for name in jobs:
        match = _RETRY.search(name)
        if match and name == f"{base}-r{match.group(1)}":
            found = max(found, int(match.group(1)))
    return found, (jobs[attempt_name(base, found)] if found else None)


def imported_before(jobs: dict[str, dict[str, Any]]) -> bool:
    """Whether a dataset has bulk records: one of its import jobs ended ACTIVE."""
    return any(job.get("status") == ACTIVE for job in jobs.values())


def first_mode(has_bulk_records: bool) -> str:
    """The mode a dataset's next import may use without replacing anything: INCREMENTAL once it has bulk records,
    else FULL (the only mode allowed then; with no earlier bulk records it replaces nothing)."""
    return INCREMENTAL if has_bulk_records else FULL
