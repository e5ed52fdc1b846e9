"""What a run did: counts, parts, jobs and their fates, as text for people (stdout) or JSON (``--json``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tools.backfill.store import Manifest


@dataclass(frozen=True, slots=True)
class DatasetReport:
    """One dataset's share: its manifest (parts, modes, jobs) and where that manifest is stored."""

    manifest: Manifest
    manifest_url: str | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        manifest = self.manifest
        return {
            "datasetArn": manifest.dataset_arn,
            "datasetType": manifest.dataset_type,
            "records": manifest.records,
            "superseded": manifest.superseded,
            "manifest": self.manifest_url,
            "parts": [
                {
                    "number": part.number,
                    "key": part.key,
                    "bytes": part.bytes,
                    "records": part.records,
                    "importMode": part.import_mode,
                    "jobName": part.job_name,
                    "jobArn": part.job_arn,
                    "status": part.status,
                    "failureReason": part.failure_reason,
                }
                for part in manifest.parts
            ],
        }


@dataclass(frozen=True, slots=True)
class Report:
    """A whole run."""

    lines: int
    rejected: int
    rejects_path: str
    dry_run: bool
    datasets: list[DatasetReport]
    exit_status: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--json``)."""
        return {
            "records": self.lines,
            "rejected": self.rejected,
            "rejects": self.rejects_path,
            "dryRun": self.dry_run,
            "exitStatus": self.exit_status,
            "datasets": [dataset.to_dict() for dataset in self.datasets],
        }

    def render(self) -> str:
        """The report as text."""
        heading = "dry run: nothing uploaded" if self.dry_run else "backfill"
        lines = [f"{heading}: {self.lines:,} records read, {self.rejected:,} rejected -> {self.rejects_path}"]
        for dataset in self.datasets:
            manifest = dataset.manifest
            lines.append(
                f"{manifest.dataset_type} {manifest.dataset_arn}: {manifest.records:,} records to import"
                f" ({manifest.superseded:,} older changes superseded), {len(manifest.parts)} part(s)"
            )
            lines.extend(
                f"  part {part.number}: {part.records:,} records, {part.bytes:,} bytes, {part.import_mode}"
                + (f", job {part.job_arn or part.job_name}: {part.status or 'not started'}" if not self.dry_run else "")
                + (f" ({part.failure_reason})" if part.failure_reason else "")
                for part in manifest.parts
            )
            if dataset.manifest_url:
                lines.append(f"  manifest: {dataset.manifest_url}")
        return "\n".join(lines)
