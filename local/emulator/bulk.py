"""Dataset import jobs as resources, and the bulk records they land in their datasets.

A dataset holds two layers, as the service describes them: bulk records (written by import jobs: a FULL import
replaces the layer, an INCREMENTAL one adds to it) and individually imported ones (written by the Put* APIs, which
a FULL import leaves alone). :class:`BulkStore` keeps the first layer; :class:`~local.emulator.state.EmulatorState`
keeps the second and merges the two when asked for a dataset's records.

Bulk records are stored in the shape the Put* APIs' records are (``{"itemId": ..., "properties": {...}}``,
``{"userId": ..., "itemId": ..., "eventType": ..., "sentAt": ...}``), plus the ``importJobArn`` that landed them,
so a test can compare what a backfill imported with what the stream wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from contract import KIND_SPECS
from local.emulator.avro import camel_case
from local.emulator.lifecycle import CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING, Timeline

Record = dict[str, Any]

# Statuses in which a job counts against the concurrency limit and blocks DeleteDataset.
RUNNING: Final = frozenset({CREATE_PENDING, CREATE_IN_PROGRESS})

# The record id of each upsert dataset type (items, users, actions); the event types have none.
ID_FIELDS: Final[Mapping[str, str | None]] = {spec.dataset_type: spec.id_field for spec in KIND_SPECS.values()}

# The schema field holding each upsert type's record id.
_ID_COLUMNS: Final = {"itemId": "ITEM_ID", "userId": "USER_ID", "actionId": "ACTION_ID"}
_EVENT_MEMBERS: Final = {"USER_ID": "userId", "EVENT_TYPE": "eventType", "EVENT_ID": "eventId"}
# Schema fields a record carries as its own members rather than in ``properties``, by dataset type: the members of
# PutEvents' Event and PutActionInteractions' ActionInteraction (and the call's userId).
_MEMBERS: Final[Mapping[str, Mapping[str, str]]] = {
    "INTERACTIONS": {
        **_EVENT_MEMBERS,
        "ITEM_ID": "itemId",
        "TIMESTAMP": "sentAt",
        "EVENT_VALUE": "eventValue",
        "RECOMMENDATION_ID": "recommendationId",
        "IMPRESSION": "impression",
    },
    "ACTION_INTERACTIONS": {
        **_EVENT_MEMBERS,
        "ACTION_ID": "actionId",
        "TIMESTAMP": "timestamp",
        "RECOMMENDATION_ID": "recommendationId",
        "IMPRESSION": "impression",
    },
}


def to_record(dataset_type: str, row: Mapping[str, Any]) -> Record:
    """Return one parsed CSV row (field name → value) as a record in its Put* shape; empty cells are left out.

    IMPRESSION becomes a list of item ids and EVENT_ATTRIBUTION_SOURCE PutEvents' ``metricAttribution``.
    """
    id_field = ID_FIELDS[dataset_type]
    members = dict(_MEMBERS.get(dataset_type, {}))
    if id_field is not None:
        members[_ID_COLUMNS[id_field]] = id_field
    record: Record = {}
    properties: Record = {}
    for name, value in row.items():
        if value is None:
            continue
        if name == "IMPRESSION":
            record["impression"] = str(value).split("|")
        elif name == "EVENT_ATTRIBUTION_SOURCE" and dataset_type == "INTERACTIONS":
            record["metricAttribution"] = {"eventAttributionSource": value}
        elif name in members:
            record[members[name]] = value
        else:
            properties[camel_case(name)] = value
    if properties:
        record["properties"] = properties
    return record


@dataclass
class ImportJob:
    """A dataset import job.

    Its ``timeline`` is CREATE PENDING alone until the job's data has been read and checked; then it is scheduled
    to end in ACTIVE or CREATE FAILED ``import_delay`` seconds after creation, and ``records`` (or
    ``failure_reason``) is known. The records land in the dataset when the job turns ACTIVE (``landed``).
    """

    arn: str
    name: str
    region: str
    dataset_arn: str
    dataset_type: str
    data_location: str
    role_arn: str | None
    import_mode: str
    publish_metrics: bool
    timeline: Timeline
    failure_reason: str | None = None
    records: list[Record] | None = None
    landed: bool = False

    def running(self, now: float) -> bool:
        """Return whether the job is CREATE PENDING or CREATE IN_PROGRESS at ``now``."""
        return self.timeline.status(now) in RUNNING

    def summary(self, now: float) -> Record:
        """Return the DatasetImportJobSummary at ``now``."""
        status = self.timeline.status(now)
        return {
            "datasetImportJobArn": self.arn,
            "jobName": self.name,
            "status": status,
            "creationDateTime": self.timeline.created_at,
            "lastUpdatedDateTime": self.timeline.changed_at(now),
            "failureReason": self.failure_reason if status == CREATE_FAILED else None,
            "importMode": self.import_mode,
        }

    def describe(self, now: float) -> Record:
        """Return the DatasetImportJob at ``now``."""
        return {
            **self.summary(now),
            "datasetArn": self.dataset_arn,
            "dataSource": {"dataLocation": self.data_location},
            "roleArn": self.role_arn,
            "publishAttributionMetricsToS3": self.publish_metrics,
        }


@dataclass
class BulkStore:
    """The bulk layer of each dataset: latest record per id (items, users, actions), or every event."""

    _by_id: dict[str, dict[str, Record]] = field(default_factory=dict)
    _events: dict[str, list[Record]] = field(default_factory=dict)

    def land(self, job: ImportJob, records: Sequence[Record], received_at: float) -> None:
        """Store a finished job's records: a FULL job first forgets the dataset's earlier bulk records."""
        id_field = ID_FIELDS[job.dataset_type]
        stamped = [{**record, "importJobArn": job.arn, "receivedAt": received_at} for record in records]
        if id_field is None:
            events = [] if job.import_mode == "FULL" else self._events.get(job.dataset_arn, [])
            self._events[job.dataset_arn] = events + stamped
            return
        by_id = {} if job.import_mode == "FULL" else self._by_id.get(job.dataset_arn, {})
        by_id.update((record[id_field], record) for record in stamped)
        self._by_id[job.dataset_arn] = by_id

    def by_id(self, dataset_arn: str) -> dict[str, Record]:
        """Return the bulk records of an upsert dataset, by id (the store's own mapping: copy before handing out)."""
        return self._by_id.get(dataset_arn, {})

    def events(self, dataset_arn: str) -> list[Record]:
        """Return the bulk events of an interactions dataset, in import order (the store's own list)."""
        return self._events.get(dataset_arn, [])

    def drop(self, dataset_arn: str) -> None:
        """Forget a deleted dataset's bulk records."""
        self._by_id.pop(dataset_arn, None)
        self._events.pop(dataset_arn, None)

    def clear(self) -> None:
        """Forget every bulk record."""
        self._by_id.clear()
        self._events.clear()
