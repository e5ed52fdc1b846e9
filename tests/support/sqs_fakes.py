"""SQS clients that misbehave on purpose, around a real one (moto's server): each changes one call, the rest pass
through. They compose, since each wraps any client, itself included: ``CrashingSqs(SlowReceives(sqs, delay=1))``.

For the tools' promises under failure: a crash between copy and delete, SQS refusing part of a batch, a pass that
outlasts its hold, the in-flight limit, held messages that cannot be released.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tests.support.fakes import client_error

if TYPE_CHECKING:
    # To the type checker a proxy is the client it wraps, so the tools take it where they take an SQS client.
    from mypy_boto3_sqs import SQSClient as _Client
else:
    _Client = object


class SimulatedCrash(Exception):
    """The process dies here."""


class SqsProxy(_Client):
    """Delegates every call to ``client``; a subclass overrides the calls it changes, and calls ``self.client``'s
    own to go through."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def refused(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``Failed`` entries of a batch answer that refuses ``entries`` (a retryable server fault)."""
    return [
        {"Id": entry["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"} for entry in entries
    ]


class CrashingSqs(SqsProxy):
    """Dies right after SQS confirmed the copies, before the originals are deleted.

    ``crash_on_batch``: the DeleteMessageBatch call (1-based) that dies; earlier ones go through. ``hard``: the
    release of held messages dies too, as when the process is killed rather than interrupted.
    """

    def __init__(self, client: Any, *, crash_on_batch: int = 1, hard: bool = False) -> None:
        super().__init__(client)
        self._crash_on_batch = crash_on_batch
        self._hard = hard
        self.deletes = 0
        # The receipt handles of every message received: what the killed process held, so a test can end the
        # hold when it chooses instead of sleeping until the visibility timeout runs out.
        self.receipt_handles: list[str] = []

    def receive_message(self, **kwargs: Any) -> Any:
        answer = self.client.receive_message(**kwargs)
        self.receipt_handles.extend(message["ReceiptHandle"] for message in answer.get("Messages", []))
        return answer

    def delete_message_batch(self, **kwargs: Any) -> Any:
        self.deletes += 1
        if self.deletes >= self._crash_on_batch:
            raise SimulatedCrash
        return self.client.delete_message_batch(**kwargs)

    def change_message_visibility_batch(self, **kwargs: Any) -> Any:
        if self._hard:
            raise SimulatedCrash
        return self.client.change_message_visibility_batch(**kwargs)


class MoveTaskSpy(SqsProxy):
    """Records every StartMessageMoveTask it is asked for (moto's server answers it with HTTP 500)."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.move_tasks: list[dict[str, Any]] = []

    def start_message_move_task(self, **kwargs: Any) -> Any:
        self.move_tasks.append(kwargs)
        return self.client.start_message_move_task(**kwargs)


class RefusingSends(SqsProxy):
    """SendMessageBatch sends only the first ``accepted`` entries and refuses the rest."""

    def __init__(self, client: Any, *, accepted: int) -> None:
        super().__init__(client)
        self._accepted = accepted

    def send_message_batch(self, **kwargs: Any) -> Any:
        entries = list(kwargs.pop("Entries"))
        response = self.client.send_message_batch(Entries=entries[: self._accepted], **kwargs)
        response["Failed"] = refused(entries[self._accepted :])
        return response


class UnreleasingSqs(SqsProxy):
    """ChangeMessageVisibilityBatch refuses every entry: held messages stay hidden until their hold ends."""

    def change_message_visibility_batch(self, **kwargs: Any) -> Any:
        return {"Successful": [], "Failed": refused(kwargs["Entries"])}


class ReceivesAfter(SqsProxy):
    """Lets the first ``allowed`` ReceiveMessage calls through untouched; :meth:`later_receive` decides the rest."""

    def __init__(self, client: Any, *, allowed: int = 1) -> None:
        super().__init__(client)
        self._allowed = allowed
        self.receives = 0

    def receive_message(self, **kwargs: Any) -> Any:
        self.receives += 1
        if self.receives > self._allowed:
            return self.later_receive(**kwargs)
        return self.client.receive_message(**kwargs)

    def later_receive(self, **kwargs: Any) -> Any:
        """A receive after the allowed ones: passed through here."""
        return self.client.receive_message(**kwargs)


class SlowReceives(ReceivesAfter):
    """Every ReceiveMessage after the first waits ``delay`` seconds first, as in a pass over a large DLQ at a slow
    pace: it outlasts the hold, and what it read comes back."""

    def __init__(self, client: Any, *, delay: float) -> None:
        super().__init__(client, allowed=1)
        self._delay = delay

    def later_receive(self, **kwargs: Any) -> Any:
        time.sleep(self._delay)
        return self.client.receive_message(**kwargs)


class InFlightLimitSqs(ReceivesAfter):
    """ReceiveMessage calls after the first ``allowed`` are refused with OverLimit, as SQS does once a queue holds
    its limit of in-flight messages (120,000 on a standard queue)."""

    def later_receive(self, **kwargs: Any) -> Any:
        raise client_error("OverLimit", 403, "too many messages in flight", "ReceiveMessage")
