"""One backfill run, start to end: check, read and validate, cut, upload, import, report (see :mod:`tools.backfill`).

Everything that can be wrong with the input is found before anything is uploaded: the datasets and their schemas,
the bucket, CSV headers, and whether every part meets the service's record minimum. Then, per dataset, the parts
are uploaded (skipping those already there), the manifest written, and the jobs created or adopted and followed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

import import_rules
from bulk.jobs import CREATE_FAILED, list_jobs
from bulk.targets import Destination, Target, describe_target
from ingest.catalog import DatasetCatalog
from tools.aws_errors import describe_error
from tools.backfill.collect import Collector, DatasetRows, Reject
from tools.backfill.errors import EXIT_OK, EXIT_REJECTED, EXIT_UNFINISHED, BackfillError
from tools.backfill.inputs import InputSpec, open_input
from tools.backfill.jobs import AUTO, JobRunner, plan_modes
from tools.backfill.parts import Part, Spool, remove, workdir
from tools.backfill.report import DatasetReport, Report
from tools.backfill.store import Manifest, PartRecord, check_bucket, read_manifest, upload, write_manifest

DEFAULT_POLL_SECONDS: Final = 20.0
DEFAULT_PROGRESS_EVERY: Final = 10_000
# Parts of at most the INCREMENTAL limit: any part fits either mode (see tools.backfill.parts).
DEFAULT_MAX_PART_BYTES: Final = import_rules.MAX_IMPORT_BYTES[import_rules.INCREMENTAL]


@dataclass(frozen=True, slots=True)
class Options:
    """What to load, where, and how (the command line's options, checked)."""

    inputs: Sequence[InputSpec]
    datasets: Mapping[str, str]
    destination: Destination | None
    rejects_path: Path
    mode: str = AUTO
    wait: bool = True
    dry_run: bool = False
    max_part_bytes: int = DEFAULT_MAX_PART_BYTES
    poll_seconds: float = DEFAULT_POLL_SECONDS
    progress_every: int = DEFAULT_PROGRESS_EVERY
    # The fewest records a job of (dataset type, mode) may hold; the service's (import_rules), lowered by tests.
    min_records: Callable[[str, str], int] = import_rules.min_records


@dataclass(slots=True)
class _Dataset:
    """One dataset's way through the run."""

    rows: DatasetRows
    manifest: Manifest
    manifest_key: str
    parts: list[Part] = field(default_factory=list)
    runner: JobRunner | None = None


def run_backfill(
    options: Options,
    *,
    personalize: Any,
    s3: Any,
    progress: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> Report:
    """Run a backfill and report it.

    Raises
    ------
    BackfillError
        Bad input (before anything was uploaded) or a refused import (the report names what was uploaded).
    """
    _check_options(options)
    catalog = DatasetCatalog(client=personalize)
    targets = {kind: describe_target(personalize, catalog, kind, arn) for kind, arn in options.datasets.items()}
    if options.destination is not None and not options.dry_run:
        check_bucket(s3, options.destination.bucket)
    scratch = workdir()
    try:
        collector, digests = _collect(options, targets, s3, progress)
        datasets = _plan(options, collector=collector, digests=digests, personalize=personalize, s3=s3, scratch=scratch)
        if not options.dry_run:
            assert options.destination is not None
            try:
                for dataset in datasets:
                    _upload(options.destination, dataset, s3, progress)
                _import(options, datasets=datasets, personalize=personalize, s3=s3, progress=progress, sleep=sleep)
            except (ClientError, BotoCoreError) as error:
                written = [options.destination.url(d.manifest_key) for d in datasets if d.parts]
                raise BackfillError(
                    f"{describe_error(error)}; what was done so far is in {', '.join(written)}: fix the cause and "
                    "run the same command again to resume"
                ) from error
    finally:
        remove(scratch)
    return _report(options, collector, datasets)


def _check_options(options: Options) -> None:
    if not options.datasets:
        raise BackfillError("no dataset: pass --stack NAME or --dataset KIND=ARN")
    for spec in options.inputs:
        if spec.is_csv and spec.kind not in options.datasets:
            raise BackfillError(f"{spec.location}: no dataset was given for {spec.kind} (--dataset {spec.kind}=ARN)")
    if not options.dry_run:
        if options.destination is None:
            raise BackfillError("no import location: pass --stack NAME or --import-location s3://bucket/prefix/")
        if not options.destination.role_arn:
            raise BackfillError("no role for Personalize to read the bucket with: pass --stack NAME or --role-arn")


def _collect(
    options: Options, targets: Mapping[str, Target], s3: Any, progress: Callable[[str], None]
) -> tuple[Collector, list[dict[str, str]]]:
    """Read every input through the steps; write the rejects file; return the collector and the inputs' digests."""
    partial = options.rejects_path.with_name(options.rejects_path.name + ".partial")
    digests: list[dict[str, str]] = []
    try:
        collector = _read_all(options, targets=targets, s3=s3, progress=progress, partial=partial, digests=digests)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, options.rejects_path)
    progress(f"validated {collector.lines:,} records, {collector.rejected:,} rejected (see {options.rejects_path})")
    return collector, digests


def _read_all(
    options: Options,
    *,
    targets: Mapping[str, Target],
    s3: Any,
    progress: Callable[[str], None],
    partial: Path,
    digests: list[dict[str, str]],
) -> Collector:
    with partial.open("w", encoding="utf-8") as rejects:

        def on_reject(reject: Reject) -> None:
            rejects.write(json.dumps(reject.to_dict(), ensure_ascii=True) + "\n")

        collector = Collector(targets, on_reject)
        for spec in options.inputs:
            opened = open_input(spec, s3)
            lines = _counting(opened.lines(), collector, options.progress_every, progress)
            if spec.is_csv:
                collector.add_csv(spec.kind, lines)
            else:
                collector.add_changes(lines)
            digests.append({"source": spec.location, "kind": spec.kind, "sha256": opened.sha256})
            progress(f"read {spec.location}: {opened.size:,} bytes, sha256 {opened.sha256[:12]}")
    return collector


def _counting(lines: Any, collector: Collector, every: int, progress: Callable[[str], None]) -> Any:
    """Pass lines through, printing a progress line every ``every`` records."""
    for line in lines:
        yield line
        if collector.lines and collector.lines % every == 0:
            progress(f"validated {collector.lines:,} records, {collector.rejected:,} rejected")


def _plan(
    options: Options,
    *,
    collector: Collector,
    digests: list[dict[str, str]],
    personalize: Any,
    s3: Any,
    scratch: Path,
) -> list[_Dataset]:
    """Cut each dataset's rows into parts and decide each part's mode (reusing a manifest of the same run)."""
    planned = []
    for kind, rows in collector.datasets.items():
        target = rows.target
        key = run_key(digests, target.dataset_arn, options.mode, options.max_part_bytes)
        folder = f"{options.destination.prefix if options.destination else ''}{target.dataset_type.lower()}-{key[:12]}/"
        manifest = Manifest(
            dataset_arn=target.dataset_arn,
            dataset_type=target.dataset_type,
            key=key,
            mode=options.mode,
            inputs=digests,
            records=rows.count,
            superseded=rows.superseded,
        )
        dataset = _Dataset(rows, manifest, f"{folder}manifest.json")
        planned.append(dataset)
        if rows.count == 0:
            continue
        spool_dir = scratch / kind
        spool_dir.mkdir()
        spool = Spool(target.columns, spool_dir)
        spool.write(rows.rows())
        dataset.parts = spool.cut(
            max_bytes=options.max_part_bytes,
            min_records=options.min_records(target.dataset_type, import_rules.INCREMENTAL),
        )
        modes = _modes(options, dataset, personalize, s3)
        manifest.parts = [
            PartRecord(part.number, f"{folder}part-{part.number:05d}.csv", part.size, part.records, part.sha256, mode)
            for part, mode in zip(dataset.parts, modes, strict=True)
        ]
        for record in manifest.parts:
            fewest = options.min_records(target.dataset_type, record.import_mode)
            if record.records < fewest:
                raise BackfillError(
                    f"{target.dataset_type}: {record.records} records to import, but a {record.import_mode} import "
                    f"job needs at least {fewest} ({import_rules.QUOTAS_PAGE})"
                )
    return planned


def _modes(options: Options, dataset: _Dataset, personalize: Any, s3: Any) -> list[str]:
    """Each part's mode: as an earlier run of the same input recorded it, else decided now."""
    if options.destination is not None:
        earlier = read_manifest(s3, options.destination.bucket, dataset.manifest_key)
        if earlier is not None and [p.sha256 for p in earlier.parts] == [p.sha256 for p in dataset.parts]:
            return [p.import_mode for p in earlier.parts]
    jobs = list_jobs(personalize, dataset.manifest.dataset_arn)
    imported_before = any(job.get("status") == "ACTIVE" for job in jobs.values())
    return plan_modes(options.mode, len(dataset.parts), imported_before)


def run_key(digests: Sequence[Mapping[str, str]], dataset_arn: str, mode: str, max_part_bytes: int) -> str:
    """The digest naming a dataset's share of a run: its inputs, the dataset, and what shapes the parts."""
    material = {"inputs": list(digests), "datasetArn": dataset_arn, "mode": mode, "maxPartBytes": max_part_bytes}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _upload(destination: Destination, dataset: _Dataset, s3: Any, progress: Callable[[str], None]) -> None:
    """Upload a dataset's parts that are not there yet, recording each in the manifest."""
    if not dataset.parts:
        return
    write_manifest(s3, destination.bucket, dataset.manifest_key, dataset.manifest)
    total = len(dataset.parts)
    sent = 0
    for part, record in zip(dataset.parts, dataset.manifest.parts, strict=True):
        record.etag, uploaded = upload(s3, destination.bucket, record.key, part)
        write_manifest(s3, destination.bucket, dataset.manifest_key, dataset.manifest)
        sent += part.size if uploaded else 0
        state = "uploaded" if uploaded else "already uploaded"
        progress(
            f"{dataset.manifest.dataset_type} part {part.number}/{total} {state}: {part.size:,} bytes, "
            f"{part.records:,} records ({sent:,} bytes sent)"
        )


def _import(
    options: Options,
    *,
    datasets: list[_Dataset],
    personalize: Any,
    s3: Any,
    progress: Callable[[str], None],
    sleep: Callable[[float], None],
) -> None:
    """Create or adopt every part's job, and follow them until they end (or once, with ``--no-wait``)."""
    destination = options.destination
    assert destination is not None
    runners = []
    for dataset in datasets:
        if not dataset.parts:
            continue
        manifest = dataset.manifest

        def save(dataset: _Dataset = dataset) -> None:
            write_manifest(s3, destination.bucket, dataset.manifest_key, dataset.manifest)

        runner = JobRunner(
            personalize=personalize, manifest=manifest, destination=destination, notify=progress, on_change=save
        )
        runner.adopt(list_jobs(personalize, manifest.dataset_arn))
        dataset.runner = runner
        runners.append(runner)
    while True:
        for runner in runners:
            if not runner.done:
                runner.step()
        if not options.wait or all(runner.done for runner in runners):
            return
        sleep(options.poll_seconds)


def _report(options: Options, collector: Collector, datasets: list[_Dataset]) -> Report:
    summaries = []
    unfinished = failed = False
    for dataset in datasets:
        manifest = dataset.manifest
        failed |= any(part.status == CREATE_FAILED for part in manifest.parts)
        unfinished |= not options.dry_run and any(part.job_arn is None for part in manifest.parts)
        location = options.destination.url(dataset.manifest_key) if options.destination and manifest.parts else None
        summaries.append(DatasetReport(manifest=manifest, manifest_url=None if options.dry_run else location))
    if collector.rejected or failed:
        status = EXIT_REJECTED
    elif unfinished:
        status = EXIT_UNFINISHED
    else:
        status = EXIT_OK
    return Report(
        lines=collector.lines,
        rejected=collector.rejected,
        rejects_path=str(options.rejects_path),
        dry_run=options.dry_run,
        datasets=summaries,
        exit_status=status,
    )
