"""The SQS facts every pass shares: its limits, the queue counts, a queue's ARN, and how to name a refusal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

# SQS limits (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html). The
# batch calls' limits (10 entries, 256 KiB) are the ingest Lambda's too: ingest.dead_letter holds them. A receive
# returns at most 10 messages.
MAX_RECEIVE_MESSAGES: Final = 10
# StartMessageMoveTask's MaxNumberOfMessagesPerSecond is at most 500.
MOVE_TASK_MAX_RATE: Final = 500
# A visibility timeout is at most 12 hours.
MAX_VISIBILITY_TIMEOUT: Final = 43_200
# The service's retries, not ours: a throttled or 5xx answer is retried with backoff before the tool sees it.
CLIENT_CONFIG: Final = Config(retries={"mode": "standard", "total_max_attempts": 5}, user_agent_extra="dlq-tool")

_COUNT_ATTRIBUTES: Final[dict[QueueAttributeNameType, str]] = {
    "ApproximateNumberOfMessages": "waiting",
    "ApproximateNumberOfMessagesNotVisible": "inFlight",
    "ApproximateNumberOfMessagesDelayed": "delayed",
}


def approximate_counts(sqs: SQSClient, queue_url: str) -> dict[str, int]:
    """SQS's approximate counts of the queue's messages: ``waiting`` (visible), ``inFlight``, ``delayed``."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(_COUNT_ATTRIBUTES))["Attributes"]
    return {label: int(str(attributes.get(name, 0))) for name, label in _COUNT_ATTRIBUTES.items()}


def queue_arn(sqs: SQSClient, queue_url: str) -> str:
    """The queue's ARN (GetQueueAttributes QueueArn)."""
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def error_code(exc: ClientError) -> str:
    """The service's error code of ``exc`` (``OverLimit``...), or an empty string."""
    return str(exc.response.get("Error", {}).get("Code", ""))
