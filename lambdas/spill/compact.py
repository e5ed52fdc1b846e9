"""Step 3 of the spill: keep one row per record (and per message) across every part, and lay out the import folders.

The drain collapses the changes to a record within a chunk; two chunks may still hold changes to one item (a
backlog is drained over many chunks), and a chunk drained again after a crash repeats rows. One import job reads a
folder of parts in no stated order, so the compaction decides before the import:

- items, actions, users: of all rows for one id, the newest change wins (``ingest.newest``'s age: ``changedAt``,
  then SentTimestamp; then the later chunk and row), the others are dropped (counted as superseded);
- events and action interactions: one row per message id (a message drained twice is written once).

Each part's kept lines are copied, in chunk order, into ``import-<n>/`` folders of at most 1 GB (an INCREMENTAL
job's limit, ``import_rules.MAX_IMPORT_BYTES``); ``compacted.json`` is written last. Compaction is deterministic, so
a step that crashes and runs again writes the same objects; a finished one is not redone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import import_rules
from bulk.targets import Target
from spill import layout

MAX_FOLDER_BYTES = import_rules.MAX_IMPORT_BYTES[import_rules.INCREMENTAL]


@dataclass(frozen=True, slots=True)
class _Entry:
    chunk: str
    line: int
    key: str | None
    age: tuple[int, int, int]
    message_id: str


def compact(
    s3: Any, bucket: str, spill_id: str, targets: Mapping[str, Target], *, max_folder_bytes: int = MAX_FOLDER_BYTES
) -> dict[str, Any]:
    """Compact every dataset's parts; return, per dataset type, its folders, rows and the rows dropped."""
    indexes = {
        key.rsplit("/", 1)[1].removesuffix(".json"): layout.read_json(s3, bucket, key) or {"rows": {}}
        for key in layout.list_keys(s3, bucket, f"{layout.prefix(spill_id)}index/")
    }
    result: dict[str, Any] = {}
    for target in targets.values():
        dataset_type = target.dataset_type
        marker = layout.compacted_key(spill_id, dataset_type)
        done = layout.read_json(s3, bucket, marker)
        if done is None:
            entries = [
                _Entry(chunk, line, row[0], (row[1], row[2], row[3]), row[4])
                for chunk, index in sorted(indexes.items())
                for line, row in enumerate(index["rows"].get(dataset_type, []))
            ]
            if not entries:
                continue
            keep = _winners(entries, upsert=target.kind.id_field is not None)
            done = _write_folders(
                s3,
                bucket=bucket,
                spill_id=spill_id,
                dataset_type=dataset_type,
                entries=entries,
                keep=keep,
                max_folder_bytes=max_folder_bytes,
            )
            layout.write_json(s3, bucket, marker, done)
        result[dataset_type] = done
    return result


def _winners(entries: list[_Entry], *, upsert: bool) -> set[tuple[str, int]]:
    """The (chunk, line) of every row to keep."""
    best: dict[str, _Entry] = {}
    for entry in entries:  # in chunk and line order
        key = entry.key if upsert and entry.key is not None else entry.message_id
        current = best.get(key)
        if current is None or (
            upsert and (entry.age, entry.chunk, entry.line) > (current.age, current.chunk, current.line)
        ):
            best[key] = entry
    return {(entry.chunk, entry.line) for entry in best.values()}


def _write_folders(
    s3: Any,
    *,
    bucket: str,
    spill_id: str,
    dataset_type: str,
    entries: list[_Entry],
    keep: set[tuple[str, int]],
    max_folder_bytes: int,
) -> dict[str, Any]:
    folders: list[dict[str, Any]] = []
    number, folder_bytes = 0, max_folder_bytes
    for chunk in sorted({entry.chunk for entry in entries}):
        text = s3.get_object(Bucket=bucket, Key=layout.part_key(spill_id, dataset_type, chunk))["Body"].read()
        header, *lines = text.decode("utf-8").splitlines(keepends=True)
        kept = [line for index, line in enumerate(lines) if (chunk, index) in keep]
        if not kept:
            continue
        body = (header + "".join(kept)).encode("utf-8")
        if folder_bytes + len(body) > max_folder_bytes:
            number += 1
            folder_bytes = 0
            folders.append({"folder": layout.import_folder(spill_id, dataset_type, number), "rows": 0, "bytes": 0})
        folder = folders[-1]
        s3.put_object(Bucket=bucket, Key=f"{folder['folder']}{chunk}.csv", Body=body, ContentType="text/csv")
        folder_bytes += len(body)
        folder["rows"] += len(kept)
        folder["bytes"] += len(body)
    rows = sum(folder["rows"] for folder in folders)
    return {"folders": folders, "rows": rows, "dropped": len(entries) - rows}
