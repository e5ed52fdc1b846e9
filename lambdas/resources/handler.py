"""Entry points of the custom resource provider: ``resources.handler.on_event`` and ``resources.handler.is_complete``.

Thin on purpose: build the ``personalize`` client once per cold start and hand it to ``resources.provider``,
which holds the lifecycle. The client is built plainly, so the standard ``AWS_ENDPOINT_URL_PERSONALIZE``
variable points it at the local emulator with no test hooks (PERSONALIZE.md §6).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config

from resources import provider

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient

# Seconds after a request's start at which is_complete gives up with a message naming what it still waits for;
# the construct sets it a little under the Provider framework's total timeout.
GIVE_UP_AFTER_SECONDS: Final = "GIVE_UP_AFTER_SECONDS"

# The control plane answers rate limits with LimitExceededException or throttling errors; botocore's standard
# retry mode retries throttling and 5xx with exponential backoff and jitter, well within the functions' timeout
# (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html).
CLIENT_CONFIG: Final = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=10, read_timeout=30)

# The Lambda runtime's root logger writes WARNING and up; the lifecycle's INFO lines (what was created, adopted,
# deleted, waited for) belong in the log too. Only this package's loggers are raised, not the root.
logging.getLogger("resources").setLevel(logging.INFO)


@functools.cache
def personalize() -> PersonalizeClient:
    """The ``personalize`` client, built once per cold start."""
    return boto3.client("personalize", config=CLIENT_CONFIG)


def _give_up_after() -> float | None:
    value = os.environ.get(GIVE_UP_AFTER_SECONDS, "").strip()
    return float(value) if value else None


def on_event(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Start a Create, Update or Delete (see :func:`resources.provider.on_event`)."""
    return provider.on_event(event, personalize())


def is_complete(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Report whether the operation is done (see :func:`resources.provider.is_complete`)."""
    return provider.is_complete(event, personalize(), give_up_after=_give_up_after())
