"""Injected faults: throttling, 5xx and added latency, drawn from a seeded ``random.Random``.

Each faultable call draws the same three numbers whatever the outcome, so one seed gives one sequence of
faults for one sequence of calls.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from local.emulator import errors
from local.emulator.config import EmulatorConfig
from local.emulator.errors import ServiceError

THROTTLE = "throttle"
SERVER_ERROR = "server_error"


@dataclass(frozen=True)
class Fault:
    """What happens to one call: a delay first, then possibly an error instead of the call."""

    delay: float
    kind: str | None
    error: ServiceError | None


class FaultInjector:
    """Draws the fault of each faultable call.

    Parameters
    ----------
    seed : int or None
        The seed of the random sequence (``None``: seeded from the system).
    """

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def reseed(self, seed: int | None) -> None:
        """Restart the sequence from ``seed``."""
        with self._lock:
            self._random = random.Random(seed)

    def draw(self, config: EmulatorConfig, *, control_plane: bool) -> Fault:
        """Return the fault for the next call under ``config``."""
        with self._lock:
            outcome, flavour, jitter = self._random.random(), self._random.random(), self._random.random()
        delay = config.latency + config.latency_jitter * jitter
        if outcome < config.throttle_rate:
            code = config.control_throttle_code if control_plane else errors.THROTTLING
            return Fault(delay, THROTTLE, ServiceError(code, "Rate exceeded"))
        if outcome < config.throttle_rate + config.server_error_rate:
            if flavour < 0.5:
                error = ServiceError(errors.INTERNAL_FAILURE, "An internal error occurred (injected).", 500)
            else:
                error = ServiceError(errors.SERVICE_UNAVAILABLE, "Service unavailable (injected).", 503)
            return Fault(delay, SERVER_ERROR, error)
        return Fault(delay, None, None)
