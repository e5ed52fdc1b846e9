"""The bulk path, read from the template: the import bucket, the spill workflow and the check that starts it.

Each part is recognised by what the template says it does, not by its name:

- the **import bucket** is the S3 bucket whose bucket policy lets ``personalize.amazonaws.com`` read it (import
  jobs read their data from it: the edge into the Personalize cluster);
- the **spill workflow** is a Step Functions state machine that is not a custom resource provider's waiter, whose
  tasks are the Lambda functions its definition names;
- the **spill check** is the Lambda function an EventBridge rule targets, on the rule's schedule;
- the arrows are the IAM grants: the check may StartExecution the workflow; the workflow's steps may receive from
  the ingest queue and update its event source mapping (pause, drain), and write objects to the bucket;
- the **backfill command** is drawn when the template has the output the command finds the bucket by
  (``tools.backfill.targets.IMPORT_BUCKET_OUTPUT``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

from tools.architecture.model import (
    BACKFILL,
    BULK_PATH,
    EXTERNAL,
    FUNCTION,
    IMPORT_BUCKET,
    INGEST_QUEUE,
    PERSONALIZE_CLUSTER,
    SPILL_CHECK,
    SPILL_WORKFLOW,
    STORAGE,
    WORKFLOW,
    ArchitectureError,
    Cluster,
    Edge,
    Node,
    Resource,
    TemplateReader,
    as_list,
    references,
)
from tools.backfill.targets import IMPORT_BUCKET_OUTPUT

PERSONALIZE_PRINCIPAL: Final = "personalize.amazonaws.com"
_STATE_MACHINE: Final = "AWS::StepFunctions::StateMachine"
_FUNCTION: Final = "AWS::Lambda::Function"


def waiter_ids(resources: Mapping[str, Resource]) -> list[str]:
    """The state machines a custom resource provider waits with: named in the environment of a function that a
    custom resource's ServiceToken names (CDK's provider framework, ``WAITER_STATE_MACHINE_ARN``)."""
    providers = {
        fid
        for resource in resources.values()
        if "ServiceToken" in resource.get("Properties", {})
        for fid in references(resource["Properties"]["ServiceToken"])
    }
    named: set[str] = set()
    for fid in providers:
        named |= references(resources.get(fid, {}).get("Properties", {}).get("Environment"))
    return sorted(rid for rid in named if resources.get(rid, {}).get("Type") == _STATE_MACHINE)


def read_bulk_path(reader: TemplateReader, queue_id: str, outputs: Mapping[str, Any]) -> None:
    """Add the bulk path's cluster, nodes and edges to ``reader`` (nothing when the stack has no import bucket)."""
    bucket_id = _import_bucket(reader)
    if bucket_id is None:
        return
    reader.add_cluster(Cluster(BULK_PATH, "Bulk path"))
    bucket = reader.resources[bucket_id]["Properties"]
    reader.add_node(bucket_id, Node(IMPORT_BUCKET, _bucket_label(bucket), STORAGE, BULK_PATH))
    personalize = _personalize_entry(reader)
    if personalize is not None:
        reader.edges.add(Edge(IMPORT_BUCKET, personalize, "import jobs", to_cluster=PERSONALIZE_CLUSTER))
    for name, output in sorted(outputs.items()):
        if name == IMPORT_BUCKET_OUTPUT and bucket_id in references(output.get("Value")):
            reader.add_node(None, Node(BACKFILL, f"Backfill (command)\nfinds the bucket by\noutput {name}", EXTERNAL))
            reader.edges.add(Edge(BACKFILL, IMPORT_BUCKET, "CSV parts"))
    workflow = _spill_workflow(reader)
    if workflow is None:
        return
    workflow_id, step_ids = workflow
    mapping_ids = {
        mid for mid, m in reader.of_type("AWS::Lambda::EventSourceMapping") if queue_id in references(m["Properties"])
    }
    granted = {(action, named) for fid in step_ids for action, names in reader.granted(fid) for named in names}
    if ("sqs:ReceiveMessage", queue_id) in granted:
        pauses = any(("lambda:UpdateEventSourceMapping", mid) in granted for mid in mapping_ids)
        reader.edges.add(Edge(SPILL_WORKFLOW, INGEST_QUEUE, "pauses mapping, drains" if pauses else "drains"))
    if ("s3:PutObject", bucket_id) in granted:
        reader.edges.add(Edge(SPILL_WORKFLOW, IMPORT_BUCKET, "CSV parts"))
    for rule_id, function_id, schedule in _scheduled_functions(reader):
        starts = any(
            action == "states:StartExecution" and workflow_id in names for action, names in reader.granted(function_id)
        )
        if not starts:
            continue
        reader.shown.add(rule_id)
        props = reader.resources[function_id]["Properties"]
        label = f"Spill check Lambda\n{props.get('Handler')}\n{schedule} (EventBridge)"
        reader.add_node(function_id, Node(SPILL_CHECK, label, FUNCTION, BULK_PATH))
        reader.edges.add(Edge(SPILL_CHECK, SPILL_WORKFLOW, "starts (deep backlog)"))


def _import_bucket(reader: TemplateReader) -> str | None:
    """The bucket whose policy allows the Personalize service principal; ``None`` when there is none."""
    found: set[str] = set()
    for _, policy in reader.of_type("AWS::S3::BucketPolicy"):
        props = policy["Properties"]
        for statement in props["PolicyDocument"]["Statement"]:
            principal = statement.get("Principal", {})
            services = as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
            if statement.get("Effect") == "Allow" and PERSONALIZE_PRINCIPAL in services:
                found |= references(props["Bucket"])
    if len(found) > 1:
        raise ArchitectureError(f"expected one bucket Personalize reads, found {sorted(found)}")
    return next(iter(found), None)


def _bucket_label(props: Resource) -> str:
    rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    algorithms = {rule.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for rule in rules}
    encryption = "SSE-S3" if algorithms == {"AES256"} else "SSE-KMS" if algorithms else "unencrypted"
    lines = ["Import bucket", f"S3, {encryption}"]
    expiry = [
        rule["ExpirationInDays"]
        for rule in props.get("LifecycleConfiguration", {}).get("Rules", [])
        if rule.get("Status") == "Enabled" and "ExpirationInDays" in rule
    ]
    if expiry:
        lines.append(f"objects expire after {min(expiry)} days")
    return "\n".join(lines)


def _personalize_entry(reader: TemplateReader) -> str | None:
    """A node inside the Personalize cluster (or a dataset group within it) for an arrow clipped at its border."""
    inside = {PERSONALIZE_CLUSTER} | {c.id for c in reader.clusters.values() if c.parent == PERSONALIZE_CLUSTER}
    return min((node.id for node in reader.nodes.values() if node.cluster in inside), default=None)


def _spill_workflow(reader: TemplateReader) -> tuple[str, list[str]] | None:
    """The state machine that is no provider's waiter, and the functions its tasks invoke (drawn in its label)."""
    waiters = set(waiter_ids(reader.resources))
    machines = [(mid, m) for mid, m in reader.of_type(_STATE_MACHINE) if mid not in waiters]
    if not machines:
        return None
    if len(machines) > 1:
        found = [mid for mid, _ in machines]
        raise ArchitectureError(f"expected one workflow besides the provider's waiter, found {found}")
    machine_id, machine = machines[0]
    definition = machine["Properties"]["DefinitionString"]
    step_ids = sorted(fid for fid in references(definition) if reader.resources.get(fid, {}).get("Type") == _FUNCTION)
    handlers = sorted({str(reader.resources[fid]["Properties"].get("Handler")) for fid in step_ids})
    states = _definition(definition).get("States", {})
    tasks = sum(1 for state in states.values() if state.get("Type") == "Task")
    lines = ["Spill workflow", f"Step Functions, {len(states)} states", f"{tasks} tasks on {', '.join(handlers)}"]
    reader.add_node(machine_id, Node(SPILL_WORKFLOW, "\n".join(lines), WORKFLOW, BULK_PATH))
    reader.shown.update(step_ids)
    return machine_id, step_ids


def _definition(definition: Any) -> dict[str, Any]:
    """The state machine's definition as JSON, the references CloudFormation fills in left as placeholders."""
    if isinstance(definition, str):
        text = definition
    elif isinstance(definition, Mapping) and "Fn::Join" in definition:
        separator, parts = definition["Fn::Join"]
        text = str(separator).join(part if isinstance(part, str) else "reference" for part in parts)
    else:
        return {}
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def _scheduled_functions(reader: TemplateReader) -> Iterator[tuple[str, str, str]]:
    """(rule, Lambda function, schedule) for every scheduled EventBridge rule's Lambda target."""
    for rule_id, rule in reader.of_type("AWS::Events::Rule"):
        props = rule["Properties"]
        expression = props.get("ScheduleExpression")
        if not isinstance(expression, str):
            continue
        for target in props.get("Targets", []):
            for function_id in sorted(references(target.get("Arn"))):
                if reader.resources.get(function_id, {}).get("Type") == _FUNCTION:
                    yield rule_id, function_id, _schedule(expression)


def _schedule(expression: str) -> str:
    """``rate(1 minute)`` as ``every 1 minute``; a cron expression as it is."""
    if expression.startswith("rate(") and expression.endswith(")"):
        return "every " + expression.removeprefix("rate(").removesuffix(")")
    return expression
