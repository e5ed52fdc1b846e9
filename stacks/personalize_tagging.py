"""Taggable Personalize custom resources: ``Tags.of(scope)`` reaches them as it reaches the L1 resources.

The CDK applies ``Tags.of(scope).add(...)`` to every construct in scope that is taggable, that is one carrying a
``TagManager`` (``ITaggable`` or ``ITaggableV2``, https://docs.aws.amazon.com/cdk/v2/guide/tagging.html). L1
resources carry one and render it into their ``Tags`` property; ``CustomResource`` carries none, so stack tags never
reached the dataset group, datasets or event tracker. :class:`TaggedCustomResource` implements ``ITaggableV2``
(``cdkTagManager``) and renders its tags into a ``Tags`` property (``[{"Key": ..., "Value": ...}]``, sorted by key,
absent when there are none) at synthesis, after every tag aspect ran; the provider (``lambdas/resources``) tags the
Personalize resource with them, and changes them in place. Schemas are not taggable in Personalize, so their
custom resource stays a plain ``CustomResource``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsii
from aws_cdk import CustomResource, ITaggableV2, RemovalPolicy, TagManager, TagType, Token
from constructs import Construct, IValidation

from contract import TAGS_PROPERTY
from stacks.config import tag_problems


@jsii.implements(ITaggableV2)
class TaggedCustomResource(CustomResource):
    """A custom resource whose tags come from ``Tags.of()`` (the stack's, the configuration's) as an L1's do.

    Parameters
    ----------
    scope, construct_id
        The usual construct parameters.
    service_token
        The provider's service token.
    resource_type
        The custom resource type (``Custom::PersonalizeDataset``); tag aspects' ``includeResourceTypes`` and
        ``excludeResourceTypes`` name it.
    properties
        The resource's own properties; ``contract.TAGS_PROPERTY`` is added to them.
    removal_policy
        What CloudFormation does with the resource when it leaves the stack.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        service_token: str,
        resource_type: str,
        properties: Mapping[str, Any],
        removal_policy: RemovalPolicy,
    ) -> None:
        # Before the base constructor: the properties carry the manager's rendering, resolved at synthesis.
        self._tags = TagManager(TagType.KEY_VALUE, resource_type)
        super().__init__(
            scope,
            construct_id,
            service_token=service_token,
            resource_type=resource_type,
            properties={**properties, TAGS_PROPERTY: self._tags.rendered_tags},
            removal_policy=removal_policy,
        )
        self.node.add_validation(_PersonalizeTagLimits(self._tags))

    @property
    def cdk_tag_manager(self) -> TagManager:
        """The resource's tags (``ITaggableV2``): what ``Tags.of()`` adds to and removes from."""
        return self._tags

    @property
    def tags(self) -> dict[str, str]:
        """The tags the resource has now (after synthesis: every tag aspect applied)."""
        return dict(self._tags.tag_values())


@jsii.implements(IValidation)
class _PersonalizeTagLimits:
    """Fails synthesis when the tags a resource ends up with are ones Personalize would refuse at deploy time.

    The configuration's ``tags`` are checked when read; this also covers tags added in code with ``Tags.of()``, and
    the count of both together (at most 50 per resource).
    """

    def __init__(self, tags: TagManager) -> None:
        self._tags = tags

    def validate(self) -> list[str]:
        known = {key: value for key, value in self._tags.tag_values().items() if not Token.is_unresolved(value)}
        return [f"Amazon Personalize would refuse this resource's tags: {problem}" for problem in tag_problems(known)]
