"""The context value parsers: one per value type, each accepting the type itself or its string spelling from ``-c``.

Values given on the command line (``-c batchSize=20``) arrive as strings, so every parser here accepts the string
spelling of its type too: ``"20"`` for an integer, ``"true"``/``"false"`` for a boolean and a JSON document for an
object. Every problem is raised as :class:`ConfigError` with the context key first in the message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


class ConfigError(ValueError):
    """A configuration value is missing or invalid.

    Parameters
    ----------
    key
        The context key (dotted for nested values, e.g. ``datasets.items.arn``) the problem is about.
    problem
        What is wrong and what would be accepted, including the offending value.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


_INT_TEXT: Final = re.compile(r"[+-]?\d+")


def parse_int(key: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    """Read an integer context value within ``[minimum, maximum]``.

    Parameters
    ----------
    key
        The context key, for the error message.
    value
        An ``int`` or its decimal string (``"20"``, as ``-c batchSize=20`` passes it). Booleans are refused.
    minimum, maximum
        The inclusive bounds; ``maximum=None`` means unbounded.

    Returns
    -------
    int
        The value.

    Raises
    ------
    ConfigError
        The value is not an integer or is out of bounds.
    """
    expected = (
        f"must be an integer between {minimum} and {maximum}"
        if maximum is not None
        else f"must be an integer of at least {minimum}"
    )
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None or number < minimum or (maximum is not None and number > maximum):
        raise ConfigError(key, f"{expected}, got {value!r}")
    return number


def parse_bool(key: str, value: object) -> bool:
    """Read a boolean context value: ``True``/``False`` or the strings ``"true"``/``"false"`` (any case).

    Raises
    ------
    ConfigError
        Anything else (``"yes"``, ``1``, ...), which is more likely a mistake than an intent.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ConfigError(key, f"must be true or false, got {value!r}")


def parse_str(key: str, value: object, *, pattern: re.Pattern[str], shape: str) -> str:
    """Read a string context value that must fully match ``pattern`` (described to the user as ``shape``).

    Raises
    ------
    ConfigError
        The value is not a string or does not match.
    """
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(key, f"must be {shape}, got {value!r}")
    return value


def parse_object(key: str, value: object) -> Mapping[str, object]:
    """Read an object-valued context value: a mapping, or a JSON object given as a string from ``-c``.

    Raises
    ------
    ConfigError
        The value is neither, or the string is not a JSON object.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(key, f"must be a JSON object, got {value!r} ({error.msg})") from None
    if not isinstance(value, Mapping) or not all(isinstance(name, str) for name in value):
        raise ConfigError(key, f"must be a JSON object, got {value!r}")
    return value


@dataclass(frozen=True)
class IntSetting:
    """An integer context key with its default and the bounds the service behind it enforces."""

    key: str
    default: int
    minimum: int
    maximum: int | None = None

    def read(self, context: Mapping[str, object]) -> int:
        """Return the key's value from ``context`` (the default when absent or null), validated."""
        value = context.get(self.key)
        return self.check(self.default if value is None else value)

    def check(self, value: object) -> int:
        """Validate ``value`` against this setting's bounds (see :func:`parse_int`)."""
        return parse_int(self.key, value, minimum=self.minimum, maximum=self.maximum)
