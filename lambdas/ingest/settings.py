"""The ingest Lambda's environment (docs/contracts.md §2), read and validated once per cold start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# The variables' names are the contract's; re-exported so ``from ingest.settings import DEAD_LETTER_QUEUE_URL``
# keeps working.
from contract import BATCH_SIZE, DEAD_LETTER_QUEUE_URL, MAX_CONCURRENCY, MAX_RECEIVE_COUNT, PUT_QUOTAS
from ingest.errors import ConfigurationError
from ingest.kinds import KINDS, Kind
from ingest.pacing import parse_quotas

__all__ = ["BATCH_SIZE", "DEAD_LETTER_QUEUE_URL", "MAX_CONCURRENCY", "MAX_RECEIVE_COUNT", "PUT_QUOTAS", "Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Where each configured kind goes, and the queue facts the handler needs.

    Attributes
    ----------
    datasets:
        Kind name → dataset ARN whose schema validates that kind (configured kinds only).
    targets:
        Kind name → the ARN or tracking id its API writes to. Absent for an Action interactions dataset whose
        tracking id is not in the environment: it is then read from DescribeDataset.
    dead_letter_queue_url:
        Where poison records go.
    max_receive_count:
        The ingest queue's redrive limit, so a record on its last delivery is dead-lettered as RetriesExhausted.
    max_concurrency:
        The event source's maximum concurrency: each environment starts pacing an API at quota / this.
    batch_size:
        The event source's batch size: a batch this large arrived full (more is waiting), so the partial last call
        of an upsert kind may be deferred to fill a later call (``ingest.defer``). None: never deferred.
    quotas:
        Calls per second per dataset group for each Put* API: the contract's, or ``PUT_QUOTAS``'s.
    """

    datasets: dict[str, str]
    targets: dict[str, str]
    dead_letter_queue_url: str
    max_receive_count: int | None = None
    max_concurrency: int | None = None
    batch_size: int | None = None
    quotas: dict[str, float] = field(default_factory=lambda: parse_quotas(""))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read the environment (docs/contracts.md §2) from ``env``.

        Raises
        ------
        ConfigurationError
            The DLQ URL is missing, a number is not a positive integer, or ``PUT_QUOTAS`` does not parse.
        """
        queue_url = env.get(DEAD_LETTER_QUEUE_URL, "").strip()
        if not queue_url:
            raise ConfigurationError(f"{DEAD_LETTER_QUEUE_URL} is required")
        datasets: dict[str, str] = {}
        targets: dict[str, str] = {}
        for kind in KINDS.values():
            dataset = env.get(kind.dataset_env, "").strip()
            if not dataset:
                continue
            datasets[kind.name] = dataset
            target = env.get(kind.target_env, "").strip()
            if target:
                targets[kind.name] = target
        return cls(
            datasets=datasets,
            targets=targets,
            dead_letter_queue_url=queue_url,
            max_receive_count=_positive(env, MAX_RECEIVE_COUNT),
            max_concurrency=_positive(env, MAX_CONCURRENCY),
            batch_size=_positive(env, BATCH_SIZE),
            quotas=parse_quotas(env.get(PUT_QUOTAS, "")),
        )

    def is_configured(self, kind: Kind) -> bool:
        """Whether records of ``kind`` have somewhere to go."""
        return kind.name in self.datasets


def _positive(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {raw!r}")
    return value
