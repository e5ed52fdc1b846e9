"""moto's SQS server as ``local.sqs_server`` runs it: its patches answer as moto does, only faster; it serves the
requests that change a queue one at a time, as SQS does; it delivers a FIFO group in order; it binds a free loopback
port, and runs standalone."""

from __future__ import annotations

import datetime
import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError
from moto.sqs import models as moto_sqs_models
from moto.sqs.models import Queue, SQSBackend, sqs_backends

from local import sqs_server
from local.sqs_server import (
    MOTO_QUEUE_ATTRIBUTES,
    MOTO_RETENTION_CHECK,
    MOTO_UNIX_TIME,
    MOTO_VISIBLE_MESSAGES,
    QueuePair,
    SqsServer,
    make_sqs_client,
)
from tests.integration.conftest import REGION, QueuePairFactory
from tests.integration.runner_helpers import send

if TYPE_CHECKING:
    from collections.abc import Iterable

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


def send_one(sqs_client: SQSClient, pair: QueuePair, body: str, *, delay_s: int = 0) -> None:
    if pair.fifo:
        sqs_client.send_message(QueueUrl=pair.url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId=body)
    else:
        sqs_client.send_message(QueueUrl=pair.url, MessageBody=body, DelaySeconds=delay_s)


def queue_in_every_state(sqs_client: SQSClient, pair: QueuePair) -> Queue:
    """The pair's queue holding a, in flight; b, received and visible again; c and d, never received; and (not FIFO,
    where delays are per queue) a delayed message."""
    for body in ("a", "b", "c", "d"):
        send_one(sqs_client, pair, body)
    received = sqs_client.receive_message(QueueUrl=pair.url, MaxNumberOfMessages=2, VisibilityTimeout=30)["Messages"]
    assert [message["Body"] for message in received] == ["a", "b"]
    sqs_client.change_message_visibility(
        QueueUrl=pair.url, ReceiptHandle=received[1]["ReceiptHandle"], VisibilityTimeout=0
    )
    if not pair.fifo:
        send_one(sqs_client, pair, "delayed", delay_s=60)
    backend, name = backend_queue(pair)
    return backend.get_queue(name)


@pytest.mark.parametrize("kind", ["standard", "fifo", "fifo-content-deduplication", "kms-and-policy"])
def test_sqs_server_queue_attributes_are_moto_attributes(
    sqs_client: SQSClient, make_queue_pair: QueuePairFactory, kind: str
) -> None:
    # GIVEN a queue of each shape, with messages in every state
    pair = make_queue_pair(fifo=kind.startswith("fifo"), visibility_timeout_s=30)
    if kind == "fifo-content-deduplication":
        sqs_client.set_queue_attributes(QueueUrl=pair.url, Attributes={"ContentBasedDeduplication": "true"})
    if kind == "kms-and-policy":
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:*"}]}
        sqs_client.set_queue_attributes(
            QueueUrl=pair.url, Attributes={"KmsMasterKeyId": "alias/aws/sqs", "Policy": json.dumps(policy)}
        )
    queue = queue_in_every_state(sqs_client, pair)

    # WHEN its attributes are read, through the patch and through moto's own property
    patched = queue.attributes
    moto = MOTO_QUEUE_ATTRIBUTES(queue)

    # THEN they are the same names, in the same order, with the same values; so is GetQueueAttributes' answer
    assert list(patched.items()) == list(moto.items())
    assert (patched.get("Nope"), "Nope" in patched) == (moto.get("Nope"), "Nope" in moto) == (None, False)
    with pytest.raises(KeyError):
        patched["Nope"]
    counts = [moto[f"ApproximateNumberOfMessages{state}"] for state in ("", "NotVisible", "Delayed")]
    assert counts == ([3, 1, 0] if pair.fifo else [3, 1, 1])
    answered = sqs_client.get_queue_attributes(QueueUrl=pair.url, AttributeNames=["All"])["Attributes"]
    assert answered == {name: str(value) for name, value in moto.items() if value is not None}


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_sqs_server_visible_messages_are_moto_visible_messages(
    sqs_client: SQSClient, make_queue_pair: QueuePairFactory, fifo: bool
) -> None:
    # GIVEN an empty queue, then the same queue with messages in every state
    pair = make_queue_pair(fifo=fifo, visibility_timeout_s=30)
    backend, name = backend_queue(pair)
    empty = backend.get_queue(name)
    assert (list(empty.messages), len(empty.messages), bool(empty.messages)) == ([], 0, False)
    queue = queue_in_every_state(sqs_client, pair)

    # WHEN the messages to deliver are read, through the patch and through moto's own property
    patched = queue.messages
    moto = MOTO_VISIBLE_MESSAGES(queue)

    # THEN they are the same messages in the same order: b, visible again, then those never received
    assert list(patched) == moto
    assert (len(patched), bool(patched)) == (len(moto), bool(moto)) == (3, True)
    assert [message.body for message in moto] == ["b", "c", "d"]


def delete_outcomes(sqs_client: SQSClient, pair: QueuePair) -> list[Any]:
    """Delete with every kind of receipt handle; each delete's outcome, then both queues' depths."""
    for body in ("a", "b", "c"):
        send_one(sqs_client, pair, body)
    first = sqs_client.receive_message(QueueUrl=pair.url, MaxNumberOfMessages=10)["Messages"]
    handles = {message["Body"]: message["ReceiptHandle"] for message in first}
    # b received a second time (a new handle), then redriven to the dead-letter queue by the next receive
    sqs_client.change_message_visibility(QueueUrl=pair.url, ReceiptHandle=handles["b"], VisibilityTimeout=0)
    (again,) = sqs_client.receive_message(QueueUrl=pair.url, MaxNumberOfMessages=10)["Messages"]
    sqs_client.change_message_visibility(QueueUrl=pair.url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0)
    assert sqs_client.receive_message(QueueUrl=pair.url, MaxNumberOfMessages=10).get("Messages", []) == []
    deletes = [
        (pair.url, handles["a"]),  # a, in flight
        (pair.url, handles["a"]),  # a again: already deleted
        (pair.url, handles["b"]),  # b's first handle, b now in the dead-letter queue
        (pair.url, again["ReceiptHandle"]),  # b's latest handle, b now in the dead-letter queue
        (pair.dlq_url, handles["b"]),  # b, in the dead-letter queue, by its first handle
        (pair.dlq_url, again["ReceiptHandle"]),  # ... and by its latest, deleted by then
        (pair.dlq_url, handles["c"]),  # c's handle, on the wrong queue
        (pair.url, "no-such-handle"),
    ]
    outcomes: list[Any] = []
    for url, handle in deletes:
        try:
            sqs_client.delete_message(QueueUrl=url, ReceiptHandle=handle)
            outcomes.append("deleted")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])
    return [*outcomes, depth(sqs_client, pair.url), depth(sqs_client, pair.dlq_url)]


def test_sqs_server_delete_answers_as_moto_delete(
    sqs_client: SQSClient, make_queue_pair: QueuePairFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the same deletes made through the patch and through moto's own delete, on fresh queues
    patched = delete_outcomes(sqs_client, make_queue_pair(visibility_timeout_s=30, max_receive_count=2))
    monkeypatch.setattr(Queue, "delete_message", sqs_server.MOTO_DELETE_MESSAGE)
    moto = delete_outcomes(sqs_client, make_queue_pair(visibility_timeout_s=30, max_receive_count=2))

    # THEN every delete has moto's outcome, and the queues are left as moto leaves them
    invalid = "ReceiptHandleIsInvalid"
    assert patched == moto
    assert moto == [
        *("deleted", "deleted", invalid, invalid, "deleted", "deleted", invalid, invalid),
        {"ApproximateNumberOfMessages": 0, "ApproximateNumberOfMessagesNotVisible": 1},
        {"ApproximateNumberOfMessages": 0, "ApproximateNumberOfMessagesNotVisible": 0},
    ]


class PausingDeletedSet(set[str]):
    """A queue's set of deleted receipt handles that holds one DeleteMessage inside it until another request has run.

    Every delete, moto's and ours, reads the queue's list of messages, marks the deleted message's receipt handles
    deleted (``Queue.deleted_messages.update``) and then puts a new list in place of the queue's. The set pauses the
    delete of ``receipt_handle`` at that mark: the moment a request that changes the queue meanwhile would be undone
    by the stale list. Served one at a time, the other request waits for the delete instead, and the set gives up
    waiting after ``timeout_s``.
    """

    def __init__(self, deleted: set[str], receipt_handle: str, *, timeout_s: float = 1.0) -> None:
        super().__init__(deleted)
        self._receipt_handle = receipt_handle
        self._timeout_s = timeout_s
        self._paused = False
        self.inside = threading.Event()
        self.other_done = threading.Event()

    def update(self, *handles: Iterable[str]) -> None:
        """Mark the handles deleted, after the pause when they are the held delete's."""
        marked = set().union(*handles)
        if self._receipt_handle in marked and not self._paused:
            self._paused = True
            self.inside.set()
            self.other_done.wait(self._timeout_s)
        super().update(marked)


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
    # delete of z held after it has read the queue's list of messages (moto's, after it has copied x and y)
    pair = make_queue_pair(visibility_timeout_s=30, max_receive_count=1)
    for body in ("x", "y", "z"):
        sqs_client.send_message(QueueUrl=pair.url, MessageBody=body)
    received = sqs_client.receive_message(QueueUrl=pair.url, MaxNumberOfMessages=10)["Messages"]
    handles = {message["Body"]: message["ReceiptHandle"] for message in received}
    assert sorted(handles) == ["x", "y", "z"]
    sqs_client.change_message_visibility(QueueUrl=pair.url, ReceiptHandle=handles["y"], VisibilityTimeout=0)
    backend, name = backend_queue(pair)
    queue = backend.get_queue(name)
    pause = PausingDeletedSet(queue.deleted_messages, handles["z"])
    monkeypatch.setattr(queue, "deleted_messages", pause)
    with ThreadPoolExecutor(max_workers=1) as pool:
        first_delete = pool.submit(delete_one, sqs_client, pair, handles["z"])
        assert pause.inside.wait(5)

        # WHEN another request changes the queue meanwhile: a second poller deletes y, or a receive redrives it
        if other_request == "delete y":
            delete_one(sqs_client, pair, handles["y"])
        else:
            assert sqs_client.receive_message(QueueUrl=pair.url, MaxNumberOfMessages=10).get("Messages", []) == []
        pause.other_done.set()
        first_delete.result(timeout=10)

    # THEN both requests stick, as on SQS: z and y are gone from the queue (y to the DLQ when redriven), x alone
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
