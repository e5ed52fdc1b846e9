"""Dataset import jobs: CreateDatasetImportJob, DescribeDatasetImportJob, ListDatasetImportJobs.

CreateDatasetImportJob checks what the service refuses at once (an unknown or inactive dataset, a name in use, an
INCREMENTAL import before any bulk import, the limit of running jobs, a malformed data location), registers the job
CREATE PENDING, and answers. Before the answer goes out, and outside the state's lock, the job's data is read from
S3 and checked row by row against the dataset's schema with the rules of ``import_rules`` (the ones the backfill
command writes by); the job is then scheduled to end ACTIVE, or CREATE FAILED with a ``failureReason``,
``import_delay`` seconds after its creation. Its records land in the dataset when it turns ACTIVE
(:meth:`~local.emulator.state.EmulatorState.sweep`). A job with one bad row fails whole, as the service fails a
job whose data does not match the schema.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final

from import_rules import (
    FULL,
    INCREMENTAL,
    MAX_IMPORT_BYTES,
    TOO_MANY_IMPORT_JOBS_MESSAGE,
    Column,
    columns,
    min_records,
    read_rows,
)
from local.emulator import errors, tags
from local.emulator.bulk import ImportJob, Record, to_record
from local.emulator.config import EmulatorConfig
from local.emulator.lifecycle import ACTIVE, CREATE_PENDING, Timeline
from local.emulator.paging import paginate
from local.emulator.s3_source import Location, SourceError, list_objects, parse_location, read_object, s3_client
from local.emulator.state import Dataset, EmulatorState, OpContext

logger = logging.getLogger(__name__)

Params = dict[str, Any]

# How many of a job's problems its failureReason lists (the service's failureReason is one short text).
_REASON_PROBLEMS: Final = 5


def _dataset(ctx: OpContext, arn: str) -> Dataset:
    """Return the dataset ``arn`` in the caller's region, or raise ResourceNotFound."""
    dataset = ctx.state.datasets.get(arn)
    if dataset is None or dataset.region != ctx.region:
        raise errors.not_found(f"Dataset {arn} does not exist.")
    return dataset


def _job(ctx: OpContext, arn: str) -> ImportJob:
    """Return the import job ``arn`` in the caller's region, or raise ResourceNotFound."""
    job = ctx.state.import_jobs.get(arn)
    if job is None or job.region != ctx.region:
        raise errors.not_found(f"Dataset import job {arn} does not exist.")
    return job


def _check_can_start(ctx: OpContext, dataset: Dataset, import_mode: str) -> None:
    """Raise unless a job may start now: the dataset ACTIVE, a FULL import done before an INCREMENTAL one, and
    fewer running jobs in the region than the limit."""
    status = dataset.timeline.status(ctx.now)
    if status != ACTIVE:
        raise errors.in_use(f"Dataset {dataset.arn} is in status {status}; it must be ACTIVE.")
    jobs = [j for j in ctx.state.import_jobs.values() if j.region == ctx.region]
    imported = any(j.dataset_arn == dataset.arn and j.timeline.status(ctx.now) == ACTIVE for j in jobs)
    if import_mode == INCREMENTAL and not imported:
        # The model's importMode: "If you haven't imported bulk records into the dataset previously, you can only
        # specify FULL." Which error the service answers with is undocumented.
        raise errors.invalid_input(
            f"Dataset {dataset.arn} has no bulk records yet: its first import job must use importMode FULL."
        )
    limit = ctx.config.max_import_jobs
    if sum(1 for j in jobs if j.running(ctx.now)) >= limit:
        # The service's message (error-messages page, "LimitExceededException ... CreateDatasetImportJob").
        raise errors.limit_exceeded(TOO_MANY_IMPORT_JOBS_MESSAGE.format(limit=limit))


def create_dataset_import_job(ctx: OpContext, params: Params) -> Params:
    """CreateDatasetImportJob: register the job; its data is read once the lock is released (``ctx.after``)."""
    name = params["jobName"]
    arn = ctx.arn(f"dataset-import-job/{name}")
    dataset = _dataset(ctx, params["datasetArn"])
    if arn in ctx.state.import_jobs:
        raise errors.already_exists(f"Dataset import job {arn} already exists.")
    data_location = params["dataSource"].get("dataLocation", "")
    location = parse_location(data_location)
    if location is None:
        # The service's wording for a location it cannot use (error-messages page).
        raise errors.invalid_input(
            f"Invalid Data location. Use s3://bucket/file.csv or s3://bucket/folder/: {data_location}"
        )
    import_mode = params.get("importMode", FULL)
    _check_can_start(ctx, dataset, import_mode)
    new_tags = tags.tags_to_create(params)
    job = ImportJob(
        arn=arn,
        name=name,
        region=ctx.region,
        dataset_arn=dataset.arn,
        dataset_type=dataset.dataset_type,
        data_location=data_location,
        role_arn=params.get("roleArn"),
        import_mode=import_mode,
        publish_metrics=bool(params.get("publishAttributionMetricsToS3", False)),
        timeline=Timeline([(ctx.now, CREATE_PENDING)]),
    )
    ctx.state.import_jobs[arn] = job
    ctx.state.tags[arn] = new_tags
    schema_columns = columns(ctx.state.schemas[dataset.schema_arn_at(ctx.now)].text)
    pattern = ctx.config.fail_create
    if pattern and pattern.search(name):
        _settle(ctx.state, job, ctx.config, [], ctx.config.failure_reason)
    else:
        ctx.after.append(partial(run_import, ctx.state, job, ctx.config, location, schema_columns))
    return {"datasetImportJobArn": arn}


def describe_dataset_import_job(ctx: OpContext, params: Params) -> Params:
    """DescribeDatasetImportJob."""
    return {"datasetImportJob": _job(ctx, params["datasetImportJobArn"]).describe(ctx.now)}


def list_dataset_import_jobs(ctx: OpContext, params: Params) -> Params:
    """ListDatasetImportJobs (of one dataset if ``datasetArn`` is given; paginated; oldest first)."""
    dataset_arn = params.get("datasetArn")
    jobs = [
        j
        for j in ctx.state.import_jobs.values()
        if j.region == ctx.region and (dataset_arn is None or j.dataset_arn == dataset_arn)
    ]
    page, token = paginate(jobs, params)
    return {"datasetImportJobs": [j.summary(ctx.now) for j in page], "nextToken": token}


def running_jobs(state: EmulatorState, dataset_arn: str, now: float) -> list[str]:
    """Return the ARNs of the import jobs on a dataset that are CREATE PENDING or CREATE IN_PROGRESS."""
    return [j.arn for j in state.import_jobs.values() if j.dataset_arn == dataset_arn and j.running(now)]


# --- the job's work, outside the lock ---------------------------------------------------------------------------


def run_import(
    state: EmulatorState, job: ImportJob, config: EmulatorConfig, location: Location, schema_columns: Sequence[Column]
) -> None:
    """Read and check a job's data, then schedule its end (ACTIVE with its records, or CREATE FAILED)."""
    records: list[Record] = []
    try:
        records = _load(job, config, location, schema_columns)
        reason = None
    except SourceError as exc:
        reason = f"Failed to create a data import job for {job.dataset_type} dataset. {exc}"
    except Exception:
        logger.exception("import job %s", job.arn)
        reason = "Emulator bug while importing; see the emulator's log."
    _settle(state, job, config, records, reason)


def _settle(
    state: EmulatorState, job: ImportJob, config: EmulatorConfig, records: list[Record], reason: str | None
) -> None:
    """Schedule the job's end ``import_delay`` seconds after its creation, with its records or failure reason."""
    with state.lock:
        job.records, job.failure_reason = (None, reason) if reason else (records, None)
        job.timeline = Timeline.creation(job.timeline.created_at, config.import_delay, fails=reason is not None)


def _load(job: ImportJob, config: EmulatorConfig, location: Location, schema_columns: Sequence[Column]) -> list[Record]:
    """Return a job's records, read from S3 and checked against the schema.

    Raises
    ------
    SourceError
        With the failure reason: unreadable data, too much of it, a header or row that breaks the rules, too few
        interactions.
    """
    if config.s3_endpoint_url is None:
        raise SourceError("The emulator has no S3 endpoint to read from (set s3_endpoint_url).")
    client = s3_client(config.s3_endpoint_url, job.region)
    objects = list_objects(client, location)
    size, limit = sum(size for _, size in objects), MAX_IMPORT_BYTES[job.import_mode]
    if size > limit:
        raise SourceError(f"{size} bytes of data exceed the {limit} bytes a {job.import_mode} import job may read.")
    rows: list[dict[str, Any]] = []
    for key, _ in objects:
        try:
            text = read_object(client, location, key).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SourceError(f"{location.url(key)} is not UTF-8 encoded text.") from exc
        found, problems = read_rows(schema_columns, text, source=location.url(key), max_problems=_REASON_PROBLEMS)
        if problems:
            raise SourceError("; ".join(problems[:_REASON_PROBLEMS]))
        rows.extend(found)
    fewest = min(min_records(job.dataset_type, job.import_mode), config.min_import_interactions)
    if len(rows) < fewest:
        raise SourceError(f"The import holds {len(rows)} records; an import job needs at least {fewest}.")
    return [to_record(job.dataset_type, row) for row in rows]


OPERATIONS: Final[dict[str, Callable[[OpContext, Params], Params]]] = {
    "CreateDatasetImportJob": create_dataset_import_job,
    "DescribeDatasetImportJob": describe_dataset_import_job,
    "ListDatasetImportJobs": list_dataset_import_jobs,
}
