"""The demo's bulk path: a catalogue of items written as JSON Lines, loaded with ``backfill``, and accounted for.

Before the stream starts, ``make demo`` loads its catalogue the way a first load is meant to be done (docs/bulk.md):
a file of item changes, as upstream would publish them, through a dataset import job. The file holds every item
once, a few of them changed again further down (the later line wins; the older one is superseded) and two lines
the Lambda would dead-letter (a malformed one, a schema violation), which the backfill rejects with those codes.

The accounting: every line is imported, superseded or rejected with the expected code; the job ended ACTIVE; and
every catalogue item is in the emulator, holding the imported record of its newest change, unless a change
streamed afterwards replaced it (the stream's own accounting checks that one).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from contract import ErrorCode
from local.bulk_load import BulkRun
from local.environment import LocalPipeline

# A catalogue's items are numbered like the stream's, so the stream's item changes replace the first ones.
ITEM_ID_FORMAT: Final = "sku-{index:05d}"
# The share of items changed a second time further down the file.
UPDATED_SHARE: Final = 0.02


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The file written, and what the bulk path must make of it.

    Attributes
    ----------
    path:
        The JSON Lines file.
    lines:
        Lines in it.
    newest:
        Item id → the price of its newest valid change (what the import must land).
    rejects:
        ErrorCode → how many lines must be rejected with it.
    """

    path: Path
    lines: int
    newest: dict[str, float]
    rejects: dict[str, int]


def write_catalogue(
    path: Path, *, items: int, seed: int, make_item: Callable[[random.Random, str], dict[str, Any]]
) -> Catalogue:
    """Write ``items`` item changes (``make_item``'s), a few updates after them, and two bad lines among them."""
    rng = random.Random(seed)
    changes = [make_item(rng, ITEM_ID_FORMAT.format(index=index)) for index in range(items)]
    updated = rng.sample(range(items), k=int(items * UPDATED_SHARE))
    changes += [make_item(rng, ITEM_ID_FORMAT.format(index=index)) for index in updated]
    newest = {change["itemId"]: float(change["properties"]["price"]) for change in changes}
    lines = [json.dumps(change) for change in changes]
    bad = {
        '{"type": "item", "itemId": "sku-torn", "properties": {': ErrorCode.MALFORMED_MESSAGE,
        json.dumps({"type": "item", "itemId": "sku-colour", "properties": {"price": 1, "colour": "red"}}): (
            ErrorCode.SCHEMA_VIOLATION
        ),
    }
    for line in bad:
        lines.insert(rng.randrange(len(lines) + 1), line)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    rejects = {str(code): sum(1 for c in bad.values() if c == code) for code in bad.values()}
    return Catalogue(path=path, lines=len(lines), newest=newest, rejects=rejects)


@dataclass(frozen=True, slots=True)
class CatalogueAccount:
    """Where each catalogue item ended up."""

    imported: int
    replaced: int


def account_catalogue(
    pipeline: LocalPipeline, catalogue: Catalogue, run: BulkRun, streamed: Collection[str]
) -> tuple[CatalogueAccount, list[str]]:
    """Check the bulk path against the catalogue; ``streamed`` are the item ids the stream wrote afterwards."""
    problems: list[str] = []
    if run.lines != catalogue.lines:
        problems.append(f"catalogue: {catalogue.lines} lines written, the backfill read {run.lines}")
    if run.lines != run.to_import + run.superseded + run.rejected:
        problems.append(
            f"catalogue: {run.lines} lines read, but {run.to_import} to import + {run.superseded} superseded + "
            f"{run.rejected} rejected"
        )
    if run.reject_codes != catalogue.rejects:
        problems.append(f"catalogue: rejected {run.reject_codes}, expected {catalogue.rejects}")
    problems.extend(
        f"catalogue: import job {job.name} ended {job.status}" for job in run.jobs if job.status != "ACTIVE"
    )
    job_arns = {job.arn for job in run.jobs}
    held = {
        record["itemId"]: record for record in pipeline.emulator.state.records(pipeline.provisioned.datasets["item"])
    }
    imported = replaced = 0
    for item_id, price in catalogue.newest.items():
        record = held.get(item_id)
        if record is None:
            problems.append(f"catalogue: item {item_id} is not in the emulator")
        elif item_id in streamed:
            replaced += 1
        elif record.get("importJobArn") not in job_arns:
            problems.append(f"catalogue: item {item_id} holds no imported record")
        elif record["properties"].get("price") != price:
            problems.append(f"catalogue: item {item_id} holds price {record['properties'].get('price')}, not {price}")
        else:
            imported += 1
    return CatalogueAccount(imported=imported, replaced=replaced), problems


def render(run: BulkRun, account: CatalogueAccount) -> str:
    """The report's bulk-path block."""
    rejects = ", ".join(f"{code} {count}" for code, count in run.reject_codes.items()) or "none"
    lines = [
        "bulk path (backfill -> import job), the catalogue:",
        f"  lines read: {run.lines:,} = {run.to_import:,} records to import + {run.superseded:,} older changes "
        f"superseded + {run.rejected:,} rejected",
        f"  rejects: {rejects}",
    ]
    lines.extend(f"  import job {job.name}: {job.status}, {job.records:,} records imported" for job in run.jobs)
    lines.append(
        f"  time: {run.stage_s:.1f} s bulk stage (decode, validate, collapse, CSV, upload: "
        f"{run.records_per_second:,.0f} records/s), {run.import_s:.1f} s import job (the emulator's)"
    )
    lines.append(
        f"  items: {account.imported:,} hold their imported record, {account.replaced:,} replaced by a later "
        "streamed change"
    )
    return "\n".join(lines)
