"""The data plane (``personalize-events``): PutItems, PutUsers, PutActions, PutEvents, PutActionInteractions.

The five APIs are one table of :class:`RecordKind` and one function, :func:`put_records`. A call is
all-or-nothing: every record is checked before any is stored, and the error names each offending record by
its index and id (``items[3] (itemId=sku-9): unknown field "colour"``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from contract import KIND_SPECS, KindSpec
from local.emulator import errors
from local.emulator.avro import DATASET_TYPES, AvroSchema, check_properties
from local.emulator.lifecycle import ACTIVE
from local.emulator.model import Labeler, Path
from local.emulator.state import Dataset, OpContext, StoredEvent
from service_rules import MAX_EVENT_BYTES, event_size

# Keys an event's properties may not use, in any case: they are request fields
# (PutEvents / PutActionInteractions API reference, "properties").
FORBIDDEN_EVENT_KEYS = frozenset({"userid", "sessionid", "eventtype", "timestamp", "recommendationid", "impression"})
# A code point of the UTF-16 surrogate range can only be in a parsed str as a lone half (json.loads joins a pair).
_SURROGATE = re.compile("[\ud800-\udfff]")
# The problem a record matching the ``reject_records`` setting is answered with.
REJECTED_RECORD = "the record was rejected (its id matches the emulator's reject_records pattern)"


@dataclass(frozen=True)
class RecordKind:
    """One Put* API: where its records are, what identifies them, which dataset type they go to.

    Parameters
    ----------
    api : str
        The operation name.
    list_field : str
        The request member holding the records.
    id_field : str or None
        The record id for upserts (items, users, actions); ``None`` for event streams, which keep every record.
    dataset_type : str
        The dataset type the records belong to.
    by_tracker : bool
        Whether the call names a trackingId instead of a datasetArn.
    label_fields : tuple[str, ...]
        Record members that identify a record in error messages, first present wins.
    """

    api: str
    list_field: str
    id_field: str | None
    dataset_type: str
    by_tracker: bool
    label_fields: tuple[str, ...]

    def label(self, body: Mapping[str, Any], index: int) -> str:
        """Return how errors name record ``index`` of ``body``: ``items[3] (itemId=sku-9)``."""
        records = body.get(self.list_field)
        record = records[index] if isinstance(records, list) and index < len(records) else None
        text = f"{self.list_field}[{index}]"
        if isinstance(record, dict):
            for name in self.label_fields:
                value = record.get(name)
                if isinstance(value, str):
                    # Cut, so an over-long id does not flood the message it is named in.
                    shown = value if len(value) <= 64 else value[:61] + "..."
                    return f"{text} ({name}={shown})"
        return text

    def path_labeler(self, body: Mapping[str, Any]) -> Labeler:
        """Return a function naming a violation's path, with the record's label for paths inside a record."""

        def label(path: Path) -> str:
            if len(path) >= 2 and path[0] == self.list_field and isinstance(path[1], int):
                rest = ".".join(str(p) for p in path[2:])
                return self.label(body, path[1]) + (f".{rest}" if rest else "")
            return ".".join(str(p) for p in path) or "request"

        return label


# How error messages name the records of the event streams, which have no id of their own (first present wins);
# the other kinds' records are named by their id.
_EVENT_LABELS: Final[Mapping[str, tuple[str, ...]]] = {
    "event": ("eventId", "itemId"),
    "actionInteraction": ("eventId", "actionId"),
}


def _record_kind(spec: KindSpec) -> RecordKind:
    """Return the emulator's view of one kind of the contract."""
    labels = (spec.id_field,) if spec.id_field else _EVENT_LABELS[spec.name]
    by_tracker = spec.tracking_env is not None
    return RecordKind(spec.api, spec.list_field, spec.id_field, spec.dataset_type, by_tracker, labels)


KINDS: Mapping[str, RecordKind] = {spec.api: _record_kind(spec) for spec in KIND_SPECS.values()}
# PutEvents writes to the group's Interactions dataset through an event tracker and models only InvalidInput.
_EVENTS: Final = KIND_SPECS["event"]


@dataclass(frozen=True)
class Target:
    """Where a Put* call writes: the dataset (whose schema checks the records) and its group."""

    dataset: Dataset
    group_arn: str


def find_group(ctx: OpContext, kind: RecordKind, body: Mapping[str, Any]) -> str | None:
    """Return the dataset group a call addresses, if it resolves, for the per-group quota; never raises."""
    if kind.by_tracker:
        tracking_id = body.get("trackingId")
        for tracker in ctx.state.event_trackers.values():
            if tracker.tracking_id == tracking_id:
                return tracker.group_arn
        for dataset in ctx.state.datasets.values():
            if dataset.tracking_id == tracking_id:
                return dataset.group_arn
        return None
    arn = body.get("datasetArn")
    named = ctx.state.datasets.get(arn) if isinstance(arn, str) else None
    return named.group_arn if named else None


def resolve(ctx: OpContext, kind: RecordKind, params: Mapping[str, Any]) -> Target:
    """Return the target of a checked request, or raise the error the service answers with.

    PutItems/PutUsers/PutActions: unknown dataset → ResourceNotFound (404), wrong type → InvalidInput,
    not ACTIVE → ResourceInUse (409). PutActionInteractions: unknown trackingId → ResourceNotFound, dataset
    not ACTIVE → ResourceInUse. PutEvents models only InvalidInput, so every problem is InvalidInput.
    """
    if kind.api == _EVENTS.api:
        return _resolve_event_tracker(ctx, params["trackingId"])
    if kind.by_tracker:
        found = [
            d for d in ctx.state.datasets.values() if d.tracking_id == params["trackingId"] and d.region == ctx.region
        ]
        if not found:
            raise errors.not_found(f"No Action interactions dataset has trackingId {params['trackingId']}.")
        dataset = found[0]
    else:
        named = ctx.state.datasets.get(params["datasetArn"])
        if named is None or named.region != ctx.region:
            raise errors.not_found(f"Dataset {params['datasetArn']} does not exist.")
        dataset = named
        if dataset.dataset_type != kind.dataset_type:
            raise errors.invalid_input(
                f"{kind.api} writes to an {kind.dataset_type} dataset; {dataset.arn} is {dataset.dataset_type}."
            )
    status = dataset.timeline.status(ctx.now)
    if status != ACTIVE:
        raise errors.in_use(f"Dataset {dataset.arn} is in status {status}; it must be ACTIVE.")
    return Target(dataset, dataset.group_arn)


def _resolve_event_tracker(ctx: OpContext, tracking_id: str) -> Target:
    """Return the target of PutEvents: an ACTIVE tracker whose group has an ACTIVE Interactions dataset.

    Every refusal names the tracking id, which is how the ingest Lambda tells a setup error from a bad event
    (``ingest.errors.tracking_id_refused``; what AWS answers is undocumented, docs/personalize.md §1).
    """
    tracker = next(
        (t for t in ctx.state.event_trackers.values() if t.tracking_id == tracking_id and t.region == ctx.region),
        None,
    )
    if tracker is None:
        raise errors.invalid_input(f"No event tracker has trackingId {tracking_id}.")
    status = tracker.timeline.status(ctx.now)
    if status != ACTIVE:
        raise errors.invalid_input(
            f"Event tracker {tracker.arn} of trackingId {tracking_id} is in status {status}; it must be ACTIVE."
        )
    interactions = [
        d
        for d in ctx.state.datasets.values()
        if d.group_arn == tracker.group_arn
        and d.dataset_type == _EVENTS.dataset_type
        and d.timeline.status(ctx.now) == ACTIVE
    ]
    if not interactions:
        raise errors.invalid_input(
            f"Dataset group {tracker.group_arn} of trackingId {tracking_id} has no ACTIVE Interactions dataset."
        )
    return Target(interactions[0], tracker.group_arn)


def put_records(ctx: OpContext, kind: RecordKind, params: Mapping[str, Any], raw: Mapping[str, Any]) -> int:
    """Check every record of a checked request, then store them all; return how many were stored.

    Parameters
    ----------
    ctx : OpContext
        The operation's context (the state's lock is held).
    kind : RecordKind
        The API.
    params : Mapping[str, Any]
        The request after model validation (timestamps as epoch seconds).
    raw : Mapping[str, Any]
        The request as sent, to name records in error messages.

    Raises
    ------
    ServiceError
        If the target is unusable or any record is invalid; nothing is stored then.
    """
    target = resolve(ctx, kind, params)
    schema = ctx.state.schemas[target.dataset.schema_arn_at(ctx.now)].parsed
    records = params[kind.list_field]
    call_fields = {name: raw[name] for name in _call_fields(kind) if name in raw}
    prepared: list[dict[str, Any]] = []
    problems: list[str] = []
    for index, record in enumerate(records):
        stored, found = check_record(kind, schema, record, raw[kind.list_field][index], call_fields=call_fields)
        if _rejected(ctx.config.reject_records, kind, record):
            found.append(REJECTED_RECORD)
        if found:
            problems.append(f"{kind.label(raw, index)}: {', '.join(found)}")
        prepared.append(stored)
    if problems:
        raise errors.invalid_input("; ".join(problems[:10]))
    if kind.api == _EVENTS.api and params.get("sessionId") == IGNORED_SESSION_ID:
        # docs/personalize.md §1 (aws-sdk-js#3371): PutEvents with sessionId "null" answered 200 and the events were
        # silently ignored. Doing the same here lets a test catch a pipeline that would lose them.
        return 0
    for record in prepared:
        _store(ctx, kind, target, params, record)
    return len(prepared)


IGNORED_SESSION_ID = "null"


def _rejected(pattern: re.Pattern[str] | None, kind: RecordKind, record: Mapping[str, Any]) -> bool:
    """Return whether the ``reject_records`` setting makes ``record`` a poison record (its id matches)."""
    if pattern is None:
        return False
    return any(isinstance(value, str) and pattern.search(value) for value in map(record.get, kind.label_fields))


def _call_fields(kind: RecordKind) -> tuple[str, ...]:
    """The request members PutEvents stores with each of its events (the other APIs have none)."""
    return ("sessionId", "userId") if kind.api == _EVENTS.api else ()


def check_record(
    kind: RecordKind,
    schema: AvroSchema,
    record: Mapping[str, Any],
    raw: Mapping[str, Any],
    *,
    call_fields: Mapping[str, Any],
) -> tuple[dict[str, Any], list[str]]:
    """Check one record of a request that passed model validation; return it as stored and its problems.

    Parameters
    ----------
    kind : RecordKind
        The API.
    schema : AvroSchema
        The target dataset's schema.
    record : Mapping[str, Any]
        The record after model validation (timestamps as epoch seconds).
    raw : Mapping[str, Any]
        The record as sent, for its size.
    call_fields : Mapping[str, Any]
        The request members stored with the record (PutEvents' sessionId and userId), as sent.

    Returns
    -------
    tuple
        The record as stored (``properties`` parsed) and the problems found, naming keys and rules, never values.
    """
    stored = dict(record)
    problems: list[str] = []
    if kind.by_tracker and event_size(raw, call_fields) > MAX_EVENT_BYTES:
        problems.append(f"an event holds at most {MAX_EVENT_BYTES} bytes")
    if "properties" not in record:
        properties: dict[str, Any] = {}
    else:
        try:
            properties = json.loads(record["properties"])
        except (ValueError, RecursionError):
            return stored, ["Error parsing properties json"]
        if not isinstance(properties, dict):
            return stored, ["properties must be a JSON object"]
    if _holds_lone_surrogate([call_fields, raw, properties]):
        # A valid JSON escape (\ud800), but not text: the service could refuse or mangle it. Refused here, so a test
        # sees a pipeline that would send one.
        return stored, ["a string holds an unpaired UTF-16 surrogate escape, which is not text"]
    if kind.by_tracker:
        problems.extend(
            f'properties may not contain "{key}" (it is a request field)'
            for key in properties
            if key.lower() in FORBIDDEN_EVENT_KEYS
        )
        properties = {k: v for k, v in properties.items() if k.lower() not in FORBIDDEN_EVENT_KEYS}
    checked, found = check_properties(
        schema, properties, request_fields=DATASET_TYPES[kind.dataset_type].request_fields
    )
    problems.extend(found)
    if "properties" in record:
        stored["properties"] = checked
    return stored, problems


def _holds_lone_surrogate(document: Any) -> bool:
    """Whether a key or a string (at any depth) of a parsed JSON ``document`` holds half of a surrogate pair."""
    stack: list[Any] = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, Mapping):
            if any(_SURROGATE.search(key) for key in value):
                return True
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _store(ctx: OpContext, kind: RecordKind, target: Target, params: Mapping[str, Any], record: dict[str, Any]) -> None:
    """Store one checked record: upsert by id, or append to the event stream."""
    if kind.id_field is not None:
        ctx.state.upsert(target.dataset.arn, record[kind.id_field], {**record, "receivedAt": ctx.now})
        return
    # PutEvents carries the session and user once per call; each stored event gets them, as the service
    # stores one interaction per event.
    shared = {name: params[name] for name in ("sessionId", "userId") if name in params and kind.api == _EVENTS.api}
    event = {"trackingId": params["trackingId"], **shared, **record, "receivedAt": ctx.now}
    ctx.state.append_event(StoredEvent(kind.api, target.group_arn, event))
