"""``python -m tools.architecture [--check]``: draw docs/architecture.svg from the stack (``make diagram``).

Without ``--check`` it synthesizes the app with cdk.json's context and rewrites the SVG (Graphviz's ``dot``
needed). With ``--check`` it only tells whether the committed SVG still describes the stack (no Graphviz needed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from tools.architecture.dot import GraphvizMissingError, embedded_source, render_svg, to_dot
from tools.architecture.graph import architecture_from_template

PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]
DIAGRAM: Final = PROJECT_ROOT / "docs" / "architecture.svg"


def project_context() -> dict[str, Any]:
    """cdk.json's ``context``: what ``cdk synth`` and ``cdk deploy`` use without ``-c`` overrides."""
    context: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    return context


def synthesize_template(context: Mapping[str, object]) -> dict[str, Any]:
    """Build the app as app.py does and return the stack's template (no AWS calls; a few seconds for jsii)."""
    # Before aws_cdk starts its Node.js runtime (the Makefile exports the same for the CLI).
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
    from app import build_app  # noqa: PLC0415 - aws_cdk loads only once the variables above are set

    with tempfile.TemporaryDirectory(prefix="architecture-synth-") as outdir:
        (stack,) = build_app(context, outdir=outdir).synth().stacks
        template: dict[str, Any] = stack.template
    return template


def main(argv: Sequence[str] | None = None) -> int:
    """Draw (or ``--check``) the diagram; 0 when written or up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=DIAGRAM, help=f"the SVG (default {DIAGRAM})")
    parser.add_argument("--check", action="store_true", help="only compare the SVG with the stack; 1 if stale")
    args = parser.parse_args(argv)
    dot_text = to_dot(architecture_from_template(synthesize_template(project_context())))
    if args.check:
        committed = embedded_source(args.output.read_text()) if args.output.is_file() else None
        if committed != dot_text:
            print(f"{args.output} does not describe the stack any more: run 'make diagram'", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    try:
        args.output.write_text(render_svg(dot_text))
    except GraphvizMissingError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
