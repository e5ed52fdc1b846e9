"""The ``tags`` context object: tags for every resource the stack creates, checked against the services' limits.

The stack applies them with ``Tags.of(stack)``, so they reach every taggable resource, the Personalize custom
resources included (``stacks/tagged_resource.py`` makes those taggable and hands their tags to the provider). The
tightest limits among the services tagged are Amazon Personalize's, so those are the ones checked: the
botocore model's Tag shape (key 1..128 characters, value 0..256, both of the pattern
``^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$``) and the guide's "Guidelines and requirements" for tags
(https://docs.aws.amazon.com/personalize/latest/dg/personalize-managing-tags.html): at most 50 tags per resource,
keys and values never starting with ``aws:``. Schemas take no tags (CreateSchema has no ``tags`` member, and they
are not among the guide's taggable resources), so they get none. :func:`tag_problems` is also what the tagged
resources check their final tags with at synthesis, tags added with ``Tags.of()`` in code included.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from stacks.config.parsing import ConfigError, parse_object

TAGS_KEY: Final = "tags"
# personalize's Tag shape (botocore's service model): tagKey 1..128 characters, tagValue 0..256.
TAG_KEY_MAX_LENGTH: Final = 128
TAG_VALUE_MAX_LENGTH: Final = 256
# "Maximum number of tags per resource - 50" (personalize-managing-tags.html).
MAX_TAGS_PER_RESOURCE: Final = 50
# "Your tag keys and tag values can't start with aws:" (same page); refused in any case here, as AWS reserves the
# prefix for its own tags.
RESERVED_PREFIX: Final = "aws:"
# The model's pattern ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$: Unicode letters (L*), separators (Z*), numbers (N*) and these.
_TAG_PUNCTUATION: Final = frozenset("_.:/=+-@")
_TAG_CATEGORIES: Final = ("L", "Z", "N")


def _allowed(character: str) -> bool:
    return character in _TAG_PUNCTUATION or unicodedata.category(character).startswith(_TAG_CATEGORIES)


def tag_problems(tags: Mapping[str, str]) -> list[str]:
    """Return what Amazon Personalize would refuse in ``tags`` (one message per problem; empty when none).

    Parameters
    ----------
    tags
        Tag key -> value, as one resource would carry them.
    """
    problems = []
    if len(tags) > MAX_TAGS_PER_RESOURCE:
        problems.append(f"{len(tags)} tags; a resource takes at most {MAX_TAGS_PER_RESOURCE}")
    for key, value in tags.items():
        for part, text, minimum, maximum in (
            ("key", key, 1, TAG_KEY_MAX_LENGTH),
            ("value", value, 0, TAG_VALUE_MAX_LENGTH),
        ):
            if not minimum <= len(text) <= maximum:
                problems.append(f"tag {part} {text!r} has {len(text)} characters; allowed: {minimum} to {maximum}")
            bad = sorted({character for character in text if not _allowed(character)})
            if bad:
                problems.append(
                    f"tag {part} {text!r} has the character(s) {''.join(bad)!r}; allowed: letters, digits, "
                    "spaces and _ . : / = + - @"
                )
            if text.lower().startswith(RESERVED_PREFIX):
                problems.append(f"tag {part} {text!r} starts with {RESERVED_PREFIX!r}, which AWS reserves")
    return problems


def parse_tags(value: object) -> Mapping[str, str]:
    """Read ``tags``: an object of tag key -> string value (absent or null: no tags).

    Raises
    ------
    ConfigError
        A value that is not a string, or a tag Personalize would refuse (``tags``, or ``tags.<key>``).
    """
    entries = parse_object(TAGS_KEY, {} if value is None else value)
    for key, tag_value in entries.items():
        if not isinstance(tag_value, str):
            raise ConfigError(f"{TAGS_KEY}.{key}", f"must be a string, got {tag_value!r}")
    tags = {key: str(tag_value) for key, tag_value in entries.items()}
    problems = tag_problems(tags)
    if problems:
        raise ConfigError(TAGS_KEY, "; ".join(problems))
    return MappingProxyType(tags)
