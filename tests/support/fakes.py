"""In-memory fakes of the boto3 clients the ingest Lambda uses (unit and handler tests only).

The fake Personalize rejects records *through their data*, as the service does: a record whose id is in
``poison_ids`` fails the whole call with InvalidInputException, like a record the service refuses; one whose id is
in ``failing_ids`` fails it with that error (a 503, say). Requests are checked with botocore's own parameter
validation first, so what the real client would refuse to send, the fake refuses too. With a ``clock``, a call
takes ``latency_s`` of it, or times out after the read timeout of the client it came through (``bounded``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.validate import validate_parameters

from contract import KIND_SPECS, KINDS_BY_API

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
ACCOUNT = "123456789012"
GROUP = f"arn:aws:personalize:us-east-1:{ACCOUNT}:dataset-group/shop"
# By dataset type (ITEMS): each kind's dataset in the "shop" group, and the repo's schema it is described with.
DATASETS = {
    spec.dataset_type: f"arn:aws:personalize:us-east-1:{ACCOUNT}:dataset/shop/{spec.dataset_type}"
    for spec in KIND_SPECS.values()
}
SCHEMA_FILES = {spec.dataset_type: spec.schema_file for spec in KIND_SPECS.values()}
ACTION_INTERACTIONS_TRACKING_ID = "ai-tracking-0001"
# The record field a test poisons or fails a record by (``poison_ids``, ``failing_ids``): the record id of the
# upsert kinds, and for the interaction kinds, which have none, the item or action they name.
POISON_ID_FIELDS = {"event": "itemId", "actionInteraction": "actionId"}


def poison_id_field(api: str) -> str:
    """The field ``FakePersonalizeEvents`` reads a record's id from, for ``poison_ids`` and ``failing_ids``."""
    spec = KINDS_BY_API[api]
    return spec.id_field or POISON_ID_FIELDS[spec.name]


def timeouts(config: Config) -> tuple[float, float]:
    """A client config's (connect, read) timeouts in seconds: botocore's stubs do not declare them."""
    settings = cast(Any, config)
    return float(settings.connect_timeout), float(settings.read_timeout)


def client_error(code: str, status: int, message: str = "", operation: str = "PutItems") -> ClientError:
    """A ClientError as botocore builds it from a service response."""
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)  # type: ignore[arg-type]  # botocore's stubs want every metadata key


@dataclass
class FakePersonalizeControl:
    """``personalize`` client: DescribeDataset and DescribeSchema over the repo's schema files.

    ``failures`` are raised by the next DescribeDataset calls, in order; ``failing_datasets`` fail every
    DescribeDataset of one dataset ARN (the kinds of a batch are described in no particular order).
    """

    failures: list[ClientError] = field(default_factory=list)
    failing_datasets: dict[str, ClientError] = field(default_factory=dict)
    calls: int = 0

    def describe_dataset(self, *, datasetArn: str) -> dict[str, Any]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        if datasetArn in self.failing_datasets:
            raise self.failing_datasets[datasetArn]
        dataset_type = datasetArn.rsplit("/", 1)[-1]
        if dataset_type not in SCHEMA_FILES:
            raise client_error("ResourceNotFoundException", 400, "no such dataset", "DescribeDataset")
        dataset: dict[str, Any] = {
            "datasetArn": datasetArn,
            "datasetType": dataset_type,
            "schemaArn": f"arn:aws:personalize:us-east-1:{ACCOUNT}:schema/{dataset_type.lower()}",
            "status": "ACTIVE",
        }
        if dataset_type == "ACTION_INTERACTIONS":
            dataset["trackingId"] = ACTION_INTERACTIONS_TRACKING_ID
        return {"dataset": dataset}

    def describe_schema(self, *, schemaArn: str) -> dict[str, Any]:
        name = schemaArn.rsplit("/", 1)[-1].upper()
        return {"schema": {"schemaArn": schemaArn, "schema": (SCHEMAS / SCHEMA_FILES[name]).read_text()}}


_EVENTS_MODEL = botocore.session.get_session().get_service_model("personalize-events")


class _PutOperations:
    """The personalize-events client's methods, one per kind's API, each a ``put`` of that API."""

    def put(self, api: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def put_items(self, **kwargs: Any) -> dict[str, Any]:
        return self.put("PutItems", kwargs)

    def put_actions(self, **kwargs: Any) -> dict[str, Any]:
        return self.put("PutActions", kwargs)

    def put_users(self, **kwargs: Any) -> dict[str, Any]:
        return self.put("PutUsers", kwargs)

    def put_events(self, **kwargs: Any) -> dict[str, Any]:
        return self.put("PutEvents", kwargs)

    def put_action_interactions(self, **kwargs: Any) -> dict[str, Any]:
        return self.put("PutActionInteractions", kwargs)


@dataclass
class FakePersonalizeEvents(_PutOperations):
    """``personalize-events`` client: records every call; programmable failures.

    ``script`` holds exceptions to raise on the next calls, in order (``None`` lets a call through).
    ``tracking_ids``, when set, are the only trackingIds PutEvents knows: any other is answered as the local
    emulator answers it (InvalidInputException naming the tracking id; PutEvents models no other error).
    """

    poison_ids: set[str] = field(default_factory=set)
    failing_ids: dict[str, Exception] = field(default_factory=dict)
    script: list[Exception | None] = field(default_factory=list)
    on_call: Callable[[], None] | None = None
    tracking_ids: set[str] | None = None
    clock: FakeClock | None = None
    latency_s: float = 0.0
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)

    def bounded(self, config: Config) -> TimedPersonalizeEvents:
        """This fake as a client built with ``config``: its calls give up after the config's read timeout."""
        return TimedPersonalizeEvents(self, timeouts(config)[1])

    def put(self, api: str, kwargs: dict[str, Any], read_timeout_s: float | None = None) -> dict[str, Any]:
        """One call of ``api`` with ``kwargs``, through a client with ``read_timeout_s`` (None: no timeout)."""
        list_field, id_field = KINDS_BY_API[api].list_field, poison_id_field(api)
        input_shape = _EVENTS_MODEL.operation_model(api).input_shape
        assert input_shape is not None, api
        validate_parameters(kwargs, input_shape)  # raises ParamValidationError
        self.calls.append((api, kwargs))
        if read_timeout_s is not None:
            self.timeouts.append(read_timeout_s)
        if self.clock is not None and self.latency_s:
            if read_timeout_s is not None and self.latency_s > read_timeout_s:
                self.clock.now += read_timeout_s
                raise ReadTimeoutError(endpoint_url=f"https://personalize-events.us-east-1.amazonaws.com/{api}")
            self.clock.now += self.latency_s
        if self.on_call is not None:
            self.on_call()
        if self.script:
            failure = self.script.pop(0)
            if failure is not None:
                raise failure
        if self.tracking_ids is not None and "trackingId" in kwargs and kwargs["trackingId"] not in self.tracking_ids:
            raise client_error("InvalidInputException", 400, f"No event tracker has trackingId {kwargs['trackingId']}.")
        records = kwargs[list_field]
        for index, record in enumerate(records):
            assert isinstance(record.get("properties", "{}"), str), "properties must be sent as a JSON string"
            json.loads(record.get("properties", "{}"))
            record_id = record.get(id_field)
            if record_id in self.poison_ids:
                raise client_error("InvalidInputException", 400, f"{list_field}[{index}] is invalid", api)
            if record_id in self.failing_ids:
                raise self.failing_ids[record_id]
        self.accepted.extend({**record, **_call_fields(api, kwargs)} for record in records)
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def apis(self) -> list[str]:
        return [api for api, _ in self.calls]


def _call_fields(api: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """What PutEvents carries once per call and every stored event gets (sessionId, userId)."""
    return {name: kwargs[name] for name in ("sessionId", "userId") if api == "PutEvents" and name in kwargs}


@dataclass
class TimedPersonalizeEvents(_PutOperations):
    """``FakePersonalizeEvents`` seen through a client with a read timeout (``ClientLadder`` builds these)."""

    fake: FakePersonalizeEvents
    read_timeout_s: float

    def put(self, api: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        return self.fake.put(api, kwargs, self.read_timeout_s)


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class TickingClock(FakeClock):
    """A ``FakeClock`` on which every reading of the time takes ``tick_s``: the work between two calls is never
    free, as it is not on a real clock."""

    def __init__(self, tick_s: float) -> None:
        super().__init__()
        self.tick_s = tick_s

    def __call__(self) -> float:
        self.now += self.tick_s
        return self.now


@dataclass
class TimedSqs:
    """An SQS client seen through a read timeout: SendMessageBatch takes ``latency_s`` of ``clock`` and is
    forwarded to ``client``, or gives up unsent after ``read_timeout_s`` (what a hung SQS endpoint looks like)."""

    client: Any
    clock: FakeClock
    latency_s: float
    read_timeout_s: float = float("inf")

    def send_message_batch(self, **kwargs: Any) -> Any:
        if self.latency_s > self.read_timeout_s:
            self.clock.now += self.read_timeout_s
            raise ReadTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com/")
        self.clock.now += self.latency_s
        return self.client.send_message_batch(**kwargs)


class RecordingSqs:
    """An SQS client whose SendMessageBatch accepts every entry and keeps it in ``entries``."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


class LambdaContextStub:
    """The attributes of the Lambda context the handler and Powertools read."""

    function_name = "personalize-ingest"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:personalize-ingest"
    memory_limit_in_mb = 512
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name = "/aws/lambda/personalize-ingest"
    log_stream_name = "2026/11/22/[$LATEST]abcdef"

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
