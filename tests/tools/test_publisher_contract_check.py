"""The publisher's contract check: a refused change's reason names the field and the rule, never the value."""

from __future__ import annotations

from tests.support.sqs_events import event, item
from tools.publisher import contract_violation


def test_contract_violation_names_field_not_value() -> None:
    secret = "alice@example.com" * 20

    reason = contract_violation({"type": "user", "userId": secret})

    assert reason == "userId: must have at most 256 characters"
    assert contract_violation({"type": "event", "sessionId": "s-1", "eventType": "click"}) == (
        "message: 'sentAt' is a required property"
    )
    assert contract_violation({**event("s-1", "u-1", "sku-1"), "impression": []}) == (
        "impression: must hold at least 1 entry"
    )
    assert contract_violation(item("sku-1")) is None


def test_contract_violation_placeholder_id_names_the_rule_not_the_value() -> None:
    # aws-sdk-js#3371: sessionId "null" is accepted by PutEvents and the event silently dropped.
    reason = contract_violation({**event("s-1", "u-1", "sku-1"), "sessionId": " NuLL "})

    assert reason == 'sessionId: must be an id (1..256 characters, not blank, "null" or "undefined")'
    assert "NuLL" not in (reason or "")
