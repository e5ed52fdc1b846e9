"""moto's SQS server as ``local.sqs_server`` runs it: its patches answer as moto does, only faster; it serves the
requests that change a queue one at a time, as SQS does; it delivers a FIFO group in order; it binds a free loopback
port, and runs standalone."""

from __future__ import annotations

import datetime
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from moto.sqs import models as moto_sqs_models
from moto.sqs.models import SQSBackend, sqs_backends

from local import sqs_server
from local.sqs_server import MOTO_RETENTION_CHECK, MOTO_UNIX_TIME, QueuePair, SqsServer, make_sqs_client
from tests.integration.conftest import REGION, QueuePairFactory
from tests.integration.runner_helpers import send

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.integration

# moto's default account, which its server uses for any credentials.
ACCOUNT = "123456789012"
RETENTION_S = 60
REPO_ROOT = Path(__file__).resolve().parents[2]


def backend_queue(pair: QueuePair) -> tuple[SQSBackend, str]:
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
    queue = backend.get_queue(name)
    (expired,) = [message for message in queue._messages if message.body == "expired"]
    # moto declares the timestamp None until the message is sent, hence the ignore.
    expired.sent_timestamp = int((time.time() - 2 * RETENTION_S) * 1000)  # type: ignore[assignment]

    # WHEN the queue is read
    received = sqs_client.receive_message(QueueUrl=pair.url, MaxNumberOfMessages=10).get("Messages", [])

    # THEN only the fresh message arrives, and both checks agree on each message
    assert [message["Body"] for message in received] == ["fresh"]
    for message in queue._messages:
        assert backend.is_message_valid_based_on_retention_period(name, message) == MOTO_RETENTION_CHECK(
            backend, name, message
        )
    assert backend.is_message_valid_based_on_retention_period(name, expired) is False


def test_sqs_server_clock_agrees_with_moto_clock() -> None:
    # moto's queues read the time through their module's names; the patched ones give moto's answer.
    queue_clock = vars(moto_sqs_models)
    before = MOTO_UNIX_TIME()
    patched = queue_clock["unix_time"]()
    after = MOTO_UNIX_TIME()

    assert queue_clock["unix_time"] is not MOTO_UNIX_TIME
    assert before <= patched <= after
    assert before * 1000 <= queue_clock["unix_time_millis"]() <= MOTO_UNIX_TIME() * 1000
    # Given a datetime, moto's own conversion answers.
    moment = datetime.datetime(2026, 11, 30, 12, 0, 0)
    assert queue_clock["unix_time"](moment) == MOTO_UNIX_TIME(moment) == 1_796_040_000.0


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


class PauseInDeleteScan:
    """Holds one DeleteMessage inside moto's scan of the queue until another request has run (or a timeout).

    moto's ``Queue.delete_message`` checks every message's receipt handles, copying the others into a new list, and
    then puts that list in place of the queue's. The hook pauses the delete of ``receipt_handle`` where it checks the
    message ``pause_at``, past the one it deletes: the moment a request that changes the queue meanwhile would be
    undone by the stale list. Served one at a time, the other request waits for the delete instead, and the hook
    gives up waiting after ``timeout_s``.
    """

    def __init__(self, receipt_handle: str, pause_at: str, *, timeout_s: float = 1.0) -> None:
        self._receipt_handle = receipt_handle
        self._pause_at = pause_at
        self._timeout_s = timeout_s
        self._paused = False
        self.inside = threading.Event()
        self.other_done = threading.Event()
        self._moto_check = moto_sqs_models.Message.had_receipt_handle

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Put the hook in place of moto's ``Message.had_receipt_handle`` for the test."""

        def had_receipt_handle(message: moto_sqs_models.Message, receipt_handle: str) -> bool:
            return self.check(message, receipt_handle)

        monkeypatch.setattr(moto_sqs_models.Message, "had_receipt_handle", had_receipt_handle)

    def check(self, message: moto_sqs_models.Message, receipt_handle: str) -> bool:
        """moto's answer, after the pause when this is the delete and the message to pause at."""
        if receipt_handle == self._receipt_handle and message.body == self._pause_at and not self._paused:
            self._paused = True
            self.inside.set()
            self.other_done.wait(self._timeout_s)
        return bool(self._moto_check(message, receipt_handle))


def delete_one(sqs_client: SQSClient, pair: QueuePair, receipt_handle: str) -> None:
    response = sqs_client.delete_message_batch(
        QueueUrl=pair.url, Entries=[{"Id": "0", "ReceiptHandle": receipt_handle}]
    )
    assert [entry["Id"] for entry in response.get("Successful", [])] == ["0"], response


def depth(sqs_client: SQSClient, url: str) -> dict[str, int]:
    attributes = sqs_client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return {name: int(value) for name, value in attributes.items()}


@pytest.mark.parametrize(
    "other_request",
    [
        # D7: two pollers deleting at once. The second delete came back to life, was served again after the
        # visibility timeout and deleted a second time, both deletes reported successful.
        pytest.param("delete y", id="two-deletes"),
        # A receive moving y to the dead-letter queue: y came back to life in the source queue as well.
        pytest.param("redrive y", id="delete-and-redrive"),
    ],
)
def test_sqs_server_request_during_a_delete_is_not_undone_by_it(
    sqs_client: SQSClient, make_queue_pair: QueuePairFactory, monkeypatch: pytest.MonkeyPatch, other_request: str
) -> None:
    # GIVEN x, y and z received once each on a queue that redrives after one receive, y visible again, and the
    # delete of x held inside moto's scan of the queue, at z
    pair = make_queue_pair(visibility_timeout_s=30, max_receive_count=1)
    for body in ("x", "y", "z"):
        sqs_client.send_message(QueueUrl=pair.url, MessageBody=body)
    received = sqs_client.receive_message(QueueUrl=pair.url, MaxNumberOfMessages=10)["Messages"]
    handles = {message["Body"]: message["ReceiptHandle"] for message in received}
    assert sorted(handles) == ["x", "y", "z"]
    sqs_client.change_message_visibility(QueueUrl=pair.url, ReceiptHandle=handles["y"], VisibilityTimeout=0)
    pause = PauseInDeleteScan(handles["x"], pause_at="z")
    pause.install(monkeypatch)
    with ThreadPoolExecutor(max_workers=1) as pool:
        first_delete = pool.submit(delete_one, sqs_client, pair, handles["x"])
        assert pause.inside.wait(5)

        # WHEN another request changes the queue meanwhile: a second poller deletes y, or a receive redrives it
        if other_request == "delete y":
            delete_one(sqs_client, pair, handles["y"])
        else:
            assert sqs_client.receive_message(QueueUrl=pair.url, MaxNumberOfMessages=10).get("Messages", []) == []
        pause.other_done.set()
        first_delete.result(timeout=10)

    # THEN both requests stick, as on SQS: x and y are gone from the queue (y to the DLQ when redriven), z alone
    # is left, in flight
    assert depth(sqs_client, pair.url) == {"ApproximateNumberOfMessages": 0, "ApproximateNumberOfMessagesNotVisible": 1}
    assert sum(depth(sqs_client, pair.dlq_url).values()) == (1 if other_request == "redrive y" else 0)


# moto 5.2.5 got this wrong (it skipped the first of several messages of a group that timed out together and
# returned a later one first); local.sqs_server patches it, and this test keeps the patch honest.
def test_moto_fifo_redelivery_of_several_in_flight_messages_keeps_group_order(
    sqs_client: SQSClient, make_queue_pair: QueuePairFactory
) -> None:
    # GIVEN m1, m2, m3 of one FIFO group, received together and not deleted
    queue = make_queue_pair(fifo=True, visibility_timeout_s=1)
    send(sqs_client, queue, ["m1", "m2", "m3"], group="g1")
    first = sqs_client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)["Messages"]
    assert [message["Body"] for message in first] == ["m1", "m2", "m3"]

    # WHEN they are received again after the visibility timeout
    time.sleep(1.1)
    again = sqs_client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)

    # THEN SQS hands the group back from its first message (moto returns ["m3"])
    assert [message["Body"] for message in again.get("Messages", [])][:1] == ["m1"]


def test_sqs_server_port_zero_binds_a_free_loopback_port() -> None:
    # GIVEN a server asked for port 0
    # WHEN it starts
    with SqsServer(port=0) as server:
        # THEN it reports the port the OS chose, on 127.0.0.1, and serves SQS there
        assert server.port > 0
        assert server.endpoint_url == f"http://127.0.0.1:{server.port}"
        client = make_sqs_client(server.endpoint_url)
        assert "QueueUrl" in client.create_queue(QueueName="port-zero-check")
        client.delete_queue(QueueUrl=client.get_queue_url(QueueName="port-zero-check")["QueueUrl"])


def test_sqs_server_standalone_prints_endpoint_and_exits_on_sigterm() -> None:
    # GIVEN the standalone server started on a free port
    process = subprocess.Popen(
        [sys.executable, "-m", "local.sqs_server", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    watchdog = threading.Timer(30, process.kill)  # never hang the suite on a server that does not start
    watchdog.start()
    try:
        # WHEN it is ready
        assert process.stdout is not None
        endpoint_url = process.stdout.readline().strip()

        # THEN its first line is the endpoint, which serves SQS, and SIGTERM stops it cleanly
        assert endpoint_url.startswith("http://127.0.0.1:")
        client = make_sqs_client(endpoint_url)
        assert client.list_queues().get("QueueUrls", []) == []
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
