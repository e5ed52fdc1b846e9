"""The custom resource provider behind :class:`stacks.personalize_datasets.PersonalizeDatasets`.

One asynchronous CDK ``Provider`` serves every Personalize custom resource: ``on_event`` starts an operation,
``is_complete`` polls Describe* every :data:`QUERY_INTERVAL` until it is done, for at most :data:`TOTAL_TIMEOUT`
(Personalize takes minutes, not seconds). Its handlers run ``lambdas/resources/`` with a role scoped to the
stack's dataset group; the framework's own functions get roles and log groups of ours, and every cdk-nag finding
on what aws-cdk-lib builds is acknowledged with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from aws_cdk import Acknowledgment, CfnElement, CfnResource, Duration, Fn, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

import contract
from stacks.lambda_packaging import ARCHITECTURE, RUNTIME, lambdas_asset, runtime_layer
from stacks.policy_dependency import depend_on_policy_only

ON_EVENT_HANDLER: Final = "resources.handler.on_event"
IS_COMPLETE_HANDLER: Final = "resources.handler.is_complete"
# A dataset group or dataset usually takes a minute or two to become ACTIVE, and deleting a group waits for its
# datasets' deletion too (docs/personalize.md §3). Polling every 15 s keeps a deployment close to Personalize's pace;
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


def build_provider(
    scope: Construct,
    *,
    group_name: str,
    role_arn: str | None,
    with_tracker: bool,
    log_retention: logs.RetentionDays,
) -> cr.Provider:
    """Create the provider, its handlers and the framework's roles and log groups in ``scope``.

    Parameters
    ----------
    scope
        The construct the provider's resources belong to.
    group_name
        The dataset group's name: the handlers may manage this group and what it holds, nothing more.
    role_arn
        The KMS role the handlers may pass to Personalize, or ``None``.
    with_tracker
        Whether the handlers manage an event tracker too.
    log_retention
        Retention of every log group of the provider.
    """
    role = _handler_role(scope, group_name=group_name, role_arn=role_arn, with_tracker=with_tracker)
    handlers = _handler_functions(scope, role, log_retention)
    # The framework's functions get roles of ours: the default ones carry the AWS managed basic execution
    # policy, which may write to every log group of the account; these write to the framework's log group.
    framework_log_group = logs.LogGroup(
        scope, "ProviderLogGroup", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
    )
    framework_roles = _framework_roles(scope, framework_log_group)
    waiter_log_group = logs.LogGroup(
        scope, "WaiterLogGroup", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
    )
    provider = cr.Provider(
        scope,
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
    waiter, waiter_role = _depend_on_policies(provider, role, handlers, framework_roles)
    _lint_framework_joins(framework_roles["OnEvent"], framework_roles["Waiter"], waiter_role, waiter)
    _acknowledge_framework(provider, list(handlers.values()), list(framework_roles.values()))
    return provider


def _handler_role(scope: Construct, *, group_name: str, role_arn: str | None, with_tracker: bool) -> iam.Role:
    role = iam.Role(
        scope,
        "HandlerRole",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description="Personalize custom resources: manage this stack's dataset group, schemas, datasets, tracker",
    )
    for statement in provider_policy_statements(group_name=group_name, role_arn=role_arn, with_tracker=with_tracker):
        role.add_to_principal_policy(statement)
    _acknowledge_provider_policy(role, group_name=group_name, with_tracker=with_tracker)
    return role


def _handler_functions(
    scope: Construct, role: iam.Role, log_retention: logs.RetentionDays
) -> dict[str, lambda_.Function]:
    """The ``on_event`` and ``is_complete`` functions (by construct id), each with its own log group."""
    code = lambdas_asset()
    handlers: dict[str, lambda_.Function] = {}
    for construct_id, handler, description in (
        ("OnEvent", ON_EVENT_HANDLER, "Personalize custom resources: start a create, update or delete"),
        ("IsComplete", IS_COMPLETE_HANDLER, "Personalize custom resources: report whether it is done"),
    ):
        log_group = logs.LogGroup(
            scope, f"{construct_id}LogGroup", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            scope,
            f"{construct_id}Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=code,
            layers=[runtime_layer(scope)],
            timeout=HANDLER_TIMEOUT,
            memory_size=HANDLER_MEMORY_MB,
            environment=(
                {contract.GIVE_UP_AFTER_SECONDS: str(int(GIVE_UP_AFTER.to_seconds()))}
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
                    "runtime and layer (the Python the tests run on); they are upgraded together."
                ),
            )
        )
        handlers[construct_id] = function
    return handlers


def _framework_roles(scope: Construct, log_group: logs.LogGroup) -> Mapping[str, iam.Role]:
    # Two roles, as ProviderProps asks, so the waiter's permissions do not depend on onEvent's.
    roles = {
        name: iam.Role(
            scope,
            f"Framework{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Custom resource provider framework: {description}",
        )
        for name, description in (
            ("OnEvent", "invoke the onEvent handler and start the waiter"),
            ("Waiter", "invoke the isComplete handler, answer CloudFormation on timeout"),
        )
    }
    for role in roles.values():
        log_group.grant_write(role)
    return roles


def _depend_on_policies(
    provider: cr.Provider,
    role: iam.Role,
    handlers: Mapping[str, lambda_.Function],
    framework_roles: Mapping[str, iam.Role],
) -> tuple[IConstruct, iam.Role]:
    """Make every function and the waiter depend on their roles' policies only; return the waiter and its role."""
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
    return waiter, waiter_role


def _acknowledge_provider_policy(role: iam.Role, *, group_name: str, with_tracker: bool) -> None:
    reasons = {
        "Resource::*": (
            "ListSchemas, ListDatasetGroups, ListDatasets, ListEventTrackers, TagResource and UntagResource support "
            "no resource-level permissions (Service Authorization Reference, Amazon Personalize); the handlers list "
            "to find what a retried create already made and what a dataset group still holds before deleting it, "
            "and tag the group, datasets and tracker they create with the stack's tags."
        ),
        f"Resource::{nag_arn(f'schema/{group_name}-*')}": (
            "Schemas are named after their content (the dataset group name, the type and a digest of the "
            "document), so a changed schema is a new schema: the handlers manage every schema under this "
            "group's prefix, and only those."
        ),
        f"Resource::{nag_arn(f'dataset/{group_name}/*')}": (
            "A dataset's ARN ends in its type under the group's name: this is the stack's group's datasets "
            "only, whatever types the configuration adds."
        ),
    }
    if with_tracker:
        reasons[f"Resource::{nag_arn('event-tracker/*')}"] = (
            "Personalize gives an event tracker a random id in its ARN, unknown before it exists, so the "
            "tracker actions cannot name it (IAM authorizes them on the event-tracker resource type only)."
        )
    for finding, reason in reasons.items():
        Validations.of(role).acknowledge(
            Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{finding}]", reason=reason)
        )


def _acknowledge_framework(
    provider: cr.Provider, handlers: Sequence[lambda_.Function], framework_roles: Sequence[iam.Role]
) -> None:
    # The Provider framework's own functions, roles and state machine are built by aws-cdk-lib; their settings
    # are not ours to choose beyond what ProviderProps exposes.
    stack = Stack.of(provider)
    framework = [
        child
        for child in (provider.node.try_find_child(name) for name in ("framework-isComplete", "framework-onTimeout"))
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


def personalize_arn(resource: str) -> str:
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


def nag_arn(resource: str) -> str:
    """How cdk-nag spells :func:`personalize_arn` in a finding id (pseudo parameters as ``<AWS::Region>``)."""
    return f"arn:<AWS::Partition>:personalize:<AWS::Region>:<AWS::AccountId>:{resource}"


def provider_policy_statements(
    *, group_name: str, role_arn: str | None, with_tracker: bool
) -> list[iam.PolicyStatement]:
    """The provider handlers' permissions: this stack's dataset group and what it holds, nothing more.

    Each action is granted on the resource types IAM authorizes it on (the Service Authorization Reference,
    "Actions, resources, and condition keys for Amazon Personalize"; tests/infra/test_iam_actions.py checks every
    grant against it): a dataset action on datasets, not on the group or schema its request names, and the actions
    IAM authorizes on no resource type (List*, TagResource, UntagResource) on ``*``.

    Parameters
    ----------
    group_name
        The dataset group's name (every resource ARN is scoped by it).
    role_arn
        The KMS role, which may be passed to Personalize only; ``None`` without a KMS key.
    with_tracker
        Whether the stack makes an event tracker.
    """
    group = Fn.sub(personalize_arn(f"dataset-group/{group_name}"))
    # Every schema name starts with "<group>-" (stacks.personalize_properties.schema_name_prefix).
    schemas = Fn.sub(personalize_arn(f"schema/{group_name}-*"))
    datasets = Fn.sub(personalize_arn(f"dataset/{group_name}/*"))
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
            # IAM authorizes these on the dataset only, though CreateDataset and UpdateDataset name a group and schema.
            resources=[datasets],
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
        iam.PolicyStatement(
            # The group, datasets and tracker carry the stack's tags (stacks/personalize_tagging.py): given to CreateX,
            # changed in place on an update, set on an adopted resource. IAM authorizes tagging on no resource type,
            # so it cannot be scoped further; Personalize's tagging requests name the resource's ARN.
            sid="Tags",
            actions=["personalize:TagResource", "personalize:UntagResource"],
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
                resources=[Fn.sub(personalize_arn("event-tracker/*"))],
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
