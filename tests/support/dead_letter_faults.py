"""SQS clients for the handler's dead-letter writes that fail on purpose: the DLQ refusing entries or whole calls.

Each wraps the moto client the harness writes dead letters with (``make_harness(dead_letter_client=...)``), so a
test can check that nothing is acknowledged that the DLQ did not confirm.
"""

from __future__ import annotations

import random
from typing import Any

from tests.support.fakes import client_error


class RefusingDeadLetterQueue:
    """Forwards SendMessageBatch to moto, except the entries whose body ``refuse`` picks: SQS fails those."""

    def __init__(self, client: Any, refuse: str) -> None:
        self.client, self.refuse = client, refuse

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        kept = [entry for entry in Entries if self.refuse not in entry["MessageBody"]]
        response = dict(self.client.send_message_batch(QueueUrl=QueueUrl, Entries=kept)) if kept else {}
        refused = [
            {"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"} for entry in Entries if entry not in kept
        ]
        return {"Successful": response.get("Successful", []), "Failed": [*response.get("Failed", []), *refused]}


class BrokenSqs:
    """An SQS client whose every SendMessageBatch fails."""

    def send_message_batch(self, **_kwargs: Any) -> dict[str, Any]:
        raise client_error("InternalError", 500, "injected", "SendMessageBatch")


class FlakyDeadLetterQueue:
    """Forwards SendMessageBatch to moto, but sometimes fails the call, and sometimes single entries unsent."""

    def __init__(self, client: Any, rng: random.Random) -> None:
        self._client = client
        self._rng = rng

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self._rng.random() < 0.15:
            raise client_error("InternalError", 500, "injected", "SendMessageBatch")
        refused = [entry for entry in Entries if self._rng.random() < 0.2]
        forwarded = [entry for entry in Entries if entry not in refused]
        response: dict[str, Any] = {"Successful": [], "Failed": []}
        if forwarded:
            response = dict(self._client.send_message_batch(QueueUrl=QueueUrl, Entries=forwarded))
        failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "x"} for e in refused]
        return {**response, "Failed": [*response.get("Failed", []), *failed]}
