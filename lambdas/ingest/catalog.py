"""Reads what Personalize knows about a kind's dataset: its schema and, for Action interactions, the tracking id.

docs/contracts.md §2: the schema that validates a kind is read with DescribeDataset → DescribeSchema the first
time the kind is seen, and cached. The cache expires after ``ttl_s`` so a schema updated in place (UpdateDataset
adds nullable fields) is picked up without a redeploy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingest.clients import client_within, time_bound
from ingest.kinds import Kind
from ingest.schema import DatasetSchema

DEFAULT_TTL_S = 300.0


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """A dataset's schema and, when Personalize made one for it, its tracking id."""

    schema: DatasetSchema
    tracking_id: str | None


class DatasetCatalog:
    """DescribeDataset + DescribeSchema through boto3 ``personalize`` clients, cached per dataset ARN.

    ``client`` is a ``ClientLadder`` (each call bounded by the time left) or one plain client.
    """

    def __init__(
        self, *, client: Any, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clients = time_bound(client)
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, DatasetInfo]] = {}
        self._lock = threading.Lock()

    def describe(self, kind: Kind, dataset_arn: str, *, time_left_s: float | None = None) -> DatasetInfo:
        """The dataset's schema (parsed for ``kind``) and tracking id; raises the client's exceptions.

        A cache miss makes two calls, each started only if it can end within ``time_left_s`` of now (None: no
        limit); otherwise ``OutOfTime`` is raised and nothing is cached.
        """
        now = self._clock()
        with self._lock:
            cached = self._cache.get(dataset_arn)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        deadline = None if time_left_s is None else now + time_left_s
        dataset = self._client(deadline).describe_dataset(datasetArn=dataset_arn)["dataset"]
        document = self._client(deadline).describe_schema(schemaArn=dataset["schemaArn"])["schema"]["schema"]
        info = DatasetInfo(
            schema=DatasetSchema.parse(
                document,
                request_fields=kind.request_schema_fields,
                string_limit=kind.string_value_limit,
            ),
            tracking_id=dataset.get("trackingId"),
        )
        with self._lock:
            self._cache[dataset_arn] = (now, info)
        return info

    def _client(self, deadline: float | None) -> Any:
        return client_within(self._clients, None if deadline is None else deadline - self._clock())
