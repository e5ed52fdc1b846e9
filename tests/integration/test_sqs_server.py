"""moto's SQS server as ``local.sqs_server`` runs it: its patches answer as moto does, only faster, and it serves
receives one at a time, as SQS does."""

from __future__ import annotations

import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
from moto.sqs import models as moto_sqs_models
from moto.sqs.models import sqs_backends

from local import sqs_server
from local.sqs_server import MOTO_RETENTION_CHECK, MOTO_UNIX_TIME, QueuePair
from tests.integration.conftest import REGION, QueuePairFactory

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.integration

# moto's default account, which its server uses for any credentials.
ACCOUNT = "123456789012"
RETENTION_S = 60


def backend_queue(pair: QueuePair) -> tuple[object, str]:
    backend = sqs_backends[ACCOUNT][REGION]
    name = pair.url.rsplit("/", 1)[1]
    return backend, name


def test_sqs_server_message_past_retention_period_not_delivered(
    sqs_client: SQSClient, make_queue_pair: QueuePairFactory
) -> None:
    # GIVEN a queue that keeps messages a minute, holding a fresh message and one sent two minutes ago (after it:
    # moto stops a receive at the first expired message it meets)
    pair = make_queue_pair(visibility_timeout_s=30)
    sqs_client.set_queue_attributes(QueueUrl=pair.url, Attributes={"MessageRetentionPeriod": str(RETENTION_S)})
    sqs_client.send_message(QueueUrl=pair.url, MessageBody="fresh")
    sqs_client.send_message(QueueUrl=pair.url, MessageBody="expired")
    backend, name = backend_queue(pair)
    queue = backend.get_queue(name)  # type: ignore[attr-defined]
    (expired,) = [message for message in queue._messages if message.body == "expired"]
    expired.sent_timestamp = int((time.time() - 2 * RETENTION_S) * 1000)

    # WHEN the queue is read
    received = sqs_client.receive_message(QueueUrl=pair.url, MaxNumberOfMessages=10).get("Messages", [])

    # THEN only the fresh message arrives, and both checks agree on each message
    assert [message["Body"] for message in received] == ["fresh"]
    for message in queue._messages:
        assert backend.is_message_valid_based_on_retention_period(name, message) == MOTO_RETENTION_CHECK(  # type: ignore[attr-defined]
            backend, name, message
        )
    assert backend.is_message_valid_based_on_retention_period(name, expired) is False  # type: ignore[attr-defined]


def test_sqs_server_clock_agrees_with_moto_clock() -> None:
    # moto's queues read the time through their module's names; the patched ones give moto's answer.
    before = MOTO_UNIX_TIME()
    patched = moto_sqs_models.unix_time()
    after = MOTO_UNIX_TIME()

    assert moto_sqs_models.unix_time is not MOTO_UNIX_TIME
    assert before <= patched <= after
    assert before * 1000 <= moto_sqs_models.unix_time_millis() <= MOTO_UNIX_TIME() * 1000
    # Given a datetime, moto's own conversion answers.
    moment = datetime.datetime(2026, 11, 30, 12, 0, 0)
    assert moto_sqs_models.unix_time(moment) == MOTO_UNIX_TIME(moment) == 1_796_040_000.0


def test_sqs_server_concurrent_receives_enter_moto_one_at_a_time(
    sqs_client: SQSClient, make_queue_pair: QueuePairFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN moto's receive made slow and watched: how many threads are inside it at once
    inside = 0
    most_inside = 0
    watch = threading.Lock()
    moto_receive = sqs_server.MOTO_RECEIVE_MESSAGE

    def slow_receive(*args: Any, **kwargs: Any) -> Any:
        nonlocal inside, most_inside
        with watch:
            inside += 1
            most_inside = max(most_inside, inside)
        try:
            time.sleep(0.05)
            return moto_receive(*args, **kwargs)
        finally:
            with watch:
                inside -= 1

    monkeypatch.setattr(sqs_server, "MOTO_RECEIVE_MESSAGE", slow_receive)
    pair = make_queue_pair(fifo=True, visibility_timeout_s=30)
    for index in range(8):
        sqs_client.send_message(
            QueueUrl=pair.url,
            MessageBody=f"m{index}",
            MessageGroupId=f"g{index % 2}",
            MessageDeduplicationId=str(index),
        )

    # WHEN four pollers receive at the same time, as the runner's pollers do
    def receive() -> list[str]:
        messages = sqs_client.receive_message(QueueUrl=pair.url, MaxNumberOfMessages=10).get("Messages", [])
        return [message["Body"] for message in messages]

    with ThreadPoolExecutor(max_workers=4) as pool:
        batches = list(pool.map(lambda _: receive(), range(4)))

    # THEN moto served one receive at a time (SQS serves each atomically), and no group was split between pollers
    assert most_inside == 1
    for group in ("g0", "g1"):
        bodies = {f"m{index}" for index in range(8) if f"g{index % 2}" == group}
        holders = [batch for batch in batches if bodies & set(batch)]
        assert len(holders) == 1, batches
