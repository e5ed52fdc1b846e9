"""docs/architecture.svg describes the stack: its embedded DOT is what the synthesized template gives today.

The comparison is on the DOT text the SVG carries (a deterministic description), not on pixels or on Graphviz's
layout, so it needs no Graphviz. When it fails, the stack changed: ``make diagram`` redraws the picture.
"""

from __future__ import annotations

from pathlib import Path

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
from tools.architecture.graph import (
    CLOUDWATCH,
    DEAD_LETTER_QUEUE,
    INGEST_FUNCTION,
    INGEST_QUEUE,
    PERSONALIZE_CLUSTER,
    PROVIDER,
    PUBLISHERS,
)

DIAGRAM = PROJECT_ROOT / "docs" / "architecture.svg"
DATASET_KINDS = [spec.config_key for spec in KIND_SPECS.values()]


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


def edges(architecture: Architecture) -> dict[tuple[str, str], str]:
    return {(edge.source, edge.target): edge.label for edge in architecture.edges}


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
        "batch 10",
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


def test_to_dot_same_architecture_same_text(default: Synthesized) -> None:
    first = to_dot(architecture_from_template(default.template_json))

    assert to_dot(architecture_from_template(default.template_json)) == first


def test_embedded_source_absent_from_an_svg_without_it(tmp_path: Path) -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><g class="node"><title>a</title></g></svg>'

    assert embedded_source(svg) is None
    assert drawn_node_ids(svg) == {"a"}
