"""Update: no-op, a dataset's schema in place, replacement under a new physical id (and CloudFormation's cleanup of
the old resource), and refusals that leave everything as it was (rollbacks: test_resources_rollback.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contract import DATASET_GROUP_RESOURCE_TYPE, SCHEMA_RESOURCE_TYPE
from local.cloudformation import CustomResourceDriver, CustomResourceFailed
from local.emulator import EmulatorServer
from stacks.personalize_properties import event_tracker_properties
from tests.resources.resource_helpers import (
    dataset_props,
    document,
    group_props,
    provision_set,
    schema_props,
    with_field,
    without_field,
)

NEW_NULLABLE_FIELD = {"name": "BRAND", "type": ["null", "string"], "categorical": True}


def changing_calls(emu: EmulatorServer) -> list[str]:
    """The control-plane calls that change something (everything but Describe* and List*)."""
    return [call["api"] for call in emu.state.calls() if call["api"].startswith(("Create", "Update", "Delete"))]


# --- no-op ------------------------------------------------------------------------------------------------------


def test_update_unchanged_properties_every_type_is_no_op(cfn: CustomResourceDriver, emu: EmulatorServer) -> None:
    provisioned = provision_set(cfn, "shop", ("ITEMS", "INTERACTIONS"))
    resources = [provisioned.group, *provisioned.schemas.values(), *provisioned.datasets.values(), provisioned.tracker]
    emu.reset(keep_resources=True)

    for resource in resources:
        assert resource is not None
        updated = cfn.update(resource, resource.properties)

        assert updated.physical_id == resource.physical_id
        assert updated.data == resource.data  # the attributes are answered again, unchanged
    assert changing_calls(emu) == []


@pytest.mark.parametrize("resource", ["group", "schema"])
def test_update_no_op_resource_deleted_outside_stack_fails_at_once(
    resource: str, cfn: CustomResourceDriver, personalize: Any
) -> None:
    # GIVEN a resource deleted behind CloudFormation's back
    deployed = (
        cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
        if resource == "group"
        else cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS"))
    )
    cfn.delete(deployed)
    # WHEN an update that changes nothing Personalize sees arrives (a new ServiceToken, a reformatted schema file)
    properties = dict(deployed.properties)
    if resource == "schema":
        properties["Schema"] = json.dumps(json.loads(properties["Schema"]))

    # THEN it fails on the first poll, naming the resource, instead of waiting for it to appear until the timeout
    driver = CustomResourceDriver(cfn.on_event, cfn.is_complete, poll_interval=0.005, timeout=5)
    with pytest.raises(CustomResourceFailed) as failed:
        driver.update(deployed, properties)

    assert failed.value.reason.endswith(
        f"{deployed.arn} does not exist any more: it was deleted outside this stack, so there is nothing to update. "
        "Remove it from the stack and deploy, then add it back (or give the dataset group a new name to provision "
        "a new group)."
    )


def test_schema_update_reformatted_document_same_schema(cfn: CustomResourceDriver, emu: EmulatorServer) -> None:
    schema = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS"))
    reformatted = json.dumps(json.loads(document("ITEMS")), sort_keys=True)  # same schema, other spacing and order

    updated = cfn.update(schema, schema_props("ITEMS", text=reformatted))

    assert reformatted != document("ITEMS")
    assert updated.physical_id == schema.physical_id
    assert emu.state.calls("CreateSchema")[1:] == []


# --- in place: an Items or Users dataset's schema gains nullable fields -------------------------------------------


@pytest.mark.parametrize("dataset_type", ["ITEMS", "USERS"])
def test_dataset_update_schema_gains_nullable_field_updated_in_place(
    dataset_type: str, cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN a dataset, and a new schema resource with one more nullable field (a new physical schema)
    provisioned = provision_set(cfn, "shop", (dataset_type,))
    old_schema, dataset = provisioned.schemas[dataset_type], provisioned.datasets[dataset_type]
    new_schema = cfn.update(
        old_schema, schema_props(dataset_type, text=with_field(document(dataset_type), NEW_NULLABLE_FIELD))
    )
    assert new_schema.physical_id != old_schema.physical_id
    emu.configure(create_delay=0.1)

    # WHEN the dataset is updated to the new schema
    updated = cfn.update(dataset, dataset_props(provisioned.group, dataset_type, new_schema))

    # THEN the same dataset (and its data) now has the new schema: UpdateDataset, waited for until ACTIVE
    assert updated.physical_id == dataset.physical_id
    assert updated.data["SchemaArn"] == new_schema.arn
    described = personalize.describe_dataset(datasetArn=dataset.arn)["dataset"]
    assert (described["schemaArn"], described["latestDatasetUpdate"]["status"]) == (new_schema.arn, "ACTIVE")
    assert emu.state.calls("UpdateDataset")[0]["error"] is None

    # AND CloudFormation's cleanup deletes the old schema, which no dataset uses any more
    cfn.delete(old_schema)
    assert [s["schemaArn"] for s in personalize.list_schemas()["schemas"]] == [new_schema.arn]


def test_dataset_update_incompatible_schema_refused_before_anything_changes(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    provisioned = provision_set(cfn, "shop", ("ITEMS",))
    dataset = provisioned.datasets["ITEMS"]
    incompatible = with_field(without_field(document("ITEMS"), "GENRES"), {"name": "COLOUR", "type": "string"})
    new_schema = cfn.update(provisioned.schemas["ITEMS"], schema_props("ITEMS", text=incompatible))

    with pytest.raises(CustomResourceFailed) as failed:
        cfn.update(dataset, dataset_props(provisioned.group, "ITEMS", new_schema))

    assert "field GENRES is removed; new field COLOUR is not nullable" in failed.value.reason
    assert "Nothing was changed" in failed.value.reason
    assert emu.state.calls("UpdateDataset") == []
    assert personalize.describe_dataset(datasetArn=dataset.arn)["dataset"]["schemaArn"] == dataset.data["SchemaArn"]
    # CloudFormation's rollback: the refused dataset update comes back with the properties swapped and is a
    # no-op; the schema resource, replaced before the failure, is rolled back by deleting the new schema
    emu.reset(keep_resources=True)
    rolled_back = cfn.rollback(dataset, dataset_props(provisioned.group, "ITEMS", new_schema))
    assert (rolled_back.physical_id, rolled_back.data) == (dataset.physical_id, dataset.data)
    assert cfn.rollback(provisioned.schemas["ITEMS"], new_schema) is provisioned.schemas["ITEMS"]
    assert changing_calls(emu) == ["DeleteSchema"]
    assert [s["schemaArn"] for s in personalize.list_schemas()["schemas"]] == [dataset.data["SchemaArn"]]


def test_dataset_update_nullable_field_removed_by_new_deployment_refused_before_anything_changes(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN an Items dataset moved from schema A to A + BRAND by an earlier deployment, whose cleanup deleted A
    provisioned = provision_set(cfn, "shop", ("ITEMS",))
    schema_a, dataset = provisioned.schemas["ITEMS"], provisioned.datasets["ITEMS"]
    with_brand = cfn.update(schema_a, schema_props("ITEMS", text=with_field(document("ITEMS"), NEW_NULLABLE_FIELD)))
    dataset = cfn.update(dataset, dataset_props(provisioned.group, "ITEMS", with_brand))
    cfn.delete(schema_a)
    # WHEN a new deployment removes BRAND: its schema resource makes A again, then the dataset is updated to it
    schema_a_again = cfn.update(with_brand, schema_props("ITEMS"))
    assert schema_a_again.physical_id == schema_a.physical_id  # named after its content
    attempted = dataset_props(provisioned.group, "ITEMS", schema_a_again)
    emu.reset(keep_resources=True)

    with pytest.raises(CustomResourceFailed) as failed:
        cfn.update(dataset, attempted)

    # THEN it is refused, not taken for a rollback: A is compatible with A + BRAND but newer than it, so the stack
    # would say A while the dataset keeps A + BRAND
    assert f"cannot change from schema {with_brand.arn} to {schema_a.arn}: field BRAND is removed" in (
        failed.value.reason
    )
    assert "not a rollback" in failed.value.reason
    assert "Nothing was changed" in failed.value.reason
    assert changing_calls(emu) == []
    assert personalize.describe_dataset(datasetArn=dataset.arn)["dataset"]["schemaArn"] == with_brand.arn

    # AND CloudFormation's rollback succeeds: the dataset update (properties swapped) is a no-op, and the schema
    # replacement is rolled back by deleting the A made again; the dataset and its schema are as they were
    rolled_back = cfn.rollback(dataset, attempted)
    assert (rolled_back.physical_id, rolled_back.data) == (dataset.physical_id, dataset.data)
    assert cfn.rollback(with_brand, schema_a_again) is with_brand
    assert changing_calls(emu) == ["DeleteSchema"]
    assert [s["schemaArn"] for s in personalize.list_schemas()["schemas"]] == [with_brand.arn]


@pytest.mark.parametrize("dataset_type", ["ACTIONS", "INTERACTIONS", "ACTION_INTERACTIONS"])
def test_dataset_update_schema_of_type_personalize_cannot_update_refused(
    dataset_type: str, cfn: CustomResourceDriver, emu: EmulatorServer
) -> None:
    provisioned = provision_set(cfn, "shop", (dataset_type,))
    text = with_field(document(dataset_type), {"name": "EXTRA", "type": ["null", "string"], "categorical": True})
    new_schema = cfn.update(provisioned.schemas[dataset_type], schema_props(dataset_type, text=text))

    with pytest.raises(CustomResourceFailed) as failed:
        cfn.update(provisioned.datasets[dataset_type], dataset_props(provisioned.group, dataset_type, new_schema))

    assert f"not of an {dataset_type} dataset" in failed.value.reason
    assert "replacing the dataset would delete its data" in failed.value.reason
    assert [api for api in changing_calls(emu) if api in {"UpdateDataset", "DeleteDataset", "CreateDataset"}] == [
        "CreateDataset"
    ]


# --- replacement: a new physical resource, the old one deleted by CloudFormation afterwards ------------------------


def test_dataset_group_rename_replaces_group_and_children_then_cleanup_deletes_old(
    cfn: CustomResourceDriver, personalize: Any
) -> None:
    old = provision_set(cfn, "shop", ("ITEMS", "INTERACTIONS"))
    assert old.tracker is not None

    # WHEN the group gets a new name: a new group, so new schemas, datasets and tracker (their properties change)
    group = cfn.update(old.group, group_props("shop-v2"))
    datasets = {}
    for dataset_type, dataset in old.datasets.items():
        schema = cfn.update(old.schemas[dataset_type], schema_props(dataset_type, "shop-v2"))
        datasets[dataset_type] = cfn.update(dataset, dataset_props(group, dataset_type, schema))
    tracker = cfn.update(old.tracker, event_tracker_properties(group_name="shop-v2", group_arn=group.arn))

    assert group.physical_id == "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop-v2"
    assert datasets["ITEMS"].physical_id == "arn:aws:personalize:us-east-1:123456789012:dataset/shop-v2/ITEMS"
    assert tracker.physical_id != old.tracker.physical_id
    assert tracker.data["TrackingId"] != old.tracker.data["TrackingId"]

    # AND CloudFormation's cleanup deletes the replaced resources, dependents first: only the new ones are left
    for resource in old.reverse_dependency_order():
        cfn.delete(resource)
    assert [g["datasetGroupArn"] for g in personalize.list_dataset_groups()["datasetGroups"]] == [group.arn]
    assert {d["datasetArn"] for d in personalize.list_datasets()["datasets"]} == {d.arn for d in datasets.values()}
    assert len(personalize.list_schemas()["schemas"]) == 2


@pytest.mark.parametrize(
    ("settings", "changed"),
    [
        ({"domain": "ECOMMERCE"}, "Domain"),
        ({"kms_key_arn": "arn:aws:kms:us-east-1:1:key/k", "role_arn": "r"}, "KmsKeyArn"),
    ],
)
def test_dataset_group_setting_change_same_name_refused(
    settings: dict[str, str], changed: str, cfn: CustomResourceDriver, emu: EmulatorServer
) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props("shop"))

    with pytest.raises(CustomResourceFailed) as failed:
        cfn.update(group, group_props("shop", **settings))

    assert f"Changing {changed}" in failed.value.reason
    assert "needs a new dataset group (Personalize cannot change it in place)" in failed.value.reason
    assert "datasetGroup.name" in failed.value.reason
    assert emu.state.calls("CreateDatasetGroup")[1:] == []


def test_dataset_rename_same_group_and_type_refused(cfn: CustomResourceDriver) -> None:
    provisioned = provision_set(cfn, "shop", ("ITEMS",))
    dataset = provisioned.datasets["ITEMS"]

    with pytest.raises(CustomResourceFailed, match=r"a dataset group holds one dataset per DatasetGroupArn and Datas"):
        cfn.update(dataset, {**dataset.properties, "Name": "renamed"})


def test_event_tracker_rename_same_group_refused(cfn: CustomResourceDriver) -> None:
    provisioned = provision_set(cfn, "shop", ("INTERACTIONS",))
    assert provisioned.tracker is not None

    with pytest.raises(CustomResourceFailed, match=r"holds one event tracker per DatasetGroupArn"):
        cfn.update(provisioned.tracker, {**provisioned.tracker.properties, "Name": "renamed"})


def test_dataset_type_change_replaces_with_new_dataset(cfn: CustomResourceDriver, personalize: Any) -> None:
    provisioned = provision_set(cfn, "shop", ("ITEMS",))
    users_schema = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("USERS"))

    users = cfn.update(provisioned.datasets["ITEMS"], dataset_props(provisioned.group, "USERS", users_schema))
    cfn.delete(provisioned.datasets["ITEMS"])

    assert users.physical_id.endswith("/USERS")
    # ListDatasets spells the type as the service model documents it (Users), whatever case it was created with.
    assert [d["datasetType"].upper() for d in personalize.list_datasets()["datasets"]] == ["USERS"]
