"""The backfill's CSV: rows from validated changes, quoting that reads back, splitting into parts within limits."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

import import_rules
from bulk.rows import row_of
from bulk.targets import Target
from contract import KIND_SPECS
from ingest.decode import Message, decode
from ingest.errors import RejectedRecord
from ingest.kinds import KINDS
from ingest.model import api_models
from ingest.schema import DatasetSchema
from ingest.validate import validate
from tools.backfill.errors import BackfillError
from tools.backfill.parts import Spool, boundaries, csv_lines

ITEMS: list[dict[str, Any]] = [
    {"name": "ITEM_ID", "type": "string"},
    {"name": "PRICE", "type": "float"},
    {"name": "GENRES", "type": ["null", "string"], "categorical": True},
    {"name": "NUMBER_OF_RATINGS", "type": ["null", "int"]},
    {"name": "IN_STOCK", "type": ["null", "boolean"]},
    {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
]
INTERACTIONS: list[dict[str, Any]] = [
    {"name": "USER_ID", "type": "string"},
    {"name": "ITEM_ID", "type": "string"},
    {"name": "TIMESTAMP", "type": "long"},
    {"name": "EVENT_TYPE", "type": "string"},
    {"name": "EVENT_VALUE", "type": ["null", "float"]},
    {"name": "IMPRESSION", "type": ["null", "string"]},
    {"name": "RECOMMENDATION_ID", "type": ["null", "string"]},
    {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]},
    {"name": "DEVICE", "type": ["null", "string"], "categorical": True},
]


def target(kind_name: str, fields: list[dict[str, Any]]) -> Target:
    kind = KINDS[kind_name]
    document = json.dumps({"type": "record", "name": "R", "fields": fields})
    return Target(
        kind=kind,
        dataset_arn=f"arn:aws:personalize:us-east-1:123456789012:dataset/g/{KIND_SPECS[kind_name].dataset_type}",
        dataset_type=KIND_SPECS[kind_name].dataset_type,
        columns=import_rules.columns(document),
        schema=DatasetSchema.parse(
            document, request_fields=kind.request_schema_fields, string_limit=kind.string_value_limit
        ),
        api=api_models()[kind_name],
    )


def row(change: dict[str, Any], into: Target) -> dict[str, Any]:
    message = Message(message_id="m-1", body=json.dumps(change), position=1, receive_count=1, sent_timestamp=0)
    return row_of(validate(decode(message), into.api, into.schema), into)


def test_an_item_maps_ids_and_properties_in_any_spelling_to_schema_columns() -> None:
    items = target("item", ITEMS)
    change = {
        "type": "item",
        "itemId": "sku-1",
        "properties": {"price": "19.5", "GENRES": ["Horror", "Action"], "number_of_ratings": 7, "inStock": "true"},
    }

    assert row(change, items) == {
        "ITEM_ID": "sku-1",
        "PRICE": 19.5,
        "GENRES": "Horror|Action",
        "NUMBER_OF_RATINGS": 7,
        "IN_STOCK": True,
    }


def test_an_event_maps_its_members_to_the_reserved_columns_and_drops_what_has_no_column() -> None:
    interactions = target("event", INTERACTIONS)
    change = {
        "type": "event",
        "sessionId": "s-1",
        "userId": "u-1",
        "eventType": "click",
        "itemId": "i-1",
        "sentAt": "2026-11-22T10:00:00Z",
        "eventValue": "2",
        "impression": ["i-1", "i-2"],
        "recommendationId": "rec-1",
        "metricAttribution": {"eventAttributionSource": "email"},
        "properties": {"device": "phone"},
    }

    assert row(change, interactions) == {
        "USER_ID": "u-1",
        "ITEM_ID": "i-1",
        "TIMESTAMP": 1_795_341_600,
        "EVENT_TYPE": "click",
        "EVENT_VALUE": 2.0,
        "IMPRESSION": ["i-1", "i-2"],
        "RECOMMENDATION_ID": "rec-1",
        "EVENT_ATTRIBUTION_SOURCE": "email",
        "DEVICE": "phone",
    }


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        pytest.param(
            {"type": "event", "sessionId": "s", "eventType": "click", "itemId": "i", "sentAt": 1},
            "SchemaViolation",
            "userId: required, USER_ID is not nullable",
            id="anonymous-event",
        ),
        pytest.param(
            {"type": "item", "itemId": "a", "properties": {"price": 1, "description": "two\nlines"}},
            "SchemaViolation",
            "line break",
            id="line-break",
        ),
        pytest.param(
            {"type": "item", "itemId": "a", "properties": {"colour": "red", "price": 1}},
            "SchemaViolation",
            "not a field of the schema",
            id="unknown-property",
        ),
    ],
)
def test_what_the_bulk_format_cannot_carry_is_rejected_with_a_reason(
    change: dict[str, Any], code: str, words: str
) -> None:
    into = target(change["type"], ITEMS if change["type"] == "item" else INTERACTIONS)

    with pytest.raises(RejectedRecord) as raised:
        row(change, into)

    assert (raised.value.code, words in raised.value.message) == (code, True)


@pytest.mark.parametrize(
    "description",
    ['a "quoted" word', "back\\slash", "comma, and | bar", "trailing \\", '"', "ünïcödé ✓", " spaces "],
)
def test_written_rows_read_back_as_the_import_reads_them(description: str) -> None:
    schema_columns = import_rules.columns({"fields": ITEMS})
    rows = [{"ITEM_ID": "a", "PRICE": 1.5, "DESCRIPTION": description, "GENRES": ["x", "y"], "IN_STOCK": False}]
    header, lines = csv_lines(schema_columns, rows)
    text = (header + b"".join(lines)).decode()

    read, problems = import_rules.read_rows(schema_columns, text)

    assert problems == []
    assert read == [
        {
            "ITEM_ID": "a",
            "PRICE": 1.5,
            "GENRES": "x|y",
            "NUMBER_OF_RATINGS": None,
            "IN_STOCK": False,
            "DESCRIPTION": description,
        }
    ]
    assert text.splitlines()[0] == "ITEM_ID,PRICE,GENRES,NUMBER_OF_RATINGS,IN_STOCK,DESCRIPTION"


@pytest.mark.parametrize(
    ("sizes", "max_bytes", "min_records", "expected"),
    [
        pytest.param([10] * 5, 100, 0, [(0, 5)], id="one-part"),
        pytest.param([10] * 10, 40, 0, [(0, 3), (3, 6), (6, 9), (9, 10)], id="split-under-limit"),
        pytest.param([10] * 10, 40, 2, [(0, 3), (3, 6), (6, 8), (8, 10)], id="last-part-topped-up"),
        pytest.param([], 40, 0, [], id="no-rows"),
        pytest.param([30, 5, 30], 40, 0, [(0, 1), (1, 2), (2, 3)], id="uneven"),
    ],
)
def test_boundaries_keep_every_part_within_the_limits(
    sizes: list[int], max_bytes: int, min_records: int, expected: list[tuple[int, int]]
) -> None:
    header = 10

    parts = boundaries(sizes, header, max_bytes, min_records)

    assert parts == expected
    assert all(header + sum(sizes[first:end]) <= max_bytes for first, end in parts)
    assert [index for first, end in parts for index in range(first, end)] == list(range(len(sizes)))


def test_a_row_larger_than_a_part_is_refused() -> None:
    with pytest.raises(BackfillError, match="row 2 alone"):
        boundaries([10, 100], 10, 50, 0)


def test_parts_are_whole_csv_files_with_their_digests(tmp_path: Path) -> None:
    schema_columns = import_rules.columns({"fields": ITEMS})
    spool = Spool(schema_columns, tmp_path)
    spool.write({"ITEM_ID": f"item-{n:03d}", "PRICE": float(n)} for n in range(40))

    parts = spool.cut(max_bytes=200, min_records=0)

    assert len(parts) > 2
    read_back = []
    for part in parts:
        text = part.path.read_text()
        rows, problems = import_rules.read_rows(schema_columns, text)
        assert problems == []
        assert part.size == len(text.encode()) <= 200
        assert part.records == len(rows)
        read_back += [r["ITEM_ID"] for r in rows]
    assert read_back == [f"item-{n:03d}" for n in range(40)]
    again = Spool(schema_columns, tmp_path / "again")
    (tmp_path / "again").mkdir()
    again.write({"ITEM_ID": f"item-{n:03d}", "PRICE": float(n)} for n in range(40))
    assert [p.sha256 for p in again.cut(max_bytes=200, min_records=0)] == [p.sha256 for p in parts]


def test_csv_lines_end_in_line_feeds_only() -> None:
    schema_columns = import_rules.columns({"fields": ITEMS})
    header, lines = csv_lines(schema_columns, [{"ITEM_ID": "a", "PRICE": 1}])

    assert header.endswith(b"\n")
    assert list(lines) == [b"a,1,,,,\n"]
    assert b"\r" not in header
    assert io.BytesIO(header).read().count(b"\n") == 1
