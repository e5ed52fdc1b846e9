"""Tags: from the configuration (``tags``) and from ``Tags.of()`` to every Personalize resource the stack creates.

Asserted by property on synthesized templates: the app with configured tags plus a tag added in code, as
``cdk synth`` runs it; and the construct alone, for what ``Tags.of()`` on a narrower scope does. The handlers'
side (CreateX's tags, TagResource and UntagResource in place) is tests/resources/test_resources_tags.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_logs as logs

from app import build_app
from contract import (
    DATASET_GROUP_RESOURCE_TYPE,
    DATASET_RESOURCE_TYPE,
    EVENT_TRACKER_RESOURCE_TYPE,
    SCHEMA_RESOURCE_TYPE,
    TAGS_PROPERTY,
)
from stacks.config import DATASET_KINDS, MAX_TAGS_PER_RESOURCE, ConfigError, PipelineConfig, parse_tags
from stacks.personalize_datasets import DatasetSpec, PersonalizeDatasets
from stacks.personalize_properties import with_tags
from tests.infra.synthesis import PROJECT_ROOT, project_context

CONFIGURED = {"cost-center": "4711", "team": "data"}
TAGGABLE = (DATASET_GROUP_RESOURCE_TYPE, DATASET_RESOURCE_TYPE, EVENT_TRACKER_RESOURCE_TYPE)


def of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r.get("Properties", {}) for lid, r in template["Resources"].items() if r["Type"] == resource_type}


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every dataset kind, the configuration's tags, and one tag added in code with ``Tags.of(stack)``."""
    context = project_context(
        tags=CONFIGURED, datasetGroup={"name": "shop"}, datasets={kind: {} for kind in DATASET_KINDS}
    )
    app = build_app(context, outdir=str(tmp_path_factory.mktemp("tagged")))
    (stack,) = [child for child in app.node.children if isinstance(child, cdk.Stack)]
    cdk.Tags.of(stack).add("owner", "platform")
    (artifact,) = app.synth().stacks
    template: dict[str, Any] = artifact.template
    return template


def construct_stack(**settings: Any) -> tuple[cdk.App, cdk.Stack, PersonalizeDatasets]:
    """The construct alone (an Items and an Interactions dataset), without cdk-nag."""
    app = cdk.App(context=project_context())
    stack = cdk.Stack(app, "Tagged")
    construct = PersonalizeDatasets(
        stack,
        "Personalize",
        group_name="shop",
        domain=None,
        kms_key_arn=None,
        role_arn=None,
        datasets=[
            DatasetSpec(kind, (PROJECT_ROOT / DATASET_KINDS[name].default_schema).read_text())
            for name, kind in (("items", "ITEMS"), ("interactions", "INTERACTIONS"))
        ],
        removal_policy=cdk.RemovalPolicy.RETAIN,
        log_retention=logs.RetentionDays.ONE_WEEK,
        **settings,
    )
    return app, stack, construct


# --- from the configuration and from Tags.of(stack) to every taggable Personalize resource ---------------------------


@pytest.mark.parametrize("resource_type", TAGGABLE)
def test_tags_config_and_stack_tags_reach_every_taggable_custom_resource(
    resource_type: str, tagged: dict[str, Any]
) -> None:
    expected = with_tags({}, {**CONFIGURED, "owner": "platform"})[TAGS_PROPERTY]
    resources = of_type(tagged, resource_type)

    assert resources
    assert [properties[TAGS_PROPERTY] for properties in resources.values()] == [expected] * len(resources)


def test_tags_schemas_carry_none(tagged: dict[str, Any]) -> None:
    # CreateSchema takes no tags: a Tags property would only make the handler refuse the schema
    schemas = of_type(tagged, SCHEMA_RESOURCE_TYPE)

    assert len(schemas) == len(DATASET_KINDS)
    assert [TAGS_PROPERTY in properties for properties in schemas.values()] == [False] * len(schemas)


@pytest.mark.parametrize("resource_type", ["AWS::SQS::Queue", "AWS::Lambda::Function", "AWS::SNS::Topic"])
def test_tags_config_reach_the_pipelines_own_resources(resource_type: str, tagged: dict[str, Any]) -> None:
    for properties in of_type(tagged, resource_type).values():
        assert {tag["Key"]: tag["Value"] for tag in properties["Tags"]}.items() >= CONFIGURED.items()


def test_tags_no_tags_no_property() -> None:
    _, stack, _ = construct_stack()
    template = cdk.assertions.Template.from_stack(stack).to_json()
    taggable = [properties for resource_type in TAGGABLE for properties in of_type(template, resource_type).values()]

    assert len(taggable) == 4  # the group, two datasets, the tracker
    assert [TAGS_PROPERTY in properties for properties in taggable] == [False] * 4


def test_tags_of_narrower_scope_and_resource_type_filter_respected() -> None:
    _, stack, construct = construct_stack()
    cdk.Tags.of(construct).add("data-class", "internal", include_resource_types=[DATASET_RESOURCE_TYPE])
    cdk.Tags.of(stack).add("team", "data")
    cdk.Tags.of(construct.dataset_group).remove("team")
    template = cdk.assertions.Template.from_stack(stack).to_json()

    tags = {
        resource_type: [properties.get(TAGS_PROPERTY) for properties in of_type(template, resource_type).values()]
        for resource_type in TAGGABLE
    }
    assert tags == {
        DATASET_GROUP_RESOURCE_TYPE: [None],
        DATASET_RESOURCE_TYPE: [with_tags({}, {"data-class": "internal", "team": "data"})[TAGS_PROPERTY]] * 2,
        EVENT_TRACKER_RESOURCE_TYPE: [with_tags({}, {"team": "data"})[TAGS_PROPERTY]],
    }
    assert construct.dataset_group.tags == {}  # as the handler receives them


# --- Personalize's limits: checked when read, and at synthesis for tags added in code --------------------------------


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"team": 7}, r"^tags.team: must be a string, got 7"),
        ({"": "x"}, r"^tags: tag key '' has 0 characters; allowed: 1 to 128"),
        ({"k" * 129: "x"}, r"has 129 characters; allowed: 1 to 128"),
        ({"team": "v" * 257}, r"tag value 'v+' has 257 characters; allowed: 0 to 256"),
        ({"team": "data&ml"}, r"tag value 'data&ml' has the character\(s\) '&'"),
        ({"aws:owner": "me"}, r"tag key 'aws:owner' starts with 'aws:'"),
        ({"owner": "AWS:me"}, r"tag value 'AWS:me' starts with 'aws:'"),
        ({f"k{n}": "v" for n in range(MAX_TAGS_PER_RESOURCE + 1)}, r"^tags: 51 tags; a resource takes at most 50"),
        ("not json", r"^tags: must be a JSON object"),
    ],
)
def test_tags_config_beyond_personalize_limits_raise_config_error(tags: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PipelineConfig.from_context({"datasets": {"items": {}}, "datasetGroup": {"name": "shop"}, "tags": tags})


def test_tags_config_from_command_line_json_and_absent() -> None:
    config = PipelineConfig.from_context(
        {"datasets": {"items": {}}, "tags": json.dumps({"team": "data", "cost center": "Ünit 7/a=b+c@d"})}
    )

    assert dict(config.tags) == {"team": "data", "cost center": "Ünit 7/a=b+c@d"}
    assert dict(PipelineConfig.from_context({"datasets": {"items": {}}}).tags) == {}
    assert dict(parse_tags({"team": ""})) == {"team": ""}  # an empty value is a value


@pytest.mark.parametrize(
    ("add", "message"),
    [
        ({"aws:cost": "1"}, "tag key 'aws:cost' starts with 'aws:'"),
        ({f"k{n}": "v" for n in range(MAX_TAGS_PER_RESOURCE + 1)}, "51 tags; a resource takes at most 50"),
    ],
)
def test_tags_added_in_code_beyond_personalize_limits_fail_synth(add: dict[str, str], message: str) -> None:
    app, stack, _ = construct_stack()
    for key, value in add.items():
        cdk.Tags.of(stack).add(key, value)

    with pytest.raises(RuntimeError, match=f"Amazon Personalize would refuse this resource's tags: {message}"):
        app.synth()
