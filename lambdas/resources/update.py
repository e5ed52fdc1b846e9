"""Update: nothing, in place, or a replacement under a new physical id; refused before anything is touched.

Unchanged properties are a no-op; a dataset's schema changes in place where Personalize allows it; what it cannot
change in place is created anew under a new physical id, and CloudFormation deletes the old resource afterwards.
A resource that already is what the properties describe is a no-op too: that is how CloudFormation's rollback of
a refused update (the same Update, properties swapped) succeeds. Old properties are only compared, never enforced.
Tags are not properties here: a resource kept (unchanged, updated in place, or already as requested) has its tags
changed in place (:func:`retag`); a replacement is created with the new tags.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from resources.create import Started, create
from resources.errors import ProvisioningError
from resources.request import Request, comparable, name_of
from resources.tags import change_tags
from resources.types.base import Properties, ResourceType, is_deleting

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient
else:
    PersonalizeClient = Any

logger = logging.getLogger(__name__)


def update(client: PersonalizeClient, request: Request) -> Started:
    """Apply an update: nothing, in place, or a replacement under a new physical id."""
    resource_type, arn = request.resource_type, request.arn
    old = comparable(resource_type, request.old_properties or request.properties)
    new = resource_type.canonical(request.properties)
    changed = sorted(key for key in {*old, *new} if old.get(key) != new.get(key))
    if not changed:
        logger.info("No change to the properties of %s %s", resource_type.noun, arn)
        retag(client, request)
        return Started(arn)
    replaced = [key for key in changed if key in resource_type.replace_on]
    if replaced:
        if already_is(client, resource_type, arn, request.properties):
            # CloudFormation rolling back an update that failed (refused, or its new resource CREATE FAILED): the
            # Update comes back with the properties swapped and the same physical id, which was never changed.
            # Refusing again would leave the stack UPDATE_ROLLBACK_FAILED.
            logger.info("%s %s already is as requested (a rollback): no change", resource_type.noun.capitalize(), arn)
            retag(client, request)
            return Started(arn)
        check_replaceable(resource_type, arn, request.old_properties or {}, request.properties, replaced)
        # A new physical id: CloudFormation deletes the old resource once everything that refers to it has moved.
        return create(client, resource_type, request.properties, request.tags)
    if resource_type.update_in_place is None:  # pragma: no cover - every property is in replace_on or in_place
        raise ProvisioningError(f"{resource_type.noun} {arn}: {', '.join(changed)} cannot change")
    resource_type.update_in_place(client, arn, request.properties)
    retag(client, request)
    return Started(arn)


def retag(client: PersonalizeClient, request: Request) -> None:
    """Change the tags of the resource an update keeps from the old ones to the new: tags never replace it."""
    if request.resource_type.taggable:
        change_tags(client, request.arn, request.old_tags or {}, request.tags)


def already_is(client: PersonalizeClient, resource_type: ResourceType, arn: str, properties: Properties) -> bool:
    """Whether the live resource ``arn`` already is the one ``properties`` describe (its identity and settings)."""
    description = resource_type.describe(client, arn) if arn.startswith("arn:") else None
    if description is None or is_deleting(description.get("status")):
        return False
    # The identity describe-before-create looks a resource up by (its group; its name or dataset type), then the
    # settings it must have: together, everything a replacement could change.
    identity = resource_type.list_filter(properties)
    return (
        all(description.get(member) == value for member, value in identity.items())
        and resource_type.matches(description, properties)
        and not resource_type.differences(properties, description)
    )


def check_replaceable(
    resource_type: ResourceType, arn: str, old: Properties, new: Properties, changed: list[str]
) -> None:
    """Refuse a replacement that Personalize could not create next to the resource it replaces."""
    old_name = name_of(resource_type, old)
    what = f"Changing {', '.join(changed)} of {resource_type.noun} {old_name or arn}"
    if old_name == resource_type.name(new):
        raise ProvisioningError(
            f"{what} needs a new {resource_type.noun} (Personalize cannot change it in place), and the new one needs a "
            "new name: names are unique per account and Region. Change the name as well (for a dataset group, "
            "datasetGroup.name; datasets and the event tracker are named after it). Nothing was changed."
        )
    if resource_type.slot and all(old.get(key) == new.get(key) for key in resource_type.slot):
        raise ProvisioningError(
            f"{what} needs a new {resource_type.noun}, but a dataset group holds one {resource_type.noun} per "
            f"{' and '.join(resource_type.slot)}: the new one cannot exist next to the old one. Give the dataset group "
            "a new name to provision a new group instead. Nothing was changed."
        )
