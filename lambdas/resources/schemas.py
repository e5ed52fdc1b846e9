"""Schema documents: their canonical form, the content-addressed schema name, and UpdateDataset compatibility.

Schemas are immutable and account-level in Personalize (docs/personalize.md §3), so a changed schema is a new schema.
Naming a schema after its content (a prefix plus a short hash of the canonical document and domain) makes that
automatic: a changed document is a new name, hence a new physical resource whose predecessor CloudFormation
deletes once the dataset has moved off it; the same document is the same name, so a retried create, or a
deployment that returns to an earlier schema, finds the schema it needs instead of failing on
ResourceAlreadyExists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from resources.errors import ProvisioningError

# Personalize names: 1..63 characters of [a-zA-Z0-9_-] (API_CreateSchema.html).
NAME_MAX_LENGTH: Final = 63
# 8 hex digits (32 bits) tell a handful of schema versions of one prefix apart; the prefix makes them the stack's.
DIGEST_LENGTH: Final = 8


def parse_document(text: str, *, what: str) -> dict[str, Any]:
    """Parse an Avro schema document (a JSON object with a ``fields`` list).

    Raises
    ------
    ProvisioningError
        ``text`` is not a JSON object with a list of fields; the message names ``what``.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ProvisioningError(f"{what} is not JSON: {error.msg} at line {error.lineno}") from None
    if not isinstance(document, dict) or not isinstance(document.get("fields"), list):
        raise ProvisioningError(f'{what} is not an Avro record schema (a JSON object with a "fields" list)')
    return document


def canonical(text: str) -> str:
    """Return the canonical JSON of a schema document: sorted keys, no whitespace.

    Two spellings of one schema (indentation, key order) have one canonical form, so reformatting a schema file
    neither renames the schema nor counts as a change.
    """
    return json.dumps(parse_document(text, what="the schema"), sort_keys=True, separators=(",", ":"))


def schema_name(prefix: str, text: str, domain: str | None) -> str:
    """Return the Personalize name of the schema ``text`` (in ``domain``): ``<prefix>-<8 hex digits>``.

    The prefix is cut so the name fits Personalize's 63 characters; the digest keeps cut prefixes apart.
    """
    digest = hashlib.sha256(f"{canonical(text)}\n{domain or ''}".encode()).hexdigest()[:DIGEST_LENGTH]
    return f"{prefix[: NAME_MAX_LENGTH - DIGEST_LENGTH - 1]}-{digest}"


def _fields(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(field.get("name")): field for field in document["fields"] if isinstance(field, dict)}


def _nullable(field: Mapping[str, Any]) -> bool:
    field_type = field.get("type")
    return isinstance(field_type, list) and "null" in field_type


def incompatibilities(current: str, proposed: str) -> list[str]:
    """Return why ``proposed`` cannot replace ``current`` through UpdateDataset (empty when it can).

    "The new schema must keep every field of the current schema unchanged, and new fields must be nullable"
    (https://docs.aws.amazon.com/personalize/latest/dg/updating-dataset-schema.html). Personalize checks this
    too; checking first gives a message that lists every offending field, before anything is changed.
    """
    old = _fields(parse_document(current, what="the current schema"))
    new = _fields(parse_document(proposed, what="the new schema"))
    problems = [f"field {name} is removed" for name in old if name not in new]
    problems += [
        f"field {name} changes"
        for name, field in old.items()
        if name in new and json.dumps(field, sort_keys=True) != json.dumps(new[name], sort_keys=True)
    ]
    problems += [
        f"new field {name} is not nullable" for name, field in new.items() if name not in old and not _nullable(field)
    ]
    return problems
