"""Rollback: what CloudFormation sends in UPDATE_ROLLBACK_IN_PROGRESS, and that every one of those requests succeeds.

A failed update is rolled back with another Update of the same physical id whose properties are swapped
(``ResourceProperties`` the previous ones, ``OldResourceProperties`` the attempted ones); a replacement is rolled
back by deleting the new physical resource and keeping the old one. A rollback request that fails leaves the stack
UPDATE_ROLLBACK_FAILED, which only ContinueUpdateRollback with skipped resources gets out of.
"""

from __future__ import annotations

from typing import Any

import pytest

from contract import DATASET_GROUP_RESOURCE_TYPE
from local.cloudformation import CustomResourceDriver, CustomResourceFailed, Deployed
from local.emulator import EmulatorServer
from stacks.personalize_properties import event_tracker_properties
from tests.resources.resource_helpers import (
    dataset_props,
    document,
    group_props,
    provision_set,
    schema_props,
    with_field,
)

KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::123456789012:role/PersonalizeKms"
NEW_NULLABLE_FIELD = {"name": "BRAND", "type": ["null", "string"], "categorical": True}


def changing_calls(emu: EmulatorServer) -> list[str]:
    """The control-plane calls that change something (everything but Describe* and List*)."""
    return [call["api"] for call in emu.state.calls() if call["api"].startswith(("Create", "Update", "Delete"))]


def calls_touching(emu: EmulatorServer, arns: set[str]) -> list[str]:
    """The changing calls that name one of ``arns`` (in any ARN member)."""
    return [
        call["api"]
        for call in emu.state.calls()
        if call["api"].startswith(("Create", "Update", "Delete")) and arns & {str(value) for value in call.values()}
    ]


# --- a refused update, rolled back: the rollback finds the resource as it was and changes nothing -----------------


@pytest.mark.parametrize(
    "settings",
    [{"domain": "ECOMMERCE"}, {"kms_key_arn": KMS_KEY, "role_arn": ROLE}],
    ids=["domain", "kms-key-and-role"],
)
def test_dataset_group_setting_change_refused_rollback_is_no_op(
    settings: dict[str, str], cfn: CustomResourceDriver, emu: EmulatorServer
) -> None:
    # GIVEN a group whose domain or KMS key is changed without a new name: refused, nothing changed
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props("shop"))
    attempted = group_props("shop", **settings)
    with pytest.raises(CustomResourceFailed, match=r"needs a new dataset group"):
        cfn.update(group, attempted)
    emu.reset(keep_resources=True)

    # WHEN CloudFormation rolls the group back (old and new properties swapped, the same physical id)
    rolled_back = cfn.rollback(group, attempted)

    # THEN the rollback succeeds: the group already is what the previous template says, so nothing is done
    assert (rolled_back.physical_id, rolled_back.data) == (group.physical_id, group.data)
    assert changing_calls(emu) == []


@pytest.mark.parametrize("resource", ["dataset", "tracker"])
def test_child_rename_within_group_refused_rollback_is_no_op(
    resource: str, cfn: CustomResourceDriver, emu: EmulatorServer
) -> None:
    # GIVEN a dataset or tracker renamed within its group: refused (one per slot), nothing changed
    provisioned = provision_set(cfn, "shop", ("INTERACTIONS",))
    child = provisioned.datasets["INTERACTIONS"] if resource == "dataset" else provisioned.tracker
    assert child is not None
    attempted = {**child.properties, "Name": "renamed"}
    with pytest.raises(CustomResourceFailed, match=r"the new one cannot exist next to the old one"):
        cfn.update(child, attempted)
    emu.reset(keep_resources=True)

    # WHEN CloudFormation rolls it back
    rolled_back = cfn.rollback(child, attempted)

    # THEN the rollback is a no-op answering the current resource and its attributes
    assert (rolled_back.physical_id, rolled_back.data) == (child.physical_id, child.data)
    assert changing_calls(emu) == []


def test_dataset_group_setting_change_refused_resource_deleted_outside_rollback_still_fails(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # The no-op answers only for a resource that really is what the previous template says: one deleted behind
    # CloudFormation's back is not, and the rollback does not claim success (nor create anything).
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props("shop"))
    attempted = group_props("shop", domain="ECOMMERCE")
    with pytest.raises(CustomResourceFailed):
        cfn.update(group, attempted)
    cfn.delete(group)
    emu.reset(keep_resources=True)

    with pytest.raises(CustomResourceFailed):
        cfn.rollback(group, attempted)
    assert changing_calls(emu) == []
    assert personalize.list_dataset_groups()["datasetGroups"] == []


# --- properties that never validated: the rollback only compares them --------------------------------------------


def invalid_update(resource: str, provisioned: Any) -> tuple[Deployed, dict[str, Any]]:
    """A resource of ``provisioned`` and properties for it that the handler refuses to parse."""
    group, dataset, schema = provisioned.group, provisioned.datasets["ITEMS"], provisioned.schemas["ITEMS"]
    return {
        "group-unknown-property": (group, {**group.properties, "Colour": "red"}),
        "group-non-string-domain": (group, {**group.properties, "Domain": ["ECOMMERCE"]}),
        "schema-not-json": (schema, {**schema.properties, "Schema": "{not json"}),
        "dataset-unknown-type": (dataset, {**dataset.properties, "DatasetType": "Products"}),
        "dataset-missing-schema": (dataset, {**dataset.properties, "SchemaArn": ""}),
    }[resource]


@pytest.mark.parametrize(
    "resource",
    [
        "group-unknown-property",
        "group-non-string-domain",
        "schema-not-json",
        "dataset-unknown-type",
        "dataset-missing-schema",
    ],
)
def test_update_invalid_properties_refused_rollback_is_no_op(
    resource: str, cfn: CustomResourceDriver, emu: EmulatorServer
) -> None:
    # GIVEN an update refused because its properties do not validate
    provisioned = provision_set(cfn, "shop", ("ITEMS",))
    deployed, attempted = invalid_update(resource, provisioned)
    with pytest.raises(CustomResourceFailed):
        cfn.update(deployed, attempted)
    emu.reset(keep_resources=True)

    # WHEN CloudFormation rolls it back: the invalid properties are now OldResourceProperties
    rolled_back = cfn.rollback(deployed, attempted)

    # THEN they are only compared, never enforced: the rollback succeeds and changes nothing
    assert (rolled_back.physical_id, rolled_back.data) == (deployed.physical_id, deployed.data)
    assert changing_calls(emu) == []


# --- a replacement, rolled back: the new physical resource is deleted, the old one never touched ------------------


def test_dataset_group_rename_rolled_back_deletes_new_set_and_leaves_old_untouched(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN a group renamed by a stack update, with its schemas, datasets and tracker replaced along with it
    old = provision_set(cfn, "shop", ("ITEMS", "INTERACTIONS"))
    assert old.tracker is not None
    old_arns = {resource.physical_id for resource in old.reverse_dependency_order()}
    new_group = cfn.update(old.group, group_props("shop-v2"))
    new_schemas = {kind: cfn.update(schema, schema_props(kind, "shop-v2")) for kind, schema in old.schemas.items()}
    new_datasets = {
        kind: cfn.update(dataset, dataset_props(new_group, kind, new_schemas[kind]))
        for kind, dataset in old.datasets.items()
    }
    new_tracker = cfn.update(old.tracker, event_tracker_properties(group_name="shop-v2", group_arn=new_group.arn))
    emu.reset(keep_resources=True)

    # WHEN a later resource fails and CloudFormation rolls back, dependents first
    rollbacks = [
        (old.tracker, new_tracker),
        *((old.datasets[kind], new_datasets[kind]) for kind in old.datasets),
        (old.group, new_group),
        *((old.schemas[kind], new_schemas[kind]) for kind in old.schemas),
    ]
    for previous, replacement in rollbacks:
        assert cfn.rollback(previous, replacement) is previous

    # THEN only the old set is left, ACTIVE, and no rollback request touched it
    assert calls_touching(emu, old_arns) == []
    assert [g["datasetGroupArn"] for g in personalize.list_dataset_groups()["datasetGroups"]] == [old.group.arn]
    assert {(d["datasetArn"], d["status"]) for d in personalize.list_datasets()["datasets"]} == {
        (dataset.arn, "ACTIVE") for dataset in old.datasets.values()
    }
    assert {s["schemaArn"] for s in personalize.list_schemas()["schemas"]} == {s.arn for s in old.schemas.values()}
    (tracker,) = personalize.list_event_trackers()["eventTrackers"]
    assert (tracker["eventTrackerArn"], tracker["status"]) == (old.tracker.arn, "ACTIVE")


def test_dataset_group_rename_rolled_back_by_swapped_update_of_new_ids_returns_to_old_set(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN a group renamed by a stack update, with its schemas, datasets and tracker replaced along with it
    old = provision_set(cfn, "shop", ("ITEMS", "INTERACTIONS"))
    assert old.tracker is not None
    old_arns = {resource.physical_id for resource in old.reverse_dependency_order()}
    new_group = cfn.update(old.group, group_props("shop-v2"))
    new_schemas = {kind: cfn.update(schema, schema_props(kind, "shop-v2")) for kind, schema in old.schemas.items()}
    new_datasets = {
        kind: cfn.update(dataset, dataset_props(new_group, kind, new_schemas[kind]))
        for kind, dataset in old.datasets.items()
    }
    new_tracker = cfn.update(old.tracker, event_tracker_properties(group_name="shop-v2", group_arn=new_group.arn))
    emu.reset(keep_resources=True)

    # WHEN a later resource fails and CloudFormation rolls back with its other form for a replacement: an Update of
    # each new physical id with the properties swapped (in dependency order, as the forward update ran)...
    replacements = [
        (old.group, new_group),
        *((old.schemas[kind], new_schemas[kind]) for kind in old.schemas),
        *((old.datasets[kind], new_datasets[kind]) for kind in old.datasets),
        (old.tracker, new_tracker),
    ]
    rolled_back = [cfn.rollback(previous, replacement, swapped_update=True) for previous, replacement in replacements]

    # THEN each answers the old physical id and attributes: the old resource is found and adopted, nothing changed
    assert [(r.physical_id, r.data) for r in rolled_back] == [(p.physical_id, p.data) for p, _ in replacements]
    assert changing_calls(emu) == []

    # AND the cleanup phase then deletes the new physical ids, dependents first: only the old set is left, untouched
    for _, replacement in reversed(replacements):
        cfn.delete(replacement)
    assert calls_touching(emu, old_arns) == []
    assert [g["datasetGroupArn"] for g in personalize.list_dataset_groups()["datasetGroups"]] == [old.group.arn]
    assert {(d["datasetArn"], d["status"]) for d in personalize.list_datasets()["datasets"]} == {
        (dataset.arn, "ACTIVE") for dataset in old.datasets.values()
    }
    assert {s["schemaArn"] for s in personalize.list_schemas()["schemas"]} == {s.arn for s in old.schemas.values()}
    (tracker,) = personalize.list_event_trackers()["eventTrackers"]
    assert (tracker["eventTrackerArn"], tracker["status"]) == (old.tracker.arn, "ACTIVE")


# --- a replacement that ended CREATE FAILED: CloudFormation keeps the old physical id and never deletes the new -----


def test_dataset_group_rename_create_failed_rollback_then_redeploy_makes_new_group(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN a rename whose new group ends CREATE FAILED (say, its new KMS key's policy was wrong), rolled back
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props("shop"))
    emu.configure(fail_create="^shop-v2$", failure_reason="KMS key is not accessible")
    attempted = group_props("shop-v2")
    with pytest.raises(CustomResourceFailed) as failed:
        cfn.update(group, attempted)
    assert "dataset-group/shop-v2 is CREATE FAILED: KMS key is not accessible" in failed.value.reason
    rolled_back = cfn.rollback(group, attempted)
    assert (rolled_back.physical_id, rolled_back.data) == (group.physical_id, group.data)

    # WHEN the cause is fixed and the rename deployed again
    emu.configure(fail_create=None)
    renamed = cfn.update(rolled_back, attempted)

    # THEN a new group is made and ACTIVE: the earlier failure is neither adopted nor reported again
    assert renamed.physical_id == "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop-v2"
    described = personalize.describe_dataset_group(datasetGroupArn=renamed.physical_id)["datasetGroup"]
    assert described["status"] == "ACTIVE"
    # shop, the shop-v2 that failed, and shop-v2 made again after the failed one was deleted
    assert [call["error"] for call in emu.state.calls("CreateDatasetGroup")] == [None, None, None]
    assert [call["datasetGroupArn"] for call in emu.state.calls("DeleteDatasetGroup")] == [renamed.physical_id]


def test_dataset_group_rename_create_failed_new_group_deletion_requested_at_once(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props("shop"))
    emu.configure(fail_create="^shop-v2$", failure_reason="KMS key is not accessible")

    with pytest.raises(CustomResourceFailed) as failed:
        cfn.update(group, group_props("shop-v2"))

    # CloudFormation keeps the old physical id after a failed update and will never delete the new group: the
    # handler asks for its deletion itself, and says so
    new_arn = "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop-v2"
    assert failed.value.reason == (
        f"Dataset group {new_arn} is CREATE FAILED: KMS key is not accessible. Its deletion has been requested: "
        "it was to replace dataset group "
        "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop, which CloudFormation keeps."
    )
    assert [(call["datasetGroupArn"], call["error"]) for call in emu.state.calls("DeleteDatasetGroup")] == [
        (new_arn, None)
    ]
    assert personalize.describe_dataset_group(datasetGroupArn=group.arn)["datasetGroup"]["status"] == "ACTIVE"


def test_dataset_group_rename_child_create_failed_rollback_leaves_only_old_set(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN a rename whose new group and schema were made, but whose new dataset ended CREATE FAILED
    old = provision_set(cfn, "shop", ("ITEMS",))
    new_group = cfn.update(old.group, group_props("shop-v2"))
    new_schema = cfn.update(old.schemas["ITEMS"], schema_props("ITEMS", "shop-v2"))
    emu.configure(fail_create="^shop-v2-items$")
    attempted = dataset_props(new_group, "ITEMS", new_schema)
    with pytest.raises(CustomResourceFailed, match=r"dataset/shop-v2/ITEMS is CREATE FAILED"):
        cfn.update(old.datasets["ITEMS"], attempted)

    # WHEN CloudFormation rolls the stack back, dependents first
    rolled_back = cfn.rollback(old.datasets["ITEMS"], attempted)
    cfn.rollback(old.group, new_group)
    cfn.rollback(old.schemas["ITEMS"], new_schema)

    # THEN every rollback request succeeds (the new group's delete is not blocked by the failed dataset, which
    # CloudFormation never knew), and exactly the old set is left
    assert rolled_back.physical_id == old.datasets["ITEMS"].physical_id
    assert [g["datasetGroupArn"] for g in personalize.list_dataset_groups()["datasetGroups"]] == [old.group.arn]
    assert [d["datasetArn"] for d in personalize.list_datasets()["datasets"]] == [old.datasets["ITEMS"].arn]
    assert [s["schemaArn"] for s in personalize.list_schemas()["schemas"]] == [old.schemas["ITEMS"].arn]


# --- an in-place update, rolled back -------------------------------------------------------------------------------


def test_dataset_schema_update_in_place_rolled_back_keeps_newer_schema_and_redeploy_finds_it(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN a dataset updated in place to a schema with one more nullable field (the schema resource replaced)
    provisioned = provision_set(cfn, "shop", ("ITEMS",))
    old_schema, dataset = provisioned.schemas["ITEMS"], provisioned.datasets["ITEMS"]
    newer = schema_props("ITEMS", text=with_field(document("ITEMS"), NEW_NULLABLE_FIELD))
    new_schema = cfn.update(old_schema, newer)
    updated = cfn.update(dataset, dataset_props(provisioned.group, "ITEMS", new_schema))

    # WHEN a later failure makes CloudFormation roll back: the dataset to its old schema, then the schema replacement
    rolled_back = cfn.rollback(dataset, updated)
    assert cfn.rollback(old_schema, new_schema) is old_schema

    # THEN both succeed: UpdateDataset cannot remove a field, so the dataset keeps the newer schema (which accepts
    # every record the old one did), and the newer schema stays because the dataset uses it
    assert (rolled_back.physical_id, rolled_back.data["SchemaArn"]) == (dataset.physical_id, new_schema.arn)
    described = personalize.describe_dataset(datasetArn=dataset.arn)["dataset"]
    assert (described["status"], described["schemaArn"]) == ("ACTIVE", new_schema.arn)
    assert personalize.describe_schema(schemaArn=new_schema.arn)["schema"]["schemaArn"] == new_schema.arn
    assert [call["error"] for call in emu.state.calls("UpdateDataset")] == [None]  # the forward update only

    # AND deploying the newer schema again finds it in place: no new schema, no second UpdateDataset
    redeployed_schema = cfn.update(old_schema, newer)
    redeployed = cfn.update(rolled_back, dataset_props(provisioned.group, "ITEMS", redeployed_schema))
    assert (redeployed_schema.physical_id, redeployed.data["SchemaArn"]) == (new_schema.arn, new_schema.arn)
    assert len(emu.state.calls("CreateSchema")) == 2
    assert len(emu.state.calls("UpdateDataset")) == 1
