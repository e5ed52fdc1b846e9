"""Tags: TagResource, UntagResource, ListTagsForResource, and the ``tags`` the Create* calls carry.

The model checks each tag's shape before a handler runs (keys 1..128 characters, values 0..256, both of the
pattern ``^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$``, at most 200 tags or tag keys per call). The rest comes from
"Tagging Amazon Personalize resources" (https://docs.aws.amazon.com/personalize/latest/dg/tagging-resources.html)
and its "Guidelines and requirements" (https://docs.aws.amazon.com/personalize/latest/dg/personalize-managing-tags.html):
at most 50 tags per resource, a key holds one value, keys and values may not start with ``aws:``. Tags live in
:attr:`EmulatorState.tags <local.emulator.state.EmulatorState.tags>` and go when their resource is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from local.emulator import errors
from local.emulator.errors import ServiceError
from local.emulator.lifecycle import Timeline
from local.emulator.state import OpContext

Params = dict[str, Any]

# "Maximum number of tags per resource - 50" (personalize-managing-tags.html).
MAX_TAGS: Final = 50
# TooManyTagKeysException: "more tag keys than can be associated with a resource (50 tag keys per resource)".
MAX_TAG_KEYS: Final = 50
# "Your tag keys and tag values can't start with aws:" (personalize-managing-tags.html).
RESERVED_PREFIX: Final = "aws:"


def tags_to_create(params: Params) -> dict[str, str]:
    """Return the checked ``tags`` of a Create* request as a mapping, to store once the resource exists.

    Raises
    ------
    ServiceError
        InvalidInput for a reserved or repeated key, TooManyTags past :data:`MAX_TAGS`.
    """
    new = _checked(params.get("tags", []))
    _within_limit(new)
    return new


def tag_resource(ctx: OpContext, params: Params) -> Params:
    """TagResource: add tags, replacing the value of a key the resource already has."""
    arn = params["resourceArn"]
    _settled_resource(ctx, arn)
    merged = {**ctx.state.tags.get(arn, {}), **_checked(params["tags"])}
    _within_limit(merged)
    ctx.state.tags[arn] = merged
    return {}


def untag_resource(ctx: OpContext, params: Params) -> Params:
    """UntagResource: remove the given keys; a key the resource does not have is ignored."""
    arn = params["resourceArn"]
    keys = params["tagKeys"]
    if len(keys) > MAX_TAG_KEYS:
        raise ServiceError(
            errors.TOO_MANY_TAG_KEYS, f"{len(keys)} tag keys given; a resource has at most {MAX_TAG_KEYS}."
        )
    _settled_resource(ctx, arn)
    remaining = {key: value for key, value in ctx.state.tags.get(arn, {}).items() if key not in keys}
    ctx.state.tags[arn] = remaining
    return {}


def list_tags_for_resource(ctx: OpContext, params: Params) -> Params:
    """ListTagsForResource: the resource's tags, in the order they were added."""
    arn = params["resourceArn"]
    _timeline(ctx, arn)
    return {"tags": [{"tagKey": key, "tagValue": value} for key, value in ctx.state.tags.get(arn, {}).items()]}


def _timeline(ctx: OpContext, arn: str) -> Timeline:
    """Return the timeline of the taggable resource ``arn`` in the caller's region, or raise the service's error.

    Schemas exist but cannot be tagged (they are not in the guide's list of taggable resources, and CreateSchema
    takes no tags): InvalidInput, an undocumented choice.
    """
    tables: tuple[dict[str, Any], ...] = (
        ctx.state.dataset_groups,
        ctx.state.datasets,
        ctx.state.event_trackers,
        ctx.state.import_jobs,
    )
    for table in tables:
        resource = table.get(arn)
        if resource is not None and resource.region == ctx.region:
            timeline: Timeline = resource.timeline
            return timeline
    schema = ctx.state.schemas.get(arn)
    if schema is not None and schema.region == ctx.region:
        raise errors.invalid_input(f"Schema {arn} cannot be tagged: schemas are not taggable resources.")
    raise errors.not_found(f"Resource {arn} does not exist.")


def _settled_resource(ctx: OpContext, arn: str) -> None:
    """Raise unless ``arn`` exists and is not being deleted (ResourceInUse then: an undocumented choice)."""
    if _timeline(ctx, arn).deleting:
        raise errors.in_use(f"Resource {arn} is being deleted; its tags cannot change.")


def _checked(tags: list[dict[str, str]]) -> dict[str, str]:
    """Return ``tags`` as a mapping, refusing reserved prefixes and a key given twice (InvalidInput)."""
    found: dict[str, str] = {}
    for tag in tags:
        key, value = tag["tagKey"], tag["tagValue"]
        for part, text in (("key", key), ("value", value)):
            if text.startswith(RESERVED_PREFIX):
                raise errors.invalid_input(f'Tag {part} "{text}": keys and values cannot start with "aws:".')
        if key in found:
            raise errors.invalid_input(f'Tag key "{key}" is given twice; a key has one value.')
        found[key] = value
    return found


def _within_limit(tags: dict[str, str]) -> None:
    """Raise TooManyTags if a resource would hold more than :data:`MAX_TAGS` tags."""
    if len(tags) > MAX_TAGS:
        raise ServiceError(errors.TOO_MANY_TAGS, f"A resource can have at most {MAX_TAGS} tags; got {len(tags)}.")


OPERATIONS: Final[dict[str, Callable[[OpContext, Params], Params]]] = {
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
