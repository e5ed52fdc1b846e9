"""The control plane: schemas, statuses over time, delete ordering, uniqueness, domains, updates and limits."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from local.emulator import EmulatorConfig, EmulatorServer
from tests.emulator.emulator_helpers import SCHEMA_FIELDS, ManualClock, Setup, admin, avro, client_kwargs

ACCOUNT_ARN = "arn:aws:personalize:us-east-1:123456789012"


# --- schemas ----------------------------------------------------------------------------------------------------


def test_create_schema_valid_returns_personalize_arn_and_describes_it(personalize: Any) -> None:
    document = avro(SCHEMA_FIELDS["Items"])

    arn = personalize.create_schema(name="items-v1", schema=document)["schemaArn"]
    described = personalize.describe_schema(schemaArn=arn)["schema"]

    assert arn == f"{ACCOUNT_ARN}:schema/items-v1"
    assert described["schema"] == document
    assert described["name"] == "items-v1"
    assert described["creationDateTime"].year >= 2024


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("not json", "not valid JSON"),
        (json.dumps({"type": "enum", "name": "x"}), "must be an Avro record"),
        (avro([]), "non-empty list of fields"),
        (avro([{"name": "ITEM_ID", "type": {"type": "array", "items": "string"}}]), "unsupported type"),
        (avro([{"name": "A", "type": ["string", "long"]}]), 'one type with "null"'),
        (avro([{"name": "GENRES_FIELD_1", "type": "string"}, {"name": "GENRESFIELD1", "type": "string"}]), "clash"),
        (avro([{"name": "genres", "type": "string"}, {"name": "GENRES", "type": "string"}]), "clash"),
        (avro([{"name": "PRICE", "type": "float", "categorical": True}]), "only string fields"),
    ],
)
def test_create_schema_invalid_avro_raises_invalid_input(personalize: Any, document: str, problem: str) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException, match=re.escape(problem)):
        personalize.create_schema(name="bad", schema=document)


def test_create_schema_over_20000_chars_raises_invalid_input(personalize: Any) -> None:
    document = avro([{"name": "ITEM_ID", "type": "string", "doc": "d" * 20_000}])

    with pytest.raises(personalize.exceptions.InvalidInputException, match="less than or equal to 20000"):
        personalize.create_schema(name="huge", schema=document)


def test_create_schema_name_taken_raises_already_exists(personalize: Any) -> None:
    personalize.create_schema(name="items", schema=avro(SCHEMA_FIELDS["Items"]))

    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_schema(name="items", schema=avro(SCHEMA_FIELDS["Items"]))


def test_create_schema_bad_name_pattern_raises_invalid_input(personalize: Any) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException, match="regular expression"):
        personalize.create_schema(name="has space", schema=avro(SCHEMA_FIELDS["Items"]))


def test_delete_schema_in_use_raises_resource_in_use_then_succeeds_once_dataset_gone(
    personalize: Any, setup: Setup
) -> None:
    schema = setup.schema("Items")
    dataset = setup.dataset("Items", schema=schema)
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_schema(schemaArn=schema)

    personalize.delete_dataset(datasetArn=dataset)
    setup.wait_gone(setup.describe_dataset, dataset)
    personalize.delete_schema(schemaArn=schema)

    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_schema(schemaArn=schema)


# --- statuses ---------------------------------------------------------------------------------------------------

# Long enough for a poller to see both intermediate statuses. The tests that use it run on the manual clock, which
# moves only as the poller waits, so a busy machine cannot make a status pass unseen.
SLOW = 0.2
FROZEN = 30.0


def test_create_dataset_group_polled_goes_pending_in_progress_active(
    emu: EmulatorServer, setup: Setup, clock: ManualClock
) -> None:
    emu.configure(create_delay=SLOW)
    arn = setup.group(wait=False)

    seen = setup.wait(setup.describe_group, arn, "ACTIVE")

    assert seen == ["CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"]


@pytest.mark.parametrize("emulator_config", [EmulatorConfig()], ids=["defaults"])
def test_create_dataset_group_default_delay_is_short_but_not_zero_so_callers_poll(
    emu: EmulatorServer, setup: Setup, clock: ManualClock
) -> None:
    # GIVEN the emulator's default settings, on a clock that moves only when told
    delay = emu.emulator.config.create_delay

    # WHEN a dataset group is created and described right away, half-way through the delay and past it
    arn = setup.group(wait=False)
    seen = [setup.describe_group(arn)["status"]]
    clock.advance(delay / 2)
    seen.append(setup.describe_group(arn)["status"])
    clock.advance(delay)
    seen.append(setup.describe_group(arn)["status"])

    # THEN it is not ACTIVE at once: a caller has to poll, as on AWS, for a short while (under a second)
    assert seen == ["CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"]
    assert 0 < delay < 1


@pytest.mark.parametrize("emulator_config", [EmulatorConfig()], ids=["defaults"])
def test_delete_dataset_default_delay_goes_pending_in_progress_then_gone(
    emu: EmulatorServer, personalize: Any, setup: Setup, clock: ManualClock
) -> None:
    # GIVEN an ACTIVE dataset under the default settings
    dataset = setup.dataset("Items")
    delay = emu.emulator.config.delete_delay

    # WHEN it is deleted and described right away, half-way through the delay and past it
    personalize.delete_dataset(datasetArn=dataset)
    seen = [setup.describe_dataset(dataset)["status"]]
    clock.advance(delay / 2)
    seen.append(setup.describe_dataset(dataset)["status"])
    clock.advance(delay)

    # THEN it went through both delete statuses, and is then gone
    assert seen == ["DELETE PENDING", "DELETE IN_PROGRESS"]
    assert 0 < delay < 1
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        setup.describe_dataset(dataset)


def test_delete_dataset_polled_goes_delete_pending_in_progress_then_not_found(
    emu: EmulatorServer, setup: Setup, personalize: Any, clock: ManualClock
) -> None:
    dataset = setup.dataset("Items")
    emu.configure(delete_delay=SLOW)

    personalize.delete_dataset(datasetArn=dataset)
    seen = setup.wait_gone(setup.describe_dataset, dataset)

    assert seen == ["DELETE PENDING", "DELETE IN_PROGRESS"]


def test_create_matching_fail_pattern_ends_create_failed_with_reason(
    emu: EmulatorServer, setup: Setup, clock: ManualClock
) -> None:
    emu.configure(fail_create=re.compile(r"^group-"), failure_reason="KMS key not usable", create_delay=SLOW)

    arn = setup.group(wait=False)
    seen = setup.wait(setup.describe_group, arn, "CREATE FAILED")

    assert seen[-2:] == ["CREATE IN_PROGRESS", "CREATE FAILED"]
    assert setup.describe_group(arn)["failureReason"] == "KMS key not usable"


def test_fail_pattern_set_over_http_fails_dataset_create(emu: EmulatorServer, setup: Setup) -> None:
    group = setup.group()
    status, config = admin(emu.endpoint_url, "POST", "config", {"fail_create": "^dataset-"})
    assert (status, config["fail_create"]) == (200, "^dataset-")

    arn = setup.dataset("Items", group=group, wait=False)

    assert setup.wait(setup.describe_dataset, arn, "CREATE FAILED")[-1] == "CREATE FAILED"


# --- delete ordering --------------------------------------------------------------------------------------------


def test_delete_dataset_group_with_dataset_raises_resource_in_use(personalize: Any, setup: Setup) -> None:
    group = setup.group()
    setup.dataset("Items", group=group)

    with pytest.raises(personalize.exceptions.ResourceInUseException, match="dataset"):
        personalize.delete_dataset_group(datasetGroupArn=group)


def test_delete_dataset_group_with_event_tracker_raises_resource_in_use(personalize: Any, setup: Setup) -> None:
    group = setup.group()
    setup.tracker(group)

    with pytest.raises(personalize.exceptions.ResourceInUseException, match="event tracker"):
        personalize.delete_dataset_group(datasetGroupArn=group)


def test_delete_dataset_group_children_gone_first_succeeds(
    emu: EmulatorServer, personalize: Any, setup: Setup, clock: ManualClock
) -> None:
    group = setup.group()
    dataset = setup.dataset("Items", group=group)
    tracker, _ = setup.tracker(group)
    emu.configure(delete_delay=SLOW)

    personalize.delete_event_tracker(eventTrackerArn=tracker)
    personalize.delete_dataset(datasetArn=dataset)
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_dataset_group(datasetGroupArn=group)  # children still being deleted
    setup.wait_gone(setup.describe_tracker, tracker)
    setup.wait_gone(setup.describe_dataset, dataset)
    personalize.delete_dataset_group(datasetGroupArn=group)

    # Dataset groups report only DELETE PENDING while being deleted (API reference).
    assert setup.wait_gone(setup.describe_group, group) == ["DELETE PENDING"]


def test_delete_dataset_group_already_deleting_raises_resource_in_use(
    emu: EmulatorServer, personalize: Any, setup: Setup
) -> None:
    group = setup.group()
    emu.configure(delete_delay=FROZEN)
    personalize.delete_dataset_group(datasetGroupArn=group)

    with pytest.raises(personalize.exceptions.ResourceInUseException, match="DELETE PENDING"):
        personalize.delete_dataset_group(datasetGroupArn=group)


def test_delete_dataset_already_deleting_raises_resource_in_use(
    emu: EmulatorServer, personalize: Any, setup: Setup
) -> None:
    dataset = setup.dataset("Items")
    emu.configure(delete_delay=FROZEN)
    personalize.delete_dataset(datasetArn=dataset)

    with pytest.raises(personalize.exceptions.ResourceInUseException, match="DELETE PENDING"):
        personalize.delete_dataset(datasetArn=dataset)


def test_delete_dataset_group_still_creating_raises_resource_in_use(
    emu: EmulatorServer, personalize: Any, setup: Setup
) -> None:
    emu.configure(create_delay=FROZEN)
    group = setup.group(wait=False)

    with pytest.raises(personalize.exceptions.ResourceInUseException, match="CREATE PENDING"):
        personalize.delete_dataset_group(datasetGroupArn=group)


def test_create_dataset_group_not_active_raises_resource_in_use(
    emu: EmulatorServer, personalize: Any, setup: Setup
) -> None:
    schema = setup.schema("Items")
    emu.configure(create_delay=FROZEN)
    group = setup.group(wait=False)

    with pytest.raises(personalize.exceptions.ResourceInUseException, match="must be ACTIVE"):
        setup.dataset("Items", group=group, schema=schema)


def test_describe_unknown_dataset_group_raises_resource_not_found(personalize: Any) -> None:
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset_group(datasetGroupArn=f"{ACCOUNT_ARN}:dataset-group/nope")


# --- uniqueness, domains, datasets ------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset_type", ["Interactions", "Items", "Users", "Actions", "Action_Interactions"])
@pytest.mark.parametrize("spelling", [str.lower, str.upper, str])
def test_create_dataset_each_type_any_case_gets_upper_case_arn_and_answers_documented_spelling(
    personalize: Any, setup: Setup, dataset_type: str, spelling: Callable[[str], str]
) -> None:
    # GIVEN a dataset created with its type in any case (the model: "One of the following (case insensitive)")
    group = setup.group()
    arn = personalize.create_dataset(
        name="ds", schemaArn=setup.schema(dataset_type), datasetGroupArn=group, datasetType=spelling(dataset_type)
    )["datasetArn"]

    # WHEN it is described and listed
    described = setup.describe_dataset(arn)["datasetType"]
    listed = [d["datasetType"] for d in personalize.list_datasets(datasetGroupArn=group)["datasets"]]

    # THEN its ARN ends in the upper-case type, and both answers spell the type as the model documents Dataset's
    # datasetType: Interactions, Items, Users, Actions, Action_Interactions
    group_name = group.rsplit("/", 1)[1]
    assert arn == f"{ACCOUNT_ARN}:dataset/{group_name}/{dataset_type.upper()}"
    assert (described, listed) == (dataset_type, [dataset_type])


def test_create_dataset_second_of_a_type_raises_already_exists(personalize: Any, setup: Setup) -> None:
    group = setup.group()
    setup.dataset("Items", group=group)

    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        setup.dataset("Items", group=group)


def test_create_dataset_name_taken_raises_already_exists(personalize: Any, setup: Setup) -> None:
    schema = setup.schema("Items")
    personalize.create_dataset(name="same", schemaArn=schema, datasetGroupArn=setup.group(), datasetType="Items")

    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException, match="same"):
        personalize.create_dataset(name="same", schemaArn=schema, datasetGroupArn=setup.group(), datasetType="Items")


def test_create_dataset_group_name_taken_raises_already_exists(personalize: Any) -> None:
    personalize.create_dataset_group(name="same")

    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException, match="same"):
        personalize.create_dataset_group(name="same")


def test_create_dataset_group_name_of_group_being_deleted_raises_already_exists(
    emu: EmulatorServer, personalize: Any, setup: Setup
) -> None:
    # GIVEN a group whose deletion is still in progress
    arn = personalize.create_dataset_group(name="reused")["datasetGroupArn"]
    setup.wait(setup.describe_group, arn, "ACTIVE")
    emu.configure(delete_delay=FROZEN)
    personalize.delete_dataset_group(datasetGroupArn=arn)

    # WHEN its name is used again
    # THEN the name is still taken (it is free once the group is gone)
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_dataset_group(name="reused")


def test_create_dataset_unknown_type_raises_invalid_input(personalize: Any, setup: Setup) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException, match="datasetType"):
        personalize.create_dataset(
            name="ds", schemaArn=setup.schema("Items"), datasetGroupArn=setup.group(), datasetType="Ratings"
        )


@pytest.mark.parametrize(
    ("dataset_type", "fields", "problem"),
    [
        ("Interactions", SCHEMA_FIELDS["Items"], "needs the field USER_ID"),
        ("Items", [{"name": "ITEM_ID", "type": "string"}], "at least 1 metadata field"),
        ("Users", [{"name": "USER_ID", "type": "long"}, {"name": "AGE", "type": "int"}], 'type "string"'),
        ("Action_Interactions", SCHEMA_FIELDS["Interactions"], "needs the field ACTION_ID"),
        ("Users", [{"name": "USER_ID", "type": "string"}, {"name": "BIO", "type": "string", "textual": True}], "ITEMS"),
    ],
)
def test_create_dataset_schema_not_fitting_type_raises_invalid_input(
    personalize: Any, setup: Setup, dataset_type: str, fields: list[dict[str, Any]], problem: str
) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException, match=re.escape(problem)):
        setup.dataset(dataset_type, schema=setup.schema(fields=fields))


@pytest.mark.parametrize("dataset_type", ["Actions", "Action_Interactions"])
def test_create_dataset_actions_in_domain_group_raises_invalid_input(
    personalize: Any, setup: Setup, dataset_type: str
) -> None:
    group = setup.group(domain="ECOMMERCE")
    schema = setup.schema(dataset_type, domain="ECOMMERCE")

    with pytest.raises(personalize.exceptions.InvalidInputException, match="domain dataset group"):
        setup.dataset(dataset_type, group=group, schema=schema)


def test_create_dataset_schema_domain_mismatch_raises_invalid_input(personalize: Any, setup: Setup) -> None:
    group = setup.group(domain="VIDEO_ON_DEMAND")

    with pytest.raises(personalize.exceptions.InvalidInputException, match="must match"):
        setup.dataset("Items", group=group, schema=setup.schema("Items", domain="ECOMMERCE"))
    with pytest.raises(personalize.exceptions.InvalidInputException, match="must match"):
        setup.dataset("Items", group=group, schema=setup.schema("Items"))


def test_create_dataset_group_role_without_key_raises_invalid_input(personalize: Any) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException, match="kmsKeyArn"):
        personalize.create_dataset_group(name="g", roleArn="arn:aws:iam::123456789012:role/personalize")


def test_create_dataset_group_with_key_and_role_describes_both(personalize: Any, setup: Setup) -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd"
    role = "arn:aws:iam::123456789012:role/personalize"

    arn = personalize.create_dataset_group(name="g", kmsKeyArn=key, roleArn=role)["datasetGroupArn"]

    described = setup.describe_group(arn)
    assert (described["kmsKeyArn"], described["roleArn"]) == (key, role)


def test_create_dataset_group_sixth_raises_limit_exceeded_until_one_is_deleted(personalize: Any, setup: Setup) -> None:
    groups = [setup.group() for _ in range(5)]
    with pytest.raises(personalize.exceptions.LimitExceededException):
        personalize.create_dataset_group(name="sixth")

    personalize.delete_dataset_group(datasetGroupArn=groups[0])

    assert personalize.create_dataset_group(name="sixth")["datasetGroupArn"].endswith("/sixth")


def test_create_dataset_group_limit_is_configurable(emu: EmulatorServer, personalize: Any) -> None:
    emu.configure(max_dataset_groups=1)
    personalize.create_dataset_group(name="g1")

    with pytest.raises(personalize.exceptions.LimitExceededException):
        personalize.create_dataset_group(name="g2")


def test_create_dataset_group_limit_counts_groups_of_the_callers_region_only(
    emu: EmulatorServer, personalize: Any
) -> None:
    emu.configure(max_dataset_groups=1)
    personalize.create_dataset_group(name="virginia")
    frankfurt = boto3.client("personalize", **client_kwargs(emu.endpoint_url, region="eu-central-1"))

    arn = frankfurt.create_dataset_group(name="frankfurt")["datasetGroupArn"]

    assert arn.startswith("arn:aws:personalize:eu-central-1:")
    with pytest.raises(frankfurt.exceptions.LimitExceededException):
        frankfurt.create_dataset_group(name="frankfurt-2")


# --- event trackers ---------------------------------------------------------------------------------------------


def test_create_event_tracker_returns_hex_arn_and_tracking_id(personalize: Any, setup: Setup) -> None:
    group = setup.group()

    arn, tracking_id = setup.tracker(group)

    assert re.fullmatch(rf"{ACCOUNT_ARN}:event-tracker/[0-9a-f]{{8}}", arn)
    described = setup.describe_tracker(arn)
    assert (described["trackingId"], described["datasetGroupArn"]) == (tracking_id, group)
    assert described["accountId"] == "123456789012"


def test_create_event_tracker_second_for_group_raises_already_exists(personalize: Any, setup: Setup) -> None:
    group = setup.group()
    setup.tracker(group)

    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException, match="already has event tracker"):
        setup.tracker(group)


def test_create_event_tracker_name_taken_raises_already_exists(personalize: Any, setup: Setup) -> None:
    personalize.create_event_tracker(name="tracker", datasetGroupArn=setup.group())

    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException, match="tracker"):
        personalize.create_event_tracker(name="tracker", datasetGroupArn=setup.group())


def test_create_action_interactions_dataset_describes_its_own_tracking_id(setup: Setup) -> None:
    group = setup.group()
    dataset = setup.dataset("Action_Interactions", group=group)
    setup.dataset("Interactions", group=group)
    _, event_tracking_id = setup.tracker(group)

    tracking_id = setup.describe_dataset(dataset)["trackingId"]

    assert re.fullmatch(r"[0-9a-f-]{36}", tracking_id)
    # Its own: not the group's event tracker's (PutEvents and PutActionInteractions write through different ones).
    assert tracking_id != event_tracking_id
    assert setup.describe_dataset(setup.dataset("Action_Interactions"))["trackingId"] != tracking_id


def test_describe_other_dataset_types_have_no_tracking_id(setup: Setup) -> None:
    dataset = setup.dataset("Items")

    assert "trackingId" not in setup.describe_dataset(dataset)


# --- UpdateDataset ----------------------------------------------------------------------------------------------


def test_update_dataset_compatible_schema_shows_latest_update_then_new_schema(
    emu: EmulatorServer, personalize: Any, setup: Setup, clock: ManualClock
) -> None:
    dataset = setup.dataset("Items")
    emu.configure(create_delay=SLOW)
    added = [*SCHEMA_FIELDS["Items"], {"name": "BRAND", "type": ["null", "string"], "categorical": True}]
    new_schema = setup.schema(fields=added)

    personalize.update_dataset(datasetArn=dataset, schemaArn=new_schema)

    latest = setup.describe_dataset(dataset)["latestDatasetUpdate"]
    assert (latest["schemaArn"], latest["status"]) == (new_schema, "CREATE PENDING")
    setup.wait(lambda arn: setup.describe_dataset(arn)["latestDatasetUpdate"], dataset, "ACTIVE")
    assert setup.describe_dataset(dataset)["schemaArn"] == new_schema


@pytest.mark.parametrize(
    "fields",
    [
        [f for f in SCHEMA_FIELDS["Items"] if f["name"] != "GENRES"],
        [*SCHEMA_FIELDS["Items"], {"name": "BRAND", "type": "string", "categorical": True}],
        [{**f, "type": "double"} if f["name"] == "PRICE" else f for f in SCHEMA_FIELDS["Items"]],
    ],
    ids=["field-dropped", "new-field-not-nullable", "field-retyped"],
)
def test_update_dataset_incompatible_schema_raises_invalid_input(
    personalize: Any, setup: Setup, fields: list[dict[str, Any]]
) -> None:
    dataset = setup.dataset("Items")

    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.update_dataset(datasetArn=dataset, schemaArn=setup.schema(fields=fields))


@pytest.mark.parametrize("dataset_type", ["Interactions", "Actions", "Action_Interactions"])
def test_update_dataset_other_than_items_or_users_raises_invalid_input(
    personalize: Any, setup: Setup, dataset_type: str
) -> None:
    dataset = setup.dataset(dataset_type)

    with pytest.raises(personalize.exceptions.InvalidInputException, match="Only ITEMS and USERS"):
        personalize.update_dataset(datasetArn=dataset, schemaArn=setup.schema(dataset_type))


def test_update_dataset_users_with_added_nullable_field_takes_the_new_schema(personalize: Any, setup: Setup) -> None:
    dataset = setup.dataset("Users")
    new_schema = setup.schema(fields=[*SCHEMA_FIELDS["Users"], {"name": "AGE", "type": ["null", "int"]}])

    personalize.update_dataset(datasetArn=dataset, schemaArn=new_schema)

    setup.wait(lambda arn: setup.describe_dataset(arn)["latestDatasetUpdate"], dataset, "ACTIVE")
    assert setup.describe_dataset(dataset)["schemaArn"] == new_schema


def test_update_dataset_while_an_update_is_in_progress_raises_resource_in_use(
    emu: EmulatorServer, personalize: Any, setup: Setup
) -> None:
    dataset = setup.dataset("Items")
    emu.configure(create_delay=FROZEN)
    added = [*SCHEMA_FIELDS["Items"], {"name": "BRAND", "type": ["null", "string"], "categorical": True}]
    personalize.update_dataset(datasetArn=dataset, schemaArn=setup.schema(fields=added))

    with pytest.raises(personalize.exceptions.ResourceInUseException, match="being updated"):
        personalize.update_dataset(datasetArn=dataset, schemaArn=setup.schema(fields=added))


# --- listing ----------------------------------------------------------------------------------------------------


def test_list_dataset_groups_paginates_with_next_token(personalize: Any) -> None:
    for n in range(3):
        personalize.create_dataset_group(name=f"g{n}")

    first = personalize.list_dataset_groups(maxResults=2)
    second = personalize.list_dataset_groups(maxResults=2, nextToken=first["nextToken"])

    names = [g["name"] for g in first["datasetGroups"] + second["datasetGroups"]]
    assert names == ["g0", "g1", "g2"]
    assert "nextToken" not in second


def test_list_datasets_filters_by_group(personalize: Any, setup: Setup) -> None:
    group = setup.group()
    dataset = setup.dataset("Items", group=group)
    setup.dataset("Users")

    listed = personalize.list_datasets(datasetGroupArn=group)["datasets"]

    assert [d["datasetArn"] for d in listed] == [dataset]


def test_list_schemas_bad_next_token_raises_invalid_next_token(personalize: Any) -> None:
    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        personalize.list_schemas(nextToken="!!!")
