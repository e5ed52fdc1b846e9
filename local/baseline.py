"""The baseline the benchmark measures ours against: the best-known public attempts' handler.

For each SQS record it decodes the JSON body and calls the kind's Put* API with that one record (PutItems,
PutActions, PutUsers; PutEvents with the session's ids), ``properties`` as a JSON string; no batching, no pacing,
no concurrency, the SDK's default retries.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore import xform_name

from contract import KIND_SPECS
from local.environment import personalize_client

__all__ = ["BaselineHandler"]

logger = logging.getLogger(__name__)

# botocore's attempts per call when nothing configures them (botocore/retries/standard.py, legacy _retry.json).
_DEFAULT_ATTEMPTS = {"standard": 3, "adaptive": 3, "legacy": 5}


class BaselineHandler:
    """The public attempts' handler: one Put call per SQS record, the SDK's default retries, nothing else.

    Parameters
    ----------
    endpoint_url:
        The Personalize emulator.
    datasets:
        Dataset ARN per kind (``item``, ``action``, ``user``).
    tracking_ids:
        The tracking id per kind written through one (``event``).
    swallow_errors:
        False (the default): a failed call raises, so Lambda fails the whole batch and SQS redelivers it,
        until the queue's redrive policy moves it to the dead-letter queue. True: log and go on with the next
        record, so the failed message is acknowledged all the same.
    """

    def __init__(
        self,
        *,
        endpoint_url: str,
        datasets: dict[str, str],
        tracking_ids: dict[str, str] | None = None,
        swallow_errors: bool = False,
    ) -> None:
        # Built plainly, as the attempts do: botocore's default retry mode and attempts, default timeouts.
        self.client = personalize_client("personalize-events", endpoint_url)
        self._datasets = datasets
        self._tracking_ids = tracking_ids or {}
        self._swallow_errors = swallow_errors

    def __call__(self, event: dict[str, Any], context: object) -> None:
        """Send every record of the SQS event, one call each."""
        for record in event["Records"]:
            try:
                self._put(json.loads(record["body"]))
            except Exception as error:
                if not self._swallow_errors:
                    raise
                logger.warning("baseline: message %s failed: %s", record["messageId"], type(error).__name__)

    def _put(self, change: dict[str, Any]) -> None:
        kind = KIND_SPECS[change["type"]]
        # boto3's method for the API (put_items for PutItems), with the one record as the request's list.
        put = getattr(self.client, xform_name(kind.api))
        properties = json.dumps(change.get("properties", {}))
        if kind.id_field is None:
            event: dict[str, Any] = {
                name: change[name] for name in ("eventId", "eventType", "sentAt", "itemId") if name in change
            }
            put(
                trackingId=self._tracking_ids[kind.name],
                sessionId=change["sessionId"],
                userId=change["userId"],
                eventList=[{**event, "properties": properties}],
            )
            return
        one = {kind.id_field: change[kind.id_field], "properties": properties}
        put(datasetArn=self._datasets[kind.name], **{kind.list_field: [one]})

    def retry_policy(self) -> str:
        """The retry settings the client ended up with, for the report."""
        retries = self.client.meta.config.retries or {}
        mode = retries.get("mode", "legacy")
        attempts = retries.get("total_max_attempts") or _DEFAULT_ATTEMPTS.get(mode, "?")
        return f"botocore default, {mode} mode, {attempts} attempts"
