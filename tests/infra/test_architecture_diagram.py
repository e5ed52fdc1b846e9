"""docs/architecture.svg describes the stack: its embedded DOT is what the synthesized template gives today.

The comparison is on the DOT text the SVG carries (a deterministic description), not on pixels or on Graphviz's
layout, so it needs no Graphviz. When it fails, the stack changed: ``make diagram`` redraws the picture.

A resource of a kind the diagram has never heard of fails too (``test_every_resource_type_is_drawn_or_left_out``):
draw it, or add its type to ``NOT_DRAWN`` with the reason.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from contract import KIND_SPECS
from tests.infra.synthesis import (
    PROJECT_ROOT,
    Synthesized,
    bring_your_own_context,
    project_context,
    synthesize,
)
from tools.architecture import Architecture, architecture_from_template, drawn_node_ids, embedded_source, to_dot
from tools.architecture.model import (
    BACKFILL,
    BULK_PATH,
    CLOUDWATCH,
    DEAD_LETTER_QUEUE,
    IMPORT_BUCKET,
    INGEST_FUNCTION,
    INGEST_QUEUE,
    PERSONALIZE_CLUSTER,
    PROVIDER,
    PUBLISHERS,
    SPILL_CHECK,
    SPILL_WORKFLOW,
)

DIAGRAM = PROJECT_ROOT / "docs" / "architecture.svg"
DATASET_KINDS = [spec.config_key for spec in KIND_SPECS.values()]
CONFIGURATIONS = ["default", "every_kind", "bring_your_own", "fifo"]

# Resource types the diagram deliberately leaves out, and why. A type not here and not drawn fails the drift test.
NOT_DRAWN = {
    # Permissions: the diagram draws what they allow (the ingest Lambda's Put* and SendMessage, the spill's
    # StartExecution, ReceiveMessage and PutObject), not the roles and policies themselves.
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::S3::BucketPolicy",  # TLS only and Personalize's read: it is how the import bucket is recognised
    "AWS::SQS::QueuePolicy",  # TLS only on the queues
    "AWS::SNS::TopicPolicy",  # lets CloudWatch publish to the alarm topic (the "alarm actions" arrow)
    "AWS::Lambda::Permission",  # lets EventBridge invoke the spill check (its schedule is in the check's label)
    # Encryption, logs and packaging: every function and topic has them, drawing them would say nothing.
    "AWS::KMS::Key",  # the alarm topic's key
    "AWS::Logs::LogGroup",  # one per function and state machine
    "AWS::Lambda::LayerVersion",  # the runtime dependencies layer the functions share
}


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """cdk.json's configuration: what ``make deploy`` deploys, and what the committed picture shows."""
    return synthesize(project_context(), tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Every dataset kind (so an event tracker too) and an alarm email subscription."""
    context = project_context(datasets={kind: {} for kind in DATASET_KINDS}, alarmEmail="oncall@example.com")
    return synthesize(context, tmp_path_factory.mktemp("every-kind"))


@pytest.fixture(scope="module")
def bring_your_own(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Existing datasets: nothing provisioned."""
    return synthesize(bring_your_own_context(), tmp_path_factory.mktemp("bring-your-own"))


@pytest.fixture(scope="module")
def fifo(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """FIFO queues (no spill: the import bucket and the backfill command only) with every kind."""
    context = project_context(
        datasets={kind: {} for kind in DATASET_KINDS},
        queueType="fifo",
        batchSize=10,  # a FIFO queue's most (stacks/config/settings.py)
        maxBatchingWindowSeconds=0,
        alarmEmail="oncall@example.com",
    )
    return synthesize(context, tmp_path_factory.mktemp("fifo"))


def edges(architecture: Architecture) -> dict[tuple[str, str], str]:
    return {(edge.source, edge.target): edge.label for edge in architecture.edges}


def undrawn_types(template: dict[str, Any]) -> set[str]:
    """Types of the template's resources the diagram neither draws nor deliberately leaves out."""
    drawn = architecture_from_template(template).drawn
    resources = template["Resources"]
    return {str(r["Type"]) for lid, r in resources.items() if lid not in drawn} - NOT_DRAWN


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_every_resource_type_is_drawn_or_left_out(configuration: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(configuration)
    drawn = architecture_from_template(synthesized.template_json).drawn

    # THEN each resource is drawn, or its type is one the diagram leaves out on purpose (NOT_DRAWN, with why)
    assert undrawn_types(synthesized.template_json) == set(), "draw these, or add them to NOT_DRAWN with the reason"
    # AND no type is both: a type listed as left out that the diagram draws is a stale entry
    drawn_types = {str(synthesized.template_json["Resources"][lid]["Type"]) for lid in drawn}
    assert drawn_types & NOT_DRAWN == set()


def test_not_drawn_lists_only_types_the_stack_has(request: pytest.FixtureRequest) -> None:
    found = {
        str(r["Type"])
        for configuration in CONFIGURATIONS
        for r in request.getfixturevalue(configuration).template_json["Resources"].values()
    }

    assert found >= NOT_DRAWN, f"stale NOT_DRAWN entries: {sorted(NOT_DRAWN - found)}"


def test_a_new_kind_of_resource_is_reported_undrawn(default: Synthesized) -> None:
    # GIVEN the stack with one resource of a kind the diagram has never heard of
    template = copy.deepcopy(default.template_json)
    template["Resources"]["NewTable"] = {"Type": "AWS::DynamoDB::Table", "Properties": {}}

    # THEN the drift guard names it
    assert undrawn_types(template) == {"AWS::DynamoDB::Table"}


def test_committed_diagram_describes_the_synthesized_stack(default: Synthesized) -> None:
    # GIVEN the committed picture and the stack as it synthesizes now
    committed = embedded_source(DIAGRAM.read_text())
    expected = to_dot(architecture_from_template(default.template_json))

    # THEN the picture's description is the stack's (else: make diagram, and commit docs/architecture.svg)
    assert committed is not None, f"{DIAGRAM} carries no DOT source: redraw it with 'make diagram'"
    assert committed == expected, f"{DIAGRAM} no longer matches the stack: redraw it with 'make diagram'"


def test_committed_diagram_draws_every_node_of_its_description(default: Synthesized) -> None:
    architecture = architecture_from_template(default.template_json)

    assert drawn_node_ids(DIAGRAM.read_text()) == {node.id for node in architecture.nodes}


def test_architecture_default_stack_records_path_from_template(default: Synthesized) -> None:
    found = edges(architecture_from_template(default.template_json))

    assert "SendMessage" in found[PUBLISHERS, INGEST_QUEUE]
    assert found[INGEST_QUEUE, DEAD_LETTER_QUEUE] == "redrive policy\nafter 5 receives"
    assert found[INGEST_QUEUE, INGEST_FUNCTION].splitlines() == [
        "event source mapping",
        "batch 250, window 1 s",
        "max concurrency 2",
        "ReportBatchItemFailures",
    ]
    assert found[INGEST_FUNCTION, DEAD_LETTER_QUEUE] == "dead letters\n(SendMessage)"
    assert found[INGEST_FUNCTION, "dataset_items"] == "PutItems"
    assert found[INGEST_FUNCTION, "dataset_actions"] == "PutActions"
    assert found["dataset_items", "schema_personalize_ingest_items"] == "schema"


def test_architecture_default_stack_provisioning_and_monitoring_from_template(default: Synthesized) -> None:
    architecture = architecture_from_template(default.template_json)
    nodes = {node.id: node for node in architecture.nodes}
    found = {(edge.source, edge.target): edge for edge in architecture.edges}

    assert "resources.handler.on_event" in nodes[PROVIDER].label
    assert "resources.handler.is_complete" in nodes[PROVIDER].label
    (provisioning,) = [edge for edge in architecture.edges if edge.source == PROVIDER]
    assert provisioning.to_cluster == PERSONALIZE_CLUSTER
    assert "IngestFallingBehind" in nodes[CLOUDWATCH].label
    assert {source for source, target in found if target == CLOUDWATCH} == {
        INGEST_QUEUE,
        DEAD_LETTER_QUEUE,
        INGEST_FUNCTION,
        SPILL_WORKFLOW,  # the spill alarm reads the state machine's failures
    }
    assert found[CLOUDWATCH, "topic_personalize_ingest_alarms"].label == "alarm actions"
    assert nodes["dataset_items"].cluster == "dataset_group_personalize_ingest"


def test_architecture_every_kind_writes_through_tracker_and_notifies_email(every_kind: Synthesized) -> None:
    architecture = architecture_from_template(every_kind.template_json)
    found = edges(architecture)
    written = {found[source, target] for source, target in found if source == INGEST_FUNCTION}

    assert {spec.api for spec in KIND_SPECS.values()} <= written
    assert any(node.id.startswith("tracker_") for node in architecture.nodes)
    assert ("topic_personalize_ingest_alarms", "subscriber_email") in found


def test_architecture_existing_datasets_nothing_provisioned(bring_your_own: Synthesized) -> None:
    architecture = architecture_from_template(bring_your_own.template_json)
    node_ids = {node.id for node in architecture.nodes}

    assert PROVIDER not in node_ids
    existing = {target for (source, target), label in edges(architecture).items() if label.startswith("Put")}
    assert existing
    assert all(target.startswith("existing_") for target in existing)


def test_architecture_default_stack_bulk_path_from_template(default: Synthesized) -> None:
    architecture = architecture_from_template(default.template_json)
    nodes = {node.id: node for node in architecture.nodes}
    found = {(edge.source, edge.target): edge for edge in architecture.edges}

    assert {nodes[node].cluster for node in (IMPORT_BUCKET, SPILL_WORKFLOW, SPILL_CHECK)} == {BULK_PATH}
    assert "every 1 minute (EventBridge)" in nodes[SPILL_CHECK].label
    assert "spill.handler.check" in nodes[SPILL_CHECK].label
    assert "spill.handler.step" in nodes[SPILL_WORKFLOW].label
    assert found[SPILL_CHECK, SPILL_WORKFLOW].label == "starts (deep backlog)"
    assert found[SPILL_WORKFLOW, INGEST_QUEUE].label == "pauses mapping, drains"
    assert found[SPILL_WORKFLOW, IMPORT_BUCKET].label == "CSV parts"
    assert found[BACKFILL, IMPORT_BUCKET].label == "CSV parts"
    assert "ImportBucketName" in nodes[BACKFILL].label
    (imports,) = [edge for edge in architecture.edges if edge.source == IMPORT_BUCKET]
    assert (imports.label, imports.to_cluster) == ("import jobs", PERSONALIZE_CLUSTER)
    assert found[SPILL_WORKFLOW, CLOUDWATCH].dashed
    # The provider's waiter is part of the provider's box, not a second workflow.
    assert "Step Functions waiter" in nodes[PROVIDER].label


def test_architecture_existing_datasets_spill_imports_into_them(bring_your_own: Synthesized) -> None:
    architecture = architecture_from_template(bring_your_own.template_json)
    found = edges(architecture)

    assert found[SPILL_CHECK, SPILL_WORKFLOW] == "starts (deep backlog)"
    (target,) = [target for source, target in found if source == IMPORT_BUCKET]
    assert target.startswith("existing_")


def test_architecture_fifo_no_spill_bucket_and_backfill_only(fifo: Synthesized) -> None:
    architecture = architecture_from_template(fifo.template_json)
    bulk = {node.id for node in architecture.nodes if node.cluster == BULK_PATH}

    assert bulk == {IMPORT_BUCKET}
    assert (BACKFILL, IMPORT_BUCKET) in edges(architecture)


def test_to_dot_same_architecture_same_text(default: Synthesized) -> None:
    first = to_dot(architecture_from_template(default.template_json))

    assert to_dot(architecture_from_template(default.template_json)) == first


def test_embedded_source_absent_from_an_svg_without_it(tmp_path: Path) -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><g class="node"><title>a</title></g></svg>'

    assert embedded_source(svg) is None
    assert drawn_node_ids(svg) == {"a"}
