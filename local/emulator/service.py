"""The emulator without HTTP: one call in (operation, body, region), one result or :class:`ServiceError` out.

Every call goes the same way: injected fault → body decoded → quota (data plane) → botocore-model checks →
the operation, under the state's lock → call log. The HTTP server only translates to and from the wire.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.model import Shape

from local.emulator import errors
from local.emulator.config import EmulatorConfig
from local.emulator.control import OPERATIONS
from local.emulator.errors import ServiceError
from local.emulator.events import KINDS, find_group, put_records
from local.emulator.faults import THROTTLE, FaultInjector
from local.emulator.model import (
    CONTROL_SERVICE,
    EVENTS_SERVICE,
    Labeler,
    control_operation,
    events_operation,
    format_violations,
    serialize,
    validate,
)
from local.emulator.quotas import RateLimiter
from local.emulator.state import EmulatorState, OpContext, Record

CONTROL_TARGET_PREFIX = "AmazonPersonalize."


class Emulator:
    """Amazon Personalize (control plane and data plane) in memory.

    Parameters
    ----------
    config : EmulatorConfig or None
        The settings; defaults to ``EmulatorConfig()``.
    clock : Callable[[], float]
        Wall-clock seconds, for statuses and timestamps.
    monotonic : Callable[[], float]
        Monotonic seconds, for the request-rate quotas.
    sleep : Callable[[float], None]
        How injected latency waits.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config or EmulatorConfig()
        self._config_lock = threading.Lock()
        self._clock, self._monotonic, self._sleep = clock, monotonic, sleep
        self.state = EmulatorState(clock)
        self._faults = FaultInjector(self._config.seed)
        self._quotas = RateLimiter()

    @property
    def config(self) -> EmulatorConfig:
        """The settings in force (replaced as a whole by :meth:`configure`)."""
        return self._config

    def configure(self, **changes: Any) -> EmulatorConfig:
        """Change settings while running; ``seed`` (even unchanged) restarts the fault sequence.

        Values may be JSON-friendly (``fail_create`` and ``reject_records`` as pattern strings, ``quotas`` as a
        partial dict).

        Raises
        ------
        ValueError
            For an unknown setting or a value out of range.
        """
        with self._config_lock:
            self._config = self._config.with_changes(changes)
            if "seed" in changes:
                self._faults.reseed(self._config.seed)
            return self._config

    def reset(self, *, keep_resources: bool = False) -> None:
        """Forget records, calls, counters and quota windows (and resources unless ``keep_resources``).

        The fault sequence restarts from the configured seed.
        """
        self.state.reset(keep_resources=keep_resources)
        self._quotas.reset()
        self._faults.reseed(self._config.seed)

    def call_control(self, target: str | None, body: bytes, region: str) -> Record:
        """Run a control-plane call (``X-Amz-Target: AmazonPersonalize.<Op>``) and return its response.

        Raises
        ------
        ServiceError
            As the service would answer.
        """
        config, started = self._config, self._monotonic()
        name = target.removeprefix(CONTROL_TARGET_PREFIX) if target else ""
        entry = _log_entry(CONTROL_SERVICE, name or "(no target)", region)
        try:
            operation = control_operation(name) if target and target.startswith(CONTROL_TARGET_PREFIX) else None
            handler = OPERATIONS.get(name)
            if operation is None or handler is None:
                raise ServiceError(errors.UNKNOWN_OPERATION, f"Unknown operation {target}")
            if config.fault_control_plane:
                self._inject_fault(config, entry, control_plane=True)
            request = _decode(body)
            for member in ("datasetArn", "datasetGroupArn", "schemaArn", "eventTrackerArn"):
                if isinstance(request.get(member), str):
                    entry[member] = request[member]
            params = _checked(operation.input_shape, request, None)
            with self.state.lock:
                now = self._clock()
                self.state.sweep(now)
                context = OpContext(self.state, config, region, now)
                result = handler(context, params)
            for task in context.after:  # work that must not hold the lock (reading an import job's data)
                task()
            response: Record = serialize(operation.output_shape, result)
            entry.update(status=200)
            return response
        except ServiceError as exc:
            entry.update(status=exc.control_status(), error=exc.code, message=exc.message)
            raise
        except Exception:
            entry.update(status=500, error=errors.INTERNAL_FAILURE, message="emulator bug")
            raise
        finally:
            entry["durationMs"] = round((self._monotonic() - started) * 1000, 3)
            entry["time"] = self._clock()
            self.state.log_call(entry, throttled=entry["fault"] == THROTTLE)

    def call_events(self, method: str, path: str, body: bytes, region: str) -> None:
        """Run a data-plane call (``POST /items`` ...); success has no response body.

        Raises
        ------
        ServiceError
            As the service would answer; a failed call stores nothing.
        """
        config, started = self._config, self._monotonic()
        operation = events_operation(method, path)
        entry = _log_entry(EVENTS_SERVICE, operation.name if operation else f"{method} {path}", region)
        quota_throttled, accepted = False, 0
        try:
            if operation is None:
                raise ServiceError(errors.UNKNOWN_OPERATION, f"No operation at {method} {path}")
            kind = KINDS[operation.name]
            self._inject_fault(config, entry, control_plane=False)
            request = _decode(body)
            records = request.get(kind.list_field)
            entry["records"] = len(records) if isinstance(records, list) else 0
            for member in ("datasetArn", "trackingId"):
                if isinstance(request.get(member), str):
                    entry[member] = request[member]
            with self.state.lock:
                now = self._clock()
                self.state.sweep(now)
                group = find_group(OpContext(self.state, config, region, now), kind, request)
            entry["datasetGroupArn"] = group
            limit = config.quota(kind.api)
            if group and limit and not self._quotas.admit((group, kind.api), limit, self._monotonic()):
                quota_throttled = True
                raise ServiceError(errors.THROTTLING, "Rate exceeded")
            params = _checked(operation.input_shape, request, kind.path_labeler(request))
            with self.state.lock:
                accepted = put_records(OpContext(self.state, config, region, self._clock()), kind, params, request)
            entry.update(status=200)
        except ServiceError as exc:
            entry.update(status=exc.events_status(), error=exc.code, message=exc.message)
            raise
        except Exception:
            entry.update(status=500, error=errors.INTERNAL_FAILURE, message="emulator bug")
            raise
        finally:
            entry["durationMs"] = round((self._monotonic() - started) * 1000, 3)
            throttled = quota_throttled or entry["fault"] == THROTTLE
            entry["time"] = self._clock()
            self.state.log_call(entry, records_accepted=accepted, throttled=throttled)

    def _inject_fault(self, config: EmulatorConfig, entry: Record, *, control_plane: bool) -> None:
        """Draw this call's fault: wait its delay, then raise its error (noted in ``entry["fault"]``)."""
        fault = self._faults.draw(config, control_plane=control_plane)
        if fault.delay:
            self._sleep(fault.delay)
        if fault.error is not None:
            entry["fault"] = fault.kind
            raise fault.error


def _log_entry(service: str, api: str, region: str) -> Record:
    """Return a call-log entry with every key present (``None`` until known)."""
    keys = (
        "status",
        "error",
        "message",
        "records",
        "datasetArn",
        "trackingId",
        "datasetGroupArn",
        "fault",
        "durationMs",
    )
    return {"time": None, "service": service, "api": api, "region": region, **dict.fromkeys(keys)}


def _decode(body: bytes) -> dict[str, Any]:
    """Return the request body as a JSON object (an empty body is an empty object, as botocore may send)."""
    if not body.strip():
        return {}
    try:
        decoded = json.loads(body)
    except ValueError as exc:
        raise ServiceError(errors.SERIALIZATION, "The request body is not valid JSON.") from exc
    if not isinstance(decoded, dict):
        raise ServiceError(errors.SERIALIZATION, "The request body must be a JSON object.")
    return decoded


def _checked(shape: Shape | None, request: dict[str, Any], labeler: Labeler | None) -> dict[str, Any]:
    """Return the request checked against ``shape`` (converted), or raise InvalidInput naming each violation."""
    if shape is None:
        return {}
    params, violations = validate(shape, request)
    if violations:
        raise errors.invalid_input(format_violations(violations, labeler))
    result: dict[str, Any] = params
    return result
