"""The ``putQuotas`` context object: the Put* request-rate quotas the ingest Lambda paces to, when AWS raised them.

Personalize's quotas are per dataset group (docs/personalize.md §2): PutItems, PutUsers and PutActions 10 calls/s
each, not adjustable; PutEvents and PutActionInteractions 1,000 calls/s each, adjustable on request. The handler
paces to the contract's defaults; an account whose PutEvents quota was raised names the new value here, and the
stack hands it to the function as ``PUT_QUOTAS`` (``PutEvents=2000,...``, the format ``ingest.pacing`` parses), and
the same value to the spill's check, which estimates the backlog's drain at the slowest quota (``spill.estimate``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import contract
from stacks.config.parsing import ConfigError, parse_object

PUT_QUOTAS_KEY: Final = "putQuotas"
# The APIs whose quota AWS does not raise: pacing above it only buys throttling.
FIXED_QUOTA_APIS: Final[tuple[str, ...]] = tuple(
    spec.api for spec in contract.KIND_SPECS.values() if spec.quota_per_second == contract.PUT_QUOTA_FIXED
)


def parse_put_quotas(value: object) -> Mapping[str, float]:
    """Read ``putQuotas``: Put* API name -> calls per second; empty when absent, null or ``""``.

    Raises
    ------
    ConfigError
        Not an object, an unknown API name, a value that is not a positive finite number, or a value above the
        non-adjustable quota of PutItems, PutUsers or PutActions; the key names the entry.
    """
    if value is None or value == "":
        return MappingProxyType({})
    entries = parse_object(PUT_QUOTAS_KEY, value)
    quotas: dict[str, float] = {}
    for api, quota in entries.items():
        key = f"{PUT_QUOTAS_KEY}.{api}"
        if api not in contract.APIS:
            raise ConfigError(key, f"names no Put* API; known: {', '.join(contract.APIS)}")
        number = _positive_number(key, quota)
        if api in FIXED_QUOTA_APIS and number > contract.PUT_QUOTA_FIXED:
            raise ConfigError(
                key,
                f"must be at most {contract.PUT_QUOTA_FIXED:g} ({api}'s quota is not adjustable, docs/personalize.md "
                f"§2), got {quota!r}",
            )
        quotas[api] = number
    # In the contract's order, so the template does not depend on the order the keys were written in.
    return MappingProxyType({api: quotas[api] for api in contract.APIS if api in quotas})


def render_put_quotas(quotas: Mapping[str, float]) -> str:
    """``PUT_QUOTAS``'s value: ``PutEvents=2000,PutActionInteractions=1500``, in the contract's order of APIs
    (whole numbers without a fraction); ``""`` for none."""
    rendered = {api: quotas[api] for api in contract.APIS if api in quotas}
    return ",".join(f"{api}={int(quota) if quota.is_integer() else quota}" for api, quota in rendered.items())


def _positive_number(key: str, value: object) -> float:
    problem = f"must be a positive number of calls per second, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(key, problem)
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(key, problem) from None
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(key, problem)
    return number
