"""The spill (docs/bulk.md, "The spill"): a scheduled check, a Step Functions workflow whose tasks are the spill's
Lambda steps (``lambdas/spill/``), its metrics on the dashboard and one alarm.

The workflow's states are built from ``spill.workflow.STATES`` (the table the local driver interprets too), so
the deployed definition and ``local/step_functions.py`` cannot drift apart; ``tests/infra/test_spill_workflow.py``
compares them on the synthesized definition.

Least privilege, per function:

- **steps**: receive, delete and change the visibility of the ingest queue's messages; send to the dead-letter
  queue; read and write ``spill/*`` of the import bucket (and list that prefix); DescribeDataset and DescribeSchema
  as the ingest function has them; CreateDatasetImportJob and DescribeDatasetImportJob on import jobs named
  ``spill-*`` (IAM authorizes the creation on the job, not on its dataset); ListDatasetImportJobs (no resource
  type in IAM: ``*``); ``iam:PassRole`` on the import role only, to Personalize only; Get/UpdateEventSourceMapping
  on the ingest function's mapping only.
- **check**: GetQueueAttributes on the ingest queue, ListExecutions and StartExecution on this state machine,
  Get/UpdateEventSourceMapping on the mapping (the guard).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Final

from aws_cdk import Acknowledgment, CfnResource, Duration, Fn, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct, IConstruct

import contract
from spill import workflow
from stacks.config import SPILL_AFTER_SECONDS, render_put_quotas
from stacks.ingest_pipeline import DatasetTarget
from stacks.lambda_packaging import ARCHITECTURE, RUNTIME, lambdas_asset, runtime_layer
from stacks.policy_dependency import depend_on_policy_only

# cdk.json's spillAfterSeconds default (stacks/config/settings.py), for a construct built without the config.
DEFAULT_SPILL_AFTER_SECONDS: Final = SPILL_AFTER_SECONDS.default
STEP_HANDLER: Final = "spill.handler.step"
CHECK_HANDLER: Final = "spill.handler.check"
# The drain works chunk by chunk within Lambda's 15 minutes and says when it needs another invocation.
STEP_TIMEOUT: Final = Duration.minutes(15)
JOB_PREFIX: Final = "spill-"
_RUNTIME_REASON: Final = (
    "The runtime is pinned to Python 3.13, the Python the tests run on, and the layer of Powertools and the AWS SDK "
    "is built for it; runtime, tests and layer are upgraded together, deliberately."
)


class SpillWorkflow(Construct):
    """The spill: the check every minute, the workflow, its functions, metrics widgets and alarm.

    Parameters
    ----------
    queue, dead_letter_queue, mapping
        The ingest queue, its dead-letter queue and the ingest function's event source mapping.
    function_timeout_seconds
        The ingest function's timeout: how long the drain waits after the pause (no batch outlives it).
    bucket, import_role
        The import bucket (parts go under ``spill/``) and the role import jobs read it with.
    datasets
        The pipeline's datasets (ARNs and the schemas the handler may describe).
    spill_after_seconds
        cdk.json's ``spillAfterSeconds``: spill when the queue would take longer than this through Put (0: never;
        then nothing of the spill is deployed but this construct's empty scope).
    put_quotas
        cdk.json's ``putQuotas``, which the ingest function paces to: the check is given the same ``PUT_QUOTAS``
        and estimates the drain at the slowest quota (``spill.estimate``); empty or ``None`` sets none (the
        contract's quotas).
    topic
        Where the alarm notifies.

    Attributes
    ----------
    state_machine, steps, check, alarm
        The workflow, its task function, the scheduled check and the alarm (None when disabled).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        mapping: lambda_.EventSourceMapping,
        function_timeout_seconds: int,
        bucket: s3.IBucket,
        import_role: iam.IRole,
        datasets: Sequence[DatasetTarget],
        topic: sns.ITopic,
        log_retention: logs.RetentionDays,
        spill_after_seconds: int = DEFAULT_SPILL_AFTER_SECONDS,
        put_quotas: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.state_machine: sfn.StateMachine | None = None
        self.alarm: cloudwatch.Alarm | None = None
        if spill_after_seconds <= 0:
            return
        stack = Stack.of(self)
        mapping_arn = mapping.event_source_mapping_arn
        environment = {
            contract.SPILL_QUEUE_URL: queue.queue_url,
            contract.DEAD_LETTER_QUEUE_URL: dead_letter_queue.queue_url,
            contract.SPILL_BUCKET: bucket.bucket_name,
            contract.SPILL_ROLE_ARN: import_role.role_arn,
            contract.SPILL_MAPPING_UUID: mapping.event_source_mapping_id,
            contract.SPILL_AFTER_SECONDS: str(spill_after_seconds),
            contract.SPILL_QUIET_SECONDS: str(function_timeout_seconds),
            **{dataset.kind.env_var: dataset.dataset_arn for dataset in datasets},
        }
        self.steps = self._function("Steps", STEP_HANDLER, environment, STEP_TIMEOUT, log_retention)
        steps_role = self.steps.role
        assert steps_role is not None
        queue.grant_consume_messages(steps_role)
        dead_letter_queue.grant_send_messages(steps_role)
        self._grant_bucket(steps_role, bucket)
        self._grant_personalize(steps_role, stack, datasets, import_role)
        self._grant_mapping(steps_role, mapping_arn)

        self.state_machine = self._state_machine(log_retention)
        self.check = self._function(
            "Check",
            CHECK_HANDLER,
            {
                **environment,
                contract.SPILL_STATE_MACHINE_ARN: self.state_machine.state_machine_arn,
                # Only the check estimates; the rendering is the ingest function's (stacks/ingest_pipeline.py).
                **({contract.PUT_QUOTAS: render_put_quotas(put_quotas)} if put_quotas else {}),
            },
            Duration.minutes(1),
            log_retention,
        )
        check_role = self.check.role
        assert check_role is not None
        queue.grant(check_role, "sqs:GetQueueAttributes")
        self.state_machine.grant_start_execution(check_role)
        check_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:ListExecutions"], resources=[self.state_machine.state_machine_arn])
        )
        self._grant_mapping(check_role, mapping_arn)
        events.Rule(
            self,
            "EveryMinute",
            description="Starts a spill when the ingest queue would take longer than spillAfterSeconds through Put",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[targets.LambdaFunction(self.check, retry_attempts=0)],
        )
        self.alarm = self._alarm(topic)
        # CDK builds ARNs and the definition as token concatenations (Fn::Join with an empty delimiter), which
        # cfn-lint's informational I1022 would rather see as Fn::Sub; they are CDK's own constructions.
        for construct in (steps_role, check_role, self.state_machine.role, self.state_machine):
            _ignore_join(construct)

    # --- functions -------------------------------------------------------------------------------------------------

    def _function(
        self,
        construct_id: str,
        handler: str,
        environment: Mapping[str, str],
        timeout: Duration,
        log_retention: logs.RetentionDays,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{construct_id}Logs", retention=log_retention)
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"The spill's {construct_id.lower()} function",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            construct_id,
            description=f"The spill of a deep ingest backlog into import jobs: {handler}",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=lambdas_asset(),
            layers=[runtime_layer(self)],
            timeout=timeout,
            memory_size=1024,
            environment=dict(environment),
            log_group=log_group,
            role=role,
        )
        Validations.of(function).acknowledge(Acknowledgment(id="AwsSolutions::AwsSolutions-L1", reason=_RUNTIME_REASON))
        depend_on_policy_only(function, role)
        return function

    def _grant_bucket(self, role: iam.IRole, bucket: s3.IBucket) -> None:
        spill_objects = Fn.sub("${Arn}/spill/*", {"Arn": bucket.bucket_arn})
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject", "s3:GetObject"], resources=[spill_objects])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["spill/*"]}},
            )
        )
        _acknowledge(
            role,
            f"Resource::{_objects_finding(bucket)}",
            "Parts are written and read under spill/ of the import bucket only.",
        )

    def _grant_personalize(
        self, role: iam.IRole, stack: Stack, datasets: Sequence[DatasetTarget], import_role: iam.IRole
    ) -> None:
        dataset_arns = [dataset.dataset_arn for dataset in datasets]
        jobs = stack.format_arn(service="personalize", resource="dataset-import-job", resource_name=f"{JOB_PREFIX}*")
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["personalize:DescribeDataset"], resources=dataset_arns)
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["personalize:DescribeSchema"], resources=sorted({dataset.schema_arn for dataset in datasets})
            )
        )
        # CreateDatasetImportJob is authorized on the job alone (Service Authorization Reference, Amazon
        # Personalize), not on the dataset the job writes to.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["personalize:CreateDatasetImportJob", "personalize:DescribeDatasetImportJob"],
                resources=[jobs],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["personalize:ListDatasetImportJobs"], resources=["*"])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[import_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "personalize.amazonaws.com"}},
            )
        )
        _acknowledge(
            role,
            "Resource::*",
            "personalize:ListDatasetImportJobs has no resource type in IAM (Service Authorization Reference, Amazon "
            "Personalize); the step lists a dataset's jobs to find its own by name before creating one.",
        )
        _acknowledge(
            role,
            "Resource::arn:<AWS::Partition>:personalize:<AWS::Region>:<AWS::AccountId>:dataset-import-job/spill-*",
            "Import jobs are named by the spill (spill-<window>-<type>-<n>); only those may be created and read.",
        )
        for dataset in datasets:
            if dataset.schema_arn_finding and dataset.schema_arn_reason:
                _acknowledge(role, f"Resource::{dataset.schema_arn_finding}", dataset.schema_arn_reason)

    def _grant_mapping(self, role: iam.IRole, mapping_arn: str) -> None:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"], resources=[mapping_arn]
            )
        )

    # --- the workflow --------------------------------------------------------------------------------------------

    def _state_machine(self, log_retention: logs.RetentionDays) -> sfn.StateMachine:
        built: dict[str, sfn.State] = {}
        for name, spec in workflow.STATES.items():
            built[name] = self._state(name, spec)
        for name, spec in workflow.STATES.items():
            state = built[name]
            if isinstance(state, sfn.Choice):
                for flag, target in spec.when:
                    state.when(sfn.Condition.boolean_equals(f"$.{flag}", True), built[target])
                assert spec.next is not None
                state.otherwise(built[spec.next])
            elif isinstance(state, (tasks.LambdaInvoke, sfn.Wait)) and spec.next is not None:
                state.next(built[spec.next])
            if isinstance(state, tasks.LambdaInvoke) and spec.catch:
                state.add_catch(built[workflow.RESUME_AFTER_FAILURE], result_path="$.error")
        log_group = logs.LogGroup(self, "WorkflowLogs", retention=log_retention)
        machine = sfn.StateMachine(
            self,
            "Workflow",
            comment="The spill: pause the stream, drain the ingest queue into import jobs, resume (docs/bulk.md)",
            definition_body=sfn.DefinitionBody.from_chainable(built[workflow.START]),
            timeout=Duration.seconds(workflow.TIMEOUT_SECONDS),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
        depend_on_policy_only(machine, machine.role)
        _acknowledge(
            machine.role,
            "Resource::*",
            "Step Functions' log delivery (logs:CreateLogDelivery and friends) and X-Ray tracing take no resource "
            "(CDK grants them on '*' for the logging and tracing the state machine has on).",
        )
        _acknowledge(
            machine.role,
            f"Resource::<{Stack.of(self).resolve(_logical_id(self.steps))}.Arn>:*",
            "lambda:InvokeFunction on the steps function and its versions (CDK's LambdaInvoke grant).",
        )
        return machine

    def _state(self, name: str, spec: workflow.State) -> sfn.State:
        if spec.type == "Task":
            task = tasks.LambdaInvoke(
                self,
                name,
                state_name=name,
                lambda_function=self.steps,
                payload=sfn.TaskInput.from_object({"step": spec.step, "state": sfn.JsonPath.object_at("$")}),
                payload_response_only=True,
                retry_on_service_exceptions=False,
            )
            task.add_retry(
                errors=["States.ALL"],
                max_attempts=workflow.RETRY_ATTEMPTS,
                interval=Duration.seconds(workflow.RETRY_INTERVAL_SECONDS),
                backoff_rate=2,
            )
            return task
        if spec.type == "Choice":
            return sfn.Choice(self, name, state_name=name)
        if spec.type == "Wait":
            return sfn.Wait(self, name, state_name=name, time=sfn.WaitTime.duration(Duration.seconds(spec.seconds)))
        if spec.type == "Succeed":
            return sfn.Succeed(self, name, state_name=name)
        return sfn.Fail(self, name, state_name=name, error="SpillFailed", cause="See the execution's error")

    # --- monitoring -----------------------------------------------------------------------------------------------

    def metric(self, name: contract.SpillMetric, statistic: str = "Sum") -> cloudwatch.Metric:
        """One of the spill's metrics (five-minute periods)."""
        return cloudwatch.Metric(
            namespace=contract.METRICS_NAMESPACE,
            metric_name=str(name),
            dimensions_map={"service": contract.SERVICE_NAME},
            statistic=statistic,
            period=Duration.minutes(5),
        )

    def _alarm(self, topic: sns.ITopic) -> cloudwatch.Alarm:
        """A failed or stuck spill: the workflow's own failures, timeouts and aborts (a stuck spill times out), a
        failed-spill metric, or a mapping the guard found paused."""
        assert self.state_machine is not None
        expression = cloudwatch.MathExpression(
            expression="failed + timedOut + aborted + spillsFailed + restored",
            using_metrics={
                "failed": self.state_machine.metric_failed(statistic="Sum"),
                "timedOut": self.state_machine.metric_timed_out(statistic="Sum"),
                "aborted": self.state_machine.metric_aborted(statistic="Sum"),
                "spillsFailed": self.metric(contract.SpillMetric.SPILLS_FAILED),
                "restored": self.metric(contract.SpillMetric.MAPPING_RESTORED),
            },
            period=Duration.minutes(5),
            label="Spills failed, timed out, aborted; mappings restored",
        )
        alarm = expression.create_alarm(
            self,
            "SpillFailed",
            # Named like the stack's other alarms (<stack>-<alarm>), so the paged person recognises it
            alarm_name=Fn.sub("${AWS::StackName}-SpillFailed"),
            alarm_description=(
                "A spill failed or got stuck, or the event source mapping was found paused: see the README, "
                "'Operating it', 'A spill failed'"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        action = cloudwatch_actions.SnsAction(topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        return alarm

    def widgets(self) -> list[cloudwatch.IWidget]:
        """The dashboard row: spills started and finished, records spilled, import job durations, the alarm."""
        if self.alarm is None:
            return []
        spills = cloudwatch.GraphWidget(
            title="Spills",
            left=[
                self.metric(contract.SpillMetric.SPILLS_STARTED),
                self.metric(contract.SpillMetric.SPILLS_FINISHED),
                self.metric(contract.SpillMetric.SPILLS_FAILED),
            ],
            width=8,
        )
        records = cloudwatch.GraphWidget(
            title="Records spilled", left=[self.metric(contract.SpillMetric.RECORDS_SPILLED)], width=8
        )
        jobs = cloudwatch.GraphWidget(
            title="Spill import job duration (s)",
            left=[self.metric(contract.SpillMetric.IMPORT_JOB_SECONDS, "Maximum")],
            width=8,
        )
        return [spills, records, jobs, cloudwatch.AlarmStatusWidget(alarms=[self.alarm], title="Spill", width=24)]


def _ignore_join(construct: IConstruct) -> None:
    """cfn-lint's I1022 off for a construct's resource and its default policy's."""
    policy = construct.node.try_find_child("DefaultPolicy")
    for child in (construct.node.default_child, policy.node.default_child if policy is not None else None):
        if isinstance(child, CfnResource):
            child.add_metadata("cfn-lint", {"config": {"ignore_checks": ["I1022"]}})


def _logical_id(function: lambda_.Function) -> str:
    resource = function.node.default_child
    assert isinstance(resource, lambda_.CfnFunction)
    return str(Stack.of(function).resolve(resource.logical_id))


def _objects_finding(bucket: s3.IBucket) -> str:
    """How cdk-nag names ``spill/*`` of the bucket in an IAM5 finding: the Fn::Sub's arguments as compact JSON."""
    resource = bucket.node.default_child
    assert isinstance(resource, s3.CfnBucket)
    logical_id = Stack.of(bucket).resolve(resource.logical_id)
    return json.dumps(["${Arn}/spill/*", {"Arn": {"Fn::GetAtt": [logical_id, "Arn"]}}], separators=(",", ":"))


def _acknowledge(role: iam.IRole, finding: str, reason: str) -> None:
    Validations.of(role).acknowledge(Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{finding}]", reason=reason))
