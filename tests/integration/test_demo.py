"""``make demo`` end to end, small: it accounts for every message, and its accounting can fail.

The demo's exit status is its verdict (0: published = accepted + dead-lettered, each where it belongs). A check
that cannot fail proves nothing, so the second test loses one message on purpose and expects exit status 1.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from local import demo
from local.demo_catalogue import Catalogue, write_catalogue
from local.environment import LocalPipeline

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("restored_environment")]

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Small: a catalogue of a few hundred items loaded in bulk, then a few dozen messages of every kind, with the
# demo's own bad ones and its default injected faults.
CATALOGUE = 300
SMALL = ["--catalogue", str(CATALOGUE), "--items", "12", "--actions", "4", "--users", "6", "--seed", "3"]


def test_demo_small_stream_every_message_accounted_for_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a small stream (with malformed, schema-violating and unconfigured-kind messages) and faults
    # WHEN the demo runs end to end
    status = demo.main(SMALL)

    # THEN it exits 0 and says every message is accounted for
    output = capsys.readouterr()
    assert status == 0, output.err
    assert "OK: every message is accounted for (published = accepted + dead-lettered)." in output.out
    assert "FAILED" not in output.err


def test_demo_loads_the_catalogue_in_bulk_then_streams_and_accounts_for_both(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a catalogue of 300 items (six changed twice, two bad lines) and a stream changing 12 of them
    # WHEN the demo runs end to end
    status = demo.main(SMALL)

    # THEN the bulk path's block accounts for every catalogue line: imported, superseded or rejected with its code
    output = capsys.readouterr()
    assert status == 0, output.err
    lines = output.out.splitlines()
    block = lines[lines.index("bulk path (backfill -> import job), the catalogue:") :]
    read = re.fullmatch(
        r"  lines read: ([\d,]+) = ([\d,]+) records to import \+ ([\d,]+) older changes superseded"
        r" \+ ([\d,]+) rejected",
        block[1],
    )
    assert read, block[1]
    total, to_import, superseded, rejected = (int(group.replace(",", "")) for group in read.groups())
    assert (to_import, superseded, rejected) == (CATALOGUE, CATALOGUE // 50, 2)
    assert total == to_import + superseded + rejected
    assert block[2] == "  rejects: MalformedMessage 1, SchemaViolation 1"
    assert re.fullmatch(rf"  import job backfill-items-\w+-00001: ACTIVE, {CATALOGUE} records imported", block[3])
    assert "bulk stage (decode, validate, collapse, CSV, upload" in block[4]
    # AND every item holds its imported record but those the stream changed afterwards
    assert block[5] == f"  items: {CATALOGUE - 12} hold their imported record, 12 replaced by a later streamed change"
    # AND the stream's report follows, with both verdicts
    assert "stream path (queue -> Lambda -> Put*):" in lines
    assert "OK: every catalogue line is accounted for (read = imported + superseded + rejected)." in lines
    assert "OK: every message is accounted for (published = accepted + dead-lettered)." in lines


def test_demo_catalogue_item_missing_from_the_emulator_detected_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a catalogue that promises an item no line of its file holds (as if the import had dropped it)
    def write_and_promise_a_ghost(path: Path, **kwargs: Any) -> Catalogue:
        catalogue = write_catalogue(path, **kwargs)
        return replace(catalogue, newest={**catalogue.newest, "sku-ghost": 1.0})

    monkeypatch.setattr(demo, "write_catalogue", write_and_promise_a_ghost)

    # WHEN the demo runs end to end
    status = demo.main(SMALL)

    # THEN it exits 1 naming that item, and only that one
    output = capsys.readouterr()
    assert status == 1
    assert "FAILED: 1 message(s) unaccounted for or misrouted" in output.err
    assert "catalogue: item sku-ghost is not in the emulator" in output.err


def test_demo_without_a_catalogue_streams_only(capsys: pytest.CaptureFixture[str]) -> None:
    status = demo.main([*SMALL, "--catalogue", "0"])

    output = capsys.readouterr().out
    assert status == 0
    assert "bulk path" not in output
    assert "OK: every catalogue line" not in output
    assert "OK: every message is accounted for (published = accepted + dead-lettered)." in output


def lose_one_message(pipeline: LocalPipeline, sent: dict[str, demo.Published]) -> str:
    """Delete, unprocessed, a good message whose record id no other message carries; return its message id.

    Such a message can only be accounted for by its own record in the emulator, so losing it must show.
    """
    ids = Counter(message.record_id for message in sent.values())
    victim = next(
        message_id
        for message_id, message in sent.items()
        if message.expected == demo.ACCEPT and ids[message.record_id] == 1
    )
    held: list[str] = []
    try:
        found = False
        while not found:
            batch = pipeline.sqs.receive_message(
                QueueUrl=pipeline.queues.url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
            ).get("Messages", [])
            assert batch, f"message {victim} not found in the queue"
            for message in batch:
                if message["MessageId"] == victim:
                    pipeline.sqs.delete_message(QueueUrl=pipeline.queues.url, ReceiptHandle=message["ReceiptHandle"])
                    found = True
                else:
                    held.append(message["ReceiptHandle"])
        return victim
    finally:
        # Everything else goes back to the queue, visible at once, for the handler.
        for handle in held:
            pipeline.sqs.change_message_visibility(
                QueueUrl=pipeline.queues.url, ReceiptHandle=handle, VisibilityTimeout=0
            )


def test_demo_message_lost_before_the_drain_detected_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a publisher that loses one good message after SQS accepted it (deleted before the handler sees it)
    lost: list[str] = []
    publish = demo.publish

    def publish_and_lose_one(pipeline: LocalPipeline, stream: Sequence[demo.Published]) -> dict[str, demo.Published]:
        sent = publish(pipeline, stream)
        lost.append(lose_one_message(pipeline, sent))
        return sent

    monkeypatch.setattr(demo, "publish", publish_and_lose_one)

    # WHEN the demo runs end to end
    status = demo.main(SMALL)

    # THEN it exits 1 and names the lost message, and only that one
    output = capsys.readouterr()
    assert status == 1
    assert "FAILED: 1 message(s) unaccounted for or misrouted" in output.err
    assert f"{lost[0]}: acknowledged, but" in output.err
    assert "OK: every message is accounted for" not in output.out


def test_demo_small_stream_reports_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    status = demo.main(SMALL)

    output = capsys.readouterr().out
    assert status == 0
    cells = [line.split() for line in output.splitlines()]
    rows = {row[0]: row[1:3] for row in cells if row and row[0] in demo.KINDS}
    assert set(rows) == set(demo.KINDS)
    # every kind had messages published and accepted
    assert all(int(published) > 0 and int(accepted) > 0 for published, accepted in rows.values()), rows
    for api in ("PutItems", "PutActions", "PutUsers", "PutEvents", "PutActionInteractions"):
        assert any(line.startswith(api + " ") for line in output.splitlines()), api


def test_demo_kinds_without_dataset_dead_lettered_as_dataset_not_configured(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a dataset group with Items and Actions datasets only
    # WHEN the demo publishes every kind
    status = demo.main([*SMALL, "--kinds", "item,action"])

    # THEN one change of each other kind is dead-lettered as DatasetNotConfigured, and everything is accounted for
    output = capsys.readouterr()
    assert status == 0, output.err
    for kind in ("user", "event", "actionInteraction"):
        (row,) = [line for line in output.out.splitlines() if line.startswith(kind + " ")]
        assert row.split()[1:3] == ["1", "0"], row
        assert "DatasetNotConfigured 1" in row


def test_demo_unknown_kind_refused_with_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        demo.main(["--kinds", "item,product"])

    assert exited.value.code == 2
    assert "--kinds: unknown kind(s) product" in capsys.readouterr().err


def test_demo_as_a_command_exits_0_and_leaves_nothing_listening() -> None:
    # GIVEN the demo run as `make demo` runs it: its own process
    result = subprocess.run(
        [sys.executable, "-m", "local.demo", *SMALL],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # THEN it succeeds, and the two servers it announced no longer answer on their ports
    assert result.returncode == 0, result.stderr
    endpoints = re.findall(r"http://127\.0\.0\.1:(\d+)", result.stdout)
    assert len(endpoints) == 2, result.stdout
    for port in endpoints:
        with socket.socket() as probe:
            probe.settimeout(1)
            assert probe.connect_ex(("127.0.0.1", int(port))) != 0, f"something still listens on {port}"


def test_demo_accounting_names_messages_the_redrive_policy_moved() -> None:
    # GIVEN a queue that redrives after one delivery, and an items dataset that is gone (a setup error: the handler
    # never dead-letters those, the queue's redrive policy moves them, without an ErrorCode)
    with LocalPipeline(kinds=("item",), max_receive_count=1, visibility_timeout_s=1) as pipeline:
        stream = [
            demo.Published(
                "item",
                json.dumps({"type": "item", "itemId": "sku-1", "properties": {"price": 1}}),
                demo.ACCEPT,
                "sku-1",
            )
        ]
        sent = demo.publish(pipeline, stream)
        pipeline.personalize.delete_dataset(datasetArn=pipeline.provisioned.datasets["item"])

        # WHEN the queue is drained and the demo accounts for the message
        pipeline.drain(function_timeout_s=1, max_seconds=30)
        counts, problems = demo.account(pipeline, sent)

    # THEN it is reported as moved by the redrive policy, not as accepted
    (message_id,) = sent
    assert counts["item"]["dlq:(moved by the redrive policy)"] == 1
    assert counts["item"][demo.ACCEPT] == 0
    assert problems == [f"{message_id}: expected accepted, dead-lettered as (moved by the redrive policy)"]
