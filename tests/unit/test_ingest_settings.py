"""The Lambda environment (docs/contracts.md §2), read once per cold start."""

from __future__ import annotations

import pytest

from ingest.errors import ConfigurationError
from ingest.kinds import KINDS
from ingest.settings import Settings

DLQ = "https://sqs.us-east-1.amazonaws.com/123456789012/personalize-ingest-dlq"


def test_settings_read_datasets_targets_and_queue_facts() -> None:
    settings = Settings.from_env(
        {
            "ITEMS_DATASET_ARN": "arn:aws:personalize:us-east-1:1:dataset/g/ITEMS",
            "INTERACTIONS_DATASET_ARN": "arn:aws:personalize:us-east-1:1:dataset/g/INTERACTIONS",
            "EVENT_TRACKING_ID": "tracker-1",
            "DEAD_LETTER_QUEUE_URL": DLQ,
            "MAX_RECEIVE_COUNT": "5",
            "MAX_CONCURRENCY": "2",
        }
    )

    assert settings.datasets == {
        "item": "arn:aws:personalize:us-east-1:1:dataset/g/ITEMS",
        "event": "arn:aws:personalize:us-east-1:1:dataset/g/INTERACTIONS",
    }
    assert settings.targets["item"] == settings.datasets["item"]
    assert settings.targets["event"] == "tracker-1"
    assert (settings.max_receive_count, settings.max_concurrency) == (5, 2)
    assert settings.is_configured(KINDS["item"])
    assert not settings.is_configured(KINDS["action"])


def test_settings_optional_numbers_default_to_none() -> None:
    settings = Settings.from_env({"DEAD_LETTER_QUEUE_URL": DLQ})

    assert settings.max_receive_count is None
    assert settings.datasets == {}


def test_settings_without_dead_letter_queue_refuse_to_start() -> None:
    with pytest.raises(ConfigurationError, match="DEAD_LETTER_QUEUE_URL is required"):
        Settings.from_env({"ITEMS_DATASET_ARN": "arn:aws:personalize:us-east-1:1:dataset/g/ITEMS"})


@pytest.mark.parametrize("value", ["five", "0", "-3"])
def test_settings_bad_receive_count_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigurationError, match="MAX_RECEIVE_COUNT"):
        Settings.from_env({"DEAD_LETTER_QUEUE_URL": DLQ, "MAX_RECEIVE_COUNT": value})
