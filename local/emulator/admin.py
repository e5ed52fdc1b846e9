"""The inspection and control routes under ``/_emulator/`` (never used by AWS, so they cannot collide).

=======  =========================  ==========================================================================
method   path                       answer
=======  =========================  ==========================================================================
GET      /_emulator/health          ``{"status": "ok"}``
GET      /_emulator/records         ``?datasetArn=`` → ``{"datasetArn", "datasetType", "records": [...]}``
GET      /_emulator/events          ``?trackingId=`` (optional) → ``{"trackingId", "events": [...]}``
GET      /_emulator/calls           ``?api=&since=<seq>`` (optional) → ``{"calls": [...]}``
GET      /_emulator/stats           the counters of :meth:`EmulatorState.stats`
GET      /_emulator/config          the settings (:meth:`EmulatorConfig.to_json`)
POST     /_emulator/config          a JSON object of settings to change → the new settings
POST     /_emulator/reset           ``?scope=data`` keeps resources → ``{"reset": "all" | "data"}``
=======  =========================  ==========================================================================
"""

from __future__ import annotations

import json
from typing import Any

from local.emulator.service import Emulator

PREFIX = "/_emulator/"

Answer = tuple[int, dict[str, Any]]


def handle(emulator: Emulator, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Answer:
    """Answer one request to a ``/_emulator/`` route with an HTTP status and a JSON object."""
    route = (method, path.removeprefix(PREFIX).strip("/"))
    params = {name: values[-1] for name, values in query.items()}
    if route == ("GET", "health"):
        return 200, {"status": "ok"}
    if route == ("GET", "records"):
        return _records(emulator, params.get("datasetArn"))
    if route == ("GET", "events"):
        tracking_id = params.get("trackingId")
        return 200, {"trackingId": tracking_id, "events": emulator.state.events(tracking_id)}
    if route == ("GET", "calls"):
        return _calls(emulator, params)
    if route == ("GET", "stats"):
        return 200, emulator.state.stats()
    if route == ("GET", "config"):
        return 200, emulator.config.to_json()
    if route == ("POST", "config"):
        return _configure(emulator, body)
    if route == ("POST", "reset"):
        keep = params.get("scope") == "data"
        emulator.reset(keep_resources=keep)
        return 200, {"reset": "data" if keep else "all"}
    return 404, {"message": f"No emulator route {method} {path}"}


def _records(emulator: Emulator, dataset_arn: str | None) -> Answer:
    """Answer ``GET /_emulator/records?datasetArn=...``."""
    if not dataset_arn:
        return 400, {"message": "datasetArn is required"}
    try:
        records = emulator.state.records(dataset_arn)
    except KeyError:
        return 404, {"message": f"Dataset {dataset_arn} does not exist"}
    dataset = emulator.state.datasets.get(dataset_arn)
    dataset_type = dataset.dataset_type if dataset else None
    return 200, {"datasetArn": dataset_arn, "datasetType": dataset_type, "records": records}


def _calls(emulator: Emulator, params: dict[str, str]) -> Answer:
    """Answer ``GET /_emulator/calls?api=...&since=...``."""
    try:
        since = int(params.get("since", "0"))
    except ValueError:
        return 400, {"message": "since must be an integer (a call's seq)"}
    calls = [c for c in emulator.state.calls(params.get("api")) if c["seq"] > since]
    return 200, {"calls": calls}


def _configure(emulator: Emulator, body: bytes) -> Answer:
    """Answer ``POST /_emulator/config``."""
    try:
        changes = json.loads(body or b"{}")
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object of settings")
        config = emulator.configure(**changes)
    except ValueError as exc:
        return 400, {"message": str(exc)}
    return 200, config.to_json()
