"""Dataset import jobs: naming, the mode of each part, finding a job before creating it, and following it.

- **Names** are deterministic: ``backfill-<type>-<key[:12]>-<part>``, where the key digests the inputs, the
  dataset and the options that shape the parts; a failed job's retry is ``...-<part>-r2`` (``bulk.jobs``).
- **Before creating**, the dataset's jobs are listed (ListDatasetImportJobs) and a job of the name is adopted: a
  running one is waited for, an ACTIVE one is done. A create answered ``ResourceAlreadyExistsException`` (a lost
  answer, a concurrent run) adopts too. So a crash after a job was created never starts it twice.
- **Modes** (docs/bulk.md): a dataset's first bulk import must be FULL. FULL replaces the dataset's earlier bulk
  records and keeps what Put* wrote; INCREMENTAL adds and replaces by id. With several parts, only the first may be
  FULL (a second FULL would replace the first), and the others start once it is ACTIVE.
- **At most five** import jobs may be pending or running per region (``import_rules.MAX_PENDING_IMPORT_JOBS``): a
  create refused with ``LimitExceededException`` is tried again at the next poll.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError

from bulk.jobs import ACTIVE, CREATE_FAILED, TERMINAL, attempt_name, latest_attempt, list_jobs
from bulk.targets import Destination
from import_rules import FULL, INCREMENTAL
from tools.backfill.errors import BackfillError
from tools.backfill.store import Manifest, PartRecord

AUTO: Final = "auto"
MODES: Final = (AUTO, FULL.lower(), INCREMENTAL.lower())


def base_name(dataset_type: str, key: str, number: int) -> str:
    """The job name of a part's first attempt (at most 63 characters, the model's pattern)."""
    return f"backfill-{dataset_type.lower().replace('_', '-')}-{key[:12]}-{number:05d}"


def plan_modes(option: str, parts: int, imported_before: bool) -> list[str]:
    """The import mode of each part, for ``--mode`` ``option``.

    Raises
    ------
    BackfillError
        ``incremental`` was asked for a dataset with no bulk import yet.
    """
    if option == INCREMENTAL.lower() and not imported_before:
        raise BackfillError("--mode incremental: the dataset has no bulk import yet, and its first must be FULL")
    first = FULL if option == FULL.lower() or (option == AUTO and not imported_before) else INCREMENTAL
    return [first] + [INCREMENTAL] * (parts - 1)


@dataclass(slots=True)
class JobRunner:
    """Starts and follows one dataset's part jobs; call :meth:`step` until :attr:`done`.

    ``notify`` receives a line for every job created or adopted and every status change.
    """

    personalize: Any
    manifest: Manifest
    destination: Destination
    notify: Callable[[str], None]
    on_change: Callable[[], None]

    @property
    def parts(self) -> list[PartRecord]:
        """The dataset's parts (the manifest's records, updated in place)."""
        return self.manifest.parts

    def location(self, part: PartRecord) -> str:
        """The part's ``dataLocation``."""
        return self.destination.url(part.key)

    def adopt(self, jobs: dict[str, dict[str, Any]]) -> None:
        """Attach what exists to each part: its latest attempt, or a new attempt's name when that one failed."""

        def base(number: int) -> str:
            return base_name(self.manifest.dataset_type, self.manifest.key, number)

        for part in self.parts:
            attempt, summary = latest_attempt(jobs, base(part.number))
            if summary is None:
                part.job_name, part.job_arn, part.status = attempt_name(base(part.number), 1), None, None
            elif summary["status"] == CREATE_FAILED:
                # Retried by this run under the next name: the failed job imported nothing.
                part.job_name, part.job_arn, part.status = attempt_name(base(part.number), attempt + 1), None, None
                self.notify(f"{summary['jobName']} had failed ({summary.get('failureReason')}); trying again")
            else:
                part.job_name, part.job_arn = str(summary["jobName"]), str(summary["datasetImportJobArn"])
                part.status, part.failure_reason = str(summary["status"]), None
                self.notify(f"{part.job_name}: found {part.status}, not created again")

    @property
    def done(self) -> bool:
        """Whether every part ended (ACTIVE or CREATE FAILED), or cannot start because the first part failed."""
        return all(part.status in TERMINAL for part in self.parts) or self._blocked()

    def _blocked(self) -> bool:
        first = self.parts[0]
        return first.import_mode == FULL and first.status == CREATE_FAILED

    def can_start(self, part: PartRecord) -> bool:
        """Whether a part's job may be created now (parts after a FULL first part wait for it to be ACTIVE)."""
        if part.job_arn is not None:
            return False
        first = self.parts[0]
        return part is first or first.import_mode == INCREMENTAL or first.status == ACTIVE

    @property
    def waiting(self) -> list[PartRecord]:
        """The parts with no job yet."""
        return [part for part in self.parts if part.job_arn is None]

    def step(self) -> None:
        """Create the jobs that may start, then read the status of the running ones."""
        for part in self.parts:
            if self.can_start(part):
                self._create(part)
        for part in self.parts:
            if part.job_arn is not None and part.status not in TERMINAL:
                self._refresh(part)

    def _create(self, part: PartRecord) -> None:
        request: dict[str, Any] = {
            "jobName": part.job_name,
            "datasetArn": self.manifest.dataset_arn,
            "dataSource": {"dataLocation": self.location(part)},
            "importMode": part.import_mode,
        }
        if self.destination.role_arn:
            request["roleArn"] = self.destination.role_arn
        try:
            part.job_arn = str(self.personalize.create_dataset_import_job(**request)["datasetImportJobArn"])
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "LimitExceededException":
                return  # five jobs already run in the region: try again at the next poll
            if code != "ResourceAlreadyExistsException":
                raise
            summary = list_jobs(self.personalize, self.manifest.dataset_arn).get(str(part.job_name))
            if summary is None:
                raise
            part.job_arn = str(summary["datasetImportJobArn"])
            self.notify(f"{part.job_name}: already created, not created again")
        else:
            self.notify(f"{part.job_name}: created ({part.import_mode}) reading {self.location(part)}")
        part.status = None
        self.on_change()
        self._refresh(part)

    def _refresh(self, part: PartRecord) -> None:
        job = self.personalize.describe_dataset_import_job(datasetImportJobArn=part.job_arn)["datasetImportJob"]
        status = str(job["status"])
        if status != part.status:
            part.status = status
            part.failure_reason = job.get("failureReason") if status == CREATE_FAILED else None
            reason = f": {part.failure_reason}" if part.failure_reason else ""
            self.notify(f"{part.job_name}: {status}{reason}")
            self.on_change()


def all_done(runners: Iterable[JobRunner]) -> bool:
    """Whether every runner is done."""
    return all(runner.done for runner in runners)
