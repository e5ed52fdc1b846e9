"""The architecture as Graphviz DOT, drawn to SVG by ``dot``, with the DOT source kept inside the SVG.

The DOT text is the diagram's deterministic description: the SVG carries it in ``<metadata id="architecture-dot">``,
so a test can compare the committed picture with a fresh reading of the template without Graphviz installed, and
without comparing pixels or Graphviz's version-dependent layout.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from typing import Final
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from tools.architecture.model import (
    EXTERNAL,
    FUNCTION,
    MONITORING,
    NOTIFICATION,
    PERSONALIZE,
    QUEUE,
    STORAGE,
    WORKFLOW,
    Architecture,
    Cluster,
    Node,
)

METADATA_ID: Final = "architecture-dot"
_SVG_NAMESPACE: Final = "http://www.w3.org/2000/svg"
_FONT: Final = "DejaVu Sans"
# Fill and border per kind, light versions of the AWS service colours so the text stays readable.
_COLOURS: Final[Mapping[str, tuple[str, str]]] = {
    QUEUE: ("#fde3ee", "#c7125f"),  # SQS
    FUNCTION: ("#fdebd3", "#c25b00"),  # Lambda
    PERSONALIZE: ("#d5f2ec", "#017a66"),  # Personalize (machine learning)
    MONITORING: ("#fbe0ee", "#b0135f"),  # CloudWatch
    NOTIFICATION: ("#fbe0ee", "#b0135f"),  # SNS
    STORAGE: ("#e2f1d8", "#3b7d23"),  # S3
    WORKFLOW: ("#ece3f8", "#6b3fa0"),  # Step Functions, apart from the queues' pink
    EXTERNAL: ("#eeeeee", "#555555"),
}
_CLUSTER_FILL: Final = "#f7f7f7"


class GraphvizMissingError(RuntimeError):
    """Graphviz's ``dot`` is not installed (Debian package ``graphviz``)."""


def to_dot(architecture: Architecture) -> str:
    """Return the DOT text of ``architecture``: the same architecture always gives the same text."""
    lines = [
        "digraph architecture {",
        f'  graph [rankdir=TB, compound=true, newrank=true, fontname="{_FONT}", fontsize=13, nodesep=0.35, '
        "ranksep=0.9, labeljust=l, pad=0.3];",
        f'  node [shape=box, style="rounded,filled", fontname="{_FONT}", fontsize=11, margin="0.15,0.08"];',
        f'  edge [fontname="{_FONT}", fontsize=9, color="#555555", fontcolor="#333333"];',
    ]
    children: dict[str | None, list[Cluster]] = {}
    for cluster in architecture.clusters:
        children.setdefault(cluster.parent, []).append(cluster)
    members: dict[str | None, list[Node]] = {}
    for node in architecture.nodes:
        members.setdefault(node.cluster, []).append(node)

    def emit(cluster_id: str | None, indent: str) -> None:
        for node in members.get(cluster_id, []):
            fill, border = _COLOURS.get(node.kind, _COLOURS[EXTERNAL])
            lines.append(
                f'{indent}{_quote(node.id)} [label={_quote(node.label)}, fillcolor="{fill}", color="{border}"];'
            )
        for child in children.get(cluster_id, []):
            lines.append(f"{indent}subgraph {_quote('cluster_' + child.id)} {{")
            lines.append(
                f'{indent}  label={_quote(child.label)}; style="rounded,filled"; fillcolor="{_CLUSTER_FILL}"; '
                'color="#bbbbbb";'
            )
            emit(child.id, indent + "  ")
            lines.append(f"{indent}}}")

    emit(None, "  ")
    for edge in architecture.edges:
        attributes = [f"label={_quote(edge.label)}"]
        if edge.dashed:
            attributes.append("style=dashed")
        if edge.to_cluster:
            attributes.append(f"lhead={_quote('cluster_' + edge.to_cluster)}")
        lines.append(f"  {_quote(edge.source)} -> {_quote(edge.target)} [{', '.join(attributes)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_svg(dot_text: str, *, dot_executable: str | None = None) -> str:
    """Draw ``dot_text`` with Graphviz and return the SVG, with ``dot_text`` embedded as its metadata.

    Raises
    ------
    GraphvizMissingError
        ``dot`` is not on PATH.
    subprocess.CalledProcessError
        ``dot`` rejected the text.
    """
    executable = dot_executable or shutil.which("dot")
    if executable is None:
        raise GraphvizMissingError("Graphviz's 'dot' is needed to draw the diagram: install Debian's 'graphviz'")
    completed = subprocess.run(  # noqa: S603 - Graphviz on text this module wrote
        [executable, "-Tsvg"], input=dot_text, capture_output=True, text=True, check=True
    )
    return embed_source(completed.stdout, dot_text)


def embed_source(svg: str, dot_text: str) -> str:
    """Return ``svg`` with ``dot_text`` in a ``<metadata>`` element right after the root ``<svg>`` tag."""
    start = svg.index("<svg")
    end = svg.index(">", start) + 1
    metadata = f'\n<metadata id="{METADATA_ID}">{escape(dot_text)}</metadata>'
    return svg[:end] + metadata + svg[end:]


def embedded_source(svg: str) -> str | None:
    """Return the DOT text an SVG written by :func:`render_svg` carries, or ``None``."""
    root = ElementTree.fromstring(svg.encode())  # noqa: S314 - the project's own SVG
    for element in root.iter(f"{{{_SVG_NAMESPACE}}}metadata"):
        if element.get("id") == METADATA_ID:
            return element.text or ""
    return None


def drawn_node_ids(svg: str) -> set[str]:
    """The node ids Graphviz drew (each node is a ``<g class="node">`` whose ``<title>`` is its id)."""
    root = ElementTree.fromstring(svg.encode())  # noqa: S314 - the project's own SVG
    found: set[str] = set()
    for group in root.iter(f"{{{_SVG_NAMESPACE}}}g"):
        if group.get("class") == "node":
            title = group.find(f"{{{_SVG_NAMESPACE}}}title")
            if title is not None and title.text:
                found.add(title.text)
    return found


def _quote(text: str) -> str:
    """A DOT string; ``\\n`` in a label is DOT's own line break, so only quotes and backslashes need escaping."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
