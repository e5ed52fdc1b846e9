"""The configuration's datasets, dataset group and schema files: what each accepts, and one clear error per bad key."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from stacks.config import (
    DATASET_KINDS,
    PROJECT_ROOT,
    ConfigError,
    DatasetConfig,
    DatasetGroupConfig,
    PipelineConfig,
)
from tests.infra.config_cases import (
    GROUP_ARN,
    INTERACTIONS_ARN,
    KMS_KEY,
    KMS_ROLE,
    TRACKING_ID,
    config_with,
)
from tests.infra.synthesis import ACTIONS_ARN, ITEMS_ARN, project_context


def test_config_dataset_without_fields_created_with_kind_default_schema() -> None:
    config = PipelineConfig.from_context({"datasets": {"items": {}, "actions": {}}})

    assert [(d.kind.name, d.schema_file) for d in config.datasets] == [
        ("items", "schemas/items.json"),
        ("actions", "schemas/actions.json"),
    ]
    # The dataset group is named after the stack unless datasetGroup.name says otherwise.
    assert config.dataset_group == DatasetGroupConfig(name="PersonalizeIngest")


def test_config_dataset_group_all_fields_from_command_line_json() -> None:
    group = {"name": "shop", "domain": "ECOMMERCE", "kmsKeyArn": KMS_KEY, "roleArn": KMS_ROLE}

    config = PipelineConfig.from_context(
        {
            # The project's Users schema fits ECOMMERCE's requirements (its Items schema does not)
            "datasets": '{"users": {"schema": "schemas/users.json"}}',
            "datasetGroup": json.dumps(group),
            "removalPolicy": "DESTROY",
        }
    )

    assert config.dataset_group == DatasetGroupConfig(
        name="shop", domain="ECOMMERCE", kms_key_arn=KMS_KEY, role_arn=KMS_ROLE
    )
    assert config.removal_policy == "destroy"


def test_config_existing_datasets_from_command_line_clear_cdk_json_group() -> None:
    # `cdk deploy -c datasetGroup= -c datasets='{"items": {"arn": ...}}'` over cdk.json's default
    config = PipelineConfig.from_context(
        project_context(datasetGroup="", datasets=json.dumps({"items": {"arn": ITEMS_ARN}}))
    )

    assert (config.provisions_datasets, [d.arn for d in config.datasets]) == (False, [ITEMS_ARN])


def test_config_schema_file_absolute_path_read(tmp_path: Path) -> None:
    schema = tmp_path / "items.json"
    schema.write_text(json.dumps({"type": "record", "fields": [{"name": "ITEM_ID"}, {"name": "PRICE"}]}))

    (dataset,) = PipelineConfig.from_context({"datasets": {"items": {"schema": str(schema)}}}).datasets

    assert dataset.schema == schema.read_text()


def test_config_datasets_any_key_order_kind_table_order() -> None:
    config = config_with(datasets={"actions": {"arn": ACTIONS_ARN}, "items": {"arn": ITEMS_ARN}})

    assert [dataset.kind.name for dataset in config.datasets] == ["items", "actions"]


def test_config_dataset_schema_wildcard_in_dataset_account_and_region() -> None:
    arn = "arn:aws-cn:personalize:cn-north-1:444455556666:dataset/shop/ITEMS"
    (dataset,) = config_with(datasets={"items": {"arn": arn}}).datasets

    assert dataset.any_schema_arn == "arn:aws-cn:personalize:cn-north-1:444455556666:schema/*"
    assert dataset.dataset_group_arn == "arn:aws-cn:personalize:cn-north-1:444455556666:dataset-group/shop"


@pytest.mark.parametrize(
    ("datasets", "key", "message"),
    [
        (None, "datasets", "at least one dataset is required"),
        ({}, "datasets", "at least one dataset is required"),
        ("{}", "datasets", "at least one dataset is required"),
        ("items", "datasets", "must be a JSON object, got 'items'"),
        ('{"items": ', "datasets", "must be a JSON object"),
        ([ITEMS_ARN], "datasets", "must be a JSON object"),
        (
            {"events": {"arn": ITEMS_ARN}},
            "datasets.events",
            "unknown dataset kind 'events'; known kinds: items, actions, users, interactions, actionInteractions",
        ),
        ({"items": ITEMS_ARN}, "datasets.items", "must be a JSON object"),
        ({"items": {"arn": ITEMS_ARN, "schema": "x.json"}}, "datasets.items", 'either "arn" (an existing dataset) or'),
        (
            {"items": {"colour": "red"}},
            "datasets.items",
            "unknown field(s) colour; known fields: schema, arn, trackingId",
        ),
        (
            {"interactions": {"arn": INTERACTIONS_ARN}},
            "datasets.interactions.trackingId",
            "required with an existing INTERACTIONS dataset: the trackingId of its dataset group's event tracker",
        ),
        (
            {"interactions": {"arn": INTERACTIONS_ARN, "trackingId": "not a tracking id"}},
            "datasets.interactions.trackingId",
            "must be a tracking id",
        ),
        (
            {"interactions": {"arn": INTERACTIONS_ARN, "trackingId": 7}},
            "datasets.interactions.trackingId",
            "must be a string, got 7",
        ),
        (
            {"items": {"arn": ITEMS_ARN, "trackingId": TRACKING_ID}},
            "datasets.items.trackingId",
            "items are written by dataset ARN, not tracking id",
        ),
        (
            {"interactions": {"trackingId": TRACKING_ID}},
            "datasets.interactions.trackingId",
            "only for an existing dataset (arn)",
        ),
        (
            {"users": {"schema": "schemas/items.json"}},
            "datasets.users.schema",
            "USERS schemas need the field(s) USER_ID",
        ),
        (
            {"interactions": {"schema": "schemas/users.json"}},
            "datasets.interactions.schema",
            "INTERACTIONS schemas need the field(s) ITEM_ID, TIMESTAMP",
        ),
        (
            {"actionInteractions": {"schema": "schemas/interactions.json"}},
            "datasets.actionInteractions.schema",
            "ACTION_INTERACTIONS schemas need the field(s) ACTION_ID",
        ),
        ({"items": {"schema": "schemas/nope.json"}}, "datasets.items.schema", "cannot read schema file 'schemas/nope"),
        ({"items": {"schema": ""}}, "datasets.items.schema", "must be the path of a schema file"),
        ({"items": {"schema": "cdk.json"}}, "datasets.items.schema", "the schema must be an Avro record"),
        (
            {"items": {"schema": "schemas/actions.json"}},
            "datasets.items.schema",
            "ITEMS schemas need the field(s) ITEM_ID",
        ),
        (
            {"items": {"schema": "schemas/items.json"}, "actions": {"arn": ACTIONS_ARN}},
            "datasets",
            "either every dataset is created by the stack (schema) or every one exists (arn); got items to create",
        ),
        ({"items": {"arn": "not-an-arn"}}, "datasets.items.arn", "must be a Personalize dataset ARN"),
        ({"items": {"arn": 42}}, "datasets.items.arn", "must be a Personalize dataset ARN"),
        (
            {"items": {"arn": "arn:aws:s3:us-east-1:111122223333:dataset/g/ITEMS"}},
            "datasets.items.arn",
            "must be a Personalize dataset ARN",
        ),
        (
            {"items": {"arn": ITEMS_ARN + "x" * 200}},
            "datasets.items.arn",
            "must be a Personalize dataset ARN (at most 256 characters",
        ),
        (
            {"items": {"arn": "arn:aws:personalize:us-east-1:111122223333:dataset-group/personalize-ingest"}},
            "datasets.items.arn",
            "must have the shape arn:<partition>:personalize:<region>:<12-digit account>:dataset/",
        ),
        (
            {"items": {"arn": "arn:aws:personalize:::dataset/personalize-ingest/ITEMS"}},
            "datasets.items.arn",
            "must have the shape",
        ),
        ({"items": {"arn": ACTIONS_ARN}}, "datasets.items.arn", "must be the ARN of an ITEMS dataset (ending in"),
        ({"actions": {"arn": ITEMS_ARN}}, "datasets.actions.arn", "must be the ARN of an ACTIONS dataset"),
        (
            {
                "items": {"arn": ITEMS_ARN},
                "actions": {"arn": "arn:aws:personalize:us-east-1:111122223333:dataset/other-group/ACTIONS"},
            },
            "datasets",
            "all datasets must belong to one dataset group",
        ),
    ],
)
def test_config_bad_datasets_raise_config_error_naming_key(datasets: object, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        PipelineConfig.from_context({"datasets": datasets})

    assert raised.value.key == key
    assert str(raised.value).startswith(f"{key}: {message}")


@pytest.mark.parametrize(
    ("context", "key", "message"),
    [
        ({"datasetGroup": {"name": "shop"}}, "datasetGroup", "only for datasets the stack creates"),
        ({"datasets": {"items": {}}, "datasetGroup": {"name": "bad name"}}, "datasetGroup.name", "must be a Personal"),
        ({"datasets": {"items": {}}, "datasetGroup": {"name": "x" * 44}}, "datasetGroup.name", "must be a Personal"),
        ({"datasets": {"items": {}}, "stackName": "S" * 44}, "datasetGroup.name", "must be a Personalize name"),
        ({"datasets": {"items": {}}, "datasetGroup": {"colour": "red"}}, "datasetGroup", "unknown field(s) colour"),
        ({"datasets": {"items": {}}, "datasetGroup": {"domain": "RETAIL"}}, "datasetGroup.domain", "must be one of"),
        ({"datasets": {"items": {}}, "datasetGroup": {"kmsKeyArn": KMS_KEY}}, "datasetGroup", "kmsKeyArn and roleArn"),
        (
            {"datasets": {"items": {}}, "datasetGroup": {"kmsKeyArn": "key", "roleArn": KMS_ROLE}},
            "datasetGroup.kmsKeyArn",
            "must be a KMS key ARN",
        ),
        (
            {"datasets": {"items": {}}, "datasetGroup": {"kmsKeyArn": KMS_KEY, "roleArn": "role"}},
            "datasetGroup.roleArn",
            "must be an IAM role ARN",
        ),
        (
            {"datasets": {"items": {}, "actions": {}}, "datasetGroup": {"domain": "ECOMMERCE"}},
            "datasets.actions",
            "a domain dataset group (ECOMMERCE) cannot hold an ACTIONS dataset",
        ),
        (
            {"datasets": {"users": {}, "actionInteractions": {}}, "datasetGroup": {"domain": "VIDEO_ON_DEMAND"}},
            "datasets.actionInteractions",
            "a domain dataset group (VIDEO_ON_DEMAND) cannot hold an ACTION_INTERACTIONS dataset",
        ),
    ],
)
def test_config_bad_dataset_group_raises_config_error_naming_key(
    context: dict[str, object], key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        PipelineConfig.from_context({"datasets": {"items": {"arn": ITEMS_ARN}}, **context})

    assert raised.value.key == key
    assert str(raised.value).startswith(f"{key}: {message}")


def test_config_dataset_built_directly_needs_arn_or_schema() -> None:
    with pytest.raises(ConfigError, match=r"^datasets.items: needs exactly one of"):
        DatasetConfig(kind=DATASET_KINDS["items"])


def test_config_every_kind_created_from_its_default_schema() -> None:
    config = PipelineConfig.from_context(
        {"datasets": {name: {} for name in DATASET_KINDS}, "datasetGroup": {"name": "shop"}}
    )

    assert [(d.kind.dataset_type, d.schema_file) for d in config.datasets] == [
        ("ITEMS", "schemas/items.json"),
        ("ACTIONS", "schemas/actions.json"),
        ("USERS", "schemas/users.json"),
        ("INTERACTIONS", "schemas/interactions.json"),
        ("ACTION_INTERACTIONS", "schemas/action_interactions.json"),
    ]


def test_config_kind_table_event_apis_unscoped_and_tracked() -> None:
    # PutEvents and PutActionInteractions have no IAM resource type and write through a tracking id.
    unscoped = {kind.name: kind.tracking_env for kind in DATASET_KINDS.values() if not kind.put_on_dataset}

    assert unscoped == {
        "interactions": "EVENT_TRACKING_ID",
        "actionInteractions": "ACTION_INTERACTIONS_TRACKING_ID",
    }


def test_config_existing_event_datasets_keep_tracking_ids_from_command_line() -> None:
    datasets = {
        "interactions": {"arn": INTERACTIONS_ARN, "trackingId": TRACKING_ID},
        "actionInteractions": {"arn": f"{GROUP_ARN}/ACTION_INTERACTIONS"},
    }

    config = PipelineConfig.from_context({"datasets": json.dumps(datasets)})

    assert [(d.kind.name, d.tracking_id) for d in config.datasets] == [
        ("interactions", TRACKING_ID),
        ("actionInteractions", None),
    ]


@pytest.mark.parametrize(
    ("kind", "reserved", "message"),
    [
        (
            "actions",
            {"name": "REPEAT_FREQUENCY", "type": ["null", "int"]},
            'REPEAT_FREQUENCY is reserved in ACTIONS schemas and must be of type "long" or ["null", "long"], got',
        ),
        (
            "items",
            {"name": "CREATION_TIMESTAMP", "type": ["null", "long"]},
            'CREATION_TIMESTAMP is reserved in ITEMS schemas and must be of type "long", got ["null", "long"]',
        ),
    ],
)
def test_config_schema_with_reserved_field_of_wrong_type_raises_config_error(
    tmp_path: Path, kind: str, reserved: dict[str, object], message: str
) -> None:
    default = json.loads((PROJECT_ROOT / DATASET_KINDS[kind].default_schema).read_text())
    default["fields"].append(reserved)
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(default))

    with pytest.raises(ConfigError) as raised:
        PipelineConfig.from_context({"datasets": {kind: {"schema": str(schema)}}, "datasetGroup": {"name": "shop"}})

    assert raised.value.key == f"datasets.{kind}.schema"
    assert message in str(raised.value)


# --- domain dataset groups: the fields each domain requires (lambdas/schema_rules.py) -----------------------------


def schema_file(
    tmp_path: Path, kind: str, *, add: Sequence[Mapping[str, object]] = (), drop: Sequence[str] = ()
) -> str:
    """The default schema of ``kind`` with the fields ``add`` appended and ``drop`` removed, written to a file."""
    document = json.loads((PROJECT_ROOT / DATASET_KINDS[kind].default_schema).read_text())
    document["fields"] = [field for field in document["fields"] if field["name"] not in drop] + list(add)
    path = tmp_path / f"{kind}.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_config_domain_group_default_items_schema_names_fields_to_add_and_the_file() -> None:
    # The project's default schemas are for custom groups: ECOMMERCE Items need a categorical CATEGORY_L1 too
    with pytest.raises(ConfigError) as raised:
        PipelineConfig.from_context({"datasets": {"items": {}}, "datasetGroup": {"domain": "ECOMMERCE"}})

    assert raised.value.key == "datasets.items.schema"
    assert 'ECOMMERCE ITEMS schemas need the field CATEGORY_L1 (categorical "string")' in str(raised.value)
    assert "in the schema file schemas/items.json" in str(raised.value)
    assert "https://docs.aws.amazon.com/personalize/latest/dg/ECOMMERCE-items-dataset.html" in str(raised.value)


def test_config_domain_group_items_schema_without_price_and_category_names_both(tmp_path: Path) -> None:
    items = schema_file(tmp_path, "items", drop=("PRICE",))

    with pytest.raises(ConfigError) as raised:
        PipelineConfig.from_context({"datasets": {"items": {"schema": items}}, "datasetGroup": {"domain": "ECOMMERCE"}})

    message = str(raised.value)
    assert 'need the field PRICE ("float")' in message
    assert 'need the field CATEGORY_L1 (categorical "string")' in message
    assert message.index("PRICE") < message.index("CATEGORY_L1")  # the documentation's order


@pytest.mark.parametrize(
    ("domain", "kind", "edit", "named"),
    [
        ("VIDEO_ON_DEMAND", "items", {}, 'GENRES (categorical "string") (not null), got type ["null", "string"]'),
        ("VIDEO_ON_DEMAND", "items", {}, 'CREATION_TIMESTAMP ("long")'),
        (
            "ECOMMERCE",
            "users",
            # a field besides the id (as custom groups ask), but neither categorical nor a number
            {"add": [{"name": "NICKNAME", "type": ["null", "string"]}], "drop": ("MEMBERSHIP_TYPE", "AGE_GROUP")},
            "need one metadata field besides the id: a categorical string or a number",
        ),
        ("ECOMMERCE", "interactions", {"drop": ("EVENT_TYPE",)}, 'need the field EVENT_TYPE ("string")'),
    ],
)
def test_config_domain_group_schema_missing_or_mistyped_field_named(
    tmp_path: Path, domain: str, kind: str, edit: dict[str, Any], named: str
) -> None:
    path = schema_file(tmp_path, kind, **edit)

    with pytest.raises(ConfigError) as raised:
        PipelineConfig.from_context({"datasets": {kind: {"schema": path}}, "datasetGroup": {"domain": domain}})

    assert raised.value.key == f"datasets.{kind}.schema"
    assert f"{domain} {DATASET_KINDS[kind].dataset_type} schemas" in str(raised.value)
    assert named in str(raised.value)


def test_config_domain_group_schemas_with_required_fields_accepted(tmp_path: Path) -> None:
    category = {"name": "CATEGORY_L1", "type": "string", "categorical": True}
    items = schema_file(tmp_path, "items", add=[category])

    config = PipelineConfig.from_context(
        {"datasets": {"items": {"schema": items}, "users": {}}, "datasetGroup": {"domain": "ECOMMERCE"}}
    )

    assert config.dataset_group is not None
    assert config.dataset_group.domain == "ECOMMERCE"


def test_config_custom_group_needs_no_domain_fields() -> None:
    # The same default Items schema is fine without a domain: the domain's fields are the domain's only
    config = PipelineConfig.from_context({"datasets": {"items": {}}, "datasetGroup": {"name": "shop"}})

    assert [dataset.schema_file for dataset in config.datasets] == ["schemas/items.json"]


def test_config_domain_schema_fails_synth_naming_the_field() -> None:
    from app import build_app

    with pytest.raises(
        ConfigError, match=r"^datasets.items.schema: ECOMMERCE ITEMS schemas need the field CATEGORY_L1"
    ):
        build_app(project_context(datasets={"items": {}}, datasetGroup={"name": "shop", "domain": "ECOMMERCE"}))


def test_config_kind_required_fields_are_schema_rules_table() -> None:
    from schema_rules import REQUIRED_FIELDS

    assert {kind.dataset_type: kind.required_fields for kind in DATASET_KINDS.values()} == {
        dataset_type: tuple(fields) for dataset_type, fields in REQUIRED_FIELDS.items()
    }
