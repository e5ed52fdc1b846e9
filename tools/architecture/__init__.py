"""The architecture diagram (docs/architecture.svg), drawn from the synthesized stack so it cannot drift from it.

``python -m tools.architecture`` synthesizes the app as ``cdk synth`` does (cdk.json's context), reads the nodes and
edges from the template (:mod:`tools.architecture.graph`, the bulk path in :mod:`tools.architecture.bulk`, the parts
in :mod:`tools.architecture.model`), and draws them with Graphviz (:mod:`tools.architecture.dot`); ``--check`` only
compares, for CI.
"""

from __future__ import annotations

from tools.architecture.dot import drawn_node_ids, embedded_source, render_svg, to_dot
from tools.architecture.graph import architecture_from_template
from tools.architecture.model import Architecture, ArchitectureError, Cluster, Edge, Node

__all__ = [
    "Architecture",
    "ArchitectureError",
    "Cluster",
    "Edge",
    "Node",
    "architecture_from_template",
    "drawn_node_ids",
    "embedded_source",
    "render_svg",
    "to_dot",
]
