"""The List* operations' pagination: one page of a list, and an opaque token for the next one."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from local.emulator import errors
from local.emulator.errors import ServiceError


def paginate[T](items: Sequence[T], params: Mapping[str, Any]) -> tuple[Sequence[T], str | None]:
    """Return the page of ``items`` that ``nextToken`` and ``maxResults`` (default 100) ask for, and the next token.

    Raises
    ------
    ServiceError
        InvalidNextToken for a token the emulator did not hand out.
    """
    start = 0
    token = params.get("nextToken")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
        except (ValueError, binascii.Error) as exc:
            raise ServiceError(errors.INVALID_NEXT_TOKEN, "The nextToken is not valid.") from exc
    end = start + params.get("maxResults", 100)
    next_token = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode() if end < len(items) else None
    return items[start:end], next_token
