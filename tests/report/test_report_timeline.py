"""Building the report's timeline from a synthetic call log, recording and dead letters."""

from __future__ import annotations

from typing import Any

import pytest

from contract import APIS, ErrorCode
from local.report import (
    OUTCOMES,
    DeadLetter,
    InvocationSpan,
    QueueSample,
    Recording,
    build_timeline,
    call_outcome,
    dead_letters_from_messages,
)
from local.report.timeline import MOVED_BY_REDRIVE_POLICY
from tests.report.timelines import T0, call, realistic_timeline


def empty(**overrides: Any) -> Recording:
    return Recording(**{"started_at": T0, "invocations": (), "queue_samples": (), **overrides})


@pytest.mark.parametrize(
    ("entry", "outcome"),
    [
        (call(T0), "ok"),
        (call(T0, status=400, error="ThrottlingException"), "throttled"),
        (call(T0, status=400, error="ThrottlingException", fault="throttle"), "throttled"),
        (call(T0, status=500, error="InternalFailure", fault="server_error"), "5xx"),
        (call(T0, status=503, error="ServiceUnavailable"), "5xx"),
        (call(T0, status=400, error="InvalidInputException"), "other error"),
        (call(T0, status=404, error="ResourceNotFoundException"), "other error"),
    ],
)
def test_call_outcome_each_answer_one_outcome(entry: dict[str, Any], outcome: str) -> None:
    assert call_outcome(entry) == outcome


def test_build_timeline_put_calls_bucketed_per_second_records_counted_when_ok() -> None:
    # GIVEN Put* calls over three seconds, one throttled, one 5xx, and a control-plane call
    calls = [
        call(T0 + 0.1, "PutItems", records=10),
        call(T0 + 0.9, "PutEvents", records=3),
        call(T0 + 1.5, "PutItems", status=400, error="ThrottlingException", records=10),
        call(T0 + 2.2, "PutUsers", status=500, error="InternalFailure", records=7),
        call(T0 + 2.4, "PutUsers", records=7),
        {**call(T0 + 1.0, "DescribeDataset"), "service": "personalize"},
    ]

    # WHEN the timeline is built with one-second intervals
    timeline = build_timeline(calls=calls, recording=empty())

    # THEN records count only on 200 answers, in the interval of the call, per API
    assert timeline.intervals == 3
    assert list(timeline.records_accepted) == list(APIS)
    assert timeline.records_accepted["PutItems"] == [10, 0, 0]
    assert timeline.records_accepted["PutEvents"] == [3, 0, 0]
    assert timeline.records_accepted["PutUsers"] == [0, 0, 7]
    assert list(timeline.calls) == list(OUTCOMES)
    assert timeline.calls == {"ok": [2, 0, 1], "throttled": [0, 1, 0], "5xx": [0, 0, 1], "other error": [0, 0, 0]}


def test_build_timeline_calls_before_the_start_left_out() -> None:
    # GIVEN provisioning-time calls before the recording started
    calls = [call(T0 - 5), call(T0 + 0.5)]

    timeline = build_timeline(calls=calls, recording=empty())

    assert timeline.records_accepted["PutItems"] == [10]
    assert sum(map(sum, timeline.calls.values())) == 1


def test_build_timeline_dead_letters_per_code_every_error_code_listed_unknown_codes_after() -> None:
    letters = [
        DeadLetter(T0 + 0.2, "MalformedMessage"),
        DeadLetter(T0 + 1.2, "MalformedMessage"),
        DeadLetter(T0 + 1.3, "SchemaViolation"),
        DeadLetter(T0 + 1.4, MOVED_BY_REDRIVE_POLICY),
    ]

    timeline = build_timeline(calls=[], recording=empty(), dead_letters=letters)

    assert list(timeline.dead_letters) == [*(str(code) for code in ErrorCode), MOVED_BY_REDRIVE_POLICY]
    assert timeline.dead_letters["MalformedMessage"] == [1, 1]
    assert timeline.dead_letters["SchemaViolation"] == [0, 1]
    assert timeline.dead_letters[MOVED_BY_REDRIVE_POLICY] == [0, 1]
    assert timeline.dead_letters["RetriesExhausted"] == [0, 0]


def test_dead_letters_from_messages_reads_code_and_sent_timestamp_skips_untimed() -> None:
    letters = dead_letters_from_messages(
        [
            {"ErrorCode": "SchemaViolation", "SentTimestamp": "1800000001500", "body": "{}"},
            {"SentTimestamp": "1800000002000"},  # moved by the redrive policy: no ErrorCode
            {"ErrorCode": "MalformedMessage"},  # no timestamp: nowhere on a timeline
        ]
    )

    assert letters == [DeadLetter(T0 + 1.5, "SchemaViolation"), DeadLetter(T0 + 2.0, MOVED_BY_REDRIVE_POLICY)]


def test_build_timeline_queue_gauges_maximum_per_interval_gaps_none() -> None:
    samples = (
        QueueSample(T0 + 0.0, visible=100, in_flight=0, delayed=5, dead_letters=0),
        QueueSample(T0 + 0.5, visible=80, in_flight=20, dead_letters=1),
        QueueSample(T0 + 2.5, visible=0, in_flight=0, dead_letters=3),
    )

    timeline = build_timeline(calls=[], recording=empty(queue_samples=samples))

    assert timeline.queue_visible == [105, None, 0]  # delayed messages are waiting too
    assert timeline.queue_in_flight == [20, None, 0]
    assert timeline.dead_letter_depth == [1, None, 3]


def test_build_timeline_invocations_and_peak_concurrency_per_interval() -> None:
    # GIVEN two overlapping invocations in the first second, back-to-back ones in the second, one running on
    spans = (
        InvocationSpan(T0 + 0.1, T0 + 0.6, 10, None),
        InvocationSpan(T0 + 0.2, T0 + 0.4, 10, None),
        InvocationSpan(T0 + 1.1, T0 + 1.5, 10, None),
        InvocationSpan(T0 + 1.5, T0 + 1.9, 10, None),
        InvocationSpan(T0 + 2.7, None, 10, None),
    )

    timeline = build_timeline(calls=[], recording=empty(invocations=spans))

    assert timeline.invocations == [2, 2, 1]
    # An end and a start at the same instant are not concurrent; one still running counts to the end.
    assert timeline.concurrency == [2, 1, 1]


def test_build_timeline_concurrency_carries_an_invocation_across_intervals() -> None:
    spans = (InvocationSpan(T0 + 0.5, T0 + 2.5, 10, None), InvocationSpan(T0 + 1.2, T0 + 1.4, 10, None))

    timeline = build_timeline(calls=[], recording=empty(invocations=spans))

    assert timeline.invocations == [1, 1, 0]
    assert timeline.concurrency == [1, 2, 1]


def test_build_timeline_oldest_message_age_from_batches_zero_when_sampled_empty() -> None:
    spans = (
        InvocationSpan(T0 + 0.5, T0 + 0.6, 10, oldest_sent_at=T0 - 2.0),
        InvocationSpan(T0 + 0.7, T0 + 0.8, 10, oldest_sent_at=T0 - 1.0),
        InvocationSpan(T0 + 1.5, T0 + 1.6, 10, oldest_sent_at=None),
    )
    samples = (QueueSample(T0 + 1.2, 5, 0), QueueSample(T0 + 2.5, 0, 0))

    timeline = build_timeline(calls=[], recording=empty(invocations=spans, queue_samples=samples))

    # The oldest in the first second was 2.5 s old; nothing known in the second; the queue was empty in the third.
    assert timeline.oldest_message_age_s == [2.5, None, 0.0]


def test_build_timeline_interval_groups_seconds() -> None:
    calls = [call(T0 + offset) for offset in (0.1, 1.1, 2.1, 3.1, 4.1)]

    timeline = build_timeline(calls=calls, recording=empty(), interval_s=2.0)

    assert timeline.calls["ok"] == [2, 2, 1]
    assert timeline.seconds() == [0.0, 2.0, 4.0]


@pytest.mark.parametrize("interval_s", [0.0, -1.0])
def test_build_timeline_interval_not_positive_refused(interval_s: float) -> None:
    with pytest.raises(ValueError, match="interval_s must be positive"):
        build_timeline(calls=[], recording=empty(), interval_s=interval_s)


def test_realistic_timeline_series_aligned_and_json_ready() -> None:
    timeline = realistic_timeline()

    data = timeline.to_dict()

    assert timeline.intervals == 30
    assert {len(series) for series in data["records_accepted"].values()} == {30}
    assert max(timeline.concurrency) == 2
    assert sum(map(sum, timeline.dead_letters.values())) > 0
    assert data["started_at"] == T0
