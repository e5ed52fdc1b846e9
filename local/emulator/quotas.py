"""Request-rate quotas: a sliding one-second window per (dataset group, API)."""

from __future__ import annotations

import threading
from collections import deque


class RateLimiter:
    """Admit at most ``limit`` calls per key within any ``window`` seconds.

    Only admitted calls count: a throttled call does not push the window further, as with AWS's token
    buckets, so a caller that backs off gets through again.

    Parameters
    ----------
    window : float
        The window's length in seconds (the quotas are per second).
    """

    def __init__(self, window: float = 1.0) -> None:
        self._window = window
        self._lock = threading.Lock()
        self._admitted: dict[tuple[str, str], deque[float]] = {}

    def admit(self, key: tuple[str, str], limit: float, now: float) -> bool:
        """Return whether a call on ``key`` at ``now`` (monotonic seconds) is within ``limit`` per window."""
        with self._lock:
            times = self._admitted.setdefault(key, deque())
            while times and times[0] <= now - self._window:
                times.popleft()
            if len(times) >= limit:
                return False
            times.append(now)
            return True

    def reset(self) -> None:
        """Forget every admitted call."""
        with self._lock:
            self._admitted.clear()
