"""Create: every resource type against the emulator, adopting on a retried create, refusing a foreign resource,
and failing with Personalize's reason when a resource ends CREATE FAILED."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from contract import (
    DATASET_GROUP_RESOURCE_TYPE,
    DATASET_RESOURCE_TYPE,
    EVENT_TRACKER_RESOURCE_TYPE,
    SCHEMA_RESOURCE_TYPE,
)
from local.cloudformation import CustomResourceDriver, CustomResourceFailed, Deployed
from local.emulator import EmulatorServer
from resources import provider
from stacks.personalize_properties import event_tracker_properties
from tests.resources.resource_helpers import (
    DATASET_TYPES,
    dataset_props,
    document,
    group_props,
    provision_set,
    schema_props,
    with_field,
)

KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::123456789012:role/PersonalizeKms"
NULLABLE_FIELD = {"name": "BRAND", "type": ["null", "string"], "categorical": True}


def create_event(resource_type: str, properties: dict[str, str]) -> dict[str, Any]:
    return {
        "RequestType": "Create",
        "ResourceType": resource_type,
        "LogicalResourceId": "Resource",
        "RequestId": "request-1",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:x", **properties},
    }


# --- each type --------------------------------------------------------------------------------------------------


def test_schema_create_named_by_content_and_readable(cfn: CustomResourceDriver, personalize: Any) -> None:
    schema = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS"))

    assert re.fullmatch(r"arn:aws:personalize:us-east-1:123456789012:schema/shop-items-[0-9a-f]{8}", schema.arn)
    assert schema.physical_id == schema.arn
    assert schema.data["Name"] == schema.arn.rpartition("/")[2]
    assert personalize.describe_schema(schemaArn=schema.arn)["schema"]["schema"] == document("ITEMS")


def test_dataset_group_create_active_with_arn_attribute(cfn: CustomResourceDriver, personalize: Any) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props("shop"))

    assert group.physical_id == group.arn == "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"
    assert personalize.describe_dataset_group(datasetGroupArn=group.arn)["datasetGroup"]["status"] == "ACTIVE"


def test_dataset_group_create_with_domain_and_kms_key_passes_them(cfn: CustomResourceDriver, personalize: Any) -> None:
    created = cfn.create(
        DATASET_GROUP_RESOURCE_TYPE, group_props("shop", domain="ECOMMERCE", kms_key_arn=KMS_KEY, role_arn=ROLE)
    )

    group = personalize.describe_dataset_group(datasetGroupArn=created.arn)["datasetGroup"]
    assert (group["domain"], group["kmsKeyArn"], group["roleArn"]) == ("ECOMMERCE", KMS_KEY, ROLE)


@pytest.mark.parametrize("dataset_type", DATASET_TYPES)
def test_dataset_create_any_type_active_with_attributes(
    dataset_type: str, cfn: CustomResourceDriver, personalize: Any
) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
    schema = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props(dataset_type))

    dataset = cfn.create(DATASET_RESOURCE_TYPE, dataset_props(group, dataset_type, schema))

    assert dataset.arn == f"arn:aws:personalize:us-east-1:123456789012:dataset/shop/{dataset_type}"
    described = personalize.describe_dataset(datasetArn=dataset.arn)["dataset"]
    assert (described["status"], described["name"]) == ("ACTIVE", f"shop-{dataset_type.lower()}")
    assert dataset.data["SchemaArn"] == schema.arn
    # PutActionInteractions writes through the tracker Personalize makes with an Action interactions dataset.
    expected_tracking_id = described["trackingId"] if dataset_type == "ACTION_INTERACTIONS" else ""
    assert dataset.data["TrackingId"] == expected_tracking_id
    assert dataset_type != "ACTION_INTERACTIONS" or expected_tracking_id


def test_event_tracker_create_active_with_tracking_id(cfn: CustomResourceDriver, personalize: Any) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())

    tracker = cfn.create(EVENT_TRACKER_RESOURCE_TYPE, event_tracker_properties(group_name="shop", group_arn=group.arn))

    described = personalize.describe_event_tracker(eventTrackerArn=tracker.arn)["eventTracker"]
    assert described["status"] == "ACTIVE"
    assert tracker.data["TrackingId"] == described["trackingId"]
    assert tracker.data["Name"] == "shop-tracker"


def test_create_waits_for_active_before_answering(cfn: CustomResourceDriver, emu: EmulatorServer) -> None:
    emu.configure(create_delay=0.2)

    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())

    polls = [call for call in emu.state.calls("DescribeDatasetGroup") if call["datasetGroupArn"] == group.arn]
    assert len(polls) > 1  # polled through CREATE PENDING / IN_PROGRESS, never answered early


# --- describe before create -------------------------------------------------------------------------------------


def request_for(resource: str, cfn: CustomResourceDriver) -> tuple[str, dict[str, str]]:
    """The type and properties of a create of ``resource``, after creating what it needs."""
    if resource == "group":
        return DATASET_GROUP_RESOURCE_TYPE, group_props("retried")
    if resource == "schema":
        return SCHEMA_RESOURCE_TYPE, schema_props("ITEMS")
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
    if resource == "tracker":
        return EVENT_TRACKER_RESOURCE_TYPE, event_tracker_properties(group_name="shop", group_arn=group.arn)
    return DATASET_RESOURCE_TYPE, dataset_props(group, "ITEMS", cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS")))


@pytest.mark.parametrize("resource", ["schema", "group", "dataset", "tracker"])
def test_create_retried_after_crash_adopts_what_first_attempt_made(
    resource: str, personalize: Any, cfn: CustomResourceDriver, emu: EmulatorServer
) -> None:
    # GIVEN a create whose first on_event ran but whose answer never reached CloudFormation (a crash)
    resource_type, properties = request_for(resource, cfn)
    first = provider.on_event(create_event(resource_type, properties), personalize)

    # WHEN CloudFormation's retry sends the same create again
    retried = cfn.create(resource_type, properties)

    # THEN it adopts the resource the first attempt made instead of failing on ResourceAlreadyExists
    assert retried.physical_id == first["PhysicalResourceId"]
    operation = f"Create{resource_type.removeprefix('Custom::Personalize')}"
    assert [call["error"] for call in emu.state.calls(operation)] == [None]  # created once, by the first attempt


@pytest.mark.parametrize(
    ("existing", "difference"),
    [
        ({"domain": "VIDEO_ON_DEMAND"}, "its domain is VIDEO_ON_DEMAND"),
        ({"kmsKeyArn": KMS_KEY, "roleArn": ROLE}, f"its kmsKeyArn is {KMS_KEY}; its roleArn is {ROLE}"),
    ],
)
def test_dataset_group_create_existing_with_other_settings_fails_naming_difference(
    existing: dict[str, str], difference: str, cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    personalize.create_dataset_group(name="shop", **existing)

    with pytest.raises(CustomResourceFailed) as failed:
        cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props("shop"))

    assert f"dataset-group/shop already exists and {difference}" in failed.value.reason
    assert "It was not made by this request" in failed.value.reason
    assert len(emu.state.calls("CreateDatasetGroup")) == 1  # the foreign one: the handler created nothing


def test_dataset_create_group_already_has_type_with_other_schema_fails(
    cfn: CustomResourceDriver, personalize: Any
) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
    theirs = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS"))
    ours = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS", text=with_field(document("ITEMS"), NULLABLE_FIELD)))
    personalize.create_dataset(name="shop-items", schemaArn=theirs.arn, datasetGroupArn=group.arn, datasetType="Items")

    with pytest.raises(CustomResourceFailed) as failed:
        cfn.create(DATASET_RESOURCE_TYPE, dataset_props(group, "ITEMS", ours))

    assert f"dataset/shop/ITEMS already exists and it uses schema {theirs.arn}" in failed.value.reason


def test_dataset_create_group_already_has_type_under_other_name_fails(
    cfn: CustomResourceDriver, personalize: Any
) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
    schema = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS"))
    personalize.create_dataset(name="hand-made", schemaArn=schema.arn, datasetGroupArn=group.arn, datasetType="Items")

    with pytest.raises(CustomResourceFailed, match=r"dataset/shop/ITEMS already exists and it is named hand-made"):
        cfn.create(DATASET_RESOURCE_TYPE, dataset_props(group, "ITEMS", schema))


def test_event_tracker_create_group_has_other_tracker_fails_without_adopting_it(
    cfn: CustomResourceDriver, personalize: Any
) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
    theirs = personalize.create_event_tracker(name="hand-made", datasetGroupArn=group.arn)["eventTrackerArn"]

    with pytest.raises(CustomResourceFailed) as failed:
        cfn.create(EVENT_TRACKER_RESOURCE_TYPE, event_tracker_properties(group_name="shop", group_arn=group.arn))

    # Personalize's own refusal (one tracker per group), naming the tracker in the way; never theirs as ours
    assert failed.value.reason.startswith("Cannot create event tracker shop-tracker: ")
    assert theirs in failed.value.reason
    assert failed.value.physical_id is None


def test_event_tracker_create_beside_action_interactions_tracker_makes_its_own(
    cfn: CustomResourceDriver, personalize: Any
) -> None:
    # GIVEN a group whose Action interactions dataset came with a tracker Personalize made for it
    provisioned = provision_set(cfn, "shop", ("INTERACTIONS", "ACTION_INTERACTIONS"))
    assert provisioned.tracker is not None

    # THEN the event tracker (PutEvents) is a tracker of its own, not the Action interactions one
    assert provisioned.tracker.data["Name"] == "shop-tracker"
    assert provisioned.tracker.data["TrackingId"] != provisioned.datasets["ACTION_INTERACTIONS"].data["TrackingId"]
    described = personalize.describe_event_tracker(eventTrackerArn=provisioned.tracker.arn)["eventTracker"]
    assert described["trackingId"] == provisioned.tracker.data["TrackingId"]


def test_schema_create_same_name_other_document_fails(cfn: CustomResourceDriver, personalize: Any) -> None:
    # GIVEN someone else's schema squatting on the name this document hashes to
    name = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS")).data["Name"]
    personalize.delete_schema(schemaArn=f"arn:aws:personalize:us-east-1:123456789012:schema/{name}")
    personalize.create_schema(name=name, schema=document("USERS"))

    with pytest.raises(CustomResourceFailed, match=r"already exists and its schema document differs"):
        cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS"))


def test_dataset_create_name_taken_in_other_group_fails_with_service_message(cfn: CustomResourceDriver) -> None:
    first = provision_set(cfn, "shop", ("ITEMS",))
    other = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props("other"))
    properties = {**dataset_props(other, "ITEMS", first.schemas["ITEMS"]), "Name": "shop-items"}

    with pytest.raises(CustomResourceFailed, match=r"Cannot create dataset shop-items: A dataset named shop-items"):
        cfn.create(DATASET_RESOURCE_TYPE, properties)


# --- CREATE FAILED ----------------------------------------------------------------------------------------------


def test_dataset_group_create_failed_fails_with_failure_reason(cfn: CustomResourceDriver, emu: EmulatorServer) -> None:
    emu.configure(fail_create="^doomed$", failure_reason="KMS key is not accessible")

    with pytest.raises(CustomResourceFailed) as failed:
        cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props("doomed"))

    assert failed.value.reason == (
        "Dataset group arn:aws:personalize:us-east-1:123456789012:dataset-group/doomed is CREATE FAILED: "
        "KMS key is not accessible"
    )


@pytest.mark.parametrize("resource_type", [DATASET_RESOURCE_TYPE, EVENT_TRACKER_RESOURCE_TYPE])
def test_child_create_failed_fails_deployment_and_rollback_deletes_it(
    resource_type: str, cfn: CustomResourceDriver, emu: EmulatorServer, personalize: Any
) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
    schema = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS"))
    emu.configure(fail_create="^shop-(items|tracker)$")
    properties = (
        dataset_props(group, "ITEMS", schema)
        if resource_type == DATASET_RESOURCE_TYPE
        else event_tracker_properties(group_name="shop", group_arn=group.arn)
    )

    with pytest.raises(CustomResourceFailed, match=r"is CREATE FAILED: Personalize gave no failureReason") as failed:
        cfn.create(resource_type, properties)

    # The failure carries the ARN, so CloudFormation's rollback deletes the failed resource (not a marker id)
    assert str(failed.value.physical_id).startswith("arn:aws:personalize:")
    cfn.delete(Deployed(resource_type, "Failed", str(failed.value.physical_id), properties))
    assert personalize.list_datasets(datasetGroupArn=group.arn)["datasets"] == []
    assert personalize.list_event_trackers(datasetGroupArn=group.arn)["eventTrackers"] == []


def test_dataset_group_create_refused_adoption_fails_without_physical_id(
    cfn: CustomResourceDriver, personalize: Any
) -> None:
    # A resource the request did not make is never handed to CloudFormation: its rollback must not delete it.
    personalize.create_dataset_group(name="shop", domain="ECOMMERCE")

    with pytest.raises(CustomResourceFailed) as failed:
        cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props("shop"))

    assert failed.value.physical_id is None


# --- a CREATE FAILED leftover of an earlier attempt: deleted and created again --------------------------------------


def wait_for_status(describe: Callable[[], dict[str, Any]], statuses: set[str]) -> None:
    """Poll ``describe()`` (the resource's Describe* answer) until the resource's status is one of ``statuses``."""
    deadline = time.monotonic() + 10
    while (status := describe()["status"]) not in statuses:
        assert time.monotonic() < deadline, f"still {status}, never {statuses}"
        time.sleep(0.01)


# How each resource is described, and its Create/Delete operations and ARN member, for the leftover tests.
DESCRIBE: dict[str, Callable[[Any, str], dict[str, Any]]] = {
    "group": lambda client, arn: client.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"],
    "dataset": lambda client, arn: client.describe_dataset(datasetArn=arn)["dataset"],
    "tracker": lambda client, arn: client.describe_event_tracker(eventTrackerArn=arn)["eventTracker"],
}
OPERATIONS = {
    "group": ("CreateDatasetGroup", "DeleteDatasetGroup", "datasetGroupArn"),
    "dataset": ("CreateDataset", "DeleteDataset", "datasetArn"),
    "tracker": ("CreateEventTracker", "DeleteEventTracker", "eventTrackerArn"),
}


def make_leftover(resource: str, properties: dict[str, str], personalize: Any) -> str:
    """Create, outside the stack, the resource ``properties`` describe, and wait for it to settle; return its ARN."""
    if resource == "group":
        arn = personalize.create_dataset_group(name=properties["Name"])["datasetGroupArn"]
    elif resource == "dataset":
        arn = personalize.create_dataset(
            name=properties["Name"],
            schemaArn=properties["SchemaArn"],
            datasetGroupArn=properties["DatasetGroupArn"],
            datasetType=properties["DatasetType"],
        )["datasetArn"]
    else:
        arn = personalize.create_event_tracker(name=properties["Name"], datasetGroupArn=properties["DatasetGroupArn"])[
            "eventTrackerArn"
        ]
    wait_for_status(lambda: DESCRIBE[resource](personalize, arn), {"ACTIVE", "CREATE FAILED"})
    return str(arn)


@pytest.mark.parametrize("resource", ["group", "dataset", "tracker"])
def test_create_finds_create_failed_leftover_deletes_it_and_creates_again(
    resource: str, cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN the resource this create makes, left CREATE FAILED by an earlier attempt (a replacement CloudFormation
    # did not keep, a create whose rollback never ran), whose cause has been fixed since
    resource_type, properties = request_for(resource, cfn)
    emu.configure(fail_create=f"^{re.escape(properties['Name'])}$", failure_reason="stale: KMS key not accessible")
    leftover = make_leftover(resource, properties, personalize)
    assert DESCRIBE[resource](personalize, leftover)["status"] == "CREATE FAILED"
    emu.configure(fail_create=None)

    # WHEN the stack creates it
    created = cfn.create(resource_type, properties)

    # THEN the leftover was deleted and the resource created anew, ACTIVE, instead of adopting the failure
    create, delete, arn_member = OPERATIONS[resource]
    assert [call["error"] for call in emu.state.calls(create)] == [None, None]
    assert [(call[arn_member], call["error"]) for call in emu.state.calls(delete)] == [(leftover, None)]
    described = DESCRIBE[resource](personalize, created.physical_id)
    assert (described["status"], created.arn) == ("ACTIVE", created.physical_id)
    # An event tracker's ARN carries a generated id: the new tracker is a new physical id, with its own trackingId.
    if resource == "tracker":
        assert created.physical_id != leftover
        assert created.data["TrackingId"] == described["trackingId"]
    else:
        assert created.physical_id == leftover


def test_create_finds_create_failed_leftover_that_fails_again_reports_fresh_reason(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    emu.configure(fail_create="^shop$", failure_reason="stale reason")
    leftover = make_leftover("group", group_props("shop"), personalize)
    emu.configure(failure_reason="fresh reason")

    with pytest.raises(CustomResourceFailed) as failed:
        cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props("shop"))

    # The new attempt's own failure, with the ARN, so CloudFormation's rollback deletes the new failed group
    assert failed.value.reason == f"Dataset group {leftover} is CREATE FAILED: fresh reason"
    assert failed.value.physical_id == leftover
    assert [call["error"] for call in emu.state.calls("CreateDatasetGroup")] == [None, None]


def test_create_finds_create_failed_resource_with_other_settings_fails_without_deleting_it(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # A failed resource with other settings was not made by this stack: it is reported, never deleted.
    emu.configure(fail_create="^shop$")
    arn = personalize.create_dataset_group(name="shop", domain="VIDEO_ON_DEMAND")["datasetGroupArn"]
    wait_for_status(lambda: DESCRIBE["group"](personalize, arn), {"CREATE FAILED"})
    emu.configure(fail_create=None)

    with pytest.raises(CustomResourceFailed) as failed:
        cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props("shop"))

    assert "already exists and its domain is VIDEO_ON_DEMAND" in failed.value.reason
    assert "It was not made by this request" in failed.value.reason
    assert emu.state.calls("DeleteDatasetGroup") == []


def test_create_finds_resource_being_deleted_waits_until_gone_then_creates(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN a group of the same name being deleted (by hand, or a delete an earlier attempt of this create started)
    arn = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
    wait_for_status(lambda: DESCRIBE["group"](personalize, arn), {"ACTIVE"})
    emu.configure(delete_delay=0.3)
    personalize.delete_dataset_group(datasetGroupArn=arn)

    # WHEN the stack creates it
    created = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props("shop"))

    # THEN the create waited for the old one to be gone and made a new one, rather than failing or adopting it
    assert created.physical_id == arn
    assert personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["status"] == "ACTIVE"
    assert [call["error"] for call in emu.state.calls("CreateDatasetGroup")] == [None, None]
    assert len(emu.state.calls("DeleteDatasetGroup")) == 1  # the one already under way: not deleted twice


# --- bad requests -----------------------------------------------------------------------------------------------


def test_on_event_unknown_resource_type_fails_listing_served_types(personalize: Any) -> None:
    with pytest.raises(
        Exception, match=r"Unknown ResourceType 'Custom::Nope'; this provider serves Custom::Personalize"
    ):
        provider.on_event(create_event("Custom::Nope", {}), personalize)


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"Name": "shop", "Colour": "red"}, "unknown properties Colour"),
        ({"Domain": "ECOMMERCE"}, "missing required properties Name"),
    ],
)
def test_on_event_bad_properties_fail_naming_them(properties: dict[str, str], message: str, personalize: Any) -> None:
    with pytest.raises(Exception, match=message):
        provider.on_event(create_event(DATASET_GROUP_RESOURCE_TYPE, properties), personalize)


def test_dataset_create_unknown_type_fails_before_calling_personalize(
    cfn: CustomResourceDriver, emu: EmulatorServer
) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
    schema = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS"))

    with pytest.raises(CustomResourceFailed, match=r"DatasetType 'Products' is not a Personalize dataset type"):
        cfn.create(DATASET_RESOURCE_TYPE, {**dataset_props(group, "ITEMS", schema), "DatasetType": "Products"})
    assert emu.state.calls("CreateDataset") == []
