"""The architecture as nodes and edges, read from the synthesized CloudFormation template.

Every node and edge comes from a resource or a reference in the template, never from a list kept by hand: the
queue with a redrive policy and its target, the event source mapping between the queue and the function it
invokes, what the function's IAM policy lets it write (Put* on datasets and trackers, SendMessage on the
dead-letter queue), the custom resources and the provider whose ServiceToken serves them, the alarms and the
dashboard with what they watch, and the topic the alarms notify; the bulk path (import bucket, spill workflow and
its scheduled check) is read by :mod:`tools.architecture.bulk`. Only the upstream publishers, who live outside the
stack, are a fixed node. The parts themselves are in :mod:`tools.architecture.model`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Final

from contract import (
    DATASET_GROUP_RESOURCE_TYPE,
    DATASET_RESOURCE_TYPE,
    EVENT_TRACKER_RESOURCE_TYPE,
    KIND_SPECS,
    METRICS_NAMESPACE,
    POWERTOOLS_METRICS_NAMESPACE,
    SCHEMA_RESOURCE_TYPE,
)
from tools.architecture.bulk import read_bulk_path, waiter_ids
from tools.architecture.model import (
    CLOUDWATCH,
    DEAD_LETTER_QUEUE,
    EXTERNAL,
    FUNCTION,
    INGEST_FUNCTION,
    INGEST_QUEUE,
    INGESTION,
    MONITORING,
    MONITORING_CLUSTER,
    NOTIFICATION,
    PERSONALIZE,
    PERSONALIZE_CLUSTER,
    PROVIDER,
    PROVISIONING,
    PUBLISHERS,
    QUEUE,
    SPILL_CHECK,
    SPILL_WORKFLOW,
    Architecture,
    ArchitectureError,
    Cluster,
    Edge,
    Node,
    Resource,
    TemplateReader,
    as_list,
    function_label,
    references,
    slug,
)

_CUSTOM_RESOURCE_TYPES: Final = frozenset(
    {SCHEMA_RESOURCE_TYPE, DATASET_GROUP_RESOURCE_TYPE, DATASET_RESOURCE_TYPE, EVENT_TRACKER_RESOURCE_TYPE}
)
_PUT_ACTION: Final = re.compile(r"^personalize:(Put\w+)$")
_SECONDS_PER_DAY: Final = 86_400
# The drawn nodes whose metrics the alarms and the dashboard read.
_MEASURED: Final = frozenset({INGEST_QUEUE, DEAD_LETTER_QUEUE, INGEST_FUNCTION, SPILL_WORKFLOW, SPILL_CHECK})


def architecture_from_template(template: Mapping[str, Any]) -> Architecture:
    """Read the architecture from a synthesized template (the stack's ``template.json`` as a dict).

    Raises
    ------
    ArchitectureError
        No single ingest queue (the queue with a redrive policy), or no function its event source mapping invokes.
    """
    return _Reader(template["Resources"], template.get("Outputs", {})).read()


class _Reader(TemplateReader):
    def read(self) -> Architecture:
        queue_id, function_id = self._ingestion()
        self._personalize()
        self._writes(function_id)
        self._provisioning()
        read_bulk_path(self, queue_id, self.outputs)
        self._monitoring(function_id)
        return self.architecture()

    # --- the records' path --------------------------------------------------------------------------------

    def _ingestion(self) -> tuple[str, str]:
        queues = dict(self.of_type("AWS::SQS::Queue"))
        ingest = [(qid, q) for qid, q in queues.items() if "RedrivePolicy" in q.get("Properties", {})]
        if len(ingest) != 1:
            raise ArchitectureError(f"expected one queue with a redrive policy, found {len(ingest)}")
        queue_id, queue = ingest[0]
        props = queue["Properties"]
        redrive = props["RedrivePolicy"]
        (dlq_id,) = references(redrive["deadLetterTargetArn"])
        self.add_cluster(Cluster(INGESTION, "Ingestion"))
        self.add_node(None, Node(PUBLISHERS, "Upstream publishers\n(services, SNS, EventBridge)", EXTERNAL))
        self.add_node(queue_id, Node(INGEST_QUEUE, _queue_label("Ingest queue", props), QUEUE, INGESTION))
        self.add_node(
            dlq_id, Node(DEAD_LETTER_QUEUE, _queue_label("Dead-letter queue", queues[dlq_id]["Properties"]), QUEUE)
        )
        self.edges.add(Edge(PUBLISHERS, INGEST_QUEUE, "SendMessage(Batch)\none change per message"))
        self.edges.add(
            Edge(INGEST_QUEUE, DEAD_LETTER_QUEUE, f"redrive policy\nafter {redrive['maxReceiveCount']} receives", True)
        )
        mappings = [
            (mid, m)
            for mid, m in self.of_type("AWS::Lambda::EventSourceMapping")
            if queue_id in references(m["Properties"])
        ]
        if len(mappings) != 1:
            raise ArchitectureError(f"expected one event source mapping on the ingest queue, found {len(mappings)}")
        mapping_id, mapping_resource = mappings[0]
        mapping = mapping_resource["Properties"]
        self.shown.add(mapping_id)
        (function_id,) = references(mapping["FunctionName"])
        function = self.resources[function_id]["Properties"]
        self.add_node(
            function_id, Node(INGEST_FUNCTION, function_label("Ingest Lambda", function), FUNCTION, INGESTION)
        )
        self.edges.add(Edge(INGEST_QUEUE, INGEST_FUNCTION, _mapping_label(mapping)))
        return queue_id, function_id

    def _personalize(self) -> None:
        self.add_cluster(Cluster(PERSONALIZE_CLUSTER, "Amazon Personalize"))
        for group_id, group in self.of_type(DATASET_GROUP_RESOURCE_TYPE):
            cluster = f"dataset_group_{slug(group['Properties']['Name'])}"
            self.add_cluster(Cluster(cluster, f"Dataset group {group['Properties']['Name']}", PERSONALIZE_CLUSTER))
            self.node_of[group_id] = cluster
        for schema_id, schema in self.of_type(SCHEMA_RESOURCE_TYPE):
            name = schema["Properties"]["Name"]
            self.add_node(schema_id, Node(f"schema_{slug(name)}", f"Schema\n{name}", PERSONALIZE, PERSONALIZE_CLUSTER))
        for dataset_id, dataset in self.of_type(DATASET_RESOURCE_TYPE):
            props = dataset["Properties"]
            dataset_type = str(props["DatasetType"])
            node = Node(
                f"dataset_{dataset_type.lower()}",
                f"{dataset_type.replace('_', ' ').title()} dataset",
                PERSONALIZE,
                self._group_cluster(props),
            )
            self.add_node(dataset_id, node)
        for tracker_id, tracker in self.of_type(EVENT_TRACKER_RESOURCE_TYPE):
            name = tracker["Properties"]["Name"]
            node = Node(
                f"tracker_{slug(name)}",
                f"Event tracker\n{name}",
                PERSONALIZE,
                self._group_cluster(tracker["Properties"]),
            )
            self.add_node(tracker_id, node)
        for dataset_id, dataset in self.of_type(DATASET_RESOURCE_TYPE):
            for schema_id in references(dataset["Properties"].get("SchemaArn")):
                if schema_id in self.node_of:
                    self.edges.add(Edge(self.node_of[dataset_id], self.node_of[schema_id], "schema", True))

    def _group_cluster(self, props: Resource) -> str:
        for group_id in sorted(references(props.get("DatasetGroupArn"))):
            if group_id in self.node_of:
                return self.node_of[group_id]
        return PERSONALIZE_CLUSTER

    def _writes(self, function_id: str) -> None:
        """The function's writes: each Put* its IAM policy grants, to the target its environment names (docs/
        contracts.md §2; PutEvents and PutActionInteractions take no resource-level permission, so the policy alone
        cannot say where they go), and SendMessage to the dead-letter queue."""
        function = self.resources[function_id]["Properties"]
        granted: set[str] = set()
        labels: dict[str, set[str]] = defaultdict(set)
        for statement in self.statements(references(function["Role"])):
            for action in as_list(statement.get("Action")):
                put = _PUT_ACTION.match(str(action))
                if put:
                    granted.add(put.group(1))
                elif action == "sqs:SendMessage":
                    for resource in as_list(statement.get("Resource")):
                        if self._target(resource, "") == DEAD_LETTER_QUEUE:
                            labels[DEAD_LETTER_QUEUE].add("dead letters\n(SendMessage)")
        environment = function.get("Environment", {}).get("Variables", {})
        for spec in KIND_SPECS.values():
            value = environment.get(spec.target_env)
            target = self._target(value, spec.target_field) if value is not None else None
            if spec.api in granted and target is not None:
                labels[target].add(spec.api)
        for target, names in labels.items():
            self.edges.add(Edge(INGEST_FUNCTION, target, "\n".join(sorted(names))))

    def _target(self, value: Any, target_field: str) -> str | None:
        """The node ``value`` names: a drawn resource, or an existing dataset (ARN) or tracking id given as is."""
        for logical_id in sorted(references(value)):
            if logical_id in self.node_of:
                return self.node_of[logical_id]
        if not isinstance(value, str) or not target_field:
            return None
        name = value.rsplit(":", 1)[-1] if value.startswith("arn:") else value
        what = "dataset" if value.startswith("arn:") else "tracking id"
        node = Node(f"existing_{slug(name)}", f"Existing {what}\n{name}", PERSONALIZE, PERSONALIZE_CLUSTER)
        self.add_node(None, node)
        return node.id

    # --- provisioning and monitoring ------------------------------------------------------------------------

    def _provisioning(self) -> None:
        custom = [(lid, r) for lid, r in sorted(self.resources.items()) if r.get("Type") in _CUSTOM_RESOURCE_TYPES]
        tokens = sorted({fid for _, r in custom for fid in references(r["Properties"].get("ServiceToken"))})
        if not tokens:
            return  # existing datasets only: nothing is provisioned
        framework = self.resources[tokens[0]]["Properties"]
        variables = framework.get("Environment", {}).get("Variables", {})
        handler_ids = sorted(
            fid
            for name, value in variables.items()
            if name.startswith("USER_")
            for fid in references(value)
            if self.resources[fid].get("Type") == "AWS::Lambda::Function"
        )
        handlers = sorted(str(self.resources[fid]["Properties"].get("Handler")) for fid in handler_ids)
        waiters = [rid for rid in waiter_ids(self.resources) if rid in references(variables)]
        waiter = bool(waiters)
        # The handlers are named in the provider's label; the waiter and the framework functions its steps run
        # (isComplete, onTimeout) are the "+ Step Functions waiter".
        self.shown.update(handler_ids, waiters)
        for waiter_id in waiters:
            self.shown.update(references(self.resources[waiter_id]["Properties"].get("DefinitionString")))
        lines = ["Provisioning Lambdas", *handlers, "CDK Provider" + (" + Step Functions waiter" if waiter else "")]
        self.add_cluster(Cluster(PROVISIONING, "CloudFormation custom resources"))
        self.add_node(tokens[0], Node(PROVIDER, "\n".join(lines), FUNCTION, PROVISIONING))
        kinds = sorted({str(r["Type"]).removeprefix("Custom::Personalize").lower() for _, r in custom})
        first = min(
            (self.nodes[self.node_of[lid]] for lid, _ in custom if self.node_of.get(lid) in self.nodes),
            key=lambda node: node.id,
        )
        self.edges.add(
            Edge(PROVIDER, first.id, "create / update / delete\n" + ", ".join(kinds), to_cluster=PERSONALIZE_CLUSTER)
        )

    def _monitoring(self, function_id: str) -> None:
        alarms = list(self.of_type("AWS::CloudWatch::Alarm"))
        dashboards = list(self.of_type("AWS::CloudWatch::Dashboard"))
        if not alarms and not dashboards:
            return
        self.add_cluster(Cluster(MONITORING_CLUSTER, "Monitoring"))
        self.shown.update(lid for lid, _ in (*alarms, *dashboards))
        names = sorted(_alarm_name(alarm_id, alarm["Properties"]) for alarm_id, alarm in alarms)
        lines = ["CloudWatch", f"dashboard, {len(alarms)} alarms:" if dashboards else f"{len(alarms)} alarms:", *names]
        self.add_node(None, Node(CLOUDWATCH, "\n".join(lines), MONITORING, MONITORING_CLUSTER))
        watched = set().union(*(references(r["Properties"]) for _, r in (*alarms, *dashboards)))
        function_env = self.resources[function_id]["Properties"].get("Environment", {}).get("Variables", {})
        namespace = function_env.get(POWERTOOLS_METRICS_NAMESPACE)
        for logical_id in sorted(watched):
            node_id = self.node_of.get(logical_id)
            if node_id in _MEASURED:
                label = "metrics"
                if node_id == INGEST_FUNCTION and namespace == METRICS_NAMESPACE:
                    label = f"metrics, EMF ({namespace})"
                self.edges.add(Edge(str(node_id), CLOUDWATCH, label, True))
        topic_ids = sorted(set().union(*(references(a["Properties"].get("AlarmActions", [])) for _, a in alarms)))
        for topic_id in topic_ids:
            topic = self.resources.get(topic_id, {})
            if topic.get("Type") != "AWS::SNS::Topic":
                continue
            display = topic["Properties"].get("DisplayName", "alarms")
            node = Node(f"topic_{slug(display)}", f"SNS topic\n{display}", NOTIFICATION, MONITORING_CLUSTER)
            self.add_node(topic_id, node)
            self.edges.add(Edge(CLOUDWATCH, node.id, "alarm actions"))
            for subscription_id, subscription in self.of_type("AWS::SNS::Subscription"):
                props = subscription["Properties"]
                if topic_id in references(props.get("TopicArn")):
                    self.shown.add(subscription_id)
                    protocol = str(props.get("Protocol", "subscriber"))
                    self.add_node(None, Node(f"subscriber_{slug(protocol)}", f"On-call ({protocol})", EXTERNAL))
                    self.edges.add(Edge(node.id, f"subscriber_{slug(protocol)}", "notifies"))


def _queue_label(title: str, props: Resource) -> str:
    kind = "FIFO" if props.get("FifoQueue") else "standard"
    encrypted = props.get("SqsManagedSseEnabled") or "KmsMasterKeyId" in props
    retention_days = int(props.get("MessageRetentionPeriod", 345_600)) // _SECONDS_PER_DAY
    return f"{title}\nSQS {kind}{', encrypted' if encrypted else ''}\nkeeps messages {retention_days} days"


def _mapping_label(props: Resource) -> str:
    lines = ["event source mapping", f"batch {props.get('BatchSize', 10)}"]
    window = props.get("MaximumBatchingWindowInSeconds")
    if window:
        lines[-1] += f", window {window} s"
    concurrency = props.get("ScalingConfig", {}).get("MaximumConcurrency")
    if concurrency:
        lines.append(f"max concurrency {concurrency}")
    lines += [str(name) for name in props.get("FunctionResponseTypes", [])]
    return "\n".join(lines)


def _alarm_name(logical_id: str, props: Resource) -> str:
    """The alarm's name without the stack's prefix; an alarm CloudFormation names is shown by its logical id,
    without the hash CDK appends."""
    name = props.get("AlarmName")
    if isinstance(name, Mapping) and isinstance(name.get("Fn::Sub"), str):
        name = name["Fn::Sub"]
    if isinstance(name, str):
        return name.removeprefix("${AWS::StackName}-")
    return re.sub(r"[0-9A-F]{8}$", "", logical_id)
