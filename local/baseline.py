"""The baseline the benchmark measures ours against: the best-known public attempts' handler.

For each SQS record it decodes the JSON body and calls PutItems or PutActions with that one record,
``properties`` as a JSON string; no batching, no pacing, the SDK's default retries.
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
        Dataset ARN per kind (``item``, ``action``).
    swallow_errors:
        False (the default): a failed call raises, so Lambda fails the whole batch and SQS redelivers it,
        until the queue's redrive policy moves it to the dead-letter queue. True: log and go on with the next
        record, so the failed message is acknowledged all the same.
    """

    def __init__(self, *, endpoint_url: str, datasets: dict[str, str], swallow_errors: bool = False) -> None:
        # Built plainly, as the attempts do: botocore's default retry mode and attempts, default timeouts.
        self.client = personalize_client("personalize-events", endpoint_url)
        self._datasets = datasets
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
        id_field = kind.id_field or ""
        one = {id_field: change[id_field], "properties": json.dumps(change.get("properties", {}))}
        # boto3's method for the API (put_items for PutItems), with the one record as the request's list.
        put = getattr(self.client, xform_name(kind.api))
        put(datasetArn=self._datasets[kind.name], **{kind.list_field: [one]})

    def retry_policy(self) -> str:
        """The retry settings the client ended up with, for the report."""
        retries = self.client.meta.config.retries or {}
        mode = retries.get("mode", "legacy")
        attempts = retries.get("total_max_attempts") or _DEFAULT_ATTEMPTS.get(mode, "?")
        return f"botocore default, {mode} mode, {attempts} attempts"
