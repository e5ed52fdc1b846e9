"""Resource statuses over time: CREATE PENDING → CREATE IN_PROGRESS → ACTIVE, and the way to deletion.

A status is computed from the clock when it is read, not advanced by a background thread: a
:class:`Timeline` is the list of (time, status) steps, scheduled when a resource is created or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CREATE_PENDING = "CREATE PENDING"
CREATE_IN_PROGRESS = "CREATE IN_PROGRESS"
ACTIVE = "ACTIVE"
CREATE_FAILED = "CREATE FAILED"
DELETE_PENDING = "DELETE PENDING"
DELETE_IN_PROGRESS = "DELETE IN_PROGRESS"

# A resource can be deleted only when it has settled (Personalize developer guide, "Deleting resources").
DELETABLE = frozenset({ACTIVE, CREATE_FAILED})


@dataclass
class Timeline:
    """The statuses of one resource: ``steps`` of (start time, status), ``None`` meaning gone."""

    steps: list[tuple[float, str | None]] = field(default_factory=list)

    @classmethod
    def creation(cls, now: float, delay: float, *, fails: bool) -> Timeline:
        """Return the timeline of a resource created at ``now`` that settles after ``delay`` seconds."""
        return cls(
            [
                (now, CREATE_PENDING),
                (now + delay / 2, CREATE_IN_PROGRESS),
                (now + delay, CREATE_FAILED if fails else ACTIVE),
            ]
        )

    def delete(self, now: float, delay: float, *, in_progress_step: bool = True) -> None:
        """Schedule deletion from ``now``: DELETE PENDING, DELETE IN_PROGRESS, then gone after ``delay``.

        Dataset groups report only DELETE PENDING (the API reference lists no DELETE IN_PROGRESS for them):
        pass ``in_progress_step=False``.
        """
        self.steps = [step for step in self.steps if step[0] <= now]
        self.steps.append((now, DELETE_PENDING))
        if in_progress_step:
            self.steps.append((now + delay / 2, DELETE_IN_PROGRESS))
        self.steps.append((now + delay, None))

    def status(self, now: float) -> str | None:
        """Return the status at ``now``, or ``None`` once the resource is gone."""
        return self._step(now)[1]

    def changed_at(self, now: float) -> float:
        """Return when the status in force at ``now`` began (the resource's ``lastUpdatedDateTime``)."""
        return self._step(now)[0]

    @property
    def created_at(self) -> float:
        """Return when the resource was created."""
        return self.steps[0][0]

    @property
    def deleting(self) -> bool:
        """Return whether deletion has been requested."""
        return any(status == DELETE_PENDING for _, status in self.steps)

    def _step(self, now: float) -> tuple[float, str | None]:
        """Return the last step that has started by ``now``."""
        current = self.steps[0]
        for step in self.steps:
            if step[0] <= now:
                current = step
        return current
