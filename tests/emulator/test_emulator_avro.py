"""The emulator's own schema rules, checked directly (the HTTP tests cover them through the API too)."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import local.emulator
import local.emulator.server
from local.emulator.avro import camel_case, check_compatible, parse_schema
from tests.emulator.emulator_helpers import SCHEMA_FIELDS, avro


@pytest.mark.parametrize(
    ("field", "key"),
    [
        ("GENRES", "genres"),
        ("CREATION_TIMESTAMP", "creationTimestamp"),
        ("NUMBER_OF_RATINGS", "numberOfRatings"),
        ("MEMBERSHIP_TYPE", "membershipType"),
        ("GENRE_L2", "genreL2"),
        ("numberOfRatings", "numberOfRatings"),
        ("price", "price"),
    ],
)
def test_camel_case_schema_field_gives_properties_key(field: str, key: str) -> None:
    assert camel_case(field) == key


def test_parse_schema_nullable_union_either_order_is_nullable() -> None:
    schema = parse_schema(avro([{"name": "A", "type": ["null", "long"]}, {"name": "B", "type": ["string", "null"]}]))

    assert [(f.type, f.nullable) for f in schema.fields] == [("long", True), ("string", True)]


def test_check_compatible_same_schema_passes() -> None:
    schema = parse_schema(avro(SCHEMA_FIELDS["Items"]))

    check_compatible(schema, schema)


@pytest.mark.parametrize("module", [local.emulator, local.emulator.server])
def test_docstring_examples_run(module: ModuleType) -> None:
    failures, attempted = doctest.testmod(module)

    assert attempted > 0
    assert failures == 0
