"""What the diagram is made of (clusters, nodes, edges) and the template reading every part of it shares.

Node ids are semantic (``ingest_queue``, ``dataset_items``), not logical ids, so a construct's rename does not
change the picture while a change of what is deployed does. :class:`TemplateReader` keeps, beside the nodes, which
resources the picture accounts for, so that a test can tell a resource the diagram has never heard of.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

Resource = Mapping[str, Any]

# Node kinds: the diagram colours each like its AWS service.
QUEUE: Final = "queue"
FUNCTION: Final = "function"
PERSONALIZE: Final = "personalize"
MONITORING: Final = "monitoring"
NOTIFICATION: Final = "notification"
STORAGE: Final = "storage"
WORKFLOW: Final = "workflow"
EXTERNAL: Final = "external"

# Clusters (Graphviz subgraphs), and the one the dataset group's members sit in.
INGESTION: Final = "ingestion"
PERSONALIZE_CLUSTER: Final = "personalize"
PROVISIONING: Final = "provisioning"
MONITORING_CLUSTER: Final = "monitoring"
BULK_PATH: Final = "bulk_path"

PUBLISHERS: Final = "publishers"
INGEST_QUEUE: Final = "ingest_queue"
DEAD_LETTER_QUEUE: Final = "dead_letter_queue"
INGEST_FUNCTION: Final = "ingest_function"
PROVIDER: Final = "provider"
CLOUDWATCH: Final = "cloudwatch"
IMPORT_BUCKET: Final = "import_bucket"
SPILL_WORKFLOW: Final = "spill_workflow"
SPILL_CHECK: Final = "spill_check"
BACKFILL: Final = "backfill"


class ArchitectureError(ValueError):
    """The template lacks what every deployment of the stack has (one ingest queue, its function...)."""


@dataclass(frozen=True, order=True, slots=True)
class Cluster:
    """A box around nodes: ``parent`` nests it in another cluster."""

    id: str
    label: str
    parent: str | None = None


@dataclass(frozen=True, order=True, slots=True)
class Node:
    """One box of the diagram; ``label`` lines are separated by ``\\n``."""

    id: str
    label: str
    kind: str
    cluster: str | None = None


@dataclass(frozen=True, order=True, slots=True)
class Edge:
    """One arrow; ``dashed`` for what is not the records' path (redrive, metrics); ``to_cluster`` clips it there."""

    source: str
    target: str
    label: str
    dashed: bool = False
    to_cluster: str | None = None


@dataclass(frozen=True, slots=True)
class Architecture:
    """The diagram's content, sorted, so that the same template always gives the same description.

    ``drawn`` holds the logical ids of the resources the picture shows, as a box, an arrow or a line of a label
    (the event source mapping, the schedule, the alarms): a resource outside it is one the diagram leaves out.
    """

    clusters: tuple[Cluster, ...]
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    drawn: frozenset[str] = frozenset()


def references(value: Any) -> set[str]:
    """Every logical id ``value`` names through ``Ref`` or ``Fn::GetAtt`` (pseudo parameters left out)."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str) and not inner.startswith("AWS::"):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".", 1)[0]
                found.add(str(target))
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found


class TemplateReader:
    """The diagram being read from one template's ``Resources``: what each part of the reading adds to."""

    def __init__(self, resources: Mapping[str, Resource], outputs: Mapping[str, Resource] | None = None) -> None:
        self.resources = resources
        self.outputs: Mapping[str, Resource] = outputs or {}
        self.clusters: dict[str, Cluster] = {}
        self.nodes: dict[str, Node] = {}
        self.edges: set[Edge] = set()
        # Logical id -> node id, for the resources the diagram draws as boxes (or as a cluster).
        self.node_of: dict[str, str] = {}
        # Logical ids of the resources drawn otherwise: as an arrow or as a line of a label.
        self.shown: set[str] = set()

    def architecture(self) -> Architecture:
        return Architecture(
            clusters=tuple(sorted(self.clusters.values())),
            nodes=tuple(sorted(self.nodes.values())),
            edges=tuple(sorted(self.edges)),
            drawn=frozenset(self.node_of) | frozenset(self.shown),
        )

    def of_type(self, resource_type: str) -> Iterator[tuple[str, Resource]]:
        for logical_id in sorted(self.resources):
            resource = self.resources[logical_id]
            if resource.get("Type") == resource_type:
                yield logical_id, resource

    def add_node(self, logical_id: str | None, node: Node) -> None:
        self.nodes[node.id] = node
        if logical_id is not None:
            self.node_of[logical_id] = node.id

    def add_cluster(self, cluster: Cluster) -> None:
        self.clusters[cluster.id] = cluster

    def statements(self, role_ids: set[str]) -> Iterator[Resource]:
        """The statements of the identity policies of ``role_ids`` (attached policies, then inline ones)."""
        for _, policy in self.of_type("AWS::IAM::Policy"):
            props = policy["Properties"]
            if role_ids & references(props.get("Roles", [])):
                yield from props["PolicyDocument"]["Statement"]
        for role_id in sorted(role_ids):
            for inline in self.resources[role_id]["Properties"].get("Policies", []):
                yield from inline["PolicyDocument"]["Statement"]

    def granted(self, function_id: str) -> Iterator[tuple[str, set[str]]]:
        """(action, logical ids its resources name) for every Allow statement of ``function_id``'s role."""
        role = self.resources[function_id]["Properties"]["Role"]
        for statement in self.statements(references(role)):
            if statement.get("Effect", "Allow") != "Allow":
                continue
            named = references(statement.get("Resource"))
            for action in as_list(statement.get("Action")):
                yield str(action), named


def function_label(title: str, props: Resource) -> str:
    return (
        f"{title}\n{props.get('Handler')}\n"
        f"{props.get('Runtime')}, {props.get('MemorySize', 128)} MB, timeout {props.get('Timeout', 3)} s"
    )


def slug(text: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
