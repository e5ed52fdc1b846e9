"""The dataset catalog: a kind's schema (and tracking id) read from Personalize on first use, then cached."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ingest.catalog import DEFAULT_TTL_S, DatasetCatalog
from ingest.kinds import KINDS
from tests.support.fakes import (
    ACTION_INTERACTIONS_TRACKING_ID,
    DATASETS,
    FakeClock,
    FakePersonalizeControl,
    client_error,
)

ITEMS_V1 = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "ITEM_ID", "type": "string"}, {"name": "PRICE", "type": "float"}],
    "version": "1.0",
}
# What UpdateDataset allows: the old fields unchanged, a new nullable one (docs/personalize.md §3).
ITEMS_V2 = {
    **ITEMS_V1,
    "fields": [*ITEMS_V1["fields"], {"name": "COLOUR", "type": ["null", "string"], "categorical": True}],
}


@dataclass
class CountingControl:
    """``personalize`` client whose items schema can be replaced, counting both Describe calls."""

    schema: dict[str, Any]
    calls: list[str] = field(default_factory=list)

    def describe_dataset(self, *, datasetArn: str) -> dict[str, Any]:
        self.calls.append("DescribeDataset")
        return {"dataset": {"datasetArn": datasetArn, "schemaArn": "arn:aws:personalize:us-east-1:1:schema/items"}}

    def describe_schema(self, *, schemaArn: str) -> dict[str, Any]:
        self.calls.append("DescribeSchema")
        return {"schema": {"schemaArn": schemaArn, "schema": json.dumps(self.schema)}}


def test_catalog_first_use_reads_dataset_then_schema_and_later_uses_are_cached() -> None:
    control, clock = CountingControl(ITEMS_V1), FakeClock()
    catalog = DatasetCatalog(client=control, clock=clock)

    first = catalog.describe(KINDS["item"], DATASETS["ITEMS"])
    clock.now += DEFAULT_TTL_S - 1
    second = catalog.describe(KINDS["item"], DATASETS["ITEMS"])

    assert control.calls == ["DescribeDataset", "DescribeSchema"]
    assert second is first
    assert [f.name for f in first.schema.fields] == ["PRICE"]  # ITEM_ID is a request field, not a property
    assert first.tracking_id is None


def test_catalog_after_the_ttl_picks_up_a_schema_updated_in_place() -> None:
    control, clock = CountingControl(ITEMS_V1), FakeClock()
    catalog = DatasetCatalog(client=control, clock=clock)
    catalog.describe(KINDS["item"], DATASETS["ITEMS"])
    control.schema = ITEMS_V2

    clock.now += DEFAULT_TTL_S
    info = catalog.describe(KINDS["item"], DATASETS["ITEMS"])

    assert [f.name for f in info.schema.fields] == ["PRICE", "COLOUR"]
    assert len(control.calls) == 4


def test_catalog_action_interactions_dataset_gives_its_tracking_id() -> None:
    catalog = DatasetCatalog(client=FakePersonalizeControl())

    info = catalog.describe(KINDS["actionInteraction"], DATASETS["ACTION_INTERACTIONS"])

    assert info.tracking_id == ACTION_INTERACTIONS_TRACKING_ID


def test_catalog_failed_describe_is_not_cached() -> None:
    control = FakePersonalizeControl(failures=[client_error("ThrottlingException", 400, operation="DescribeDataset")])
    catalog = DatasetCatalog(client=control)

    with pytest.raises(ClientError, match="ThrottlingException"):
        catalog.describe(KINDS["item"], DATASETS["ITEMS"])
    info = catalog.describe(KINDS["item"], DATASETS["ITEMS"])

    assert info.schema.fields
    assert control.calls == 2
