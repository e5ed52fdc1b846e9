"""Step 4 of the spill: one dataset import job per compacted folder, created once, followed until it ends.

The step holds no state of its own: every call lists the dataset's jobs and finds each folder's by name
(``<spillId>-<type>-<n>``, ``-r2`` for a retry: ``bulk.jobs``), so a crash after a create, or a create whose
answer was lost, never starts a second job for a folder. A job's mode is INCREMENTAL once the dataset has bulk
records, else FULL (its first import; with no earlier bulk records it replaces nothing, and it keeps what Put*
wrote). A folder after a FULL first one waits for it to be ACTIVE. A job that ends CREATE FAILED is tried again
under its next name up to ``max_attempts`` times; then the step reports it failed (its parts stay in S3; the
workflow resumes the mapping and fails, which alarms, and ``backfill --resume`` or a new execution retries).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from botocore.exceptions import ClientError

from bulk.jobs import ACTIVE, CREATE_FAILED, attempt_name, first_mode, imported_before, latest_attempt, list_jobs

MAX_ATTEMPTS: Final = 3


def job_base(spill_id: str, dataset_type: str, number: int) -> str:
    """A folder's job name (first attempt): at most 63 characters for any spill id the trigger makes."""
    return f"{spill_id}-{dataset_type.lower().replace('_', '-')}-{number:03d}"


def advance(
    personalize: Any,
    *,
    spill_id: str,
    bucket: str,
    role_arn: str,
    datasets: Mapping[str, str],
    compacted: Mapping[str, Any],
    max_attempts: int = MAX_ATTEMPTS,
) -> dict[str, Any]:
    """Create what may start, read what runs; return ``done``, ``failed`` (job names) and every job's state.

    ``datasets`` maps dataset type → ARN; ``compacted`` is the compaction's result.
    """
    jobs_out: list[dict[str, Any]] = []
    failed: list[str] = []
    for dataset_type, layout in compacted.items():
        dataset_arn = datasets[dataset_type]
        jobs = list_jobs(personalize, dataset_arn)
        for number, folder in enumerate(layout["folders"], start=1):
            base = job_base(spill_id, dataset_type, number)
            attempt, summary = latest_attempt(jobs, base)
            status = None if summary is None else str(summary["status"])
            if status == CREATE_FAILED and attempt >= max_attempts:
                failed.append(str(summary["jobName"]) if summary else base)
            # A folder after the first waits until the dataset has bulk records (its first job is ACTIVE), so it
            # is INCREMENTAL and cannot replace the first.
            elif (summary is None or status == CREATE_FAILED) and (number == 1 or imported_before(jobs)):
                status = _create(
                    personalize,
                    jobs,
                    name=attempt_name(base, attempt + 1),
                    dataset_arn=dataset_arn,
                    location=f"s3://{bucket}/{folder['folder']}",
                    role_arn=role_arn,
                )
            jobs_out.append(_state(personalize, jobs, base, status))
    running = [job for job in jobs_out if job["status"] != ACTIVE]
    return {"done": not running and not failed, "failed": failed, "jobs": jobs_out}


def _create(
    personalize: Any, jobs: dict[str, dict[str, Any]], *, name: str, dataset_arn: str, location: str, role_arn: str
) -> str | None:
    """Create a job (None when the region's five running jobs make it wait for the next call)."""
    mode = first_mode(imported_before(jobs))
    try:
        personalize.create_dataset_import_job(
            jobName=name,
            datasetArn=dataset_arn,
            dataSource={"dataLocation": location},
            roleArn=role_arn,
            importMode=mode,
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == "LimitExceededException":
            return None
        if code != "ResourceAlreadyExistsException":
            raise
    jobs.update(list_jobs(personalize, dataset_arn))
    summary = jobs.get(name)
    return None if summary is None else str(summary["status"])


def _state(personalize: Any, jobs: dict[str, dict[str, Any]], base: str, status: str | None) -> dict[str, Any]:
    """A folder's job as the step reports it, with its duration once ACTIVE (for the ImportJobSeconds metric)."""
    _attempt, summary = latest_attempt(jobs, base)
    if summary is None:
        return {"name": base, "status": status or "WAITING"}
    state: dict[str, Any] = {"name": summary["jobName"], "status": status or summary["status"]}
    if state["status"] == ACTIVE:
        job = personalize.describe_dataset_import_job(datasetImportJobArn=summary["datasetImportJobArn"])
        described = job["datasetImportJob"]
        started, ended = described.get("creationDateTime"), described.get("lastUpdatedDateTime")
        if isinstance(started, datetime) and isinstance(ended, datetime):
            state["seconds"] = round((ended - started).total_seconds(), 1)
    return state
