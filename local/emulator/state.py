"""Everything the emulator holds: resources, records, the call log and counters, behind one lock.

The inspection methods (:meth:`EmulatorState.records`, :meth:`~EmulatorState.events`,
:meth:`~EmulatorState.calls`, :meth:`~EmulatorState.stats`) are the emulator's Python API for tests and the
demo; they return copies, safe to keep while the server goes on.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from contract import KIND_SPECS
from local.emulator.avro import AvroSchema
from local.emulator.bulk import BulkStore, ImportJob
from local.emulator.config import EmulatorConfig
from local.emulator.lifecycle import ACTIVE, Timeline

Record = dict[str, Any]

# The call log keeps the newest entries only, so a long demo run does not grow without bound.
CALL_LOG_LIMIT = 100_000

# The two event streams: each dataset type, the API that writes it, and how its stored events are told apart.
_EVENTS: Final = KIND_SPECS["event"]
_ACTION_INTERACTIONS: Final = KIND_SPECS["actionInteraction"]


def answered_dataset_type(dataset_type: str) -> str:
    """Return a dataset type as Describe/List answers spell it: ``ACTION_INTERACTIONS`` → ``Action_Interactions``.

    The service model documents Dataset.datasetType as one of Interactions, Items, Users, Actions and
    Action_Interactions; the emulator keeps the upper-case spelling of dataset ARNs inside.
    """
    return "_".join(part.capitalize() for part in dataset_type.split("_"))


def partition(region: str) -> str:
    """Return the ARN partition of ``region``."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass
class Schema:
    """A schema: account-level, immutable, and without a status (it exists once created)."""

    arn: str
    name: str
    region: str
    text: str
    parsed: AvroSchema
    domain: str | None
    created_at: float

    def summary(self) -> Record:
        """Return the DatasetSchemaSummary."""
        return {
            "name": self.name,
            "schemaArn": self.arn,
            "creationDateTime": self.created_at,
            "lastUpdatedDateTime": self.created_at,
            "domain": self.domain,
        }

    def describe(self) -> Record:
        """Return the DatasetSchema."""
        return {**self.summary(), "schema": self.text}


@dataclass
class DatasetGroup:
    """A dataset group."""

    arn: str
    name: str
    region: str
    domain: str | None
    kms_key_arn: str | None
    role_arn: str | None
    timeline: Timeline
    failure_reason: str | None

    def summary(self, now: float) -> Record:
        """Return the DatasetGroupSummary at ``now``."""
        status = self.timeline.status(now)
        return {
            "name": self.name,
            "datasetGroupArn": self.arn,
            "status": status,
            "creationDateTime": self.timeline.created_at,
            "lastUpdatedDateTime": self.timeline.changed_at(now),
            "failureReason": self.failure_reason if status == "CREATE FAILED" else None,
            "domain": self.domain,
        }

    def describe(self, now: float) -> Record:
        """Return the DatasetGroup at ``now``."""
        return {**self.summary(now), "roleArn": self.role_arn, "kmsKeyArn": self.kms_key_arn}


@dataclass
class DatasetUpdate:
    """The latest UpdateDataset of a dataset: the new schema and the update's own statuses."""

    schema_arn: str
    timeline: Timeline


@dataclass
class Dataset:
    """A dataset of one of the five types (``dataset_type`` upper case, as in its ARN)."""

    arn: str
    name: str
    region: str
    group_arn: str
    dataset_type: str
    schema_arn: str
    timeline: Timeline
    tracking_id: str | None = None
    update: DatasetUpdate | None = None

    def schema_arn_at(self, now: float) -> str:
        """Return the schema in force at ``now``: the updated one once its update is ACTIVE."""
        if self.update is not None and self.update.timeline.status(now) == ACTIVE:
            return self.update.schema_arn
        return self.schema_arn

    def updating(self, now: float) -> bool:
        """Return whether an UpdateDataset is still in progress."""
        return self.update is not None and self.update.timeline.status(now) != ACTIVE

    def summary(self, now: float) -> Record:
        """Return the DatasetSummary at ``now``."""
        return {
            "name": self.name,
            "datasetArn": self.arn,
            "datasetType": answered_dataset_type(self.dataset_type),
            "status": self.timeline.status(now),
            "creationDateTime": self.timeline.created_at,
            "lastUpdatedDateTime": self.timeline.changed_at(now),
        }

    def describe(self, now: float) -> Record:
        """Return the Dataset at ``now``, with ``latestDatasetUpdate`` once it has been updated."""
        latest = None
        if self.update is not None:
            latest = {
                "schemaArn": self.update.schema_arn,
                "status": self.update.timeline.status(now),
                "creationDateTime": self.update.timeline.created_at,
                "lastUpdatedDateTime": self.update.timeline.changed_at(now),
            }
        return {
            **self.summary(now),
            "datasetGroupArn": self.group_arn,
            "schemaArn": self.schema_arn_at(now),
            "latestDatasetUpdate": latest,
            "trackingId": self.tracking_id,
        }


@dataclass
class EventTracker:
    """An event tracker: the trackingId PutEvents writes through."""

    arn: str
    name: str
    region: str
    group_arn: str
    account_id: str
    tracking_id: str
    timeline: Timeline

    def summary(self, now: float) -> Record:
        """Return the EventTrackerSummary at ``now``."""
        return {
            "name": self.name,
            "eventTrackerArn": self.arn,
            "status": self.timeline.status(now),
            "creationDateTime": self.timeline.created_at,
            "lastUpdatedDateTime": self.timeline.changed_at(now),
        }

    def describe(self, now: float) -> Record:
        """Return the EventTracker at ``now``."""
        return {
            **self.summary(now),
            "accountId": self.account_id,
            "trackingId": self.tracking_id,
            "datasetGroupArn": self.group_arn,
        }


@dataclass
class StoredEvent:
    """One event (PutEvents) or action interaction (PutActionInteractions) as received."""

    api: str
    group_arn: str
    record: Record


@dataclass
class _Counters:
    """What :meth:`EmulatorState.stats` reports; kept apart from the bounded call log so it never drifts."""

    calls: Counter[str] = field(default_factory=Counter)
    ok: Counter[str] = field(default_factory=Counter)
    errors: dict[str, Counter[str]] = field(default_factory=dict)
    throttled: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    records_accepted: Counter[str] = field(default_factory=Counter)


class EmulatorState:
    """Resources, records and the call log of one emulator; every access holds :attr:`lock`.

    Parameters
    ----------
    clock : Callable[[], float]
        Wall-clock seconds (``time.time``); statuses and timestamps are computed from it.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        # Re-entrant: a control-plane handler holds it while calling helpers that take it again.
        self.lock = threading.RLock()
        self.schemas: dict[str, Schema] = {}
        self.dataset_groups: dict[str, DatasetGroup] = {}
        self.datasets: dict[str, Dataset] = {}
        self.event_trackers: dict[str, EventTracker] = {}
        self.import_jobs: dict[str, ImportJob] = {}
        # What import jobs landed: the bulk layer of each dataset, apart from what the Put* APIs wrote.
        self.bulk = BulkStore()
        # Tags per resource ARN, in the order they were added; forgotten with the resource.
        self.tags: dict[str, dict[str, str]] = {}
        self._records: dict[str, dict[str, Record]] = {}
        self._events: list[StoredEvent] = []
        self._calls: deque[Record] = deque(maxlen=CALL_LOG_LIMIT)
        self._seq = 0
        self._counters = _Counters()

    # --- resources ---------------------------------------------------------------------------------------

    def sweep(self, now: float) -> None:
        """Land the records of import jobs that have turned ACTIVE, and forget resources whose deletion completed.

        Import jobs land in the order they finished, so a later FULL import replaces an earlier one's records. A
        deleted dataset takes its records, bulk and individual, and its import jobs with it.
        """
        with self.lock:
            finished = [j for j in self.import_jobs.values() if not j.landed and j.timeline.status(now) == ACTIVE]
            for job in sorted(finished, key=lambda j: j.timeline.changed_at(now)):
                self.bulk.land(job, job.records or [], job.timeline.changed_at(now))
                job.landed, job.records = True, None
            for arn in [arn for arn, d in self.datasets.items() if d.timeline.status(now) is None]:
                self._drop_records(self.datasets.pop(arn))
                self.tags.pop(arn, None)
                for job_arn in [a for a, j in self.import_jobs.items() if j.dataset_arn == arn]:
                    del self.import_jobs[job_arn]
                    self.tags.pop(job_arn, None)
            for table in (self.dataset_groups, self.event_trackers):
                for arn in [arn for arn, r in table.items() if r.timeline.status(now) is None]:
                    del table[arn]
                    self.tags.pop(arn, None)

    def _drop_records(self, dataset: Dataset) -> None:
        """Delete what a dataset held (deleting a dataset deletes its data)."""
        self._records.pop(dataset.arn, None)
        self.bulk.drop(dataset.arn)
        if dataset.dataset_type == _EVENTS.dataset_type:
            self._events = [e for e in self._events if not (e.api == _EVENTS.api and e.group_arn == dataset.group_arn)]
        elif dataset.dataset_type == _ACTION_INTERACTIONS.dataset_type:
            self._events = [e for e in self._events if e.record.get("trackingId") != dataset.tracking_id]

    # --- writes ------------------------------------------------------------------------------------------

    def upsert(self, dataset_arn: str, record_id: str, record: Record) -> None:
        """Store ``record`` as the latest version of ``record_id`` (items, users, actions)."""
        with self.lock:
            self._records.setdefault(dataset_arn, {})[record_id] = record

    def append_event(self, event: StoredEvent) -> None:
        """Store one event or action interaction (every one is kept, in arrival order)."""
        with self.lock:
            self._events.append(event)

    def log_call(self, entry: Record, *, records_accepted: int = 0, throttled: bool = False) -> None:
        """Append ``entry`` (api, status, error...) to the call log and count it."""
        with self.lock:
            self._seq += 1
            self._calls.append({"seq": self._seq, **entry})
            api, error = entry["api"], entry.get("error")
            counters = self._counters
            counters.calls[api] += 1
            if error is None:
                counters.ok[api] += 1
            else:
                counters.errors.setdefault(api, Counter())[error] += 1
            if throttled:
                counters.throttled[api] += 1
            if entry.get("fault"):
                counters.faults[entry["fault"]] += 1
            counters.records_accepted[api] += records_accepted

    # --- inspection --------------------------------------------------------------------------------------

    def records(self, dataset_arn: str) -> list[Record]:
        """Return what a dataset holds.

        Items, users and actions: the latest record per id (upsert), each ``{"itemId": ..., "properties":
        {...}, "receivedAt": ...}``, whether a Put* call or an import job wrote it. Interactions: the bulk
        imported events, then the events of the group's event tracker. Action interactions: the bulk imported
        ones, then those sent with the dataset's trackingId. Records an import job landed carry its
        ``importJobArn``.

        Raises
        ------
        KeyError
            If no such dataset exists.
        """
        with self.lock:
            self.sweep(self.clock())
            dataset = self.datasets[dataset_arn]
            if dataset.dataset_type == _EVENTS.dataset_type:
                streamed = [e.record for e in self._events if e.api == _EVENTS.api and e.group_arn == dataset.group_arn]
                found = self.bulk.events(dataset_arn) + streamed
            elif dataset.dataset_type == _ACTION_INTERACTIONS.dataset_type:
                streamed = [e.record for e in self._events if e.record.get("trackingId") == dataset.tracking_id]
                found = self.bulk.events(dataset_arn) + streamed
            else:
                found = list(_newest(self.bulk.by_id(dataset_arn), self._records.get(dataset_arn, {})).values())
            return copy.deepcopy(found)

    def events(self, tracking_id: str | None = None) -> list[Record]:
        """Return every event and action interaction received (with ``tracking_id``, if given), oldest first."""
        with self.lock:
            found = [e.record for e in self._events if tracking_id is None or e.record["trackingId"] == tracking_id]
            return copy.deepcopy(found)

    def calls(self, api: str | None = None) -> list[Record]:
        """Return the call log (of ``api``, if given), oldest first.

        Each entry: ``seq``, ``time``, ``service``, ``api``, ``region``, ``status`` (HTTP), ``error`` (code or
        ``None``), ``message``, ``records`` (records in a Put* request), ``datasetArn``, ``trackingId``,
        ``datasetGroupArn``, ``fault`` (``"throttle"``, ``"server_error"`` or ``None``), ``durationMs``; control
        calls also carry the ``schemaArn`` or ``eventTrackerArn`` they name.
        """
        with self.lock:
            return [dict(c) for c in self._calls if api is None or c["api"] == api]

    def throttle_counts(self) -> dict[str, int]:
        """Return the number of throttled calls per API (quota and injected throttling alike)."""
        with self.lock:
            return dict(self._counters.throttled)

    def stats(self) -> Record:
        """Return counters: calls per API (total, ok, errors per code), throttled, faults, records accepted."""
        with self.lock:
            self.sweep(self.clock())
            c = self._counters
            return {
                "calls": {
                    api: {"total": total, "ok": c.ok[api], "errors": dict(c.errors.get(api, {}))}
                    for api, total in c.calls.items()
                },
                "throttled": dict(c.throttled),
                "faults": dict(c.faults),
                "recordsAccepted": {api: n for api, n in c.records_accepted.items() if n},
                "resources": {
                    "schemas": len(self.schemas),
                    "datasetGroups": len(self.dataset_groups),
                    "datasets": len(self.datasets),
                    "eventTrackers": len(self.event_trackers),
                    "datasetImportJobs": len(self.import_jobs),
                },
            }

    def reset(self, *, keep_resources: bool = False) -> None:
        """Forget records, calls and counters, and (unless ``keep_resources``) every resource."""
        with self.lock:
            if not keep_resources:
                self.schemas.clear()
                self.dataset_groups.clear()
                self.datasets.clear()
                self.event_trackers.clear()
                self.import_jobs.clear()
                self.tags.clear()
            self._records.clear()
            self.bulk.clear()
            self._events.clear()
            self._calls.clear()
            self._counters = _Counters()


def _newest(bulk: dict[str, Record], individual: dict[str, Record]) -> dict[str, Record]:
    """Return the latest record per id of the two layers (an individual record wins a tie)."""
    merged = dict(bulk)
    for record_id, record in individual.items():
        if record_id not in merged or record["receivedAt"] >= merged[record_id]["receivedAt"]:
            merged[record_id] = record
    return merged


@dataclass(frozen=True)
class OpContext:
    """What one operation works with: the state, the settings in force, the caller's region and the time.

    ``after`` holds work an operation leaves for after the state's lock is released (reading an import job's
    data from S3), run before the call is answered.
    """

    state: EmulatorState
    config: EmulatorConfig
    region: str
    now: float
    after: list[Callable[[], None]] = field(default_factory=list)

    def arn(self, resource: str) -> str:
        """Return the ARN of ``resource`` (``schema/NAME``...) in the caller's region and the account."""
        return f"arn:{partition(self.region)}:personalize:{self.region}:{self.config.account_id}:{resource}"
