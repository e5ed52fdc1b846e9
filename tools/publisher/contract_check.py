"""Check a change against the message contract, ``schemas/contract/message.schema.json`` (docs/contracts.md §1).

The reason for a refusal names the field and the rule, never the field's value: it may be personal data.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

__all__ = ["SCHEMA_PATH", "contract_violation"]

SCHEMA_PATH = Path(__file__).resolve().parent.parent.parent / "schemas" / "contract" / "message.schema.json"

# Half of a UTF-16 surrogate pair: json.loads accepts its escape (\\ud800) but it is not text (see contract_violation).
_SURROGATE = re.compile("[\ud800-\udfff]")
_LONE_SURROGATE_RULE = "message: holds an unpaired UTF-16 surrogate (\\ud800-\\udfff), which is not text"


@cache
def _validators() -> tuple[Draft202012Validator, dict[str, Draft202012Validator]]:
    """The contract's validator, and one per kind (for error messages that name the right fields)."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    kinds = {
        kind: Draft202012Validator({"$defs": schema["$defs"], "$ref": f"#/$defs/{kind}"})
        for kind in schema["properties"]["type"]["enum"]
    }
    return Draft202012Validator(schema), kinds


def contract_violation(change: Any) -> str | None:
    """Check one change against the message contract (``schemas/contract/message.schema.json``).

    Returns
    -------
    str or None
        None when the change is valid; otherwise the first problem, naming the field and the rule (never the
        field's value: it may be personal data).
    """
    contract, kinds = _validators()
    if contract.is_valid(change):
        # The one rule of the contract JSON Schema cannot express: every string is text. The pipeline dead-letters
        # a change holding half of a UTF-16 surrogate pair (ingest.decode), so it is refused here already.
        try:
            text = json.dumps(change, ensure_ascii=False)
        except (TypeError, ValueError):
            return None  # not JSON at all: reported by Publisher._prepare with json's own reason
        return _LONE_SURROGATE_RULE if _SURROGATE.search(text) else None
    if not isinstance(change, dict):
        return "message: must be a JSON object"
    kind = change.get("type")
    if not isinstance(kind, str) or kind not in kinds:
        rule = "must be one of" if "type" in change else "required, one of"
        return f"type: {rule} {', '.join(kinds)}"
    error = best_match(kinds[kind].iter_errors(change))
    if error is None:
        return "message: does not fit the contract"
    # best_match descends into anyOf branches; a branch's type or pattern miss says less than the field's title.
    while (
        error.parent is not None
        and error.parent.validator in {"anyOf", "oneOf"}
        and error.validator
        in {
            "type",
            "pattern",
        }
    ):
        error = error.parent
    return _describe(error)


def _describe(error: ValidationError) -> str:
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
    return f"{where.lstrip('.') or 'message'}: {_rule(error)}"


def _rule(error: ValidationError) -> str:
    """The rule ``error`` broke, in words; never the instance (it may be personal data)."""
    limit = error.validator_value
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    match error.validator:
        case "minLength":
            return f"must have at least {limit} character(s)"
        case "maxLength":
            return f"must have at most {limit} characters"
        case "minItems":
            return f"must hold at least {limit} entr{'y' if limit == 1 else 'ies'}"
        case "maxItems":
            return f"must hold at most {limit} entries"
        case "minimum":
            return f"must be at least {limit}"
        case "maximum":
            return f"must be at most {limit}"
        case "type":
            return "must be " + (" or ".join(map(str, limit)) if isinstance(limit, list) else str(limit))
        case "pattern" | "anyOf" | "oneOf" | "not":
            # jsonschema's own message for these quotes the instance, which may be personal data.
            return f"must be {title}" if title else "is not in an accepted form"
        case _:
            # required, additionalProperties, const, enum: jsonschema's message names keys or expected values.
            return error.message
