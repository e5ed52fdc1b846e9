"""Entry points of the custom resource provider: ``resources.handler.on_event`` and ``resources.handler.is_complete``.

Thin on purpose: build the ``personalize`` client once per cold start and hand it to ``resources.provider``,
which holds the lifecycle. The client is built plainly, so the standard ``AWS_ENDPOINT_URL_PERSONALIZE``
variable points it at the local emulator with no test hooks (docs/personalize.md §6).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config

from contract import GIVE_UP_AFTER_SECONDS
from resources import provider

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient

# The control plane answers rate limits with LimitExceededException or throttling errors; botocore's standard
# retry mode retries throttling and 5xx with exponential backoff and jitter
# (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html). Few attempts and short timeouts on
# purpose: a call that still fails is not the end, since is_complete treats it as "ask again on the next poll" (and
# a Delete makes its calls there only), whereas a handler that outlives its Lambda timeout is reported FAILED by the
# Provider framework, with no retry. Control-plane answers are small and quick: 10 s to read one is generous.
MAX_ATTEMPTS: Final = 3
CONNECT_TIMEOUT_SECONDS: Final = 5
READ_TIMEOUT_SECONDS: Final = 10
CLIENT_CONFIG: Final = Config(
    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
)
# The longest one call can take: every attempt timing out, and the longest backoffs between them. botocore's
# standard mode waits rand(0, 1) * min(2 ** i, 20) s before retry i + 1 (i from 0), and up to 5 s more when the
# service asks for it (x-amz-retry-after); botocore/retries/standard.py, ExponentialBackoff. 58 s.
WORST_CASE_CALL_SECONDS: Final = MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + sum(
    min(2**retry, 20) + 5 for retry in range(MAX_ATTEMPTS - 1)
)
# The most Personalize calls one on_event or is_complete makes in practice: a schema Update that replaces
# (describe, ListSchemas pages, describe, create), or a schema Delete that waits for a dataset (describe, delete,
# ListDatasets, a describe per dataset being deleted, delete again). The functions' timeout (HANDLER_TIMEOUT in
# stacks/personalize_datasets.py) covers this many calls at their worst: 10 x 58 s.
CALLS_PER_INVOCATION: Final = 10

# The Lambda runtime's root logger writes WARNING and up; the lifecycle's INFO lines (what was created, adopted,
# deleted, waited for) belong in the log too. Only this package's loggers are raised, not the root.
logging.getLogger("resources").setLevel(logging.INFO)


@functools.cache
def personalize() -> PersonalizeClient:
    """The ``personalize`` client, built once per cold start."""
    return boto3.client("personalize", config=CLIENT_CONFIG)


def _give_up_after() -> float | None:
    """Seconds after a request's start at which is_complete gives up, naming what it still waits for.

    The construct sets the variable a little under the Provider framework's total timeout; ``None`` when unset.
    """
    value = os.environ.get(GIVE_UP_AFTER_SECONDS, "").strip()
    return float(value) if value else None


def on_event(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Start a Create, Update or Delete (see :func:`resources.provider.on_event`)."""
    return provider.on_event(event, personalize())


def is_complete(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Report whether the operation is done (see :func:`resources.provider.is_complete`)."""
    return provider.is_complete(event, personalize(), give_up_after=_give_up_after())
