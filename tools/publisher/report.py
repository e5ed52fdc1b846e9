"""What became of the changes given to ``Publisher.publish``: sent, superseded, or unsent with the reason."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Problem", "PublishReport", "Unsent"]


class Problem(enum.StrEnum):
    """Why a change was not sent."""

    INVALID = "Invalid"  # not a valid change (the message contract, or not JSON): fix the change
    TOO_LARGE = "TooLarge"  # its body alone is over the batch byte limit
    REJECTED = "Rejected"  # SQS refused it (SenderFault, or a call error retrying cannot fix)
    RETRIES_EXHAUSTED = "RetriesExhausted"  # SQS failed on its side on every attempt
    ABORTED = "Aborted"  # not attempted: an earlier call failed in a way that would fail this one too


@dataclass(frozen=True, slots=True)
class Unsent:
    """A change that was not sent.

    Attributes
    ----------
    index:
        Its 0-based position in the changes given to ``publish`` (the CLI reports 1-based line numbers).
    change:
        The change as given.
    problem:
        The category of the failure.
    reason:
        What went wrong: the field and the rule, or SQS's error code and message. Never a field's value.
    """

    index: int
    change: Any
    problem: Problem
    reason: str


@dataclass(slots=True)
class PublishReport:
    """What ``Publisher.publish`` did.

    Attributes
    ----------
    sent:
        Changes SQS accepted.
    superseded:
        FIFO only: changes not resent after a failure because a later change to the same record (same item,
        action or user) was accepted in the same call; sending the older one after it would undo it.
    unsent:
        Changes that were not sent, with the reason, in input order.
    calls:
        SendMessageBatch calls made (retries included).
    retries:
        Entries sent again after a failure.
    """

    sent: int = 0
    superseded: int = 0
    unsent: list[Unsent] = field(default_factory=list)
    calls: int = 0
    retries: int = 0

    @property
    def ok(self) -> bool:
        """True when every change was sent (or superseded by a newer one that was)."""
        return not self.unsent

    @property
    def total(self) -> int:
        """The number of changes given."""
        return self.sent + self.superseded + len(self.unsent)
