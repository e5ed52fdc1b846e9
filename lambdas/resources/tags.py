"""Tags of the dataset group, datasets and event tracker: read from the request, given to CreateX, changed in place.

The stack renders a taggable resource's tags into its ``Tags`` property (``contract.TAGS_PROPERTY``), CloudFormation's
own shape: ``[{"Key": ..., "Value": ...}]``. Tags are never a reason to replace a resource: a create passes them to
CreateX (``tags``), an update changes them with TagResource and UntagResource on the resource it keeps, and a
resource adopted by describe-before-create is given them with TagResource. Personalize schemas take no tags
(CreateSchema has no ``tags`` member), so a schema's request may not carry any.

Tag values are logged by key only: the model marks tag keys and values ``sensitive``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from resources.errors import ProvisioningError

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient
    from mypy_boto3_personalize.type_defs import TagTypeDef
else:
    PersonalizeClient = Any

logger = logging.getLogger(__name__)

Tags = Mapping[str, str]


def parse_tags(cfn_type: str, raw: object) -> dict[str, str]:
    """Read a request's ``Tags``: a list of ``{"Key": str, "Value": str}``, each key once (absent: no tags).

    Raises
    ------
    ProvisioningError
        Anything else. Personalize's own limits (lengths, characters, 50 per resource) are checked at synth and by
        Personalize; this only refuses what cannot be read as tags.
    """
    if raw is None or raw == "":
        return {}
    # Not the values in the message: it becomes CloudFormation's status reason, and tag values are sensitive.
    problem = ProvisioningError(
        f'{cfn_type}: Tags must be a list of {{"Key": ..., "Value": ...}} objects with string values, each key once'
    )
    if not isinstance(raw, list):
        raise problem
    tags: dict[str, str] = {}
    for entry in raw:
        if not isinstance(entry, Mapping) or set(entry) != {"Key", "Value"}:
            raise problem
        key, value = entry["Key"], entry["Value"]
        if not isinstance(key, str) or not isinstance(value, str) or key in tags:
            raise problem
        tags[key] = value
    return tags


def parse_old_tags(raw: object) -> dict[str, str]:
    """Read an Update's old ``Tags`` leniently (they are only compared): what cannot be read counts as no tags.

    As for old properties, refusing them would fail CloudFormation's rollback of the update that brought them.
    """
    try:
        return parse_tags("", raw)
    except ProvisioningError:
        return {}


def tag_list(tags: Tags) -> list[TagTypeDef]:
    """``tags`` as Personalize takes them (CreateX's and TagResource's ``tags``), sorted by key."""
    return [{"tagKey": key, "tagValue": tags[key]} for key in sorted(tags)]


def change_tags(client: PersonalizeClient, arn: str, old: Tags, new: Tags) -> None:
    """Change the tags of ``arn`` from ``old`` to ``new`` in place: UntagResource, TagResource, or neither.

    Only the difference is sent: keys no longer wanted are removed, new or changed ones set. Tags someone else put
    on the resource are left alone.
    """
    removed = sorted(set(old) - set(new))
    changed = {key: value for key, value in new.items() if old.get(key) != value}
    if removed:
        client.untag_resource(resourceArn=arn, tagKeys=removed)
        logger.info("Removed tag(s) %s from %s", ", ".join(removed), arn)
    if changed:
        client.tag_resource(resourceArn=arn, tags=tag_list(changed))
        logger.info("Set tag(s) %s on %s", ", ".join(sorted(changed)), arn)


def adopt_tags(client: PersonalizeClient, arn: str, tags: Tags) -> None:
    """Give an adopted resource (one describe-before-create found) the requested tags.

    TagResource sets each key's value, so a tag of the same key with another value is corrected. Other tags it has
    stay: they may have been put there by someone else, and the stack only removes tags it knows it set (an
    update's old tags).
    """
    if tags:
        client.tag_resource(resourceArn=arn, tags=tag_list(tags))
        logger.info("Set tag(s) %s on the adopted %s", ", ".join(sorted(tags)), arn)
