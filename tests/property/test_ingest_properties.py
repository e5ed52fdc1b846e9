"""Property-based: whatever a publisher sends, the handler never raises, and never sends what the service refuses.

The strategies below are the classes of an adversarial fuzz (issue 13): lone surrogates anywhere (ids, keys and
values of properties, inside a properties *string*), long categorical lists, non-ASCII text near every size limit,
edge cases of the model's patterns, duplicated keys, huge numbers, unreadable ``changedAt`` values.

Two properties:

- ``decode`` → ``validate`` (the handler's own functions) either reject a body with a dead-letter code, or produce
  a record that botocore would send and that the local emulator, the project's oracle of the service, accepts:
  its model validation (``local.emulator.model.validate``) and its record checks (``local.emulator.events.
  check_record``). No server is involved, which keeps this fast.
- the real handler, on batches of such bodies, answers (never raises), and every message ends exactly one way:
  written or superseded, dead-lettered with an ErrorCode, or reported failed for redelivery.

``derandomize=True``: the examples are derived from the test itself, not from a random seed, so CI and a laptop run
the same cases and a failure reproduces on any machine. New cases come from changing the strategies, not from luck.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

from botocore.validate import validate_parameters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

import contract
from contract import KIND_SPECS
from ingest import handler
from ingest.decode import Message, decode
from ingest.errors import RejectedRecord
from ingest.kinds import KINDS
from ingest.model import api_models
from ingest.schema import DatasetSchema
from ingest.validate import ValidRecord, validate
from local.emulator import events as emulator_events
from local.emulator import model as emulator_model
from local.emulator.avro import AvroSchema, parse_schema
from tests.handlers.conftest import failures, make_harness
from tests.support.fakes import DATASETS
from tests.support.sqs_events import sqs_record

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
TRACKING_ID = "tracker-0001"
PROPERTY_SETTINGS = settings(
    max_examples=600,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HANDLER_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- strategies -----------------------------------------------------------------------------------------------------

LONE_SURROGATES = st.sampled_from(["\ud800", "\udfff", "\udc00"])
ASTRAL = "\N{GRINNING FACE}"
E_ACUTE = "\N{LATIN SMALL LETTER E WITH ACUTE}"
UNITS = st.sampled_from(["a", E_ACUTE, ASTRAL, "\u20ac", " ", '"', "\\"])


def near(limit: int) -> st.SearchStrategy[int]:
    """Lengths at and around a limit (in characters of one unit), and small ones."""
    return st.sampled_from([1, 2, limit // 2, limit // 2 + 1, limit - 1, limit, limit + 1])


@st.composite
def text(draw: st.DrawFn, *, limit: int) -> str:
    """A string of one repeated unit (ASCII, two-byte, astral...) whose length is near ``limit``, or short."""
    return str(draw(UNITS)) * draw(near(limit))


IDS = st.one_of(st.text(alphabet="abcXYZ019-_:", min_size=1, max_size=12), text(limit=256))
HUGE_NUMBERS = st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 2**31, 1e308, -1e308, "1e400", "NaN"])
# Each case: (where in the change, what to put there). Applied to an otherwise valid change.
PATTERN_EDGES = st.sampled_from(["partner", "partner\n", "\npartner", " ", "\t", "a b", "x" * 1024, "x" * 1025])
CHANGED_AT = st.sampled_from([1_763_805_600_000, "2026-11-22T10:00:00.123Z", 1_763_805_600, "later", True, 1.5e300])


@cache
def schema_fields(kind: str) -> tuple[tuple[str, str, bool, bool, bool], ...]:
    """(camelCase key, Avro type, nullable, categorical, textual) of each field a kind's properties carry."""
    schema = handler_schemas()[kind]
    return tuple((f.property_key, f.types[0], f.nullable, f.categorical, f.textual) for f in schema.fields)


@st.composite
def property_value(draw: st.DrawFn, avro_type: str, categorical: bool, textual: bool) -> Any:
    """A value of the field's type, near its limits."""
    if avro_type == "string":
        if textual:
            return draw(text(limit=20_000))
        if categorical and draw(st.booleans()):
            return draw(st.lists(text(limit=500), min_size=1, max_size=3))
        return draw(text(limit=1_000))
    if avro_type in {"int", "long"}:
        bound = 2**31 if avro_type == "int" else 2**63
        return draw(st.one_of(st.integers(-bound, bound - 1), st.sampled_from([bound - 1, -bound, 1_763_805_600])))
    if avro_type in {"float", "double"}:
        return draw(st.floats(allow_nan=False, allow_infinity=False, width=32))
    return draw(st.booleans())


@st.composite
def valid_properties(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, avro_type, nullable, categorical, textual in schema_fields(kind):
        if not nullable or draw(st.booleans()):
            values[key] = draw(property_value(avro_type, categorical, textual))
    return values


@st.composite
def valid_change(draw: st.DrawFn) -> dict[str, Any]:
    """A change the handler should send (it may still be over a limit: the values are drawn near them)."""
    kind = draw(st.sampled_from(sorted(KIND_SPECS)))
    spec = KIND_SPECS[kind]
    change: dict[str, Any] = {"type": kind, "properties": draw(valid_properties(kind))}
    if spec.id_field is not None:
        return change | {spec.id_field: draw(IDS)}
    change |= {"sessionId": draw(IDS), "userId": draw(IDS), "eventType": draw(st.sampled_from(["click", "Taken"]))}
    if draw(st.booleans()):
        change["impression"] = draw(st.lists(text(limit=256), min_size=1, max_size=25))
    if draw(st.booleans()):
        change["recommendationId"] = draw(text(limit=40))
    if kind == "event":
        change |= {"itemId": draw(IDS), "sentAt": "2026-11-22T10:00:00Z", "eventValue": 1.5}
        if draw(st.booleans()):
            change["metricAttribution"] = {"eventAttributionSource": draw(text(limit=1_024))}
        return change
    return change | {"actionId": draw(IDS), "timestamp": 1_763_805_600}


def _string_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where the strings of a change are (keys of dicts excluded), ``type`` left alone."""
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [p for key, member in value.items() if key != "type" for p in _string_paths(member, (*path, key))]
    if isinstance(value, list):
        return [p for index, member in enumerate(value) for p in _string_paths(member, (*path, index))]
    return []


def _set(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def _surrogate(draw: st.DrawFn, body: dict[str, Any]) -> None:
    """A lone surrogate inserted into one of the change's strings, at any depth."""
    paths = _string_paths(body)
    if paths:
        path = draw(st.sampled_from(paths))
        target: Any = body
        for step in path[:-1]:
            target = target[step]
        original = target[path[-1]]
        at = draw(st.integers(0, len(original)))
        _set(body, path, original[:at] + draw(LONE_SURROGATES) + original[at:])


def _properties(body: dict[str, Any]) -> dict[str, Any]:
    props = body.get("properties")
    return props if isinstance(props, dict) else {}


def _surrogate_key(draw: st.DrawFn, body: dict[str, Any]) -> None:
    _properties(body)[draw(LONE_SURROGATES) + "x"] = 1


def _as_string(draw: st.DrawFn, body: dict[str, Any]) -> None:
    body["properties"] = json.dumps(_properties(body))


def _escaped_surrogate(draw: st.DrawFn, body: dict[str, Any]) -> None:
    """A properties *string* holding a surrogate escape (in a key or a value): decode sees only ASCII there."""
    props = _properties(body)
    key = draw(st.sampled_from([*props, "\ud800"]))
    if key == "\ud800":
        props[key] = 1
    else:
        props[key] = f"{props[key]}\udfff" if isinstance(props[key], str) else "\udfff"
    body["properties"] = json.dumps(props)


def _duplicated(draw: st.DrawFn, body: dict[str, Any]) -> None:
    pairs = list(_properties(body).items())
    if pairs:
        body["properties"] = json_object_text([*pairs, (pairs[0][0], draw(st.sampled_from([None, 1, "x"])))])


def _categorical(draw: st.DrawFn, body: dict[str, Any]) -> None:
    key = next((k for k, _, _, categorical, _ in schema_fields(body["type"]) if categorical), None)
    if key is not None and isinstance(body.get("properties"), dict):
        body["properties"][key] = draw(st.lists(text(limit=1_000), min_size=1, max_size=4))


def _huge(draw: st.DrawFn, body: dict[str, Any]) -> None:
    numeric = [k for k, avro_type, _, _, _ in schema_fields(body["type"]) if avro_type != "string"]
    if numeric and isinstance(body.get("properties"), dict):
        body["properties"][draw(st.sampled_from(numeric))] = draw(HUGE_NUMBERS)
    elif body["type"] == "event":
        body["eventValue"] = draw(HUGE_NUMBERS)


def _pattern(draw: st.DrawFn, body: dict[str, Any]) -> None:
    if body["type"] == "event":
        body["metricAttribution"] = {"eventAttributionSource": draw(PATTERN_EDGES)}


def _changed(draw: st.DrawFn, body: dict[str, Any]) -> None:
    body["changedAt"] = draw(CHANGED_AT)


PERTURBATIONS = (
    _surrogate,
    _surrogate_key,
    _escaped_surrogate,
    _as_string,
    _duplicated,
    _categorical,
    _huge,
    _pattern,
    _changed,
)


@st.composite
def change(draw: st.DrawFn) -> dict[str, Any]:
    """A valid change with up to two of the fuzz's perturbations applied."""
    body = draw(valid_change())
    for perturb in draw(st.lists(st.sampled_from(PERTURBATIONS), max_size=2)):
        perturb(draw, body)
    return body


def json_object_text(pairs: list[tuple[str, Any]]) -> str:
    """A JSON object written pair by pair, so a key may appear twice (json.loads keeps the last)."""
    return "{" + ",".join(f"{json.dumps(key)}:{json.dumps(value)}" for key, value in pairs) + "}"


# --- the handler's steps and the emulator's checks -----------------------------------------------------------------


@cache
def handler_schemas() -> dict[str, DatasetSchema]:
    """Each kind's schema as the handler reads it (``ingest.catalog`` parses DescribeSchema's document like this)."""
    return {
        name: DatasetSchema.parse(
            (SCHEMAS / kind.spec.schema_file).read_text(),
            request_fields=kind.request_schema_fields,
            string_limit=kind.string_value_limit,
        )
        for name, kind in KINDS.items()
    }


@cache
def emulator_schemas() -> dict[str, AvroSchema]:
    return {name: parse_schema((SCHEMAS / spec.schema_file).read_text()) for name, spec in KIND_SPECS.items()}


def handled(body: str, message_id: str = "m-1") -> ValidRecord | RejectedRecord:
    """What the handler's decode and validate make of ``body``: the record it would send, or its rejection."""
    message = Message(message_id=message_id, body=body, position=0, receive_count=1, sent_timestamp=1)
    try:
        change = decode(message)
        return validate(change, api_models()[change.kind.name], handler_schemas()[change.kind.name])
    except RejectedRecord as rejection:
        return rejection


def service_problems(valid: ValidRecord) -> list[str]:
    """Why the emulator (the service's stand-in) would refuse the call the handler makes for ``valid``: botocore's
    own client-side validation, then the emulator's model validation and record checks, on the request as sent."""
    kind = valid.change.kind
    target = TRACKING_ID if kind.target_field == "trackingId" else DATASETS[kind.spec.dataset_type]
    request = {kind.target_field: target, **dict(valid.call_fields), kind.list_field: [valid.record]}
    operation = emulator_model.service_model(emulator_model.EVENTS_SERVICE).operation_model(kind.api)
    assert operation.input_shape is not None
    validate_parameters(request, operation.input_shape)  # raises ParamValidationError: the SDK would not send it
    raw = json.loads(json.dumps(request))  # the body botocore sends, as the emulator parses it
    params, violations = emulator_model.validate(operation.input_shape, raw)
    if violations:
        return [f"{'.'.join(map(str, violation.path))}: {violation.message}" for violation in violations]
    record_kind = emulator_events.KINDS[kind.api]
    call_fields = {name: raw[name] for name in ("sessionId", "userId") if name in raw and kind.name == "event"}
    _, problems = emulator_events.check_record(
        record_kind,
        emulator_schemas()[kind.name],
        params[kind.list_field][0],
        raw[kind.list_field][0],
        call_fields=call_fields,
    )
    return problems


# --- the properties ---------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(change())
def test_every_record_the_handler_would_send_is_one_the_service_accepts(body: dict[str, Any]) -> None:
    outcome = handled(json.dumps(body))

    if isinstance(outcome, RejectedRecord):
        assert outcome.code in set(contract.ErrorCode)
        # The reason is logged and stored: it must be text SQS and every log sink accept.
        outcome.message.encode("utf-8")
    else:
        assert service_problems(outcome) == []


@PROPERTY_SETTINGS
@given(
    st.sampled_from(sorted(KIND_SPECS)),
    st.lists(st.tuples(st.text(max_size=12), st.one_of(st.integers(), text(limit=30), st.none())), max_size=3),
)
def test_a_properties_string_with_duplicated_keys_is_read_once_and_consistently(
    kind: str, pairs: list[tuple[str, Any]]
) -> None:
    spec = KIND_SPECS[kind]
    base: dict[str, Any] = {"type": kind, **({spec.id_field: "id-1"} if spec.id_field else {})}
    if spec.id_field is None:
        base |= {"sessionId": "s-1", "eventType": "click", "actionId": "a-1", "timestamp": 1, "sentAt": 1}
        base |= {"itemId": "sku-1"} if kind == "event" else {}
        base.pop("actionId" if kind == "event" else "sentAt")
    text_form = json_object_text(pairs + pairs)
    outcome = handled(json.dumps({**base, "properties": text_form}))

    if not isinstance(outcome, RejectedRecord):
        assert service_problems(outcome) == []


@contextmanager
def aws() -> Iterator[None]:
    """moto's AWS, with the environment the handler tests use (no real credentials, no metrics flushed)."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        contract.POWERTOOLS_METRICS_NAMESPACE: contract.METRICS_NAMESPACE,
    }
    with mock.patch.dict(os.environ, env), mock_aws():
        try:
            yield
        finally:
            handler.use_runtime(None)


@HANDLER_SETTINGS
@given(st.lists(change(), min_size=1, max_size=10))
def test_the_handler_never_raises_and_every_message_ends_one_way(bodies: list[dict[str, Any]]) -> None:
    with aws():
        harness = make_harness(tracking_ids={"event-tracker-1", "ai-tracking-0001"})
        records = [sqs_record(json.dumps(body)) for body in bodies]

        response = harness.invoke({"Records": records})

        letters = harness.dead_letters()
    failed = set(failures(response))
    dead = [letter[contract.ORIGIN_MESSAGE_ID_ATTRIBUTE] for letter in letters]
    assert len(dead) == len(set(dead)), "a message dead-lettered twice"
    assert all(letter.get(contract.ERROR_CODE_ATTRIBUTE) for letter in letters)
    assert not failed & set(dead)
    # The SDK refused nothing: validation let through only what botocore sends.
    assert not [letter for letter in letters if "refused by the SDK" in letter[contract.ERROR_MESSAGE_ATTRIBUTE]]
    # Every other message was valid to the handler: written, or superseded by a newer change to its record.
    for record in records:
        if record["messageId"] not in failed | set(dead):
            assert isinstance(handled(record["body"], record["messageId"]), ValidRecord)
