"""``make bench``'s bulk scenario: item changes through ``backfill``'s bulk stage, against the Put path's ceiling.

A file of ``changes`` item changes (a fifth of them a second change to an item already in the file, so the
collapse has work to do) is loaded with the backfill, in this process, against a fresh
:class:`~local.environment.LocalPipeline`: the emulator for the dataset and its schema, moto's S3 for the parts
(``local.bulk_load``). The figure is records per second through **the bulk stage**: read, decode and validate with
the Lambda's own code, collapse to the newest change per item, write the CSV, upload it; against the **Put
path's ceiling**, PutItems' 10 calls of 10 records per second (docs/personalize.md §2): 100 records/s, however
fast the handler is. The goal is at least 50 times that. **The import job's own time** (locally the emulator
reading the part and its ``import_delay``; on AWS minutes per job) is reported on its own line, not in the figure.

Every change is accounted for: read = imported + superseded + rejected, counted from the emulator's records.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from contract import KIND_SPECS, RECORDS_PER_CALL
from local.bench_streams import item_change
from local.bulk_load import BulkRun, load_changes, prepare_imports
from local.environment import LocalPipeline

__all__ = ["GOAL", "PUT_CEILING", "BulkResult", "bulk_changes", "format_bulk", "run_bulk"]

NAME: Final = "bulk"
# PutItems at its quota, full calls: the fastest the Put path can carry item changes.
PUT_CEILING: Final = float(KIND_SPECS["item"].quota_per_second * RECORDS_PER_CALL)
GOAL: Final = 50.0
# A fifth of the changes change an item a second time.
_UPDATED_SHARE: Final = 0.2
# The emulator's import job: short, and outside the figure anyway.
_IMPORT_DELAY: Final = 0.2


def bulk_changes(changes: int, *, seed: int) -> list[str]:
    """``changes`` item changes as JSON Lines bodies: every item once, then second changes to some, shuffled."""
    rng = random.Random(seed)
    updates = int(changes * _UPDATED_SHARE)
    distinct = changes - updates
    item_ids = [f"sku-{index:06d}" for index in range(distinct)]
    bodies = [item_change(rng, item_id).body for item_id in item_ids]
    bodies += [item_change(rng, rng.choice(item_ids)).body for _ in range(updates if distinct else 0)]
    rng.shuffle(bodies)
    return bodies


@dataclass(frozen=True, slots=True)
class BulkResult:
    """The bulk scenario's run: what the backfill did and how long its halves took."""

    changes: int
    run: BulkRun

    @property
    def ratio(self) -> float:
        """Records per second through the bulk stage over the Put path's ceiling."""
        return self.run.records_per_second / PUT_CEILING

    def to_dict(self) -> dict[str, object]:
        """The scenario as a JSON-ready dict."""
        run = self.run
        return {
            "scenario": NAME,
            "changes": self.changes,
            "lines": run.lines,
            "imported": run.imported,
            "to_import": run.to_import,
            "superseded": run.superseded,
            "rejected": run.rejected,
            "accounted": run.accounted,
            "jobs": [{"name": job.name, "status": job.status, "records": job.records} for job in run.jobs],
            "bulk_stage_s": round(run.stage_s, 3),
            "import_job_s": round(run.import_s, 3),
            "records_per_second": round(run.records_per_second, 1),
            "put_ceiling_per_second": PUT_CEILING,
            "ratio_to_put_ceiling": round(self.ratio, 2),
            "goal": f"ratio >= {GOAL:g}",
        }


def run_bulk(changes: int, *, seed: int) -> BulkResult:
    """Write ``changes`` item changes to a file and backfill them into a fresh local pipeline."""
    with LocalPipeline(kinds=("item",)) as pipeline, tempfile.TemporaryDirectory(prefix="bench-bulk-") as scratch:
        s3 = prepare_imports(pipeline, import_delay=_IMPORT_DELAY)
        path = Path(scratch) / "changes.jsonl"
        path.write_text("".join(body + "\n" for body in bulk_changes(changes, seed=seed)), encoding="utf-8")
        run = load_changes(pipeline, s3, path, rejects=Path(scratch) / "rejects.jsonl", prefix="bench/")
    return BulkResult(changes=changes, run=run)


def format_bulk(result: BulkResult) -> str:
    """The scenario's table: the bulk stage's rate beside the Put path's ceiling, and where every change went."""
    run = result.run
    # The Put path carries every change (it collapses within a batch only).
    put_seconds = run.lines / PUT_CEILING
    lines = [
        f"scenario {NAME}: {result.changes:,} item changes through backfill's bulk stage (decode, validate, "
        "collapse, CSV, upload to moto's S3)",
        f"{'':<28}{'bulk':>10}{'Put limit':>12}{'bulk/Put':>10}",
        f"{'records/s (bulk stage)':<28}{run.records_per_second:>10.0f}{PUT_CEILING:>12.0f}{result.ratio:>10.1f}",
        f"{'changes read':<28}{run.lines:>10}",
        f"{'records imported':<28}{run.imported:>10}",
        f"{'older changes superseded':<28}{run.superseded:>10}",
        f"{'rejected':<28}{run.rejected:>10}",
        f"{'bulk stage (s)':<28}{run.stage_s:>10.2f}{put_seconds:>12.0f}",
        f"{'import job (s, emulator)':<28}{run.import_s:>10.2f}",
    ]
    lines.extend(f"  job {job.name}: {job.status}, {job.records:,} records" for job in run.jobs)
    lines.append(
        f"  goal: bulk/Put >= {GOAL:g} ({'met' if result.ratio >= GOAL else 'not met'}); every change accounted "
        f"for (read = imported + superseded + rejected): {'yes' if run.accounted else 'NO'}"
    )
    return "\n".join(lines)
