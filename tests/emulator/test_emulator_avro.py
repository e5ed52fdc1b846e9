"""The emulator's own schema rules, checked directly (the HTTP tests cover them through the API too)."""

from __future__ import annotations

import doctest
from types import ModuleType
from typing import Any

import pytest

import local.emulator
import local.emulator.server
from local.emulator.avro import SchemaError, camel_case, check_compatible, check_fits, parse_schema
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


ACTIONS_BASE: list[dict[str, Any]] = [
    {"name": "ACTION_ID", "type": "string"},
    {"name": "LEVEL", "type": ["null", "string"], "categorical": True},
]


@pytest.mark.parametrize(
    ("dataset_type", "reserved"),
    [
        ("ACTIONS", {"name": "REPEAT_FREQUENCY", "type": ["null", "int"]}),
        ("ACTIONS", {"name": "VALUE", "type": "double"}),
        ("ACTIONS", {"name": "CREATION_TIMESTAMP", "type": ["null", "long"]}),
        ("ITEMS", {"name": "CREATION_TIMESTAMP", "type": ["null", "long"]}),
        ("INTERACTIONS", {"name": "EVENT_VALUE", "type": ["null", "double"]}),
        ("ACTION_INTERACTIONS", {"name": "IMPRESSION", "type": ["null", "long"]}),
    ],
)
def test_check_fits_reserved_field_of_wrong_type_refused(dataset_type: str, reserved: dict[str, Any]) -> None:
    required: list[dict[str, Any]] = {
        "ACTIONS": ACTIONS_BASE,
        "ITEMS": [{"name": "ITEM_ID", "type": "string"}, {"name": "PRICE", "type": "float"}],
        "INTERACTIONS": SCHEMA_FIELDS["Interactions"],
        "ACTION_INTERACTIONS": SCHEMA_FIELDS["Action_Interactions"],
    }[dataset_type]
    schema = parse_schema(avro([*required, reserved]))

    with pytest.raises(SchemaError, match=f"Reserved field {reserved['name']} of a {dataset_type} dataset"):
        check_fits(schema, dataset_type)


@pytest.mark.parametrize(
    "reserved",
    [
        {"name": "REPEAT_FREQUENCY", "type": ["null", "long"]},
        {"name": "EXPIRATION_TIMESTAMP", "type": "long"},
        {"name": "CREATION_TIMESTAMP", "type": "long"},
        {"name": "TYPE", "type": ["null", "string"], "categorical": True},
    ],
)
def test_check_fits_reserved_action_field_of_documented_type_accepted(reserved: dict[str, Any]) -> None:
    check_fits(parse_schema(avro([*ACTIONS_BASE, reserved])), "ACTIONS")


@pytest.mark.parametrize("module", [local.emulator, local.emulator.server])
def test_docstring_examples_run(module: ModuleType) -> None:
    failures, attempted = doctest.testmod(module)

    assert attempted > 0
    assert failures == 0
