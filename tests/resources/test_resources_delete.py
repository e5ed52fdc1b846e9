"""Delete: describe first, gone counts as done, children before the group (waiting for their asynchronous deletion),
a group already being deleted is waited for, schemas once no dataset uses them; retention; a whole set torn down in
CloudFormation's order leaves nothing behind."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config

from contract import DATASET_GROUP_RESOURCE_TYPE, DATASET_RESOURCE_TYPE, GIVE_UP_AFTER_SECONDS, SCHEMA_RESOURCE_TYPE
from local.cloudformation import CustomResourceDriver, CustomResourceFailed, Deployed
from local.emulator import EmulatorServer
from resources import handler, provider
from tests.resources.resource_helpers import (
    CLIENT_SETTINGS,
    dataset_props,
    document,
    group_props,
    provision_set,
    schema_props,
    with_field,
)


def delete_event(resource_type: str, physical_id: str) -> dict[str, Any]:
    return {
        "RequestType": "Delete",
        "ResourceType": resource_type,
        "LogicalResourceId": "Resource",
        "RequestId": "request-1",
        "PhysicalResourceId": physical_id,
        "ResourceProperties": {"ServiceToken": "token"},
    }


def start_delete(client: Any, resource_type: str, physical_id: str) -> dict[str, Any]:
    """Start a Delete without waiting for it: ``on_event``, then the first ``is_complete`` poll, which the Provider
    framework makes at once (a Delete's first step is is_complete's). Returns that poll's answer."""
    event = delete_event(resource_type, physical_id)
    event |= provider.on_event(event, client)
    return provider.is_complete(event, client)


def deletes(emu: EmulatorServer) -> list[str]:
    """The Delete* calls the emulator received, oldest first."""
    return [call["api"] for call in emu.state.calls() if call["api"].startswith("Delete")]


# What the custom resources make; the emulator counts other resources too (import jobs), which are not theirs.
PROVISIONED = ("schemas", "datasetGroups", "datasets", "eventTrackers")


def resource_counts(emu: EmulatorServer) -> dict[str, int]:
    counts: dict[str, int] = emu.state.stats()["resources"]
    return {name: counts[name] for name in PROVISIONED}


# --- each type, and what is already gone --------------------------------------------------------------------------


def test_delete_whole_set_in_reverse_dependency_order_leaves_nothing(
    cfn: CustomResourceDriver, emu: EmulatorServer
) -> None:
    # GIVEN every dataset type, their schemas, the group and its tracker
    provisioned = provision_set(cfn, "shop")

    # WHEN CloudFormation deletes the stack: dependents first, each waited for before what it depends on
    for resource in provisioned.reverse_dependency_order():
        cfn.delete(resource)

    # THEN nothing is left: no dataset, tracker, group, or schema
    assert resource_counts(emu) == {"schemas": 0, "datasetGroups": 0, "datasets": 0, "eventTrackers": 0}


@pytest.mark.parametrize("resource", ["schema", "group", "dataset", "tracker"])
def test_delete_resource_already_gone_succeeds_without_delete_call(
    resource: str, cfn: CustomResourceDriver, emu: EmulatorServer
) -> None:
    provisioned = provision_set(cfn, "shop", ("INTERACTIONS",))
    assert provisioned.tracker is not None
    target = {
        "schema": provisioned.schemas["INTERACTIONS"],
        "group": provisioned.group,
        "dataset": provisioned.datasets["INTERACTIONS"],
        "tracker": provisioned.tracker,
    }[resource]
    for deployed in provisioned.reverse_dependency_order():
        cfn.delete(deployed)
    deletes_before = deletes(emu)

    # Deleted out of band (or by an earlier, interrupted attempt): ResourceNotFound counts as done
    cfn.delete(target)

    # and the handler described first: it asked for no delete of what was already gone
    assert deletes(emu) == deletes_before


def test_delete_failed_create_marker_physical_id_is_done(personalize: Any, emu: EmulatorServer) -> None:
    answer = provider.on_event(delete_event(DATASET_GROUP_RESOURCE_TYPE, "7b4e-request-id"), personalize)

    assert provider.is_complete(
        {**delete_event(DATASET_GROUP_RESOURCE_TYPE, "7b4e-request-id"), **answer}, personalize
    ) == {"IsComplete": True}
    assert emu.state.calls() == []


def test_dataset_group_delete_children_still_deleting_waits_for_them(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN a group whose datasets and tracker are being deleted, slowly
    provisioned = provision_set(cfn, "shop", ("ITEMS", "INTERACTIONS"))
    emu.configure(delete_delay=0.6)
    for child in provisioned.reverse_dependency_order()[:3]:
        start_delete(personalize, child.resource_type, child.physical_id)

    # WHEN the group is deleted (CloudFormation in parallel, or Personalize still settling)
    cfn.delete(provisioned.group)

    # THEN the group delete waited for the children to go, and then deleted the group
    assert resource_counts(emu)["datasetGroups"] == 0
    refusals = [call["error"] for call in emu.state.calls("DeleteDatasetGroup")]
    assert refusals[0] == "ResourceInUseException"
    assert refusals[-1] is None


def test_dataset_group_delete_already_deleting_waits_without_deleting_twice(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
    emu.configure(delete_delay=0.2)
    personalize.delete_dataset_group(datasetGroupArn=group.arn)

    cfn.delete(group)

    assert resource_counts(emu)["datasetGroups"] == 0
    assert len(emu.state.calls("DeleteDatasetGroup")) == 1  # the first one only: ResourceInUse never provoked


def test_dataset_group_delete_child_not_being_deleted_fails_naming_it(
    cfn: CustomResourceDriver, personalize: Any
) -> None:
    provisioned = provision_set(cfn, "shop", ("ITEMS",))

    with pytest.raises(CustomResourceFailed) as failed:
        cfn.delete(provisioned.group)

    assert "still has dataset arn:aws:personalize:us-east-1:123456789012:dataset/shop/ITEMS (ACTIVE)" in (
        failed.value.reason
    )
    assert (
        personalize.describe_dataset_group(datasetGroupArn=provisioned.group.arn)["datasetGroup"]["status"] == "ACTIVE"
    )


def test_dataset_delete_while_create_in_progress_waits_then_deletes(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # A rollback can delete a dataset whose create has not finished: it is deletable once it settles.
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
    schema = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS"))
    emu.configure(create_delay=0.5)
    started = provider.on_event(
        {
            **delete_event(DATASET_RESOURCE_TYPE, ""),
            "RequestType": "Create",
            "ResourceProperties": dataset_props(group, "ITEMS", schema),
        },
        personalize,
    )
    dataset = started["PhysicalResourceId"]

    assert personalize.describe_dataset(datasetArn=dataset)["dataset"]["status"] != "ACTIVE"
    cfn.delete(Deployed(DATASET_RESOURCE_TYPE, "Resource", dataset, {}))

    assert personalize.list_datasets()["datasets"] == []
    assert [call["error"] for call in emu.state.calls("DeleteDataset")] == [None]


def test_dataset_delete_during_schema_update_waits_for_update_then_deletes(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN an Items dataset whose in-place schema update has started but not finished
    provisioned = provision_set(cfn, "shop", ("ITEMS",))
    dataset = provisioned.datasets["ITEMS"]
    text = with_field(document("ITEMS"), {"name": "BRAND", "type": ["null", "string"], "categorical": True})
    new_schema = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props("ITEMS", text=text))
    emu.configure(create_delay=0.6)
    provider.on_event(
        {
            **delete_event(DATASET_RESOURCE_TYPE, dataset.physical_id),
            "RequestType": "Update",
            "ResourceProperties": dataset_props(provisioned.group, "ITEMS", new_schema),
            "OldResourceProperties": dataset.properties,
        },
        personalize,
    )
    assert personalize.describe_dataset(datasetArn=dataset.arn)["dataset"]["latestDatasetUpdate"]["status"] != "ACTIVE"

    # WHEN the dataset is deleted
    cfn.delete(dataset)

    # THEN the delete waited for the update to settle (Personalize refuses it meanwhile) and then went through
    assert personalize.list_datasets()["datasets"] == []
    assert [call["error"] for call in emu.state.calls("DeleteDataset")] == [None]


# --- schemas: deleted once no dataset uses them ---------------------------------------------------------------


def test_schema_delete_dataset_still_deleting_waits_then_deletes(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    provisioned = provision_set(cfn, "shop", ("ITEMS",))
    emu.configure(delete_delay=0.5)
    start_delete(personalize, DATASET_RESOURCE_TYPE, provisioned.datasets["ITEMS"].physical_id)

    cfn.delete(provisioned.schemas["ITEMS"])

    assert personalize.list_schemas()["schemas"] == []
    errors = [call["error"] for call in emu.state.calls("DeleteSchema")]
    assert (errors[0], errors[-1]) == ("ResourceInUseException", None)


def test_schema_delete_used_by_retained_dataset_left_in_place(cfn: CustomResourceDriver, personalize: Any) -> None:
    provisioned = provision_set(cfn, "shop", ("ITEMS",))

    cfn.delete(provisioned.schemas["ITEMS"])  # succeeds: a schema in use cannot be deleted, and need not be

    assert [s["schemaArn"] for s in personalize.list_schemas()["schemas"]] == [provisioned.schemas["ITEMS"].arn]


def test_schema_delete_unrelated_dataset_being_deleted_not_waited_for(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN this stack's schema, used by its retained dataset, and another group's dataset being deleted, slowly
    shop = provision_set(cfn, "shop", ("ITEMS",))
    other = provision_set(cfn, "other", ("ITEMS",))
    emu.configure(delete_delay=60)
    personalize.delete_dataset(datasetArn=other.datasets["ITEMS"].arn)
    schema = shop.schemas["ITEMS"]

    # WHEN the stack deletes the schema: the request, then the first poll
    answer = start_delete(personalize, SCHEMA_RESOURCE_TYPE, schema.physical_id)

    # THEN the other dataset does not use this schema, so it is not waited for: the schema is left in place at once
    assert answer == {"IsComplete": True}
    assert {s["schemaArn"] for s in personalize.list_schemas()["schemas"]} == {
        schema.arn,
        other.schemas["ITEMS"].arn,
    }


# --- retention ------------------------------------------------------------------------------------------------


def test_stack_delete_with_retained_group_and_datasets_keeps_them_usable(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN a provisioned set whose group, datasets and tracker have DeletionPolicy Retain (the default)
    provisioned = provision_set(cfn, "shop", ("ITEMS", "ACTIONS", "INTERACTIONS"))

    # WHEN the stack is deleted: CloudFormation sends Delete for the schemas only
    for schema in provisioned.schemas.values():
        cfn.delete(schema)

    # THEN the stack deletion succeeds and the data's home is intact: group, datasets, tracker and their schemas
    assert resource_counts(emu) == {"schemas": 3, "datasetGroups": 1, "datasets": 3, "eventTrackers": 1}
    statuses = {d["status"] for d in personalize.list_datasets(datasetGroupArn=provisioned.group.arn)["datasets"]}
    assert statuses == {"ACTIVE"}


def test_redeploy_after_retained_stack_deletion_adopts_everything(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN a stack deleted with its group, datasets and tracker retained (its schemas stay: the datasets use them)
    first = provision_set(cfn, "shop", ("ITEMS", "INTERACTIONS", "ACTION_INTERACTIONS"))
    for schema in first.schemas.values():
        cfn.delete(schema)

    # WHEN the same stack is deployed again (new logical ids, the same names)
    second = provision_set(cfn, "shop", ("ITEMS", "INTERACTIONS", "ACTION_INTERACTIONS"))

    # THEN every create finds what the first stack left instead of failing on ResourceAlreadyExists
    assert [r.physical_id for r in second.reverse_dependency_order()] == [
        r.physical_id for r in first.reverse_dependency_order()
    ]
    assert second.tracker is not None
    assert first.tracker is not None
    assert second.tracker.data["TrackingId"] == first.tracker.data["TrackingId"]
    assert second.datasets["ACTION_INTERACTIONS"].data == first.datasets["ACTION_INTERACTIONS"].data
    created = [call["api"] for call in emu.state.calls() if call["api"].startswith("Create")]
    assert len(created) == 1 + 3 + 3 + 1  # the first deployment's group, schemas, datasets and tracker only


# --- polling: transient errors, giving up, the Lambda entry points ---------------------------------------------


def test_is_complete_throttled_describe_asks_again_instead_of_failing(
    cfn: CustomResourceDriver, emu: EmulatorServer
) -> None:
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
    client = boto3.client(
        "personalize",
        endpoint_url=emu.endpoint_url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        **CLIENT_SETTINGS,
    )
    emu.configure(fault_control_plane=True, throttle_rate=1.0)

    answer = provider.is_complete({**delete_event(DATASET_GROUP_RESOURCE_TYPE, group.physical_id)}, client)

    assert answer == {"IsComplete": False}


@pytest.mark.parametrize("fault", ["throttle_rate", "server_error_rate"], ids=["throttled", "server-error"])
def test_delete_endpoint_failing_first_calls_waits_it_out_then_deletes(
    fault: str, cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    # GIVEN a group, and an endpoint that throttles (or answers 5xx) every call for a while, longer than the
    # client's own retries (one attempt here, to keep the test short)
    group = cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
    client = boto3.client(
        "personalize",
        endpoint_url=emu.endpoint_url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        **CLIENT_SETTINGS,
    )
    emu.configure(fault_control_plane=True, **{fault: 1.0})
    polls: list[dict[str, Any]] = []

    def is_complete(event: dict[str, Any]) -> dict[str, Any]:
        answer = provider.is_complete(event, client)
        polls.append(answer)
        if len(polls) == 2:
            emu.configure(**{fault: 0.0})  # the endpoint recovers
        return answer

    driver = CustomResourceDriver(
        on_event=lambda event: provider.on_event(event, client), is_complete=is_complete, poll_interval=0.005
    )

    # WHEN the stack deletes the group
    driver.delete(group)

    # THEN the delete outlasts the faults instead of failing the stack: the failed polls asked again, and the group
    # was deleted once the endpoint answered
    assert polls[:2] == [{"IsComplete": False}, {"IsComplete": False}]
    assert personalize.list_dataset_groups()["datasetGroups"] == []
    assert [call["error"] for call in emu.state.calls("DeleteDatasetGroup")][-1] is None


def test_on_event_delete_endpoint_unreachable_answers_without_failing() -> None:
    # A Delete whose endpoint cannot be reached must not fail the stack's deletion (or rollback) at once: on_event
    # answers, and is_complete's polls ask again until the endpoint is back.
    client = boto3.client(
        "personalize",
        endpoint_url="http://127.0.0.1:9",  # discard: nothing listens
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=1),
        **CLIENT_SETTINGS,
    )
    arn = "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"

    answer = provider.on_event(delete_event(DATASET_GROUP_RESOURCE_TYPE, arn), client)

    assert answer["PhysicalResourceId"] == arn
    assert provider.is_complete({**delete_event(DATASET_GROUP_RESOURCE_TYPE, arn), **answer}, client) == {
        "IsComplete": False
    }


def test_is_complete_endpoint_unreachable_asks_again_instead_of_failing() -> None:
    client = boto3.client(
        "personalize",
        endpoint_url="http://127.0.0.1:9",  # discard: nothing listens
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=1),
        **CLIENT_SETTINGS,
    )
    arn = "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"

    assert provider.is_complete(delete_event(DATASET_GROUP_RESOURCE_TYPE, arn), client) == {"IsComplete": False}


def test_is_complete_past_give_up_time_fails_naming_what_it_waited_for(
    cfn: CustomResourceDriver, personalize: Any, emu: EmulatorServer
) -> None:
    emu.configure(create_delay=60)
    event = {
        **delete_event(DATASET_GROUP_RESOURCE_TYPE, ""),
        "RequestType": "Create",
        "ResourceProperties": group_props(),
    }
    event |= provider.on_event(event, personalize, clock=lambda: 1_000.0)

    with pytest.raises(Exception, match=r"^Gave up after 55 minutes: dataset group .*/shop is CREATE PENDING$"):
        provider.is_complete(event, personalize, give_up_after=3_000, clock=lambda: 1_000.0 + 3_300)


def test_handler_entry_points_reach_emulator_through_standard_endpoint_variable(
    emu: EmulatorServer, personalize: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the Lambda entry points with nothing but the standard variables (as `make demo`'s handler gets them)
    monkeypatch.setenv("AWS_ENDPOINT_URL_PERSONALIZE", emu.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv(GIVE_UP_AFTER_SECONDS, "3000")
    handler.personalize.cache_clear()
    driver = CustomResourceDriver(
        on_event=lambda event: handler.on_event(event, None),
        is_complete=lambda event: handler.is_complete(event, None),
        poll_interval=0.005,
    )

    try:
        group = driver.create(DATASET_GROUP_RESOURCE_TYPE, group_props())
        driver.delete(group)
    finally:
        handler.personalize.cache_clear()

    assert [call["api"] for call in emu.state.calls() if not call["api"].startswith(("Describe", "List"))] == [
        "CreateDatasetGroup",
        "DeleteDatasetGroup",
    ]
