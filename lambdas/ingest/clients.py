"""boto3 clients whose calls cannot outlast the time an invocation has left for them.

A Lambda invocation that runs past its timeout fails its whole batch: SQS redelivers every message, those
Personalize already accepted included, and no dead letter is written. botocore bounds a call only by its client's
connect and read timeouts, fixed when the client is built (with SDK retries off, one call lasts at most
connect + read). So each service gets a ladder of clients with growing timeouts, each built on first use and kept
for the execution environment, and every call goes out through the largest one that still ends in the time left,
``CALL_MARGIN_S`` included: early calls of an invocation get the patience a slow service deserves, the last ones
only what is left.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.config import Config

from ingest.errors import OutOfTime


@dataclass(frozen=True, slots=True)
class Tier:
    """One client's timeouts; a call through it (no SDK retries) lasts at most ``total_s``."""

    connect_s: float
    read_s: float

    @property
    def total_s(self) -> float:
        """The longest a call can take: connecting, then waiting for the answer."""
        return self.connect_s + self.read_s


# The top tier is what a call gets with time to spare (3 s to connect, 10 s to answer: Personalize and SQS answer
# in tens of milliseconds when healthy). The bottom one is the shortest call still worth making: with the margin
# below, it uses an invocation's last three quarters of a second instead of leaving them unused. Doubling steps keep
# the ladder short (each tier is one more client, and one more connection to warm).
TIERS: tuple[Tier, ...] = (
    Tier(connect_s=0.2, read_s=0.3),
    Tier(connect_s=0.3, read_s=0.7),
    Tier(connect_s=0.5, read_s=1.5),
    Tier(connect_s=1.0, read_s=3.0),
    Tier(connect_s=2.0, read_s=6.0),
    Tier(connect_s=3.0, read_s=10.0),
)
# What a call takes beyond its timeouts, kept free in every tier choice. The timeouts bound each socket operation,
# not what comes before them or their sum: building the tier's client on its first use (5-70 ms measured for a warm
# boto3.client(); the cold start pays for loading the service model by building the top tier), resolving the
# endpoint's name, signing the request, a TLS handshake of several round trips on a fresh connection.
CALL_MARGIN_S = 0.25
# No call is started with less time left than this.
SHORTEST_CALL_S = TIERS[0].total_s + CALL_MARGIN_S


def pin_user_agent(make: Callable[[Config], Any], base: Config) -> Config:
    """``base`` with the User-Agent header its clients send fixed once, instead of rebuilt on every call.

    Without ``user_agent`` in its config, botocore builds the header on each call, twice, sanitising every
    component character by character. Measured on a warm client, one-event PutEvents, botocore 1.44.5: its own
    work (the socket and HTTP parsing aside) takes 0.39 ms a call, 0.28 ms with the header fixed. With
    ``user_agent`` set it only joins that string with the session's and the config's ``user_agent_extra``
    (``personalize-ingest``). So a client is built from ``base`` (``make``) and the header it announces
    (``client.meta.config.user_agent``, botocore's public copy of it) becomes the fixed one, less what that join
    adds back, learnt from a client whose own ``user_agent`` is empty. The cost: those two clients, at the cold
    start (15-20 ms of CPU measured for the handler's three services). The one difference on the wire: the
    header's list of SDK features (``m/...``) is the one botocore knew when the client was built, not the one of
    each call's context. When the header does not end as the join would end it (a botocore that builds it
    otherwise), ``base`` is returned as it is.
    """
    announced = make(base).meta.config.user_agent
    appended = make(base.merge(Config(user_agent=""))).meta.config.user_agent
    if not isinstance(announced, str) or not isinstance(appended, str) or not announced.endswith(appended):
        return base
    return base.merge(Config(user_agent=announced.removesuffix(appended)))


class TimeBoundClients(Protocol):
    """Hands out a client whose calls end within a given number of seconds."""

    def within(self, seconds: float) -> Any | None:
        """A client whose every call ends within ``seconds``, or None when no call can."""


class ClientLadder:
    """Clients of one service at the timeouts of ``TIERS``, built on first use from ``make``.

    Parameters
    ----------
    make:
        Builds a client from a botocore ``Config`` (``lambda config: boto3.client("sqs", config=config)``).
    base:
        The settings every tier shares (retries, user agent); each tier adds its own timeouts.
    tiers:
        The ladder, shortest first.
    margin_s:
        Kept free beyond a tier's timeouts when choosing it (``CALL_MARGIN_S``).
    """

    def __init__(
        self,
        make: Callable[[Config], Any],
        *,
        base: Config | None = None,
        tiers: tuple[Tier, ...] = TIERS,
        margin_s: float = CALL_MARGIN_S,
    ) -> None:
        self._make = make
        self._base = base or Config()
        self._tiers = tiers
        self._margin_s = margin_s
        self._clients: dict[Tier, Any] = {}
        # The local runner calls one handler from several poller threads; boto3 builds clients non-atomically.
        self._lock = threading.Lock()
        # Built now: the tier every call uses while time is plentiful, and a misconfiguration (no region) shows at
        # the cold start, where it fails the invocation, rather than as a retryable failure of every call.
        self._client(tiers[-1])

    def within(self, seconds: float) -> Any | None:
        """The client of the largest tier whose calls end within ``seconds``, its margin included (building the
        client too, on the tier's first use); None when even the shortest cannot."""
        fitting = [tier for tier in self._tiers if tier.total_s + self._margin_s <= seconds]
        return self._client(max(fitting, key=lambda tier: tier.total_s)) if fitting else None

    def _client(self, tier: Tier) -> Any:
        with self._lock:
            client = self._clients.get(tier)
            if client is None:
                config = self._base.merge(Config(connect_timeout=tier.connect_s, read_timeout=tier.read_s))
                client = self._clients[tier] = self._make(config)
            return client


class AnyTime:
    """One client for whatever time is left: an in-memory fake that never blocks, or a caller's own client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def within(self, seconds: float) -> Any | None:
        """The one client, however little time is left (the caller still refuses to start past its deadline)."""
        return self.client


def time_bound(client: Any) -> TimeBoundClients:
    """``client`` as ``TimeBoundClients``: a ``ClientLadder`` as it is, any other client as ``AnyTime``."""
    return client if isinstance(client, ClientLadder | AnyTime) else AnyTime(client)


def client_within(clients: TimeBoundClients, seconds: float | None) -> Any:
    """A client whose call ends within ``seconds`` (None: no limit).

    Raises
    ------
    OutOfTime
        Less than ``SHORTEST_CALL_S`` is left, or no client of ``clients`` fits: the call is not started.
    """
    if seconds is None:
        seconds = float("inf")
    client = clients.within(seconds) if seconds >= SHORTEST_CALL_S else None
    if client is None:
        raise OutOfTime(f"{max(seconds, 0.0):.2f} s left, a call needs at least {SHORTEST_CALL_S} s")
    return client
