"""Exit status 3: a run that did not reach everything says so, against moto's SQS server. A FIFO group out of
reach, a pass that outlasts its hold, the in-flight limit, held messages that could not be released, and messages
out of sight from the start (held by a crashed earlier run, or delayed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.sqs_server import QueuePair
from tests.support.fakes import DATASETS, FakePersonalizeControl
from tests.support.sqs_fakes import CrashingSqs, InFlightLimitSqs, SimulatedCrash, SlowReceives, UnreleasingSqs
from tests.tools.conftest import QueuePairFactory
from tests.tools.dlq_support import (
    FAST,
    ITEM,
    USER,
    codes_of,
    counts,
    dead_letter,
    fifo_group_with_a_head_that_stays,
    read_all,
    revalidator,
)
from tools.dlq.cli import main
from tools.dlq.redrive import Method, redrive
from tools.dlq.render import render_move
from tools.dlq.replay import replay
from tools.dlq.report import MoveReport


def test_redrive_cli_fifo_group_out_of_reach_exits_three_says_run_again_then_rerun_exits_zero(
    sqs: Any, sqs_endpoint: str, make_queues: QueuePairFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = make_queues(fifo=True)
    fifo_group_with_a_head_that_stays(sqs, fifo.dlq_url, behind=11)
    argv = [
        "redrive",
        *("--dlq-url", fifo.dlq_url, "--queue-url", fifo.url, "--endpoint-url", sqs_endpoint),
        *("--codes", "SchemaViolation", "--wait-seconds", "0"),
    ]

    # WHEN the first pass cannot reach the last two of the group THEN it does not claim success
    first = main(argv)
    text = capsys.readouterr().out
    assert first == 3
    assert "NOT FINISHED" in text
    assert "run the same command again" in text

    # WHEN run again THEN it reaches them, and only then exits 0
    assert main(argv) == 0
    assert "NOT FINISHED" not in capsys.readouterr().out
    assert codes_of(read_all(sqs, fifo.dlq_url)) == ["MalformedMessage"]
    assert counts(sqs, fifo.url) == (11, 0)


def test_redrive_cli_fifo_group_out_of_reach_json_lists_why_unfinished(
    sqs: Any, sqs_endpoint: str, make_queues: QueuePairFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = make_queues(fifo=True)
    fifo_group_with_a_head_that_stays(sqs, fifo.dlq_url, behind=11)

    code = main(
        [
            "redrive",
            *("--dlq-url", fifo.dlq_url, "--queue-url", fifo.url, "--endpoint-url", sqs_endpoint),
            *("--codes", "SchemaViolation", "--wait-seconds", "0", "--dry-run", "--json"),
        ]
    )

    # A dry run that could not look at every message cannot say what would move either.
    document = json.loads(capsys.readouterr().out)
    assert code == 3
    assert len(document["unfinished"]) == 1
    assert "waited behind messages this pass held (same message group)" in document["unfinished"][0]


def test_inspect_cli_fifo_group_out_of_reach_exits_three(
    sqs: Any, sqs_endpoint: str, make_queues: QueuePairFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = make_queues(fifo=True)
    fifo_group_with_a_head_that_stays(sqs, fifo.dlq_url, behind=11)

    code = main(["inspect", "--dlq-url", fifo.dlq_url, "--endpoint-url", sqs_endpoint, "--wait-seconds", "0"])

    # The counts cover ten of twelve: the person reading them must not take them for the whole queue.
    text = capsys.readouterr().out
    assert code == 3
    assert "NOT FINISHED" in text
    assert "do not cover the whole queue" in text


def test_redrive_pass_outlasting_its_hold_not_ok_says_run_again(sqs: Any, queues: QueuePair) -> None:
    for index in range(10):
        dead_letter(sqs, queues.dlq_url, ITEM, "SchemaViolation", source=f"s-{index}")

    # GIVEN a pass slower than --hold-seconds: what it read becomes visible again before the next receive
    report = redrive(
        sqs=SlowReceives(sqs, delay=1.5),
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        codes=frozenset({"RetriesExhausted"}),
        hold_seconds=1,
        **FAST,
    )

    # THEN it cannot tell it saw the whole queue, and says so; it moved nothing, so it says to act before a rerun
    assert report.stopped is not None
    assert "raise --hold-seconds" in report.stopped
    assert report.ok is False
    assert "act on the reason above first" in render_move(report, command="redrive")


def test_redrive_in_flight_limit_reached_not_ok_rest_still_in_dlq(sqs: Any, queues: QueuePair) -> None:
    for index in range(12):
        dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted", source=f"s-{index}")

    report = redrive(
        sqs=InFlightLimitSqs(sqs),
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        method=Method.COPY,
        **FAST,
    )

    assert len(report.outcome.moved) == 10
    assert report.ok is False
    assert report.stopped is not None
    assert "in flight" in report.stopped
    assert counts(sqs, queues.dlq_url) == (2, 0)


def test_redrive_held_messages_not_released_not_ok_says_when_they_reappear(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted", source="moved")
    dead_letter(sqs, queues.dlq_url, USER, "SchemaViolation", source="kept")

    report = redrive(
        sqs=UnreleasingSqs(sqs),
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        codes=frozenset({"RetriesExhausted"}),
        hold_seconds=30,
        **FAST,
    )

    # The one kept is hidden for the rest of its hold: a redrive or replay run now would not see it.
    assert (len(report.outcome.moved), report.released_failures) == (1, 1)
    assert counts(sqs, queues.dlq_url) == (0, 1)
    assert report.ok is False
    assert "--hold-seconds" in render_move(report, command="redrive")


def test_replay_fifo_group_out_of_reach_not_ok(sqs: Any, make_queues: QueuePairFactory) -> None:
    fifo = make_queues(fifo=True)
    fifo_group_with_a_head_that_stays(sqs, fifo.dlq_url, behind=11, code="DatasetNotConfigured")
    control = FakePersonalizeControl()

    def run() -> MoveReport:
        return replay(
            sqs=sqs,
            dlq_url=fifo.dlq_url,
            queue_url=fifo.url,
            revalidator=revalidator(control, fifo.dlq_url, user=DATASETS["USERS"]),
            **FAST,
        )

    first = run()
    second = run()

    assert (len(first.outcome.moved), first.ok) == (9, False)
    assert (len(second.outcome.moved), second.ok) == (2, True)


def test_redrive_limit_reached_is_what_was_asked_still_ok(sqs: Any, queues: QueuePair) -> None:
    for index in range(5):
        dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted", source=f"s-{index}")

    report = redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, limit=2, **FAST)

    assert (report.stopped, report.ok) == ("--limit 2 reached", True)


# --- messages out of sight when the pass begins -------------------------------------------------------------------


def crashed_run_holds_a_copied_message(sqs: Any, queues: QueuePair, *, hold_seconds: int) -> list[str]:
    """An earlier redrive copied a message and was killed before deleting or releasing it: its copy is in the ingest
    queue, and the original is in flight in the DLQ until ``hold_seconds`` end. Returns the crashed run's receipt
    handles, with which a test ends the hold."""
    dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted", source="crashed")
    crashing = CrashingSqs(sqs, hard=True)
    with pytest.raises(SimulatedCrash):
        redrive(
            sqs=crashing,
            dlq_url=queues.dlq_url,
            queue_url=queues.url,
            method=Method.COPY,
            hold_seconds=hold_seconds,
            **FAST,
        )
    assert counts(sqs, queues.dlq_url) == (0, 1)
    return crashing.receipt_handles


@pytest.mark.parametrize(
    "argv",
    [
        ["redrive", "--method", "copy"],
        ["redrive"],  # auto: no move task (it cannot check the held message), then the same copy pass
        ["inspect"],
    ],
    ids=["redrive-copy", "redrive-auto", "inspect"],
)
def test_cli_pass_while_crashed_run_holds_messages_exits_three_says_why(
    sqs: Any, sqs_endpoint: str, queues: QueuePair, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    crashed_run_holds_a_copied_message(sqs, queues, hold_seconds=30)
    dead_letter(sqs, queues.dlq_url, USER, "RetriesExhausted", source="visible")
    command = argv[0]
    target = ["--queue-url", queues.url] if command == "redrive" else []

    code = main([command, "--dlq-url", queues.dlq_url, *target, "--endpoint-url", sqs_endpoint, "--wait-seconds", "0"])

    # The pass saw one message of two: it must not claim it handled the DLQ.
    text = capsys.readouterr().out
    assert code == 3
    assert "NOT FINISHED: the pass did not see every message: about 1 message(s) were in flight" in text
    assert "an earlier run that stopped before releasing them" in text
    if command == "redrive":
        # Not "left in the DLQ: none" on its own: that claims the whole DLQ.
        assert "left in the DLQ: none, and those this pass could not see (below)\n" in text
        assert counts(sqs, queues.dlq_url) == (0, 1)  # the held one, untouched; the visible one moved
        assert sorted(m["Body"] for m in read_all(sqs, queues.url)) == sorted([ITEM, USER])


def test_redrive_copy_after_crashed_run_hold_ends_rerun_exits_zero(
    sqs: Any, sqs_endpoint: str, queues: QueuePair, capsys: pytest.CaptureFixture[str]
) -> None:
    held = crashed_run_holds_a_copied_message(sqs, queues, hold_seconds=300)
    argv = [
        "redrive",
        *("--dlq-url", queues.dlq_url, "--queue-url", queues.url, "--endpoint-url", sqs_endpoint),
        *("--method", "copy", "--wait-seconds", "0", "--json"),
    ]

    assert main(argv) == 3
    assert json.loads(capsys.readouterr().out)["moved"] == 0

    # WHEN the crashed run's hold ends (as its visibility timeout would) THEN the same command reaches the message,
    # and only then exits 0
    for handle in held:
        sqs.change_message_visibility(QueueUrl=queues.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["unfinished"] == []
    assert counts(sqs, queues.dlq_url) == (0, 0)


def test_replay_while_crashed_run_holds_messages_not_ok(sqs: Any, queues: QueuePair) -> None:
    crashed_run_holds_a_copied_message(sqs, queues, hold_seconds=30)
    dead_letter(sqs, queues.dlq_url, USER, "DatasetNotConfigured", source="visible")

    report = replay(
        sqs=sqs,
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        revalidator=revalidator(FakePersonalizeControl(), queues.dlq_url, user=DATASETS["USERS"]),
        **FAST,
    )

    assert (len(report.outcome.moved), report.ok, report.exit_status) == (1, False, 3)
    assert any("in flight when the pass began" in reason for reason in report.unfinished)


def test_redrive_copy_with_delayed_message_exits_three_json_says_delayed(
    sqs: Any, sqs_endpoint: str, queues: QueuePair, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted", source="now")
    dead_letter(sqs, queues.dlq_url, USER, "RetriesExhausted", source="later", delay_seconds=30)

    code = main(
        [
            "redrive",
            *("--dlq-url", queues.dlq_url, "--queue-url", queues.url, "--endpoint-url", sqs_endpoint),
            *("--method", "copy", "--wait-seconds", "0", "--json"),
        ]
    )

    document = json.loads(capsys.readouterr().out)
    assert (code, document["moved"]) == (3, 1)
    assert len(document["unfinished"]) == 1
    assert "about 1 message(s) were delayed (not visible yet)" in document["unfinished"][0]
