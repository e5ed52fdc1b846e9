"""One CloudFormation custom resource request, parsed and checked against its resource type."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from contract import TAGS_PROPERTY
from resources.errors import ProvisioningError
from resources.tags import parse_old_tags, parse_tags
from resources.types import RESOURCE_TYPES
from resources.types.base import Properties, ResourceType

# Properties CloudFormation and the CDK add to every custom resource; they are not the resource's own.
FRAMEWORK_PROPERTIES: Final = frozenset({"ServiceToken", "ServiceTimeout"})


@dataclass(frozen=True)
class Request:
    """One CloudFormation custom resource request, parsed.

    Parameters
    ----------
    request_type
        ``Create``, ``Update`` or ``Delete``.
    resource_type
        The row of the resource type table the request is about.
    physical_id
        The resource's ARN (``None`` on Create).
    properties, old_properties
        The resource's properties, and before an update its previous ones (``None`` otherwise). Not parsed on
        Delete: a delete needs the ARN only, and must not fail on properties that no longer validate. The old
        properties are read leniently (see :func:`parse_old_properties`).
    tags, old_tags
        The resource's tags (``contract.TAGS_PROPERTY``, kept apart from the properties: a tag change never replaces
        a resource), and before an update its previous ones (``None`` otherwise; read leniently). Empty for a type
        Personalize does not tag, and on Delete.
    """

    request_type: str
    resource_type: ResourceType
    physical_id: str | None
    properties: Properties
    old_properties: Properties | None
    tags: Mapping[str, str] = field(default_factory=dict)
    old_tags: Mapping[str, str] | None = None

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> Request:
        """Parse a custom resource event (and what ``on_event`` added to it).

        Raises
        ------
        ProvisioningError
            Unknown request or resource type, or missing, unknown or non-string properties (``OldResourceProperties``
            excepted).
        """
        request_type = str(event.get("RequestType"))
        if request_type not in {"Create", "Update", "Delete"}:
            raise ProvisioningError(f"Unknown RequestType {request_type!r}")
        resource_type = RESOURCE_TYPES.get(str(event.get("ResourceType")))
        if resource_type is None:
            raise ProvisioningError(
                f"Unknown ResourceType {event.get('ResourceType')!r}; this provider serves {', '.join(RESOURCE_TYPES)}"
            )
        physical_id = event.get("PhysicalResourceId")
        if request_type == "Delete":
            return cls(request_type, resource_type, physical_id, {}, None)
        raw = dict(event.get("ResourceProperties") or {})
        tags = parse_tags(resource_type.cfn_type, raw.pop(TAGS_PROPERTY, None))
        if tags and not resource_type.taggable:
            raise ProvisioningError(
                f"{resource_type.cfn_type}: takes no {TAGS_PROPERTY}: Personalize cannot tag a {resource_type.noun}"
            )
        properties = parse_properties(resource_type, raw)
        old_properties, old_tags = None, None
        if request_type == "Update":
            old_raw = event.get("OldResourceProperties")
            if not isinstance(old_raw, Mapping) or not physical_id:
                raise ProvisioningError("An Update request needs OldResourceProperties and a PhysicalResourceId")
            old_properties = parse_old_properties(resource_type, old_raw)
            old_tags = parse_old_tags(old_raw.get(TAGS_PROPERTY)) if resource_type.taggable else {}
        return cls(request_type, resource_type, physical_id, properties, old_properties, tags, old_tags)

    @property
    def arn(self) -> str:
        """The physical id, which is the resource's ARN once created."""
        return str(self.physical_id or "")


def parse_properties(resource_type: ResourceType, raw: Mapping[str, Any]) -> dict[str, str]:
    """Check the properties of ``resource_type``; empty optional values count as absent."""
    given = {key: value for key, value in raw.items() if key not in FRAMEWORK_PROPERTIES}
    unknown = sorted(set(given) - set(resource_type.required) - set(resource_type.optional))
    if unknown:
        known = ", ".join((*resource_type.required, *resource_type.optional))
        raise ProvisioningError(f"{resource_type.cfn_type}: unknown properties {', '.join(unknown)}; known: {known}")
    not_strings = sorted(key for key, value in given.items() if not isinstance(value, str))
    if not_strings:
        raise ProvisioningError(f"{resource_type.cfn_type}: properties {', '.join(not_strings)} must be strings")
    missing = [key for key in resource_type.required if not given.get(key)]
    if missing:
        raise ProvisioningError(f"{resource_type.cfn_type}: missing required properties {', '.join(missing)}")
    properties = {key: value for key, value in given.items() if value}
    resource_type.canonical(properties)  # validates (a schema document that is not JSON, an unknown type...)
    return properties


def parse_old_properties(resource_type: ResourceType, raw: Mapping[str, Any]) -> dict[str, str]:
    """Read an Update's ``OldResourceProperties`` without validating them: they are only compared.

    When an update fails because its properties do not validate, CloudFormation rolls back with an Update whose
    ``OldResourceProperties`` are those very properties. Refusing them again would fail the rollback and leave the
    stack UPDATE_ROLLBACK_FAILED. So: unknown keys are dropped (the handler never acted on them), a value that is not
    a string is kept as its JSON text (it differs from any valid value, so it still counts as a change), and empty
    values count as absent, as in :func:`parse_properties`.
    """
    known = {*resource_type.required, *resource_type.optional}
    return {
        key: value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        for key, value in raw.items()
        if key in known and value not in (None, "")
    }


def comparable(resource_type: ResourceType, properties: Properties) -> dict[str, str]:
    """The canonical form of ``properties``, or the properties as given when they do not validate (old ones)."""
    try:
        return resource_type.canonical(properties)
    except (ProvisioningError, KeyError):
        return dict(properties)


def name_of(resource_type: ResourceType, properties: Properties) -> str | None:
    """The Personalize name ``properties`` give, or ``None`` when they do not validate (old ones)."""
    try:
        return resource_type.name(properties)
    except (ProvisioningError, KeyError):
        return None
