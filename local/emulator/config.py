"""The emulator's settings: identity, lifecycle delays, limits, request-rate quotas and injected faults."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contract import KIND_SPECS
from import_rules import MAX_PENDING_IMPORT_JOBS, MIN_INTERACTION_RECORDS

# Request-rate quotas per dataset group, in calls per second: the contract's, which cites
# https://docs.aws.amazon.com/personalize/latest/dg/limits.html ("PutItems ... 10 per second, not adjustable";
# PutEvents and PutActionInteractions 1,000 per second, adjustable).
DEFAULT_QUOTAS: Mapping[str, float] = {spec.api: spec.quota_per_second for spec in KIND_SPECS.values()}

DEFAULT_FAILURE_REASON = "Emulated failure: the resource name matches the emulator's fail_create pattern."


@dataclass(frozen=True)
class EmulatorConfig:
    """Settings of one emulator; immutable, replaced as a whole by :meth:`with_changes`.

    Parameters
    ----------
    account_id : str
        The account in every ARN.
    default_region : str
        The region used when a request carries no SigV4 ``Authorization`` header.
    create_delay : float
        Seconds from a Create* call to ACTIVE (or CREATE FAILED): half in CREATE PENDING, half in
        CREATE IN_PROGRESS. Short by default but not zero, so callers have to poll as they would on AWS.
    delete_delay : float
        Seconds from a Delete* call until the resource is gone (DELETE PENDING, then DELETE IN_PROGRESS).
    fail_create : re.Pattern or None
        Creates of dataset groups, datasets and event trackers whose name matches (``search``) end in
        CREATE FAILED.
    failure_reason : str
        The ``failureReason`` a failed dataset group reports.
    max_dataset_groups : int
        Dataset groups per region, not counting those being deleted (the service quota is 5).
    max_schemas : int
        Schemas per region (the service quota is 500).
    quotas : Mapping[str, float]
        Calls per second per dataset group for each Put* API (sliding one-second window).
    throttle_rate, server_error_rate : float
        Probabilities that a faultable call is answered with a throttling error or a 5xx.
    latency, latency_jitter : float
        Seconds added to each faultable call: ``latency`` plus a seeded uniform share of ``latency_jitter``.
    fault_control_plane : bool
        Whether faults also apply to the control plane (the data-plane Put* calls always draw faults).
    control_throttle_code : str
        The code of a throttling fault on the control plane (``LimitExceededException`` is what Personalize's
        reference documents for request-rate limits; ``ThrottlingException`` is what botocore retries).
    seed : int or None
        Seed of the fault injector's ``random.Random``; the same seed gives the same fault sequence.
    reject_records : re.Pattern or None
        Poison records, set through their data: a Put* call holding a record whose id matches (``search``)
        is answered with ``InvalidInputException`` naming that record, as the service answers a record it
        refuses, and stores nothing. The id is ``itemId``, ``userId`` or ``actionId``; for events and action
        interactions, ``eventId`` or ``itemId`` / ``actionId`` (either may match).
    s3_endpoint_url : str or None
        Where dataset import jobs read their data: an S3-compatible endpoint (moto's server on loopback), called
        with dummy credentials. ``None``: import jobs fail, as the emulator never reads the real S3.
    import_delay : float
        Seconds from CreateDatasetImportJob to ACTIVE (or CREATE FAILED), half in CREATE PENDING.
    max_import_jobs : int
        Dataset import jobs CREATE PENDING or CREATE IN_PROGRESS per region (the service quota is 5).
    min_import_interactions : int
        Fewest records an import job into an Interactions dataset (or an INCREMENTAL one into an Action
        interactions dataset) may hold (the service quota is 1,000; lower it for small demos).
    """

    account_id: str = "123456789012"
    default_region: str = "us-east-1"
    create_delay: float = 0.2
    delete_delay: float = 0.2
    fail_create: re.Pattern[str] | None = None
    failure_reason: str = DEFAULT_FAILURE_REASON
    max_dataset_groups: int = 5
    max_schemas: int = 500
    quotas: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_QUOTAS))
    throttle_rate: float = 0.0
    server_error_rate: float = 0.0
    latency: float = 0.0
    latency_jitter: float = 0.0
    fault_control_plane: bool = False
    control_throttle_code: str = "ThrottlingException"
    seed: int | None = None
    reject_records: re.Pattern[str] | None = None
    s3_endpoint_url: str | None = None
    import_delay: float = 0.2
    max_import_jobs: int = MAX_PENDING_IMPORT_JOBS
    min_import_interactions: int = MIN_INTERACTION_RECORDS

    def __post_init__(self) -> None:
        """Reject settings that cannot work, so a typo fails at configuration time and not mid-test."""
        if not re.fullmatch(r"\d{12}", self.account_id):
            raise ValueError(f"account_id must be 12 digits, got {self.account_id!r}")
        for name in ("create_delay", "delete_delay", "import_delay", "latency", "latency_jitter"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("throttle_rate", "server_error_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.throttle_rate + self.server_error_rate > 1.0:
            raise ValueError("throttle_rate + server_error_rate must be <= 1")
        if min(self.max_dataset_groups, self.max_schemas, self.max_import_jobs, self.min_import_interactions) < 0:
            raise ValueError("limits must be >= 0")
        unknown = set(self.quotas) - set(DEFAULT_QUOTAS)
        if unknown:
            raise ValueError(f"quotas for unknown APIs: {sorted(unknown)}; known: {sorted(DEFAULT_QUOTAS)}")
        if any(limit <= 0 for limit in self.quotas.values()):
            raise ValueError("quotas must be > 0 calls per second")
        if self.reject_records is not None and not isinstance(self.reject_records, re.Pattern):
            raise ValueError("reject_records must be a regular expression (a pattern string over HTTP) or None")
        if self.s3_endpoint_url is not None and not re.match(r"https?://", self.s3_endpoint_url):
            raise ValueError(f"s3_endpoint_url must be an http(s) URL, got {self.s3_endpoint_url!r}")

    def quota(self, api: str) -> float | None:
        """Return the calls-per-second quota of ``api``, or ``None`` if it has none."""
        return self.quotas.get(api)

    def with_changes(self, changes: Mapping[str, Any]) -> EmulatorConfig:
        """Return a copy with ``changes`` applied, accepting JSON-friendly values.

        ``fail_create`` and ``reject_records`` may be pattern strings (or ``None``); ``quotas`` is merged into the
        current quotas.

        Raises
        ------
        ValueError
            For an unknown setting or a value out of range.
        """
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}; known: {sorted(names)}")
        values = dict(changes)
        try:
            for name in ("fail_create", "reject_records"):
                if isinstance(values.get(name), str):
                    values[name] = re.compile(values[name])
            if "quotas" in values:
                values["quotas"] = {**self.quotas, **dict(values["quotas"])}
            return dataclasses.replace(self, **values)
        except (TypeError, re.error) as exc:  # a mistyped value or a broken pattern, reported as a bad setting
            raise ValueError(f"invalid settings {sorted(changes)}: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        """Return the settings as a JSON-serialisable dict (the shape ``POST /_emulator/config`` accepts)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["fail_create"] = self.fail_create.pattern if self.fail_create else None
        data["reject_records"] = self.reject_records.pattern if self.reject_records else None
        data["quotas"] = dict(self.quotas)
        return data
