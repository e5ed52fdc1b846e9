"""The pipeline's scalar settings: their context keys, defaults and bounds, and the readers that check them.

Every bound comes from the service the value configures, with the page that states it; a value outside it fails
``cdk synth`` with :class:`~stacks.config.parsing.ConfigError` instead of failing the deployment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from stacks.config.parsing import ConfigError, IntSetting, parse_int, parse_str

# Bounds come from the service each value configures.
# SQS event source batch size: 1..10,000 for standard queues (API_CreateEventSourceMapping.html, BatchSize). The
# default fills Put* calls of 10 records from one invocation and lets the handler defer a partial last call
# (docs/design.md "Throughput"); it needs a batching window (UNWINDOWED_BATCH_SIZE_MAX below).
BATCH_SIZE: Final = IntSetting("batchSize", default=250, minimum=1, maximum=10_000)
# Batching window: 0..300 seconds (API_CreateEventSourceMapping.html, MaximumBatchingWindowInSeconds).
MAX_BATCHING_WINDOW_SECONDS: Final = IntSetting("maxBatchingWindowSeconds", default=1, minimum=0, maximum=300)
# ESM maximum concurrency: 2..1000 (https://docs.aws.amazon.com/lambda/latest/api/API_ScalingConfig.html). The
# default is the minimum on purpose: PutItems/PutActions are capped at 10 calls/s per dataset group, not adjustable
# (https://docs.aws.amazon.com/personalize/latest/dg/limits.html), so more pollers only buy throttling.
MAX_CONCURRENCY: Final = IntSetting("maxConcurrency", default=2, minimum=2, maximum=1000)
# Redrive policy maxReceiveCount: 1..1000
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html).
MAX_RECEIVE_COUNT: Final = IntSetting("maxReceiveCount", default=5, minimum=1, maximum=1000)
# Lambda timeout 1..900 s and memory 128..10,240 MB
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
# The minimum is ours, not Lambda's: the handler keeps a reserve of its time to write dead letters and answer, and
# one Personalize call may take seconds; below 10 s it would spend most invocations waiting for nothing.
FUNCTION_TIMEOUT_SECONDS: Final = IntSetting("functionTimeoutSeconds", default=60, minimum=10, maximum=900)
FUNCTION_MEMORY_MB: Final = IntSetting("functionMemoryMb", default=512, minimum=128, maximum=10_240)
# The spill (docs/bulk.md, "The spill"): drain the queue into import jobs once it would take longer than this
# through Put; 0 disables it (and FIFO queues never spill: stacks/ingestion_stack.py). At most a day.
SPILL_AFTER_SECONDS: Final = IntSetting("spillAfterSeconds", default=1_800, minimum=0, maximum=86_400)
# Settings earlier releases read and this one refuses, each with what to do instead: a value that silently did
# nothing would let a reader believe it still chose something.
RETIRED_KEYS: Final[Mapping[str, str]] = {
    "powertoolsLayerVersion": (
        "no longer used: the functions deploy with a layer of the Powertools and AWS SDK releases the tests ran "
        "(built by `make install` from constraints.txt); remove it from cdk.json"
    ),
}

QUEUE_TYPE_KEY: Final = "queueType"
# standard: at-least-once, best-effort order, collapse to the newest change per id within a batch. fifo: order per
# message group (the publisher groups by kind + id, or by session), exactly-once publishing.
QUEUE_TYPES: Final[tuple[str, ...]] = ("standard", "fifo")
# "For FIFO queues, the maximum [batch size] is 10"; "Batching window is not supported for FIFO queues"
# (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html).
FIFO_BATCH_SIZE_MAX: Final = 10
# With a FIFO queue, batchSize and maxBatchingWindowSeconds not given take these instead of the standard defaults.
FIFO_MAX_BATCHING_WINDOW_SECONDS: Final = 0
ALARM_EMAIL_KEY: Final = "alarmEmail"
# An address SNS can send the subscription confirmation to; SNS itself checks nothing more at deploy time.
_EMAIL_PATTERN: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
STACK_NAME_KEY: Final = "stackName"
STACK_NAME_DEFAULT: Final = "PersonalizeIngest"
LOG_RETENTION_DAYS_KEY: Final = "logRetentionDays"
LOG_RETENTION_DAYS_DEFAULT: Final = 30


REMOVAL_POLICY_KEY: Final = "removalPolicy"
REMOVAL_POLICIES: Final[tuple[str, ...]] = ("retain", "destroy")
REMOVAL_POLICY_DEFAULT: Final = "retain"

# CloudFormation stack names: a letter, then letters, digits and hyphens, at most 128 characters
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-using-console-create-stack-parameters.html).
_STACK_NAME_PATTERN: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")

# The only retention periods CloudWatch Logs accepts
# (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html).
LOG_RETENTION_DAYS: Final[tuple[int, ...]] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# Lambda rejects an SQS event source mapping with a batch size over 10 and no batching window: "When you set
# BatchSize to a value greater than 10, you must set MaximumBatchingWindowInSeconds to at least 1"
# (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html).
UNWINDOWED_BATCH_SIZE_MAX: Final = 10


def parse_stack_name(value: object) -> str:
    """Read ``stackName``: a CloudFormation stack name."""
    return parse_str(
        STACK_NAME_KEY,
        value,
        pattern=_STACK_NAME_PATTERN,
        shape="a CloudFormation stack name (a letter, then letters, digits or hyphens; at most 128 characters)",
    )


def parse_removal_policy(value: object) -> str:
    """Read ``removalPolicy``: one of :data:`REMOVAL_POLICIES`, any case."""
    if not isinstance(value, str) or value.strip().lower() not in REMOVAL_POLICIES:
        raise ConfigError(REMOVAL_POLICY_KEY, f"must be one of {', '.join(REMOVAL_POLICIES)}, got {value!r}")
    return value.strip().lower()


def parse_queue_type(value: object) -> str:
    """Read ``queueType``: one of :data:`QUEUE_TYPES`, any case."""
    if not isinstance(value, str) or value.strip().lower() not in QUEUE_TYPES:
        raise ConfigError(QUEUE_TYPE_KEY, f"must be one of {', '.join(QUEUE_TYPES)}, got {value!r}")
    return value.strip().lower()


def parse_alarm_email(value: object) -> str | None:
    """Read ``alarmEmail``: an address, or ``None`` when absent or empty."""
    if value is None or value == "":
        return None
    return parse_str(ALARM_EMAIL_KEY, value, pattern=_EMAIL_PATTERN, shape="an email address")


def parse_log_retention(value: object) -> int:
    """Read ``logRetentionDays``: one of CloudWatch Logs' retention periods (:data:`LOG_RETENTION_DAYS`)."""
    allowed = ", ".join(str(day) for day in LOG_RETENTION_DAYS)
    problem = f"must be one of CloudWatch Logs' retention periods ({allowed}), got {value!r}"
    try:
        days = parse_int(LOG_RETENTION_DAYS_KEY, value, minimum=1)
    except ConfigError:
        raise ConfigError(LOG_RETENTION_DAYS_KEY, problem) from None
    if days not in LOG_RETENTION_DAYS:
        raise ConfigError(LOG_RETENTION_DAYS_KEY, problem)
    return days
