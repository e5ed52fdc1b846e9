"""A file of changes loaded through ``backfill`` into a :class:`~local.environment.LocalPipeline`, and timed.

``make demo`` loads its catalogue with it and ``make bench`` measures it. The backfill runs in this process, as the
command runs it (``tools.backfill.run.run_backfill``), against the pipeline's emulator and moto's S3 (the pipeline's
moto server serves S3 as well as SQS). It runs without waiting for the import jobs, so **the bulk stage** (read,
decode, validate, collapse, write CSV, upload: until the first CreateDatasetImportJob is sent) is timed apart from
**the import job**, which this module then follows to its end: locally that is the emulator's work (it reads the
part while answering the create) and its ``import_delay``; on AWS, minutes.

What landed is counted from the emulator's records (those carrying the job's ARN), not from what the command says.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import boto3

from bulk.jobs import CREATE_FAILED
from bulk.targets import Destination
from local.environment import DUMMY_CREDENTIALS, REGION, LocalPipeline
from tools.backfill.inputs import InputSpec
from tools.backfill.report import Report
from tools.backfill.run import Options, run_backfill

ROLE_ARN: Final = "arn:aws:iam::123456789012:role/PersonalizeImport"
BUCKET: Final = "local-imports"
ACTIVE: Final = "ACTIVE"
_ENDED: Final = frozenset({ACTIVE, CREATE_FAILED})


@dataclass(frozen=True, slots=True)
class Job:
    """One import job the run created, as it ended."""

    name: str
    arn: str
    status: str
    records: int


@dataclass(frozen=True, slots=True)
class BulkRun:
    """What one backfill of a file did, and how long each half took.

    Attributes
    ----------
    lines:
        Lines read from the file.
    to_import:
        Rows written to CSV: each record's newest change (``superseded`` older changes left out).
    rejected:
        Lines in the rejects file; ``reject_codes`` counts them by ``ErrorCode``.
    imported:
        Records the emulator holds from the run's import jobs.
    stage_s:
        The bulk stage: read, decode, validate, collapse, CSV, upload; until the first job is asked for.
    import_s:
        From then until every job ended: the import job's own time (locally the emulator's reading and delay).
    """

    lines: int
    to_import: int
    superseded: int
    rejected: int
    reject_codes: dict[str, int]
    imported: int
    jobs: list[Job]
    stage_s: float
    import_s: float
    report: Report

    @property
    def records_per_second(self) -> float:
        """Lines through the bulk stage per second."""
        return self.lines / self.stage_s if self.stage_s else 0.0

    @property
    def accounted(self) -> bool:
        """Every line is imported, superseded or rejected, and every job ended ACTIVE."""
        return (
            self.lines == self.to_import + self.superseded + self.rejected
            and self.imported == self.to_import
            and all(job.status == ACTIVE for job in self.jobs)
        )


def s3_client(pipeline: LocalPipeline) -> Any:
    """A client for the S3 that the pipeline's moto server serves."""
    return boto3.client(
        "s3",
        endpoint_url=pipeline.sqs_server.endpoint_url,
        region_name=REGION,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def prepare_imports(pipeline: LocalPipeline, *, import_delay: float) -> Any:
    """Point the emulator's import jobs at moto's S3, create the import bucket there; return the S3 client."""
    pipeline.emulator.configure(s3_endpoint_url=pipeline.sqs_server.endpoint_url, import_delay=import_delay)
    s3 = s3_client(pipeline)
    s3.create_bucket(Bucket=BUCKET)
    return s3


def load_changes(
    pipeline: LocalPipeline,
    s3: Any,
    changes: Path,
    *,
    rejects: Path,
    kinds: tuple[str, ...] = ("item",),
    prefix: str = "backfill/",
    poll_seconds: float = 0.05,
    timeout_s: float = 300.0,
    progress: Callable[[str], None] = lambda _line: None,
) -> BulkRun:
    """Backfill the JSON Lines file ``changes`` into the pipeline's datasets of ``kinds``, and wait for the jobs.

    Raises
    ------
    tools.backfill.errors.BackfillError
        Bad input, as the command would exit 2 for.
    TimeoutError
        A job did not end within ``timeout_s``.
    """
    options = Options(
        inputs=[InputSpec(str(changes))],
        datasets={kind: pipeline.provisioned.datasets[kind] for kind in kinds},
        destination=Destination.parse(f"s3://{BUCKET}/{prefix}", ROLE_ARN),
        rejects_path=rejects,
        wait=False,
        poll_seconds=poll_seconds,
    )
    personalize = _JobClock(pipeline.personalize)
    started = time.perf_counter()
    report = run_backfill(options, personalize=personalize, s3=s3, progress=progress)
    # The bulk stage ends where the first job is asked for: the emulator reads the job's data while answering.
    staged = personalize.first_create or time.perf_counter()
    arns = {part.job_arn: part.job_name or "" for d in report.datasets for part in d.manifest.parts if part.job_arn}
    statuses = _wait(pipeline.personalize, list(arns), poll_seconds=poll_seconds, timeout_s=timeout_s)
    ended = time.perf_counter()
    landed: Counter[str] = Counter()
    for kind in kinds:
        for record in pipeline.emulator.state.records(pipeline.provisioned.datasets[kind]):
            if record.get("importJobArn") in arns:
                landed[str(record["importJobArn"])] += 1
    codes = Counter(str(line["ErrorCode"]) for line in _read_rejects(rejects))
    return BulkRun(
        lines=report.lines,
        to_import=sum(d.manifest.records for d in report.datasets),
        superseded=sum(d.manifest.superseded for d in report.datasets),
        rejected=report.rejected,
        reject_codes=dict(sorted(codes.items())),
        imported=sum(landed.values()),
        jobs=[Job(name, arn, statuses[arn], landed[arn]) for arn, name in arns.items()],
        stage_s=staged - started,
        import_s=ended - staged,
        report=report,
    )


class _JobClock:
    """A Personalize client that notes when the first CreateDatasetImportJob was sent."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.first_create: float | None = None

    def create_dataset_import_job(self, **request: Any) -> Any:
        if self.first_create is None:
            self.first_create = time.perf_counter()
        return self._client.create_dataset_import_job(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _wait(personalize: Any, arns: list[str], *, poll_seconds: float, timeout_s: float) -> dict[str, str]:
    """Poll DescribeDatasetImportJob until every job ended; their final statuses."""
    deadline = time.monotonic() + timeout_s
    statuses: dict[str, str] = {}
    while True:
        for arn in arns:
            if statuses.get(arn) not in _ENDED:
                job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
                statuses[arn] = str(job["status"])
        if all(status in _ENDED for status in statuses.values()):
            return statuses
        if time.monotonic() > deadline:
            raise TimeoutError(f"import jobs still running after {timeout_s:g} s: {statuses}")
        time.sleep(poll_seconds)


def _read_rejects(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
