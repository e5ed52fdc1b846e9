"""The spill functions' settings, read once from the environment the stack sets (stacks/spill_workflow.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import contract
from ingest.pacing import parse_quotas


@dataclass(frozen=True, slots=True)
class SpillConfig:
    """Where the spill reads and writes, and its two times.

    Attributes
    ----------
    datasets:
        Kind name → dataset ARN, for the kinds the pipeline writes (the ingest function's dataset variables).
    quiet_seconds:
        How long after the mapping reads Disabled the drain waits: the ingest function's timeout, which no batch
        received before the pause outlives.
    put_quotas:
        Put* API -> calls per second the ingest function paces to: the contract's, or ``PUT_QUOTAS``'s over them
        (read by the ingest function's own rule, ``ingest.pacing.parse_quotas``). The check's estimate drains the
        backlog at the slowest of them.
    """

    queue_url: str
    dead_letter_queue_url: str
    bucket: str
    role_arn: str
    mapping_uuid: str
    datasets: Mapping[str, str] = field(default_factory=dict)
    state_machine_arn: str = ""
    spill_after_seconds: int = 0
    quiet_seconds: int = 0
    put_quotas: Mapping[str, float] = field(default_factory=lambda: parse_quotas(""))

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> SpillConfig:
        """Read the settings; a missing required variable raises ``KeyError`` naming it, a ``PUT_QUOTAS`` that does
        not parse ``ingest.errors.ConfigurationError`` (the step or check fails)."""
        return cls(
            queue_url=env[contract.SPILL_QUEUE_URL],
            dead_letter_queue_url=env[contract.DEAD_LETTER_QUEUE_URL],
            bucket=env[contract.SPILL_BUCKET],
            role_arn=env[contract.SPILL_ROLE_ARN],
            mapping_uuid=env[contract.SPILL_MAPPING_UUID],
            datasets={
                spec.name: env[spec.dataset_env] for spec in contract.KIND_SPECS.values() if env.get(spec.dataset_env)
            },
            state_machine_arn=env.get(contract.SPILL_STATE_MACHINE_ARN, ""),
            spill_after_seconds=int(env.get(contract.SPILL_AFTER_SECONDS, "0")),
            quiet_seconds=int(env.get(contract.SPILL_QUIET_SECONDS, "0")),
            put_quotas=parse_quotas(env.get(contract.PUT_QUOTAS, "")),
        )
