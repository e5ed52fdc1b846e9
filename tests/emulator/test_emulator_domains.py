"""Domain dataset groups: the fields ECOMMERCE and VIDEO_ON_DEMAND require of each dataset type's schema.

The requirements are lambdas/schema_rules.py's table (each row cites its documentation page). A schema names no
dataset type, so CreateSchema with a domain cannot check them: CreateDataset (and UpdateDataset), where a schema
meets its dataset type in a domain group, refuse a schema that lacks one, naming the field.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from schema_rules import DOMAIN_REQUIREMENTS, domain_field_problems
from tests.emulator.emulator_helpers import SCHEMA_FIELDS, Fields, Setup

CATEGORICAL = {"type": "string", "categorical": True}

# A schema per (domain, dataset type) with every field the domain requires, after the documentation's default
# schemas (ECOMMERCE-items-dataset.html, VIDEO-ON-DEMAND-users-dataset.html...).
DOMAIN_SCHEMAS: dict[tuple[str, str], Fields] = {
    ("ECOMMERCE", "Interactions"): SCHEMA_FIELDS["Interactions"],
    ("ECOMMERCE", "Users"): [{"name": "USER_ID", "type": "string"}, {"name": "MEMBERSHIP_STATUS", **CATEGORICAL}],
    ("ECOMMERCE", "Items"): [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "PRICE", "type": "float"},
        {"name": "CATEGORY_L1", **CATEGORICAL},
        {"name": "CATEGORY_L2", "type": ["null", "string"], "categorical": True},
        {"name": "PRODUCT_DESCRIPTION", "type": ["null", "string"], "textual": True},
    ],
    ("VIDEO_ON_DEMAND", "Interactions"): SCHEMA_FIELDS["Interactions"],
    ("VIDEO_ON_DEMAND", "Users"): [
        {"name": "USER_ID", "type": "string"},
        {"name": "SUBSCRIPTION_MODEL", **CATEGORICAL},
    ],
    ("VIDEO_ON_DEMAND", "Items"): [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRES", **CATEGORICAL},
        {"name": "CREATION_TIMESTAMP", "type": "long"},
        {"name": "DURATION", "type": ["null", "float"]},
    ],
}


def without(fields: Fields, name: str) -> Fields:
    """Return ``fields`` without the field called ``name``."""
    return [f for f in fields if f["name"] != name]


def replaced(fields: Fields, field: dict[str, Any]) -> Fields:
    """Return ``fields`` with the field of ``field``'s name replaced by ``field``."""
    return [field if f["name"] == field["name"] else f for f in fields]


def domain_dataset(setup: Setup, domain: str, dataset_type: str, fields: Fields) -> str:
    """Create a ``dataset_type`` dataset with ``fields`` in a new ``domain`` group (schema of that domain)."""
    group = setup.group(domain=domain)
    return setup.dataset(dataset_type, group=group, schema=setup.schema(fields=fields, domain=domain))


@pytest.mark.parametrize(("domain", "dataset_type"), list(DOMAIN_SCHEMAS))
def test_create_dataset_in_domain_group_with_required_fields_is_active(
    setup: Setup, domain: str, dataset_type: str
) -> None:
    dataset = domain_dataset(setup, domain, dataset_type, DOMAIN_SCHEMAS[domain, dataset_type])

    assert setup.describe_dataset(dataset)["status"] == "ACTIVE"


ECOMMERCE_ITEMS = DOMAIN_SCHEMAS["ECOMMERCE", "Items"]
VOD_ITEMS = DOMAIN_SCHEMAS["VIDEO_ON_DEMAND", "Items"]
INTERACTIONS = SCHEMA_FIELDS["Interactions"]


@pytest.mark.parametrize(
    ("domain", "dataset_type", "fields", "problem"),
    [
        ("ECOMMERCE", "Items", without(ECOMMERCE_ITEMS, "PRICE"), 'need the field PRICE ("float")'),
        ("ECOMMERCE", "Items", without(ECOMMERCE_ITEMS, "CATEGORY_L1"), 'CATEGORY_L1 (categorical "string")'),
        (
            "ECOMMERCE",
            "Items",
            replaced(ECOMMERCE_ITEMS, {"name": "CATEGORY_L1", "type": "string"}),
            'CATEGORY_L1 (categorical "string") (not null), got type "string"',
        ),
        (
            "ECOMMERCE",
            "Items",
            replaced(ECOMMERCE_ITEMS, {"name": "PRICE", "type": ["null", "float"]}),
            'PRICE ("float") (not null), got type ["null", "float"]',
        ),
        ("ECOMMERCE", "Interactions", without(INTERACTIONS, "EVENT_TYPE"), 'EVENT_TYPE ("string")'),
        (
            "ECOMMERCE",
            "Users",
            [{"name": "USER_ID", "type": "string"}, {"name": "NICKNAME", "type": ["null", "string"]}],
            "need one metadata field besides the id: a categorical string or a number",
        ),
        ("VIDEO_ON_DEMAND", "Items", without(VOD_ITEMS, "GENRES"), 'GENRES (categorical "string")'),
        ("VIDEO_ON_DEMAND", "Items", without(VOD_ITEMS, "CREATION_TIMESTAMP"), 'CREATION_TIMESTAMP ("long")'),
        ("VIDEO_ON_DEMAND", "Interactions", without(INTERACTIONS, "EVENT_TYPE"), 'EVENT_TYPE ("string")'),
        (
            "VIDEO_ON_DEMAND",
            "Users",
            [{"name": "USER_ID", "type": "string"}, {"name": "BIO", "type": "string"}],
            "need one metadata field",
        ),
    ],
)
def test_create_dataset_in_domain_group_missing_required_field_raises_invalid_input_naming_it(
    setup: Setup, domain: str, dataset_type: str, fields: Fields, problem: str
) -> None:
    personalize = setup.personalize
    with pytest.raises(personalize.exceptions.InvalidInputException, match=re.escape(problem)):
        domain_dataset(setup, domain, dataset_type, fields)

    assert personalize.list_datasets()["datasets"] == []


def test_create_schema_with_domain_accepts_it_create_dataset_refuses_it_naming_every_field(
    personalize: Any, setup: Setup
) -> None:
    # GIVEN an ECOMMERCE schema lacking both PRICE and CATEGORY_L1: CreateSchema takes it (it names no dataset type)
    fields = without(without(ECOMMERCE_ITEMS, "PRICE"), "CATEGORY_L1")
    schema = setup.schema(fields=fields, domain="ECOMMERCE")

    # WHEN an Items dataset of an ECOMMERCE group is created with it
    # THEN CreateDataset refuses it, naming both fields
    group = setup.group(domain="ECOMMERCE")
    with pytest.raises(personalize.exceptions.InvalidInputException) as refused:
        setup.dataset("Items", group=group, schema=schema)
    message = refused.value.response["Error"]["Message"]
    assert "ECOMMERCE ITEMS schemas need the field PRICE" in message
    assert "ECOMMERCE ITEMS schemas need the field CATEGORY_L1" in message
    # AND the same fields make a good Items dataset of a custom group: the requirement is the domain's
    assert setup.describe_dataset(setup.dataset("Items", schema=setup.schema(fields=fields)))["status"] == "ACTIVE"


def test_update_dataset_in_domain_group_to_schema_missing_required_field_raises_invalid_input(
    personalize: Any, setup: Setup
) -> None:
    dataset = domain_dataset(setup, "VIDEO_ON_DEMAND", "Items", VOD_ITEMS)
    lacking = [*without(VOD_ITEMS, "GENRES"), {"name": "GENRES_OLD", "type": ["null", "string"], "categorical": True}]

    with pytest.raises(personalize.exceptions.InvalidInputException, match=re.escape('GENRES (categorical "string")')):
        personalize.update_dataset(datasetArn=dataset, schemaArn=setup.schema(fields=lacking, domain="VIDEO_ON_DEMAND"))


# --- the table's function, as the synth-time checks call it -------------------------------------------------------


def test_domain_field_problems_reads_fields_as_parsed_from_schema_json() -> None:
    fields = [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "PRICE", "type": [{"type": "float"}]},
        {"name": "CATEGORY_L1", "type": ["null", "string"], "categorical": True},
        "not a field",
    ]

    problems = domain_field_problems("ECOMMERCE", "ITEMS", fields)

    assert [p.field for p in problems] == ["CATEGORY_L1"]
    assert problems[0].message == (
        'ECOMMERCE ITEMS schemas need the field CATEGORY_L1 (categorical "string") (not null), '
        'got type ["null", "string"], categorical'
    )


@pytest.mark.parametrize("dataset_type", ["ACTIONS", "ACTION_INTERACTIONS"])
def test_domain_field_problems_type_a_domain_does_not_hold_has_no_requirements(dataset_type: str) -> None:
    assert domain_field_problems("ECOMMERCE", dataset_type, []) == []
    assert set(DOMAIN_REQUIREMENTS["ECOMMERCE"]) == {"INTERACTIONS", "USERS", "ITEMS"}


def test_domain_field_problems_unknown_domain_raises_value_error() -> None:
    with pytest.raises(ValueError, match="ECOMMERCE, VIDEO_ON_DEMAND"):
        domain_field_problems("RETAIL", "ITEMS", [])
