"""Make a resource wait for its role's policy, without the redundant dependency on the role itself."""

from __future__ import annotations

from aws_cdk import CfnResource, Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct


def depend_on_policy_only(resource: IConstruct, role: iam.IRole) -> None:
    """Make ``resource`` depend on its role's default policy only, not on the role as well.

    A Function (or a state machine) makes its resource depend on everything under its role: the role itself and
    its default policy. The policy dependency matters (Lambda checks the SQS permissions when it creates the event
    source mapping; a custom resource must not call a handler before its permissions exist); the role dependency
    is already implied by the resource's ``GetAtt Role.Arn``, and cfn-lint flags it as redundant (W3005).

    Raises
    ------
    TypeError
        ``resource`` or the role's default policy has no CloudFormation resource: fail loudly rather than drop
        the dependency if a CDK upgrade changes how these constructs are built.
    """
    cfn_resource = resource.node.default_child
    policy = role.node.try_find_child("DefaultPolicy")
    policy_resource = policy.node.default_child if policy is not None else None
    if not isinstance(cfn_resource, CfnResource) or not isinstance(policy_resource, CfnResource):
        raise TypeError(
            f"{resource.node.path}: the resource or its role's default policy has no CloudFormation resource"
        )
    cfn_resource.add_override("DependsOn", [Stack.of(resource).get_logical_id(policy_resource)])
