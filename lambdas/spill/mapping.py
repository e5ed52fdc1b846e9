"""Pausing and resuming the ingest function's event source mapping, and knowing when no batch is in flight.

UpdateEventSourceMapping with ``Enabled=False`` stops new polls; the mapping reads ``Disabling`` and then
``Disabled`` (https://docs.aws.amazon.com/lambda/latest/api/API_EventSourceMappingConfiguration.html). An
invocation started before that may still run: it ends within the function's timeout. So the drain starts once
the mapping reads Disabled and ``quiet_seconds`` (the function timeout) have passed since the pause; from then on no
Put of the stream can land after the import of an older change it would be newer than.
"""

from __future__ import annotations

from typing import Any, Final

DISABLED: Final = "Disabled"
ENABLED: Final = "Enabled"
PAUSED_STATES: Final = frozenset({DISABLED, "Disabling"})


def pause(lambda_client: Any, uuid: str) -> str:
    """Disable the mapping (idempotent); return the state it reports."""
    return str(lambda_client.update_event_source_mapping(UUID=uuid, Enabled=False).get("State", ""))


def resume(lambda_client: Any, uuid: str) -> str:
    """Enable the mapping (idempotent); return the state it reports."""
    return str(lambda_client.update_event_source_mapping(UUID=uuid, Enabled=True).get("State", ""))


def state(lambda_client: Any, uuid: str) -> str:
    """The mapping's state (``Enabled``, ``Disabling``, ``Disabled``, ...)."""
    return str(lambda_client.get_event_source_mapping(UUID=uuid).get("State", ""))


def quiet(lambda_client: Any, uuid: str, *, paused_at: float, quiet_seconds: float, now: float) -> bool:
    """Whether no batch of the stream can be in flight: Disabled, and the function timeout passed since the pause."""
    return state(lambda_client, uuid) == DISABLED and now >= paused_at + quiet_seconds
