"""Tags of the dataset group, datasets and event tracker: given to CreateX, changed in place, never a replacement.

The handlers run against the emulator through the local CloudFormation driver, as in a deployment; the emulator
keeps tags with Personalize's limits (local/emulator/tags.py) and answers ListTagsForResource.
"""

from __future__ import annotations

from typing import Any

import pytest

from contract import (
    DATASET_GROUP_RESOURCE_TYPE,
    DATASET_RESOURCE_TYPE,
    EVENT_TRACKER_RESOURCE_TYPE,
    SCHEMA_RESOURCE_TYPE,
    TAGS_PROPERTY,
)
from local.cloudformation import CustomResourceDriver, CustomResourceFailed, Deployed
from local.emulator import EmulatorServer
from resources.tags import change_tags, parse_old_tags, parse_tags, tag_list
from stacks.personalize_properties import event_tracker_properties, with_tags
from tests.resources.resource_helpers import dataset_props, document, group_props, schema_props, with_field

TAGS = {"team": "data", "cost-center": "4711"}
NEW_NULLABLE_FIELD = {"name": "BRAND", "type": ["null", "string"], "categorical": True}


def tags_of(personalize: Any, arn: str) -> dict[str, str]:
    """ListTagsForResource's answer, as a mapping."""
    return {tag["tagKey"]: tag["tagValue"] for tag in personalize.list_tags_for_resource(resourceArn=arn)["tags"]}


def control_calls(emu: EmulatorServer) -> list[str]:
    """The control-plane calls made since the last reset, but the reads (Describe*, List*)."""
    return [call["api"] for call in emu.state.calls() if not call["api"].startswith(("Describe", "List"))]


def tagged_set(cfn: CustomResourceDriver, tags: dict[str, str]) -> dict[str, Deployed]:
    """A group with an Interactions schema, dataset and tracker, the group, dataset and tracker tagged with ``tags``."""
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, with_tags(group_props(), tags))
    schema = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("INTERACTIONS"))
    dataset = cfn.create(DATASET_RESOURCE_TYPE, with_tags(dataset_props(group, "INTERACTIONS", schema), tags))
    tracker = cfn.create(
        EVENT_TRACKER_RESOURCE_TYPE,
        with_tags(event_tracker_properties(group_name="shop", group_arn=group.arn), tags),
    )
    return {"group": group, "dataset": dataset, "tracker": tracker}


# --- the lifecycle: create with tags, change one, remove one --------------------------------------------------------


def test_tags_lifecycle_create_change_remove_every_taggable_type_in_place(
    cfn: CustomResourceDriver, emu: EmulatorServer, personalize: Any
) -> None:
    # GIVEN the group, a dataset and the tracker created with two tags
    deployed = tagged_set(cfn, TAGS)
    assert {name: tags_of(personalize, resource.arn) for name, resource in deployed.items()} == dict.fromkeys(
        deployed, TAGS
    )

    # WHEN a tag changes value THEN each resource has it, under the same physical id, by TagResource alone
    changed = {**TAGS, "cost-center": "4712"}
    emu.reset(keep_resources=True)
    for name, resource in deployed.items():
        deployed[name] = updated = cfn.update(resource, with_tags(resource.properties, changed))
        assert updated.physical_id == resource.physical_id
        assert tags_of(personalize, updated.arn) == changed
    assert control_calls(emu) == ["TagResource"] * 3

    # WHEN a tag is removed THEN it is gone, by UntagResource alone
    emu.reset(keep_resources=True)
    for name, resource in deployed.items():
        deployed[name] = updated = cfn.update(resource, with_tags(_untagged(resource), {"team": "data"}))
        assert updated.physical_id == resource.physical_id
        assert tags_of(personalize, updated.arn) == {"team": "data"}
    assert control_calls(emu) == ["UntagResource"] * 3

    # WHEN the last tag is removed (the property then is absent from the template) THEN the resource has none
    for resource in deployed.values():
        cfn.update(resource, _untagged(resource))
        assert tags_of(personalize, resource.arn) == {}


def _untagged(resource: Deployed) -> dict[str, str]:
    return {key: value for key, value in resource.properties.items() if key != TAGS_PROPERTY}


def test_tags_rollback_of_tag_change_restores_previous_tags(cfn: CustomResourceDriver, personalize: Any) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, with_tags(group_props(), TAGS))
    changed = cfn.update(group, with_tags(group_props(), {"team": "ml", "owner": "platform"}))

    # WHEN a later resource of the stack update fails, CloudFormation sends the Update back with properties swapped
    rolled_back = cfn.rollback(group, changed)

    assert rolled_back.physical_id == group.physical_id
    assert tags_of(personalize, group.arn) == TAGS


def test_tags_with_schema_change_dataset_updated_in_place_and_retagged(
    cfn: CustomResourceDriver, personalize: Any
) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
    schema = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS"))
    dataset = cfn.create(DATASET_RESOURCE_TYPE, with_tags(dataset_props(group, "ITEMS", schema), TAGS))
    newer = cfn.create(
        SCHEMA_RESOURCE_TYPE, schema_props("ITEMS", text=with_field(document("ITEMS"), NEW_NULLABLE_FIELD))
    )

    updated = cfn.update(dataset, with_tags(dataset_props(group, "ITEMS", newer), {"team": "ml"}))

    assert updated.physical_id == dataset.physical_id
    assert updated.data["SchemaArn"] == newer.arn
    assert tags_of(personalize, dataset.arn) == {"team": "ml"}


def test_tags_replacement_created_with_new_tags(cfn: CustomResourceDriver, personalize: Any) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, with_tags(group_props("shop"), TAGS))

    replacement = cfn.update(group, with_tags(group_props("shop-2"), {"team": "ml"}))

    assert replacement.physical_id != group.physical_id
    assert tags_of(personalize, replacement.arn) == {"team": "ml"}
    assert tags_of(personalize, group.arn) == TAGS  # the old one is CloudFormation's to delete, untouched


def test_tags_adopted_resource_given_requested_tags_others_kept(
    cfn: CustomResourceDriver, emu: EmulatorServer, personalize: Any
) -> None:
    # GIVEN a group this stack made before (a retained delete, a retried create), with one stale and one foreign tag
    arn = personalize.create_dataset_group(
        name="shop", tags=[{"tagKey": "team", "tagValue": "old"}, {"tagKey": "backup", "tagValue": "daily"}]
    )["datasetGroupArn"]
    emu.reset(keep_resources=True)

    adopted = cfn.create(DATASET_GROUP_RESOURCE_TYPE, with_tags(group_props("shop"), TAGS))

    assert adopted.physical_id == arn
    assert "CreateDatasetGroup" not in control_calls(emu)
    assert tags_of(personalize, arn) == {"team": "data", "backup": "daily", "cost-center": "4711"}


def test_tags_untagged_resource_makes_no_tag_call(
    cfn: CustomResourceDriver, emu: EmulatorServer, personalize: Any
) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
    cfn.update(group, group_props())

    assert [api for api in control_calls(emu) if "Tag" in api] == []
    assert tags_of(personalize, group.arn) == {}


# --- refusals -------------------------------------------------------------------------------------------------------


def test_tags_on_schema_refused_naming_the_reason(cfn: CustomResourceDriver, emu: EmulatorServer) -> None:
    with pytest.raises(CustomResourceFailed, match=r"Custom::PersonalizeSchema: takes no Tags: Personalize cannot tag"):
        cfn.create(SCHEMA_RESOURCE_TYPE, with_tags(schema_props("ITEMS"), TAGS))

    assert emu.state.calls("CreateSchema") == []


@pytest.mark.parametrize(
    "tags",
    [
        "team=data",
        [{"Key": "team"}],
        [{"Key": "team", "Value": 7}],
        [{"Key": "team", "Value": "secret"}, {"Key": "team", "Value": "b"}],
        [{"Key": "team", "Value": "secret", "Extra": "x"}],
    ],
)
def test_tags_malformed_property_refused_without_values_in_message(
    tags: Any, cfn: CustomResourceDriver, emu: EmulatorServer
) -> None:
    with pytest.raises(CustomResourceFailed) as raised:
        cfn.create(DATASET_GROUP_RESOURCE_TYPE, {**group_props(), TAGS_PROPERTY: tags})

    assert "Tags must be a list of" in raised.value.reason
    assert "secret" not in raised.value.reason  # tag values are sensitive: never in a status reason
    assert emu.state.calls("CreateDatasetGroup") == []


def test_tags_personalize_limit_refusal_fails_create_with_its_message(cfn: CustomResourceDriver) -> None:
    with pytest.raises(CustomResourceFailed, match=r"aws:"):
        cfn.create(DATASET_GROUP_RESOURCE_TYPE, with_tags(group_props(), {"aws:owner": "me"}))


# --- the pieces -----------------------------------------------------------------------------------------------------


def test_tags_parse_reads_cloudformation_shape_and_absence() -> None:
    assert parse_tags("Custom::X", [{"Key": "a", "Value": ""}, {"Key": "b", "Value": "2"}]) == {"a": "", "b": "2"}
    assert parse_tags("Custom::X", None) == {}
    assert parse_old_tags("not tags") == {}
    assert tag_list({"b": "2", "a": "1"}) == [{"tagKey": "a", "tagValue": "1"}, {"tagKey": "b", "tagValue": "2"}]


@pytest.mark.parametrize(
    ("old", "new", "calls"),
    [
        ({}, {}, []),
        (TAGS, TAGS, []),
        ({}, {"a": "1"}, [("tag_resource", {"resourceArn": "arn", "tags": [{"tagKey": "a", "tagValue": "1"}]})]),
        ({"a": "1", "b": "2"}, {"b": "2"}, [("untag_resource", {"resourceArn": "arn", "tagKeys": ["a"]})]),
        (
            {"a": "1", "b": "2"},
            {"b": "3"},
            [
                ("untag_resource", {"resourceArn": "arn", "tagKeys": ["a"]}),
                ("tag_resource", {"resourceArn": "arn", "tags": [{"tagKey": "b", "tagValue": "3"}]}),
            ],
        ),
    ],
)
def test_tags_change_sends_only_the_difference(
    old: dict[str, str], new: dict[str, str], calls: list[tuple[str, dict[str, Any]]]
) -> None:
    made: list[tuple[str, dict[str, Any]]] = []

    class Recorder:
        def tag_resource(self, **request: Any) -> None:
            made.append(("tag_resource", request))

        def untag_resource(self, **request: Any) -> None:
            made.append(("untag_resource", request))

    change_tags(Recorder(), "arn", old, new)  # type: ignore[arg-type]

    assert made == calls
