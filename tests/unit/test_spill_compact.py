"""Compaction (spill.compact) and the drain's pieces that need no queue: against an in-memory S3."""

from __future__ import annotations

import io
import json
from typing import Any

from botocore.exceptions import ClientError

from spill import layout
from spill.compact import compact
from spill.drain import settled_ids
from spill.imports import job_base


class MemoryS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.objects[Key] = Body
        return {}

    def get_object(self, *, Key: str, **_: Any) -> dict[str, Any]:
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[Key])}

    def get_paginator(self, _name: str) -> Any:
        store = self

        class Pages:
            def paginate(self, *, Prefix: str, **_: Any) -> list[dict[str, Any]]:
                return [{"Contents": [{"Key": k} for k in sorted(store.objects) if k.startswith(Prefix)]}]

        return Pages()


class Kind:
    def __init__(self, id_field: str | None) -> None:
        self.id_field = id_field


class FakeTarget:
    def __init__(self, dataset_type: str, id_field: str | None) -> None:
        self.dataset_type, self.kind = dataset_type, Kind(id_field)


def chunk(s3: MemoryS3, name: str, dataset_type: str, rows: list[tuple[str | None, int, str, str]]) -> None:
    """A drained chunk: its part (header + one line per row) and its index."""
    lines = "".join(f"{line}\n" for *_, line in rows)
    s3.put_object(Key=layout.part_key("s", dataset_type, name), Body=f"ITEM_ID,PRICE\n{lines}".encode())
    index = {
        "rows": {dataset_type: [[key, at, 0, 0, mid] for key, at, mid, _ in rows]},
        "superseded": [["old", "m"]],
        "deadLettered": ["poison"],
    }
    layout.write_json(s3, "b", layout.index_key("s", name), index)


def test_the_newest_change_per_item_wins_across_chunks() -> None:
    s3 = MemoryS3()
    chunk(s3, "001", "ITEMS", [("a", 5, "m1", "a,5"), ("b", 1, "m2", "b,1")])
    chunk(s3, "002", "ITEMS", [("a", 3, "m3", "a,3"), ("b", 2, "m4", "b,2")])
    result = compact(s3, "b", "s", {"item": FakeTarget("ITEMS", "itemId")})  # type: ignore[dict-item]
    assert result["ITEMS"]["rows"] == 2
    assert result["ITEMS"]["dropped"] == 2
    folder = result["ITEMS"]["folders"][0]["folder"]
    assert s3.objects[f"{folder}001.csv"] == b"ITEM_ID,PRICE\na,5\n"
    assert s3.objects[f"{folder}002.csv"] == b"ITEM_ID,PRICE\nb,2\n"


def test_a_message_drained_twice_is_written_once() -> None:
    s3 = MemoryS3()
    chunk(s3, "001", "INTERACTIONS", [(None, 0, "m1", "e1"), (None, 0, "m2", "e2")])
    chunk(s3, "002", "INTERACTIONS", [(None, 0, "m2", "e2"), (None, 0, "m3", "e3")])
    result = compact(s3, "b", "s", {"event": FakeTarget("INTERACTIONS", None)})  # type: ignore[dict-item]
    assert result["INTERACTIONS"]["rows"] == 3
    assert result["INTERACTIONS"]["dropped"] == 1


def test_folders_hold_at_most_the_limit_and_compaction_is_not_redone() -> None:
    s3 = MemoryS3()
    for n in range(3):
        chunk(s3, f"00{n}", "ITEMS", [(f"id{n}", 1, f"m{n}", f"id{n},1")])
    targets = {"item": FakeTarget("ITEMS", "itemId")}
    result = compact(s3, "b", "s", targets, max_folder_bytes=40)  # type: ignore[arg-type]
    assert [f["rows"] for f in result["ITEMS"]["folders"]] == [2, 1]
    s3.objects.pop(layout.part_key("s", "ITEMS", "000"))
    assert compact(s3, "b", "s", targets) == result  # type: ignore[arg-type]
    assert json.loads(s3.objects[layout.compacted_key("s", "ITEMS")]) == result["ITEMS"]


def test_settled_ids_name_every_settled_message() -> None:
    s3 = MemoryS3()
    chunk(s3, "001", "ITEMS", [("a", 5, "m1", "a,5")])
    assert settled_ids(s3, "b", "s") == {"m1", "old", "poison"}


def test_job_names_fit_the_services_limit() -> None:
    name = job_base("spill-99999999999", "ACTION_INTERACTIONS", 999)
    assert name == "spill-99999999999-action-interactions-999"
    assert len(f"{name}-r9") <= 63
