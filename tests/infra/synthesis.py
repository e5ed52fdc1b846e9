"""Helpers of the infrastructure tests: synthesize the app the way ``cdk synth`` does, read the template.

Synthesis is slow (the first one in a process starts the jsii runtime, ~2 s), so every test module synthesizes
once, in a module-scoped fixture built with :func:`synthesize`, and its tests only read the result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template
from cfnlint.api import lint  # type: ignore[import-untyped]  # cfn-lint ships no type information
from cfnlint.config import ManualArgs  # type: ignore[import-untyped]
from cfnlint.helpers import REGIONS  # type: ignore[import-untyped]

from app import build_app
from stacks.config import PipelineConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Existing datasets, for the "bring your own dataset group" configuration.
ITEMS_ARN = "arn:aws:personalize:us-east-1:111122223333:dataset/personalize-ingest/ITEMS"
ACTIONS_ARN = "arn:aws:personalize:us-east-1:111122223333:dataset/personalize-ingest/ACTIONS"
BRING_YOUR_OWN = {"items": {"arn": ITEMS_ARN}, "actions": {"arn": ACTIONS_ARN}}
INGEST_HANDLER = "ingest.handler.lambda_handler"


def project_context(**overrides: object) -> dict[str, object]:
    """Return cdk.json's ``context`` (configuration and feature flags) with ``overrides`` applied, like ``-c``.

    An override of ``None`` removes the key (as if cdk.json did not have it).
    """
    context: dict[str, object] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    merged = {**context, **overrides}
    return {key: value for key, value in merged.items() if value is not None}


def bring_your_own_context(**overrides: object) -> dict[str, object]:
    """cdk.json's context with existing datasets instead of datasets the stack creates (and no dataset group)."""
    return project_context(**{"datasets": BRING_YOUR_OWN, "datasetGroup": None, **overrides})


@dataclass(frozen=True)
class Synthesized:
    """One synthesized app: its configuration, the stack's template and the cloud assembly directory."""

    config: PipelineConfig
    template: Template
    template_json: dict[str, Any]
    outdir: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource of ``resource_type`` (ids come from the template, never written in tests)."""
        return {
            logical_id: dict(resource) for logical_id, resource in self.template.find_resources(resource_type).items()
        }

    def only(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        """The one resource of ``resource_type``: its logical id and its Properties."""
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        (logical_id, resource), *_ = found.items()
        return logical_id, resource.get("Properties", {})

    def queues(self) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
        """The ingest queue (the one with a redrive policy) and its dead-letter queue: ids and Properties."""
        queues = self.resources("AWS::SQS::Queue")
        ingest = [(qid, q["Properties"]) for qid, q in queues.items() if "RedrivePolicy" in q["Properties"]]
        assert len(ingest) == 1, f"expected one queue with a redrive policy, found {len(ingest)}"
        ingest_id, ingest_props = ingest[0]
        dlq_id = ingest_props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        return ingest_id, ingest_props, dlq_id, queues[dlq_id]["Properties"]

    def function(self, handler: str) -> tuple[str, dict[str, Any]]:
        """The one Lambda function running ``handler``: its logical id and its Properties."""
        found = [
            (function_id, function["Properties"])
            for function_id, function in self.resources("AWS::Lambda::Function").items()
            if function["Properties"].get("Handler") == handler
        ]
        assert len(found) == 1, f"expected one function running {handler}, found {[fid for fid, _ in found]}"
        return found[0]

    def ingest_function(self) -> tuple[str, dict[str, Any]]:
        """The ingest Lambda: its logical id and its Properties."""
        return self.function(INGEST_HANDLER)

    def state_machine_invoking(self, function_id: str) -> tuple[str, dict[str, Any]]:
        """The one state machine whose definition invokes ``function_id``: its logical id and its Properties."""
        found = [
            (machine_id, machine["Properties"])
            for machine_id, machine in self.resources("AWS::StepFunctions::StateMachine").items()
            if f'"{function_id}"' in json.dumps(machine["Properties"]["DefinitionString"])
        ]
        assert len(found) == 1, f"expected one state machine invoking {function_id}, found {[m for m, _ in found]}"
        return found[0]

    def role_of(self, function_id: str) -> str:
        """The logical id of the role ``function_id`` runs with."""
        role: str = self.resources("AWS::Lambda::Function")[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        return role

    def statements(self, role_id: str | None = None) -> list[dict[str, Any]]:
        """The statements of every IAM policy in the template, or of the policies attached to ``role_id``."""
        documents = [
            policy["Properties"]["PolicyDocument"]
            for policy in self.resources("AWS::IAM::Policy").values()
            if role_id is None or {"Ref": role_id} in policy["Properties"].get("Roles", [])
        ]
        for role_logical_id, role in self.resources("AWS::IAM::Role").items():
            if role_id is None or role_logical_id == role_id:
                documents += [inline["PolicyDocument"] for inline in role["Properties"].get("Policies", [])]
        return [statement for document in documents for statement in document["Statement"]]

    def allowed(self, role_id: str | None = None) -> list[tuple[str, Any]]:
        """Every (action, resource) pair an Allow statement grants (in the template, or to ``role_id``)."""
        pairs: list[tuple[str, Any]] = []
        for statement in self.statements(role_id):
            assert statement["Effect"] == "Allow", f"unexpected statement {statement}"
            assert "NotAction" not in statement, statement
            assert "NotResource" not in statement, statement
            for action in _as_list(statement["Action"]):
                pairs += [(action, resource) for resource in _as_list(statement["Resource"])]
        return pairs

    def resources_of(self, action: str, role_id: str | None = None) -> list[Any]:
        """The resources ``action`` is allowed on (in the template, or to ``role_id``), sorted by JSON form."""
        return sorted((resource for granted, resource in self.allowed(role_id) if granted == action), key=json.dumps)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def synthesize(context: Mapping[str, object], outdir: Path) -> Synthesized:
    """Build and synthesize the app with ``context`` into ``outdir``, as ``cdk synth`` would (cdk-nag included).

    The template is read from the cloud assembly rather than with ``Template.from_stack``, which would
    synthesize a second time.
    """
    app = build_app(context, outdir=str(outdir))
    assembly = app.synth()
    (stack,) = assembly.stacks
    template_json: dict[str, Any] = stack.template
    return Synthesized(
        config=PipelineConfig.from_context(context),
        template=Template.from_json(template_json),
        template_json=template_json,
        outdir=outdir,
    )


def iter_violations(outdir: Path) -> Iterator[tuple[str, str, str]]:
    """(rule, severity, construct path) of every finding in the assembly's policy validation report."""
    report = json.loads((outdir / "validation-report.json").read_text())
    for plugin in report["pluginReports"]:
        for violation in plugin["violations"]:
            for construct in violation["violatingConstructs"]:
                yield violation["ruleName"], violation["severity"], construct["constructPath"]


def cfn_lint(template_json: Mapping[str, Any]) -> list[tuple[str, str]]:
    """cfn-lint's findings on a template: (logical id or section, message), every one a problem.

    Every region (the templates are region-agnostic), informational rules included. Experimental rules are left
    out: they are unstable by definition (cfn-lint 1.58's I4010 wants a non-standard "Context" metadata block).
    """
    matches = lint(json.dumps(template_json), config=ManualArgs(regions=REGIONS, include_checks=["I"]))
    return [(str(match.path[1]) if len(match.path) > 1 else "", str(match)) for match in matches]
