"""Avro schemas and the mapping of message properties onto them (docs/personalize.md §4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import ErrorCode, RejectedRecord
from ingest.schema import DatasetSchema, SchemaError, camel_case

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def items_schema(string_limit: int | None = 1000) -> DatasetSchema:
    document = (SCHEMAS / "items.json").read_text()
    return DatasetSchema.parse(document, request_fields=frozenset({"ITEM_ID"}), string_limit=string_limit)


def custom_schema(*fields: dict[str, Any], string_limit: int | None = None) -> DatasetSchema:
    document = json.dumps(
        {"type": "record", "name": "Items", "fields": [{"name": "ITEM_ID", "type": "string"}, *fields]}
    )
    return DatasetSchema.parse(document, request_fields=frozenset({"ITEM_ID"}), string_limit=string_limit)


def violation(schema: DatasetSchema, properties: dict[str, Any]) -> str:
    with pytest.raises(RejectedRecord) as caught:
        schema.normalize(properties)
    assert caught.value.code is ErrorCode.SCHEMA_VIOLATION
    return caught.value.message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("GENRES", "genres"),
        ("CREATION_TIMESTAMP", "creationTimestamp"),
        ("NUMBER_OF_RATINGS", "numberOfRatings"),
        ("MEMBERSHIP_TYPE", "membershipType"),
        ("GENRE_L2", "genreL2"),
    ],
)
def test_camel_case_schema_names_match_personalize_keys(name: str, expected: str) -> None:
    assert camel_case(name) == expected


def test_parse_leaves_request_fields_out() -> None:
    assert "ITEM_ID" not in {field.name for field in items_schema().fields}


def test_normalize_accepts_camel_case_schema_name_and_loose_keys_sends_camel_case() -> None:
    result = items_schema().normalize({"price": 1.5, "NUMBER_OF_RATINGS": 3, "in_stock": True})

    assert result == {"price": 1.5, "numberOfRatings": 3, "inStock": True}


def test_normalize_joins_categorical_list_with_pipe() -> None:
    assert items_schema().normalize({"price": 1, "genres": ["Horror", "Action"]})["genres"] == "Horror|Action"


def test_normalize_numbers_and_booleans_given_as_strings_are_typed() -> None:
    result = items_schema().normalize({"price": "19.99", "numberOfRatings": "12", "inStock": "false"})

    assert result == {"price": 19.99, "numberOfRatings": 12, "inStock": False}


def test_normalize_iso_creation_timestamp_becomes_epoch_seconds() -> None:
    # The repo's items schema has no CREATION_TIMESTAMP (Personalize refuses it nullable); a deployment's may.
    schema = custom_schema({"name": "CREATION_TIMESTAMP", "type": "long"})

    result = schema.normalize({"creationTimestamp": "2026-11-22T10:00:00Z"})

    assert result["creationTimestamp"] == 1795341600  # 2026-11-22T10:00:00Z


def test_normalize_null_for_nullable_field_is_dropped() -> None:
    assert items_schema().normalize({"price": 1, "genres": None}) == {"price": 1}


def test_normalize_unknown_field_is_schema_violation_naming_the_field() -> None:
    assert "properties.colour: not a field of the schema" in violation(items_schema(), {"price": 1, "colour": "red"})


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"price": "cheap"}, "properties.price: must be a number"),
        ({"price": 1, "numberOfRatings": 1.5}, "must be an Avro int"),
        ({"price": 1, "numberOfRatings": 2**31}, "must be an Avro int"),
        ({"price": 1, "inStock": "yes"}, "must be a boolean"),
        ({"price": 1, "genres": 7}, "must be a string or a list of strings"),
        ({"price": 1, "genres": ["ok", 3]}, "a categorical list must hold one or more strings"),
        ({"price": True}, "must be a number"),
    ],
)
def test_normalize_wrong_type_is_schema_violation(properties: dict[str, Any], expected: str) -> None:
    assert expected in violation(items_schema(), properties)


def test_normalize_missing_non_nullable_field_is_schema_violation() -> None:
    assert "missing non-nullable field(s) PRICE" in violation(items_schema(), {"genres": "Horror"})


def test_normalize_null_for_non_nullable_field_is_schema_violation() -> None:
    assert "PRICE is not nullable" in violation(items_schema(), {"price": None})


def test_normalize_categorical_value_over_1000_chars_is_schema_violation() -> None:
    message = violation(items_schema(), {"price": 1, "genres": ["ok", "x" * 1001]})

    assert "at most 1000 characters, got 1001" in message
    assert "xxxx" not in message  # never the value itself


def test_normalize_categorical_value_of_1000_chars_is_accepted() -> None:
    assert items_schema().normalize({"price": 1, "genres": "x" * 1000})["genres"] == "x" * 1000


def test_normalize_items_joined_categorical_list_over_1000_chars_is_schema_violation() -> None:
    assert "a string value may have at most 1000 characters, got 1201" in violation(
        items_schema(), {"price": 1, "genres": ["g" * 600, "h" * 600]}
    )


def test_normalize_textual_field_may_exceed_the_string_limit() -> None:
    text = "word " * 2000
    assert items_schema().normalize({"price": 1, "description": text})["description"] == text


def test_normalize_items_plain_string_over_limit_is_schema_violation() -> None:
    schema = custom_schema({"name": "TITLE", "type": "string"}, string_limit=1000)

    assert "at most 1000 characters" in violation(schema, {"title": "t" * 1001})


def test_normalize_same_field_twice_is_schema_violation() -> None:
    assert "given twice" in violation(items_schema(), {"price": 1, "PRICE": 2})


def test_parse_ambiguous_loose_names_still_match_exact_forms() -> None:
    schema = custom_schema({"name": "GENRE_1", "type": "string"}, {"name": "GENRE1", "type": "string"})

    assert schema.field_for("genre1") is not None  # the camelCase of GENRE1 (exact), not a loose guess
    assert schema.field_for("GENRE_1") is not None
    assert schema.field_for("gEnRe_1") is None  # loose matching refused: two fields fit


@pytest.mark.parametrize(
    "document",
    ["{not json", json.dumps({"type": "record"}), json.dumps({"fields": [{"name": "A", "type": {"type": "array"}}]})],
)
def test_parse_unreadable_schema_raises_schema_error(document: str) -> None:
    with pytest.raises(SchemaError):
        DatasetSchema.parse(document, request_fields=frozenset())
