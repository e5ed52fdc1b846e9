"""What the DLQ tool's tests share: dead letters written as the ingest Lambda writes them, and reading queues back.

Dead letters are written the way the ingest Lambda writes them (docs/contracts.md §3: original body, ErrorCode,
ErrorMessage, SourceMessageId and PersonalizeIngest.SourceMessageId, Api), the way it wrote them before the
namespaced attribute existed (``legacy``), or with upstream's attributes only, the way the ingest queue's redrive
policy moves them.
"""

from __future__ import annotations

import json
from typing import Any, Final, TypedDict

from contract import ORIGIN_MESSAGE_ID_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE
from ingest.catalog import DatasetCatalog
from tests.emulator.emulator_helpers import Setup
from tools.dlq.replay import Revalidator, replay_settings

# Bodies, as upstream published them (docs/contracts.md §1).
ITEM = json.dumps({"type": "item", "itemId": "sku-1", "properties": {"price": 19.99}})
USER = json.dumps({"type": "user", "userId": "u-1", "properties": {"membershipType": "gold"}})


class _Polling(TypedDict):
    wait_seconds: int


FAST: Final[_Polling] = {"wait_seconds": 0}  # moto answers at once; long polling would only slow the tests


def dead_letter(
    sqs: Any,
    url: str,
    body: str,
    code: str | None = "SchemaViolation",
    *,
    reason: str = "properties.color: not a field of the schema",
    api: str | None = None,
    source: str = "src-1",
    upstream: dict[str, str] | None = None,
    group: str | None = None,
    delay_seconds: int = 0,
    legacy: bool = False,
) -> str:
    """Put one message in the DLQ as the Lambda does (``code=None``: as the redrive policy does; ``legacy``: as
    the Lambda did before it wrote ``PersonalizeIngest.SourceMessageId``); its id."""
    attributes = {name: {"DataType": "String", "StringValue": value} for name, value in (upstream or {}).items()}
    if code is not None:
        contract = {"ErrorCode": code, "ErrorMessage": reason, SOURCE_MESSAGE_ID_ATTRIBUTE: source}
        if not legacy:
            contract[ORIGIN_MESSAGE_ID_ATTRIBUTE] = source
        if api:
            contract["Api"] = api
        attributes |= {name: {"DataType": "String", "StringValue": value} for name, value in contract.items()}
    extra: dict[str, Any] = {"MessageGroupId": group, "MessageDeduplicationId": source} if group else {}
    if delay_seconds:
        extra["DelaySeconds"] = delay_seconds
    response = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes, **extra)
    return str(response["MessageId"])


def fifo_group_with_a_head_that_stays(sqs: Any, dlq_url: str, *, behind: int, code: str = "SchemaViolation") -> None:
    """One message group: a MalformedMessage that no command moves, then ``behind`` messages of ``code``. A receive
    returns at most ten of a group, and none after them while those are held, so one pass reaches nine of them."""
    dead_letter(sqs, dlq_url, "not json", "MalformedMessage", group="g", source="head")
    for index in range(behind):
        dead_letter(
            sqs, dlq_url, USER if code == "DatasetNotConfigured" else ITEM, code, group="g", source=f"s-{index}"
        )


def read_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every visible message of ``url``, left visible again afterwards."""
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=30,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        found += batch
    for message in found:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return found


def counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of ``url``."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def codes_of(messages: list[dict[str, Any]]) -> list[str | None]:
    """The ErrorCode of each message, sorted (None for a redrive-policy move)."""
    return sorted((m.get("MessageAttributes", {}).get("ErrorCode", {}).get("StringValue") for m in messages), key=str)


def revalidator(personalize: Any, dlq_url: str, **dataset_arns: str) -> Revalidator:
    """A replay revalidator for the datasets ``dataset_arns`` (kind name → ARN), reading schemas afresh each time."""
    settings = replay_settings(dlq_url=dlq_url, dataset_arns=dataset_arns, tracking_ids={}, env={})
    return Revalidator(settings=settings, catalog=DatasetCatalog(client=personalize, ttl_s=0))


# Replay's schema fix: an Items dataset first without, then with, a nullable COLOR field.
ITEMS_V1: Final[list[dict[str, Any]]] = [{"name": "ITEM_ID", "type": "string"}, {"name": "PRICE", "type": "float"}]
ITEMS_V2: Final[list[dict[str, Any]]] = [*ITEMS_V1, {"name": "COLOR", "type": ["null", "string"], "categorical": True}]
COLORED = json.dumps({"type": "item", "itemId": "sku-red", "properties": {"price": 5, "color": "red"}})
OVERPRICED = json.dumps({"type": "item", "itemId": "sku-odd", "properties": {"price": "cheap"}})


def add_color_field(personalize: Any, setup: Setup, dataset: str) -> None:
    """The fix: UpdateDataset adds the nullable COLOR field in place, as on-call would."""
    personalize.update_dataset(datasetArn=dataset, schemaArn=setup.schema(fields=ITEMS_V2))
    setup.wait(lambda arn: setup.describe_dataset(arn)["latestDatasetUpdate"], dataset, "ACTIVE")
