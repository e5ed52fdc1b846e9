"""The ingest function's event source mapping, on one machine: enabled, disabling or disabled, over the local runner.

On AWS the spill pauses the mapping with UpdateEventSourceMapping and reads its ``State`` with
GetEventSourceMapping (``lambdas/spill/mapping.py``). :class:`LocalEventSourceMapping` answers those two calls, with
the same parameters and answer members, so the spill's own code runs against it:

- **Enabled**: a :class:`~local.runner.EventSourceRunner` (made by ``make_runner``) polls in a thread;
- **Disabling**: ``stop()`` was asked of it, and a batch it received may still be in the handler;
- **Disabled**: the runner returned, so no invocation is in flight, as on AWS once the function timeout passed.

The runner is driven through its public ``run`` and ``stop``: pausing it is stopping it (invocations in progress
finish, as Lambda's do), resuming it is a new run. A run that drains the queue ends by itself (the runner's
``stop_when_drained``); the mapping still reads Enabled, as an idle one does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from local.run_summary import RunSummary


class Runner(Protocol):
    """What the mapping needs of ``local.runner.EventSourceRunner``."""

    def run(self) -> RunSummary: ...

    def stop(self) -> None: ...


class LocalEventSourceMapping:
    """A boto3-``lambda``-client-shaped stand-in for one event source mapping (see the module's docstring)."""

    def __init__(self, make_runner: Callable[[], Runner], *, uuid: str = "local-ingest-mapping") -> None:
        self.uuid = uuid
        self._make_runner = make_runner
        self._lock = threading.Lock()
        self._enabled = False
        self._runner: Runner | None = None
        self._thread: threading.Thread | None = None
        self.summaries: list[RunSummary] = []
        self.errors: list[BaseException] = []

    # --- the two Lambda API calls the spill makes ---------------------------------------------------------------

    def update_event_source_mapping(self, *, UUID: str, Enabled: bool, **_: Any) -> dict[str, Any]:
        """UpdateEventSourceMapping(UUID, Enabled)."""
        self._check(UUID)
        with self._lock:
            if Enabled and not self._enabled:
                self._start()
            elif not Enabled and self._enabled and self._runner is not None:
                self._runner.stop()
            self._enabled = Enabled
        return self.get_event_source_mapping(UUID=UUID)

    def get_event_source_mapping(self, *, UUID: str, **_: Any) -> dict[str, Any]:
        """GetEventSourceMapping(UUID): ``UUID`` and ``State``."""
        self._check(UUID)
        with self._lock:
            return {"UUID": self.uuid, "State": self._state()}

    # --- for the local driver and the bench ------------------------------------------------------------------------

    def wait_idle(self, timeout: float | None = None) -> None:
        """Wait for the current run to end (drained, or stopped)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _state(self) -> str:
        running = self._thread is not None and self._thread.is_alive()
        if self._enabled:
            return "Enabled"
        return "Disabling" if running else "Disabled"

    def _start(self) -> None:
        runner = self._make_runner()
        self._runner = runner

        def run() -> None:
            try:
                self.summaries.append(runner.run())
            except BaseException as error:  # recorded for the caller; a mapping keeps its state on a failed poll
                self.errors.append(error)

        self._thread = threading.Thread(target=run, name="event-source-mapping", daemon=True)
        self._thread.start()

    def _check(self, uuid: str) -> None:
        if uuid != self.uuid:
            raise ValueError(f"no event source mapping {uuid!r} (this one is {self.uuid!r})")
