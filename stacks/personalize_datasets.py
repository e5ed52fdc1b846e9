"""Personalize datasets: the dataset group, a schema and dataset per type, and the event tracker, as custom resources.

This construct is the infrastructure half of the provisioning unit; ``lambdas/resources/`` is its runtime half.
CloudFormation's own ``AWS::Personalize::Dataset`` cannot create Actions or Action interactions datasets
(PERSONALIZE.md §5), so every Personalize resource here is a custom resource served by one asynchronous CDK
``Provider``: ``on_event`` starts an operation, ``is_complete`` polls Describe* every :data:`QUERY_INTERVAL`
until it is done, for at most :data:`TOTAL_TIMEOUT` (Personalize takes minutes, not seconds).

The template's references give CloudFormation the order: schemas and the group first, then the datasets, then
the tracker; deletion runs the other way, and the handlers wait for each asynchronous deletion to finish.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from aws_cdk import (
    Acknowledgment,
    CfnElement,
    CfnResource,
    CustomResource,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from stacks.ingest_pipeline import ARCHITECTURE, ASSET_EXCLUDES, LAMBDAS_ROOT, RUNTIME, depend_on_policy_only
from stacks.personalize_properties import (
    DATASET_GROUP_TYPE,
    DATASET_TYPE,
    EVENT_TRACKER_TYPE,
    SCHEMA_TYPE,
    dataset_group_properties,
    dataset_properties,
    event_tracker_properties,
    schema_properties,
)

ON_EVENT_HANDLER: Final = "resources.handler.on_event"
IS_COMPLETE_HANDLER: Final = "resources.handler.is_complete"
# A dataset group or dataset usually takes a minute or two to become ACTIVE, and deleting a group waits for its
# datasets' deletion too (PERSONALIZE.md §3). Polling every 15 s keeps a deployment close to Personalize's pace;
# 55 minutes stays under the 1 hour CloudFormation allows a custom resource (ServiceTimeout's maximum,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudformation-customresource.html),
# so the failure message comes from the provider, not from CloudFormation's own timeout.
QUERY_INTERVAL: Final = Duration.seconds(15)
TOTAL_TIMEOUT: Final = Duration.minutes(55)
# is_complete gives up itself a little earlier, with a message naming what it still waits for, instead of the
# framework's bare "Operation timed out".
GIVE_UP_AFTER: Final = Duration.minutes(53)
# on_event and is_complete make a few API calls each, and botocore retries a throttled or failed one with backoff
# inside it. A handler that times out is reported FAILED by the Provider framework, with no retry (a failed
# deployment, rollback or stack deletion), so the timeout covers the calls of one invocation at their worst:
# resources.handler bounds a call to 58 s and an invocation to ten calls (CALLS_PER_INVOCATION). Only a hung
# invocation runs this long; the framework's own functions allow 15 minutes.
HANDLER_TIMEOUT: Final = Duration.minutes(10)
HANDLER_MEMORY_MB: Final = 256
# Dataset types whose dataset comes with a tracking id of its own (PutActionInteractions writes through it).
TRACKED_DATASET_TYPES: Final = frozenset({"ACTION_INTERACTIONS"})


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset for the construct to create.

    Parameters
    ----------
    dataset_type
        The Personalize dataset type, upper case (``ITEMS``, ``ACTION_INTERACTIONS``...).
    schema
        Its Avro schema, as JSON text.
    """

    dataset_type: str
    schema: str


class PersonalizeDatasets(Construct):
    """A Personalize dataset group with its schemas, datasets and (with an Interactions dataset) event tracker.

    Parameters
    ----------
    scope, construct_id
        The usual construct parameters.
    group_name
        The dataset group's name; datasets, schemas and the tracker are named after it.
    domain
        ``ECOMMERCE`` or ``VIDEO_ON_DEMAND`` for a domain group (its schemas get the domain too), or ``None``.
    kms_key_arn, role_arn
        A KMS key for the group's data and the role Personalize uses it through (both or neither). The provider
        may pass that role to Personalize, and nothing else.
    datasets
        The datasets to create, at most one per type.
    removal_policy
        Of the group, its datasets and tracker: ``RETAIN`` keeps them (and their data) when
        the stack is deleted or replaces them; ``DESTROY`` deletes them. Schemas are always deleted once no
        dataset uses them (a schema a retained dataset uses is left in place).
    log_retention
        Retention of the provider's log groups.

    Attributes
    ----------
    dataset_group
        The dataset group custom resource.
    schemas, datasets
        Dataset type -> the schema and dataset custom resources.
    event_tracker
        The event tracker custom resource, or ``None`` without an Interactions dataset.
    provider
        The custom resource provider (its ``on_event`` and ``is_complete`` functions).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        group_name: str,
        domain: str | None,
        kms_key_arn: str | None,
        role_arn: str | None,
        datasets: Sequence[DatasetSpec],
        removal_policy: RemovalPolicy,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self._group_name = group_name
        types = [dataset.dataset_type for dataset in datasets]
        if not datasets or len(set(types)) != len(types):
            raise ValueError(f"PersonalizeDatasets needs at least one dataset and one per type, got {types}")
        # Personalize takes a role only with a KMS key, and uses the key through the role (API_CreateDatasetGroup.html);
        # the provider's iam:PassRole grant is for that role, so a key without one would fail only at deploy time.
        if (kms_key_arn is None) != (role_arn is None):
            raise ValueError("PersonalizeDatasets needs kms_key_arn and role_arn together, or neither")

        self.provider = self._provider(
            group_name=group_name,
            role_arn=role_arn,
            with_tracker="INTERACTIONS" in types,
            log_retention=log_retention,
        )
        service_token = self.provider.service_token

        self.dataset_group = CustomResource(
            self,
            "DatasetGroup",
            service_token=service_token,
            resource_type=DATASET_GROUP_TYPE,
            properties=dataset_group_properties(
                name=group_name, domain=domain, kms_key_arn=kms_key_arn, role_arn=role_arn
            ),
            removal_policy=removal_policy,
        )
        group_arn = self.dataset_group_arn
        self.schemas: dict[str, CustomResource] = {}
        self.datasets: dict[str, CustomResource] = {}
        for spec in datasets:
            name = spec.dataset_type.title().replace("_", "")
            schema = CustomResource(
                self,
                f"{name}Schema",
                service_token=service_token,
                resource_type=SCHEMA_TYPE,
                properties=schema_properties(
                    group_name=group_name, dataset_type=spec.dataset_type, document=spec.schema, domain=domain
                ),
                # Schemas hold no data; the handler deletes one only once no dataset uses it.
                removal_policy=RemovalPolicy.DESTROY,
            )
            self.schemas[spec.dataset_type] = schema
            self.datasets[spec.dataset_type] = CustomResource(
                self,
                f"{name}Dataset",
                service_token=service_token,
                resource_type=DATASET_TYPE,
                properties=dataset_properties(
                    group_name=group_name,
                    group_arn=group_arn,
                    dataset_type=spec.dataset_type,
                    schema_arn=schema.get_att_string("Arn"),
                ),
                removal_policy=removal_policy,
            )
        # PutEvents writes through an event tracker, one per group; it records into the Interactions dataset.
        self.event_tracker: CustomResource | None = None
        if "INTERACTIONS" in types:
            self.event_tracker = CustomResource(
                self,
                "EventTracker",
                service_token=service_token,
                resource_type=EVENT_TRACKER_TYPE,
                properties=event_tracker_properties(group_name=group_name, group_arn=group_arn),
                # Retained with the group it belongs to, so a retained Interactions dataset keeps receiving events.
                removal_policy=removal_policy,
            )
            # Events need the Interactions dataset: create the tracker after it, delete it before it.
            self.event_tracker.node.add_dependency(self.datasets["INTERACTIONS"])

    # --- attributes ------------------------------------------------------------------------------------------

    @property
    def dataset_group_arn(self) -> str:
        """The dataset group's ARN (a token)."""
        return self.dataset_group.get_att_string("Arn")

    def dataset_arn(self, dataset_type: str) -> str:
        """The ARN of the ``dataset_type`` dataset (a token)."""
        return self.datasets[dataset_type].get_att_string("Arn")

    def schema_arn(self, dataset_type: str) -> str:
        """The ARN of the schema the ``dataset_type`` dataset uses (a token).

        The dataset's own ``SchemaArn`` attribute rather than the schema resource's ``Arn``: they are the same
        schema, except after CloudFormation rolled back an in-place schema update, when the dataset keeps the newer
        schema (UpdateDataset cannot remove fields). It is what DescribeDataset tells the ingest handler to read.
        """
        return self.datasets[dataset_type].get_att_string("SchemaArn")

    @property
    def schemas_arn_pattern(self) -> str:
        """An ARN pattern matching every schema of this group (``schema/<group>-*``, a token).

        What the ingest Lambda may describe: after an in-place schema update (UpdateDataset) the dataset names its
        new schema before CloudFormation has updated the Lambda's policy, so a grant on the current schema alone
        would answer AccessDenied in between.
        """
        return Fn.sub(_personalize_arn(f"schema/{self._group_name}-*"))

    @property
    def schemas_arn_finding(self) -> str:
        """How cdk-nag names :attr:`schemas_arn_pattern` in an AwsSolutions-IAM5 finding."""
        return _nag_arn(f"schema/{self._group_name}-*")

    @property
    def dataset_arns(self) -> Mapping[str, str]:
        """Dataset type -> dataset ARN (tokens)."""
        return {dataset_type: self.dataset_arn(dataset_type) for dataset_type in self.datasets}

    @property
    def event_tracking_id(self) -> str | None:
        """The event tracker's trackingId (PutEvents), or ``None`` without an Interactions dataset."""
        return self.event_tracker.get_att_string("TrackingId") if self.event_tracker else None

    def tracking_id(self, dataset_type: str) -> str | None:
        """The trackingId records of ``dataset_type`` are written through, or ``None`` if they take a dataset ARN.

        Interactions (PutEvents) go through the event tracker; Action interactions (PutActionInteractions)
        through the tracker Personalize made with their dataset (PERSONALIZE.md §1).
        """
        if dataset_type == "INTERACTIONS":
            return self.event_tracking_id
        if dataset_type in TRACKED_DATASET_TYPES:
            return self.dataset_tracking_id(dataset_type)
        return None

    def dataset_tracking_id(self, dataset_type: str) -> str:
        """The trackingId Personalize made with the ``dataset_type`` dataset (Action interactions only)."""
        if dataset_type not in TRACKED_DATASET_TYPES:
            raise ValueError(f"a {dataset_type} dataset has no tracking id of its own")
        return self.datasets[dataset_type].get_att_string("TrackingId")

    # --- the provider ----------------------------------------------------------------------------------------

    def _provider(
        self,
        *,
        group_name: str,
        role_arn: str | None,
        with_tracker: bool,
        log_retention: logs.RetentionDays,
    ) -> cr.Provider:
        role = iam.Role(
            self,
            "HandlerRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Personalize custom resources: manage this stack's dataset group, schemas, datasets, tracker",
        )
        for statement in provider_policy_statements(
            group_name=group_name, role_arn=role_arn, with_tracker=with_tracker
        ):
            role.add_to_principal_policy(statement)
        self._acknowledge_provider_policy(role, group_name=group_name, with_tracker=with_tracker)

        code = lambda_.Code.from_asset(str(LAMBDAS_ROOT), exclude=list(ASSET_EXCLUDES))
        handlers: dict[str, lambda_.Function] = {}
        for construct_id, handler, description in (
            ("OnEvent", ON_EVENT_HANDLER, "Personalize custom resources: start a create, update or delete"),
            ("IsComplete", IS_COMPLETE_HANDLER, "Personalize custom resources: report whether it is done"),
        ):
            log_group = logs.LogGroup(
                self, f"{construct_id}LogGroup", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
            )
            log_group.grant_write(role)
            function = lambda_.Function(
                self,
                f"{construct_id}Function",
                description=description,
                runtime=RUNTIME,
                architecture=ARCHITECTURE,
                handler=handler,
                code=code,
                timeout=HANDLER_TIMEOUT,
                memory_size=HANDLER_MEMORY_MB,
                environment=(
                    {"GIVE_UP_AFTER_SECONDS": str(int(GIVE_UP_AFTER.to_seconds()))}
                    if construct_id == "IsComplete"
                    else {}
                ),
                log_group=log_group,
                role=role,
            )
            Validations.of(function).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-L1",
                    reason=(
                        "The custom resource handlers share the ingest function's asset and its pinned Python 3.13 "
                        "runtime (pinned by the Powertools layer build); the runtimes are upgraded together."
                    ),
                )
            )
            handlers[construct_id] = function

        # The framework's functions get roles of ours: the default ones carry the AWS managed basic execution
        # policy, which may write to every log group of the account; these write to the framework's log group.
        # (Two roles, as ProviderProps asks, so the waiter's permissions do not depend on onEvent's.)
        framework_log_group = logs.LogGroup(
            self, "ProviderLogGroup", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        framework_roles = {
            name: iam.Role(
                self,
                f"Framework{name}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"Custom resource provider framework: {description}",
            )
            for name, description in (
                ("OnEvent", "invoke the onEvent handler and start the waiter"),
                ("Waiter", "invoke the isComplete handler, answer CloudFormation on timeout"),
            )
        }
        for framework_role in framework_roles.values():
            framework_log_group.grant_write(framework_role)
        waiter_log_group = logs.LogGroup(
            self, "WaiterLogGroup", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=handlers["OnEvent"],
            is_complete_handler=handlers["IsComplete"],
            query_interval=QUERY_INTERVAL,
            total_timeout=TOTAL_TIMEOUT,
            log_group=framework_log_group,
            framework_on_event_role=framework_roles["OnEvent"],
            framework_complete_and_timeout_role=framework_roles["Waiter"],
            disable_waiter_state_machine_logging=False,
            # Every event, without execution data: the waiter's input carries CloudFormation's pre-signed
            # response URL, which must not sit in a log group.
            waiter_state_machine_log_options=cr.LogOptions(
                destination=waiter_log_group, include_execution_data=False, level=sfn.LogLevel.ALL
            ),
        )
        for function in handlers.values():
            depend_on_policy_only(function, role)
        for name, framework_role in (
            ("framework-onEvent", framework_roles["OnEvent"]),
            ("framework-isComplete", framework_roles["Waiter"]),
            ("framework-onTimeout", framework_roles["Waiter"]),
        ):
            depend_on_policy_only(provider.node.find_child(name), framework_role)
        waiter = provider.node.find_child("waiter-state-machine")
        waiter_role = waiter.node.find_child("Role")
        if not isinstance(waiter_role, iam.Role):  # pragma: no cover - the framework's waiter always has a Role
            raise TypeError(f"{waiter.node.path}: no Role")
        depend_on_policy_only(waiter, waiter_role)
        _lint_framework_joins(framework_roles["OnEvent"], framework_roles["Waiter"], waiter_role, waiter)
        self._acknowledge_framework(provider, list(handlers.values()), list(framework_roles.values()))
        return provider

    def _acknowledge_provider_policy(self, role: iam.Role, *, group_name: str, with_tracker: bool) -> None:
        reasons = {
            "Resource::*": (
                "ListSchemas, ListDatasetGroups, ListDatasets and ListEventTrackers support no resource-level "
                "permissions (Service Authorization Reference, Amazon Personalize); the handlers list to find what "
                "a retried create already made and what a dataset group still holds before deleting it."
            ),
            f"Resource::{_nag_arn(f'schema/{group_name}-*')}": (
                "Schemas are named after their content (the dataset group name, the type and a digest of the "
                "document), so a changed schema is a new schema: the handlers manage every schema under this "
                "group's prefix, and only those."
            ),
            f"Resource::{_nag_arn(f'dataset/{group_name}/*')}": (
                "A dataset's ARN ends in its type under the group's name: this is the stack's group's datasets "
                "only, whatever types the configuration adds."
            ),
        }
        if with_tracker:
            reasons[f"Resource::{_nag_arn('event-tracker/*')}"] = (
                "Personalize gives an event tracker a random id in its ARN, unknown before it exists, so the "
                "tracker actions cannot name it; CreateEventTracker is also scoped to this stack's group."
            )
        for finding, reason in reasons.items():
            Validations.of(role).acknowledge(
                Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{finding}]", reason=reason)
            )

    def _acknowledge_framework(
        self, provider: cr.Provider, handlers: Sequence[lambda_.Function], framework_roles: Sequence[iam.Role]
    ) -> None:
        # The Provider framework's own functions, roles and state machine are built by aws-cdk-lib; their settings
        # are not ours to choose beyond what ProviderProps exposes.
        stack = Stack.of(self)
        framework = [
            child
            for child in (
                provider.node.try_find_child(name) for name in ("framework-isComplete", "framework-onTimeout")
            )
            if isinstance(child, lambda_.Function)
        ]
        invoked = [_logical_id(stack, function) for function in (*handlers, *framework)]
        acknowledgments = [
            Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]",
                reason=(
                    "aws-cdk-lib's grantInvoke lets the Provider framework invoke this one function, its versions "
                    "and aliases (ARN:*): the framework calls the handlers, and the waiter calls the framework."
                ),
            )
            for logical_id in invoked
        ]
        # The framework grants invoke on the roles we hand it, and its waiter's role is its own.
        for scope in (*framework_roles, provider):
            Validations.of(scope).acknowledge(*acknowledgments)
        Validations.of(provider).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason=(
                    "The waiter state machine's role writes its execution log: CloudWatch Logs' log delivery actions "
                    "(logs:CreateLogDelivery, PutResourcePolicy...) support no resource-level permissions."
                ),
            ),
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SF2",
                reason=(
                    "The waiter state machine is one task retried every query interval (the framework's design); "
                    "X-Ray traces would show only that, and ProviderProps exposes no tracing setting."
                ),
            ),
        )


def _personalize_arn(resource: str) -> str:
    """An ARN of a Personalize ``resource`` in the deploying stack's partition, Region and account (one Fn::Sub)."""
    return f"arn:${{AWS::Partition}}:personalize:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"


def _lint_framework_joins(*constructs: IConstruct) -> None:
    # aws-cdk-lib renders the framework's invoke grants ("<function ARN>:*") and its waiter's definition as
    # Fn::Join with an empty delimiter, which cfn-lint's informational I1022 would rather see as Fn::Sub. The
    # framework builds these, not us: tell cfn-lint so on exactly those resources (the template carries it).
    for construct in constructs:
        target = construct.node.try_find_child("DefaultPolicy") or construct
        resource = target.node.default_child
        if not isinstance(resource, CfnResource):  # pragma: no cover - roles' policies and the waiter have one
            raise TypeError(f"{target.node.path} has no CloudFormation resource")
        resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["I1022"]}})


def _logical_id(stack: Stack, function: lambda_.Function) -> str:
    resource = function.node.default_child
    if not isinstance(resource, CfnElement):  # pragma: no cover - a Function always has its CfnFunction
        raise TypeError(f"{function.node.path} has no CloudFormation resource")
    return stack.get_logical_id(resource)


def _nag_arn(resource: str) -> str:
    """How cdk-nag spells :func:`_personalize_arn` in a finding id (pseudo parameters as ``<AWS::Region>``)."""
    return f"arn:<AWS::Partition>:personalize:<AWS::Region>:<AWS::AccountId>:{resource}"


def provider_policy_statements(
    *, group_name: str, role_arn: str | None, with_tracker: bool
) -> list[iam.PolicyStatement]:
    """The provider handlers' permissions: this stack's dataset group and what it holds, nothing more.

    Parameters
    ----------
    group_name
        The dataset group's name (every resource ARN is scoped by it).
    role_arn
        The KMS role, which may be passed to Personalize only; ``None`` without a KMS key.
    with_tracker
        Whether the stack makes an event tracker.
    """
    group = Fn.sub(_personalize_arn(f"dataset-group/{group_name}"))
    # Every schema name starts with "<group>-" (stacks.personalize_properties.schema_name_prefix).
    schemas = Fn.sub(_personalize_arn(f"schema/{group_name}-*"))
    datasets = Fn.sub(_personalize_arn(f"dataset/{group_name}/*"))
    statements = [
        iam.PolicyStatement(
            sid="DatasetGroup",
            actions=[
                "personalize:CreateDatasetGroup",
                "personalize:DescribeDatasetGroup",
                "personalize:DeleteDatasetGroup",
            ],
            resources=[group],
        ),
        iam.PolicyStatement(
            sid="Schemas",
            actions=["personalize:CreateSchema", "personalize:DescribeSchema", "personalize:DeleteSchema"],
            resources=[schemas],
        ),
        iam.PolicyStatement(
            sid="Datasets",
            actions=[
                "personalize:CreateDataset",
                "personalize:DescribeDataset",
                "personalize:UpdateDataset",
                "personalize:DeleteDataset",
            ],
            # CreateDataset and UpdateDataset name the group and the schema too.
            resources=[datasets, group, schemas],
        ),
        iam.PolicyStatement(
            sid="List",
            actions=[
                "personalize:ListSchemas",
                "personalize:ListDatasetGroups",
                "personalize:ListDatasets",
                "personalize:ListEventTrackers",
            ],
            resources=["*"],
        ),
    ]
    if with_tracker:
        statements.append(
            iam.PolicyStatement(
                sid="EventTracker",
                actions=[
                    "personalize:CreateEventTracker",
                    "personalize:DescribeEventTracker",
                    "personalize:DeleteEventTracker",
                ],
                resources=[Fn.sub(_personalize_arn("event-tracker/*")), group],
            )
        )
    if role_arn:
        # CreateDatasetGroup passes the KMS role to Personalize, which uses the key through it
        # (https://docs.aws.amazon.com/personalize/latest/dg/data-encryption.html); this role, to Personalize only.
        statements.append(
            iam.PolicyStatement(
                sid="PassKmsRoleToPersonalize",
                actions=["iam:PassRole"],
                resources=[role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "personalize.amazonaws.com"}},
            )
        )
    return statements
