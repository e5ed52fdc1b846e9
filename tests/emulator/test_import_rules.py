"""The shared CSV rules of import jobs (lambdas/import_rules.py): what the backfill writes, the emulator reads."""

from __future__ import annotations

import io
from typing import Any

import pytest

import import_rules
from import_rules import Column, columns, format_value, header_problems, min_records, parse_value, read_rows, write_rows
from tests.emulator.emulator_helpers import SCHEMA_FIELDS

ITEMS = columns({"fields": SCHEMA_FIELDS["Items"]})


def written(rows: list[dict[str, Any]], schema: tuple[Column, ...] = ITEMS) -> str:
    out = io.StringIO()
    write_rows(schema, rows, out)
    return out.getvalue()


def test_columns_follow_the_schema_and_read_its_flags() -> None:
    by_name = {column.name: column for column in ITEMS}
    assert [column.name for column in ITEMS] == [field["name"] for field in SCHEMA_FIELDS["Items"]]
    assert by_name["ITEM_ID"] == Column("ITEM_ID", "string", nullable=False)
    assert by_name["GENRES"].categorical
    assert by_name["GENRES"].nullable
    assert by_name["DESCRIPTION"].max_length == import_rules.MAX_TEXTUAL_LENGTH
    assert by_name["ITEM_ID"].max_length == import_rules.MAX_ID_LENGTH
    assert by_name["GENRES"].max_length == import_rules.MAX_STRING_LENGTH
    assert columns('{"type": "record", "fields": [{"name": "X", "type": ["null", "long"]}]}') == (
        Column("X", "long", nullable=True),
    )
    with pytest.raises(ValueError, match="expected one of"):
        columns({"fields": [{"name": "X", "type": {"type": "array", "items": "string"}}]})


def test_what_the_writer_writes_the_reader_reads_back() -> None:
    rows = [
        {
            "ITEM_ID": "sku,1",
            "GENRES": ["horror", "comedy"],
            "RELEASE_TIMESTAMP": 1_700_000_000,
            "NUMBER_OF_RATINGS": 3.0,
            "PRICE": 9.25,
            "IN_STOCK": False,
            "DESCRIPTION": 'says "hi" \\ and, commas',
        },
        {"ITEM_ID": "sku-2", "PRICE": 1},
    ]

    parsed, problems = read_rows(ITEMS, written(rows))

    assert problems == []
    assert parsed[0] == {
        "ITEM_ID": "sku,1",
        "GENRES": "horror|comedy",
        "RELEASE_TIMESTAMP": 1_700_000_000,
        "NUMBER_OF_RATINGS": 3,
        "PRICE": 9.25,
        "IN_STOCK": False,
        "GENRE_L2": None,
        "DESCRIPTION": 'says "hi" \\ and, commas',
    }
    assert parsed[1]["PRICE"] == 1.0
    assert parsed[1]["GENRES"] is None


def test_the_reader_takes_rfc_4180_quotes_a_bom_crlf_and_left_out_nullable_columns() -> None:
    text = '\ufeffITEM_ID,PRICE,DESCRIPTION\r\na,1,"x ""y"""\r\n\r\n'
    parsed, problems = read_rows(ITEMS, text)
    assert problems == []
    assert parsed == [{"ITEM_ID": "a", "PRICE": 1.0, "DESCRIPTION": 'x "y"'}]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["ITEM_ID", "PRICE"], []),
        (["ITEM_ID"], ["Input CSV is missing the following columns:[PRICE]"]),
        (["ITEM_ID", "PRICE", "COLOUR"], ["column COLOUR is not a field of the schema"]),
        (["ITEM_ID", "PRICE", "PRICE"], ["column PRICE appears more than once"]),
        (
            ["PRICE", "ITEM_ID"],
            [
                "the columns must follow the schema's order (ITEM_ID, GENRES, RELEASE_TIMESTAMP, "
                "NUMBER_OF_RATINGS, PRICE, IN_STOCK, GENRE_L2, DESCRIPTION)"
            ],
        ),
    ],
)
def test_header_problems(header: list[str], expected: list[str]) -> None:
    assert header_problems(ITEMS, header) == expected


@pytest.mark.parametrize(
    ("column", "text", "value", "problem"),
    [
        (Column("N", "int", False), "42", 42, None),
        (Column("N", "int", False), "2147483648", None, "expected an int"),
        (Column("N", "long", False), "1.5", None, "expected an long"),
        (Column("N", "long", True), "", None, None),
        (Column("N", "long", False), "", None, "a value is required (N is not nullable)"),
        (Column("F", "float", False), "1e3", 1000.0, None),
        (Column("F", "double", False), "nan", None, "expected a double"),
        (Column("B", "boolean", False), "TRUE", True, None),
        (Column("B", "boolean", False), "yes", None, "expected a boolean (true or false)"),
        (Column("S", "string", False, categorical=True), "x" * 1001, None, "Length cannot be more than 1000"),
        (Column("T", "string", True, textual=True), "x" * 20_001, "x" * 20_000, None),
        (Column("ITEM_ID", "string", False), "x" * 256, "x" * 256, None),
    ],
)
def test_parse_value_types_each_cell(column: Column, text: str, value: Any, problem: str | None) -> None:
    parsed, found = parse_value(column, text)
    assert parsed == value
    assert (found or "").startswith(problem or "")
    assert (found is None) == (problem is None)


def test_format_value_writes_what_parse_value_reads() -> None:
    assert format_value(Column("B", "boolean", True), True) == "true"
    assert format_value(Column("N", "long", True), 3.0) == "3"
    assert format_value(Column("S", "string", True, categorical=True), ("a", "b")) == "a|b"
    assert format_value(Column("S", "string", True), None) == ""


def test_row_problems_name_the_line_and_column_never_the_value() -> None:
    text = "ITEM_ID,PRICE\nsecret-id,secret-price\nok,1\nshort\n"
    rows, problems = read_rows(ITEMS, text, source="s3://b/items.csv")
    assert problems == [
        "s3://b/items.csv line 2: column PRICE: expected a float",
        "s3://b/items.csv line 4: expected 2 values, found 1",
    ]
    assert not any("secret" in problem for problem in problems)
    assert len(rows) == 3
    _, capped = read_rows(ITEMS, "ITEM_ID,PRICE\n" + "a,x\n" * 20, max_problems=3)
    assert len(capped) == 3


def test_minimum_records_per_job() -> None:
    assert min_records("INTERACTIONS", "FULL") == min_records("INTERACTIONS", "INCREMENTAL") == 1000
    assert min_records("ACTION_INTERACTIONS", "INCREMENTAL") == 1000
    assert min_records("ACTION_INTERACTIONS", "FULL") == min_records("ITEMS", "FULL") == 0
    assert import_rules.MAX_IMPORT_BYTES == {"FULL": 100 * 1024**3, "INCREMENTAL": 1024**3}
