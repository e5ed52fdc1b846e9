"""What Amazon Personalize refuses in a record, written once for the ingest Lambda and the local emulator.

The ingest Lambda checks records before sending them (``lambdas/ingest``); the local emulator (``local/emulator``)
refuses the same records the way the service does. Both call the functions below, so a record the Lambda sends is
never one the emulator refuses for a rule written twice and differently. Where the service documentation leaves a
count open, the rule here is the stricter reading: the Lambda must never send what the service could refuse
(docs/personalize.md §2 gives each source and each choice). The module depends on nothing but the standard
library: it ships in the Lambda asset.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Mapping
from functools import cache
from typing import Any, Final

# --- String values of a record's properties ---------------------------------------------------------------------

# "Categorical values can have at most 1000 characters" (each dataset type's schema page, e.g.
# https://docs.aws.amazon.com/personalize/latest/dg/user-dataset-requirements.html), "Maximum number of characters
# for categorical data and impression values: 1000" and, for Items, "... for categorical and non-categorical
# string data values" (https://docs.aws.amazon.com/personalize/latest/dg/limits.html).
MAX_STRING_VALUE: Final = 1_000
# Textual fields (Items only): longer text is truncated at 20,000 characters, not refused (same quotas page).
MAX_TEXTUAL_VALUE: Final = 20_000


def service_length(text: str) -> int:
    """The length of ``text`` in UTF-16 code units: a character outside the BMP (an emoji) counts two.

    The documentation says "characters" without saying how they are counted; a Java service counts UTF-16 code
    units, which is never less than the code points Python counts, so that is the count used.
    """
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def string_value_problem(value: str, *, textual: bool) -> str | None:
    """Why the service could refuse a string property value, or None when it fits. Names the rule, never the value.

    One rule for every dataset type and every non-textual string, categorical or not: the value as sent, a
    categorical list already joined with ``|``, is at most :data:`MAX_STRING_VALUE` characters
    (:func:`service_length`). "A categorical value" could mean each ``|``-separated entry or the joined string;
    the joined string is the reading that never sends what the service could refuse. A textual value is never
    refused (the service truncates it).
    """
    if textual:
        return None
    length = service_length(value)
    if length > MAX_STRING_VALUE:
        return f"a string value may have at most {MAX_STRING_VALUE} characters, got {length}"
    return None


# --- One event or action interaction --------------------------------------------------------------------------

# "Maximum size of an event: 10 KB" (https://docs.aws.amazon.com/personalize/latest/dg/limits.html). Whether KB
# means 1,000 or 1,024 bytes is not said; 10,240 is what the project has always applied.
MAX_EVENT_BYTES: Final = 10 * 1024


def event_size(record: Mapping[str, Any], call_fields: Mapping[str, Any]) -> int:
    """The bytes one event or action interaction counts towards :data:`MAX_EVENT_BYTES`.

    How the service counts is not documented. Counted here: the record together with the call's own members it is
    stored with (PutEvents' ``sessionId`` and ``userId``), serialized as botocore serializes a request body
    (``json.dumps`` with its default separators and ASCII escapes: "é" is six bytes, ``\\u00e9``). That is never
    less than the compact UTF-8 JSON, or the record alone, so it is the stricter of the plausible counts.
    ``record`` is the record as sent: ``properties`` a JSON string, timestamps epoch seconds.
    """
    return len(json.dumps({**call_fields, **record}).encode())


# --- Patterns of the botocore service model -------------------------------------------------------------------


def model_pattern_matches(pattern: str, value: str) -> bool:
    """Whether ``value`` matches a ``pattern`` of a botocore service model as the service applies it: whole.

    ``re.search`` is wrong twice over: an unanchored pattern (``arn:...``) would accept anything containing a
    match, and ``$`` matches before a final newline (``"partner\\n"`` would pass ``^[\\x20-\\x7E]*...$``).
    ``fullmatch`` requires the whole value, newline included, to match.
    """
    return _compiled(pattern).fullmatch(value) is not None


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """Compile a model pattern (Java regex syntax) for Python.

    ``\\p{...}`` classes have no ``re`` equivalent and are expanded into code-point ranges; ``re.ASCII`` keeps
    ``\\d`` to ASCII digits, as in Java.
    """
    return re.compile(_translate(pattern), re.ASCII)


def _translate(pattern: str) -> str:
    """Replace the ``\\p{Name}`` classes of a Java pattern by explicit ranges."""
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and pattern.startswith("p{", index + 1):
            end = pattern.index("}", index)
            ranges = _property_ranges(pattern[index + 3 : end])
            out.append(ranges if in_class else f"[{ranges}]")
            index = end + 1
            continue
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        index += 1
    return "".join(out)


def _property_ranges(name: str) -> str:
    """Return the ranges of a Java ``\\p{...}`` class: ``ASCII`` or a Unicode general category (``L``, ``Nd``)."""
    if name == "ASCII":
        return r"\x00-\x7f"
    return "".join(f"\\U{start:08x}-\\U{end:08x}" for start, end in _category_table().get(name, []))


@cache
def _category_table() -> Mapping[str, list[tuple[int, int]]]:
    """Return code-point ranges per Unicode category and major category (``Lu`` and ``L``), built once."""
    table: dict[str, list[tuple[int, int]]] = {}
    start, previous = 0, unicodedata.category(chr(0))
    for code in range(1, sys.maxunicode + 2):
        category = unicodedata.category(chr(code)) if code <= sys.maxunicode else ""
        if category != previous:
            for key in (previous, previous[0]):
                table.setdefault(key, []).append((start, code - 1))
            start, previous = code, category
    return table
