"""The publisher's FIFO ids: a group id SQS would refuse is hashed into one it accepts, the same for the same id."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.sqs_events import action, event, item, user
from tools.publisher import group_id


@pytest.mark.parametrize(
    ("change", "prefix"),
    [
        (item("sku with spaces"), "item#sha256:"),
        (user("ü-1"), "user#sha256:"),
        (action("a" * 124), "action#sha256:"),
        (event("s" * 129, "u-1", "sku-1"), "sha256:"),
    ],
    ids=["space", "non-ascii", "too-long-with-prefix", "long-session"],
)
def test_group_id_unusable_id_hashed_into_valid_stable_group(change: dict[str, Any], prefix: str) -> None:
    value = group_id(change)

    assert value.startswith(prefix)
    assert len(value) <= 128
    assert all(0x21 <= ord(character) <= 0x7E for character in value)
    assert group_id(json.loads(json.dumps(change))) == value
