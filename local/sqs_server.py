"""Run moto's SQS server on loopback, in-process or standalone, and create queues on it.

The local pipeline gets SQS from moto's server (``moto.server.ThreadedMotoServer``) rather than from
``mock_aws``: the handler, the event-source runner and the publisher then talk HTTP to it exactly as they
would to AWS, through ordinary boto3 clients pointed at ``endpoint_url``.

What is worth knowing about moto's server:

- It serves every moto service, not only SQS; we only use SQS.
- Its state lives in module-level backends of the *process*, so two servers started in one process share
  their queues, and ``mock_aws`` starting in that process resets them. Run it standalone
  (``python -m local.sqs_server --port N``) when another process must not see or reset the state.
- It is slow on a deep queue: every SendMessage and every message received computes all queue attributes,
  each a scan of the queue that asks the time twice per message; every ReceiveMessage checks every message queued,
  and every DeleteMessage checks and copies them all. Patches applied on import make each of these cost the same
  at any depth (:func:`_fast_unix_time`, :func:`_cheap_retention_check`, :class:`_LazyQueueAttributes`,
  :class:`_VisibleMessages`, :func:`_indexed_delete`) without changing an answer.
- It can reorder a FIFO message group under redelivery and concurrent receives; two more patches applied on
  import make it deliver groups in order, as SQS does (:func:`_pending_message_groups`,
  :func:`_serialized_receive`).
- It can undo a delete, or a redrive, made while another delete runs, and serve the message again after its
  visibility timeout; a patch serves every request that changes a queue's messages one at a time, as SQS does
  (:func:`_indexed_delete`, :func:`_serialized_add`).

Standalone::

    python -m local.sqs_server --port 9324     # prints the endpoint URL on its first line, then serves
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config
from moto.core import utils as moto_core_utils
from moto.server import ThreadedMotoServer
from moto.sqs import models as moto_sqs_models
from moto.sqs.exceptions import ReceiptHandleIsInvalid
from moto.sqs.models import Message, Queue, SQSBackend

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

__all__ = ["LOOPBACK", "QueuePair", "SqsServer", "create_queue_pair", "main", "make_sqs_client"]

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"

# moto accepts any credentials. A client for a local stand-in gets fixed dummy ones, so real credentials
# from the environment are never sent to it (and a laptop without any still works).
_DUMMY_ACCESS_KEY_ID = "testing"
_DUMMY_SECRET_ACCESS_KEY = "testing"  # noqa: S105 - not a secret: moto's documented dummy value


# moto's own clock functions, kept for the patches below and for the tests that the patches agree with them.
MOTO_UNIX_TIME: Final = moto_core_utils.unix_time


def _fast_unix_time(dt: datetime.datetime | None = None) -> float:
    """Seconds since the epoch, as moto's ``unix_time``: the current time through ``time.time()``.

    moto computes "now" as a naive UTC datetime minus the epoch (so that freezegun can stop its clock), about 10 µs a
    call; its SQS queues ask it twice per message per scan (``Message.visible`` and ``delayed``), and every
    SendMessage and every received message scans the whole queue three times. With 1,000 messages queued that was
    a quarter of a second per SendMessageBatch. ``time.time()`` gives the same number a hundred times faster; we
    never freeze moto's clock.
    """
    return time.time() if dt is None else MOTO_UNIX_TIME(dt)


def _fast_unix_time_millis(dt: datetime.datetime | None = None) -> float:
    """Milliseconds since the epoch, as moto's ``unix_time_millis``."""
    return _fast_unix_time(dt) * 1000.0


def _cheap_retention_check(backend: SQSBackend, queue_name: str, message: Message) -> bool:
    """Whether ``message`` is still within its queue's retention period: moto's own check, without its cost.

    moto 5.2's ReceiveMessage asks ``is_message_valid_based_on_retention_period`` about every message it hands
    out, and that computes *every* queue attribute to read one: three scans of the whole queue per message
    received (``ApproximateNumberOfMessages*``). With 600 messages queued a receive of ten took about a second of
    CPU, taken from the handler under test in the same process, so the demo and the benchmark measured moto. This
    reads the one attribute it needs; the answer is the same (tests/integration/test_sqs_server.py).
    """
    queue = backend.get_queue(queue_name)
    # Set from the queue's attributes by name (moto's Queue._set_attributes), hence unknown to its type stubs.
    retention_period = int(getattr(queue, "message_retention_period"))  # noqa: B009
    retain_until = retention_period + int(message.sent_timestamp or 0) / 1000
    return bool(retain_until > _fast_unix_time())


# Applied on import: every server this module starts, in-process or standalone, runs with it. moto's own check is
# kept for the test that the two agree.
MOTO_RETENTION_CHECK: Final = SQSBackend.is_message_valid_based_on_retention_period
SQSBackend.is_message_valid_based_on_retention_period = _cheap_retention_check  # type: ignore[method-assign,assignment]
# moto.sqs.models imported these names from moto.core.utils; its queues look them up in their own module.
setattr(moto_sqs_models, "unix_time", _fast_unix_time)  # noqa: B010
setattr(moto_sqs_models, "unix_time_millis", _fast_unix_time_millis)  # noqa: B010


def _pending_message_groups(queue: Queue) -> set[str]:
    """The FIFO groups with a message in flight: those with a received message whose visibility has not ended.

    moto 5.2.5 counts a message whose visibility timeout has expired as still in flight until its receive loop
    reaches that very message, and skips every message of a group with one in flight. When several messages of a
    group come back together the loop skips the first ones (their group still looks busy), frees the group at the
    last one and delivers it, and the ones after it, first. A message whose visibility timeout has ended is not in
    flight; counting only the others keeps the order (tests/integration/test_sqs_server.py and test_runner_fifo.py).
    """
    return {
        message.group_id for message in queue.pending_messages if message.group_id is not None and not message.visible
    }


# One lock for every request that changes a queue's list of messages, so moto serves them one at a time, as SQS
# serves each atomically (moto's threaded server runs each request in its own thread, and moto locks none of them).
_QUEUE_LOCK: Final = threading.RLock()
_LONG_POLL_STEP_S: Final = 0.05
MOTO_RECEIVE_MESSAGE: Final = SQSBackend.receive_message
MOTO_DELETE_MESSAGE: Final = Queue.delete_message
MOTO_ADD_MESSAGE: Final = Queue.add_message


def _serialized_receive(
    backend: SQSBackend, queue_name: str, count: int, wait_seconds_timeout: int, *args: Any, **kwargs: Any
) -> list[Message]:
    """moto's ReceiveMessage, one at a time, with the long-poll wait outside the lock.

    The threaded server runs two ReceiveMessage calls at once (two pollers) on the same queue without a lock, and
    they can split a FIFO group between them, or both take the same group. SQS serves each receive atomically.
    """
    polling_end = time.monotonic() + wait_seconds_timeout
    while True:
        with _QUEUE_LOCK:
            found: list[Message] = MOTO_RECEIVE_MESSAGE(backend, queue_name, count, 0, *args, **kwargs)
        if found or time.monotonic() >= polling_end:
            return found
        time.sleep(_LONG_POLL_STEP_S)


def _serialized_add(queue: Queue, message: Message) -> None:
    """moto's enqueue (SendMessage, and a redrive to the dead-letter queue), one at a time with the deletes.

    A message appended between the end of a delete's copy and its swap would be dropped with the old list.
    """
    with _QUEUE_LOCK:
        MOTO_ADD_MESSAGE(queue, message)


class _LazyQueueAttributes(Mapping[str, Any]):
    """moto's ``Queue.attributes``, the same names in the same order, each value computed when first read.

    moto builds the whole dict on every read, and three of its values (``ApproximateNumberOfMessages*``) are each a
    scan of the queue. Every SendMessage reads one name of it (``ContentBasedDeduplication``), a FIFO one reads it
    three times, and GetQueueAttributes reads it once per name asked: with 50,000 messages queued a SendMessageBatch
    of ten took a third of a second. Reading a name computes that value alone, as moto would (:func:`_attribute_value`);
    a value read once is kept, so the mapping is a snapshot per name, as moto's dict is one for all of them.
    """

    __slots__ = ("_names", "_queue", "_values")

    def __init__(self, queue: Queue) -> None:
        names = list(Queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += Queue.FIFO_ATTRIBUTES
        if getattr(queue, "kms_master_key_id"):  # noqa: B009 - set by name from the attributes, unknown to the stubs
            names += Queue.KMS_ATTRIBUTES
        self._queue = queue
        self._names: dict[str, None] = dict.fromkeys(names)
        self._values: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._values:
            self._values[name] = _attribute_value(self._queue, name)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return repr(dict(self))


def _attribute_value(queue: Queue, name: str) -> Any:
    """One value of moto's ``Queue.attributes``, computed as moto computes it in the whole dict."""
    value: Any
    if name == "Policy" and queue.policy:
        value = queue.policy
    elif name == "RedrivePolicy" and getattr(queue, "redrive_policy"):  # noqa: B009 - set by name, as above
        value = json.dumps(getattr(queue, "redrive_policy"))  # noqa: B009
    else:
        value = getattr(queue, moto_core_utils.camelcase_to_underscores(name))
    return str(value).lower() if isinstance(value, bool) else value


def _lazy_queue_attributes(queue: Queue) -> Mapping[str, Any]:
    """``Queue.attributes`` as :class:`_LazyQueueAttributes`."""
    return _LazyQueueAttributes(queue)


class _VisibleMessages:
    """moto's ``Queue.messages`` (the messages neither in flight nor delayed), filtered as it is read.

    moto builds the whole list, a check of every message queued, for each ReceiveMessage, which then takes the first
    ten of it. This view filters the queue's list as the receive walks it and stops where the receive stops; its
    length and truth (GetQueueAttributes, the long poll's wake-up) still read the whole list. Like moto's list it is
    a snapshot of which messages are queued: it walks the list the queue had when the view was made, up to the
    length it had then. Each message's own state is read when the walk reaches it, which moto does too (its check
    asks the clock once per message, not once per list).
    """

    __slots__ = ("_length", "_messages")

    def __init__(self, queue: Queue) -> None:
        self._messages = queue._messages  # moto's own list, read as moto reads it
        self._length = len(self._messages)

    def __iter__(self) -> Iterator[Message]:
        return (message for message in islice(self._messages, self._length) if message.visible and not message.delayed)

    def __len__(self) -> int:
        return sum(1 for _message in self)

    def __bool__(self) -> bool:
        return any(True for _message in self)


def _lazy_visible_messages(queue: Queue) -> _VisibleMessages:
    """``Queue.messages`` as :class:`_VisibleMessages`."""
    return _VisibleMessages(queue)


# Every message by each receipt handle it was ever given, so a delete finds its message without a scan. Weak: a
# message deleted, purged or gone with its queue leaves the index with its last reference.
_MESSAGES_BY_RECEIPT_HANDLE: Final[weakref.WeakValueDictionary[str, Message]] = weakref.WeakValueDictionary()
MOTO_MARK_RECEIVED: Final = Message.mark_received


def _indexed_mark_received(message: Message, visibility_timeout: int | None = None) -> None:
    """moto's ``Message.mark_received`` (a new receipt handle), then the handle put in the index of messages."""
    MOTO_MARK_RECEIVED(message, visibility_timeout)
    _MESSAGES_BY_RECEIPT_HANDLE[str(message.receipt_handle)] = message


def _indexed_delete(queue: Queue, receipt_handle: str) -> None:
    """moto's DeleteMessage, finding the message by its receipt handle instead of checking every message queued.

    moto asks every queued message whether it ever had the handle (building a list of its handles to ask), then
    copies every other message into a new list: with 50,000 messages queued a DeleteMessageBatch of ten took a
    tenth of a second. A receipt handle is one message's (moto draws each at random), so the index names the one
    message moto's scan would find; the answers are moto's: a handle already deleted is accepted again, one no
    message of this queue ever had is ``ReceiptHandleIsInvalid``, and the message leaves the list (a new one, as
    moto makes), the in-flight set and takes its handles to the deleted ones.

    It runs one at a time with every other change to a queue (DeleteMessageBatch's entries too). moto deletes by
    copying every other message into a new list and putting it in place of the queue's: a change made to the queue
    between the copy and the swap is undone. A message another poller deleted meanwhile comes back (its delete
    reported successful, it is served again after its visibility timeout), and so does a message a receive moved to
    the dead-letter queue meanwhile. Two pollers draining 2,000 messages had 24 of them served twice that way
    (tests/integration/test_sqs_server.py). moto's latest code deletes the same way.
    """
    with _QUEUE_LOCK:
        if receipt_handle in queue.deleted_messages:
            return
        message = _MESSAGES_BY_RECEIPT_HANDLE.get(receipt_handle)
        queued = queue._messages  # moto's own list, replaced as moto replaces it
        # ``in`` and ``index`` compare identity first, and a message has no other equality: a scan in C, which stops
        # at the message (near the front: received messages are the oldest). A message is queued once: moto appends
        # each new message once, and removes a redriven one before it adds it to the dead-letter queue.
        if message is None or not message.had_receipt_handle(receipt_handle) or message not in queued:
            raise ReceiptHandleIsInvalid
        queue.pending_messages.discard(message)
        queue.deleted_messages.update(message.all_receipt_handles)  # type: ignore[arg-type]
        position = queued.index(message)
        remaining = queued[:position] + queued[position + 1 :]
        queue._messages = remaining


setattr(Queue, "pending_message_groups", property(_pending_message_groups))  # noqa: B010
SQSBackend.receive_message = _serialized_receive  # type: ignore[method-assign,assignment]
Queue.add_message = _serialized_add  # type: ignore[method-assign,assignment]
# moto's own getters, kept for the tests that the patches agree with them.
MOTO_QUEUE_ATTRIBUTES: Final[Callable[[Queue], dict[str, Any]]] = vars(Queue)["attributes"].fget
MOTO_VISIBLE_MESSAGES: Final[Callable[[Queue], list[Message]]] = vars(Queue)["messages"].fget
setattr(Queue, "attributes", property(_lazy_queue_attributes))  # noqa: B010
setattr(Queue, "messages", property(_lazy_visible_messages))  # noqa: B010
Message.mark_received = _indexed_mark_received  # type: ignore[method-assign,assignment]
Queue.delete_message = _indexed_delete  # type: ignore[method-assign,assignment]


class SqsServer:
    """moto's server on a loopback port, as a context manager.

    Parameters
    ----------
    port
        The TCP port to bind on 127.0.0.1; ``0`` lets the OS pick a free one (read it back from ``port``).
    access_log
        Keep werkzeug's per-request INFO log line. Off by default: a runner long-polling with several threads
        makes it a wall of "POST / 200" lines that hides the pipeline's own logs.

    Examples
    --------
    >>> with SqsServer(port=0) as server:
    ...     client = make_sqs_client(server.endpoint_url)
    """

    def __init__(self, *, port: int = 0, access_log: bool = False) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be within 0..65535, got {port}")
        self._requested_port = port
        self._access_log = access_log
        self._server: ThreadedMotoServer | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port actually bound (the OS's choice when the requested port was 0)."""
        if self._port is None:
            raise RuntimeError("the server is not running: call start() or use it as a context manager")
        return self._port

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``, for boto3's ``endpoint_url`` or ``AWS_ENDPOINT_URL_SQS``."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> str:
        """Start serving in a daemon thread and return the endpoint URL once the socket is bound."""
        if self._server is not None:
            raise RuntimeError("the server is already running")
        # verbose=False: moto would otherwise print a banner on stdout, which the standalone mode reserves
        # for the endpoint URL.
        server = ThreadedMotoServer(ip_address=LOOPBACK, port=self._requested_port, verbose=False)
        if not self._access_log:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # start() returns once werkzeug has bound the socket, so the port read back below is the real one
        # (ThreadedMotoServer keeps the *requested* port, 0, in its own attribute).
        server.start()
        self._server = server
        _host, self._port = server.get_host_and_port()
        logger.info("moto server listening on %s", self.endpoint_url)
        return self.endpoint_url

    def stop(self) -> None:
        """Stop serving and wait for the server thread; a no-op when not running."""
        if self._server is None:
            return
        self._server.stop()
        self._server = None
        self._port = None

    def __enter__(self) -> SqsServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def make_sqs_client(endpoint_url: str, *, region_name: str = "us-east-1", max_pool_connections: int = 10) -> SQSClient:
    """Build a boto3 SQS client for moto's server, with dummy credentials.

    Parameters
    ----------
    endpoint_url
        The server's endpoint, e.g. ``SqsServer.endpoint_url``.
    region_name
        The region the queues live in (moto keeps one backend per region).
    max_pool_connections
        urllib3 pool size; give at least one connection per thread that shares the client, or concurrent
        long polls queue up behind each other.
    """
    config = Config(max_pool_connections=max_pool_connections, retries={"mode": "standard"})
    client: SQSClient = boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name=region_name,
        config=config,
        aws_access_key_id=_DUMMY_ACCESS_KEY_ID,
        aws_secret_access_key=_DUMMY_SECRET_ACCESS_KEY,
    )
    return client


@dataclass(frozen=True, slots=True)
class QueuePair:
    """A source queue and its dead-letter queue, wired by the source queue's redrive policy."""

    url: str
    arn: str
    dlq_url: str
    dlq_arn: str
    fifo: bool
    visibility_timeout_s: int
    max_receive_count: int


def create_queue_pair(
    client: SQSClient,
    *,
    name: str,
    fifo: bool = False,
    visibility_timeout_s: int = 30,
    max_receive_count: int = 5,
    content_based_deduplication: bool = False,
) -> QueuePair:
    """Create ``name`` and ``name-dlq`` (``.fifo`` appended for FIFO) with a redrive policy between them.

    Parameters
    ----------
    client
        An SQS client (``make_sqs_client`` for moto's server).
    name
        The source queue's name without the ``.fifo`` suffix.
    fifo
        Create FIFO queues; a FIFO queue's dead-letter queue must be FIFO too.
    visibility_timeout_s
        The source queue's visibility timeout: how long a received, undeleted message stays hidden.
        AWS recommends 6x the function timeout for a Lambda event source; tests use 1 s to redeliver fast.
    max_receive_count
        The redrive policy's limit: a message received this many times without being deleted moves to the
        dead-letter queue on the next receive.
    content_based_deduplication
        FIFO only: derive the deduplication id from the body. (moto then omits the SequenceNumber
        attribute; send explicit MessageDeduplicationIds when the event must carry it.)
    """
    suffix = ".fifo" if fifo else ""
    fifo_attributes: dict[QueueAttributeNameType, str] = {}
    if fifo:
        fifo_attributes = {
            "FifoQueue": "true",
            "ContentBasedDeduplication": "true" if content_based_deduplication else "false",
        }
    dlq_url = client.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=fifo_attributes)["QueueUrl"]
    dlq_arn = _queue_arn(client, dlq_url)
    redrive_policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
    url = client.create_queue(
        QueueName=f"{name}{suffix}",
        Attributes={
            **fifo_attributes,
            "VisibilityTimeout": str(visibility_timeout_s),
            "RedrivePolicy": json.dumps(redrive_policy),
        },
    )["QueueUrl"]
    return QueuePair(
        url=url,
        arn=_queue_arn(client, url),
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        fifo=fifo,
        visibility_timeout_s=visibility_timeout_s,
        max_receive_count=max_receive_count,
    )


def _queue_arn(client: SQSClient, queue_url: str) -> str:
    return client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; print the endpoint URL as the first line of stdout."""
    parser = argparse.ArgumentParser(prog="python -m local.sqs_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one; default)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")

    stop = threading.Event()
    # The handlers only set the event: the main thread does the shutdown, outside the signal context.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    signal.signal(signal.SIGINT, lambda _signum, _frame: stop.set())
    with SqsServer(port=args.port) as server:
        # flush: a parent process reading our stdout through a pipe waits for exactly this line.
        print(server.endpoint_url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
