"""The benchmark's streams: clean changes in Personalize's wire form, every record id unique, in a seeded order.

Distinct ids make the accounting exact: a message was written exactly when its id is in the emulator. Every
record is already in the form Personalize accepts (camelCase keys, categorical lists joined with ``|``, epoch-second
timestamps), so nothing our handler normalises can trip the baseline.
"""

from __future__ import annotations

import json
import random

from local.demo import ACCEPT, Published

__all__ = ["EXPIRES_AT", "item_change", "mixed_stream", "session_events"]

# Upstream timestamps, fixed so a seed gives the same stream on any day.
EXPIRES_AT = 1_830_000_000
SENT_AT = 1_763_805_600
_GENRES = ["Horror", "Action", "Comedy", "Drama", "Kids", "Documentary"]


def item_change(rng: random.Random, item_id: str) -> Published:
    """One item's metadata."""
    properties = {
        "price": round(rng.uniform(1, 500), 2),
        "genres": "|".join(rng.sample(_GENRES, k=rng.randint(1, 3))),
        "numberOfRatings": rng.randint(0, 5000),
        "inStock": rng.random() > 0.2,
    }
    return Published("item", json.dumps({"type": "item", "itemId": item_id, "properties": properties}), ACCEPT, item_id)


def action_change(rng: random.Random, action_id: str) -> Published:
    """One action's metadata."""
    properties = {
        "value": rng.randint(1, 1000),
        "membershipLevel": rng.choice(["bronze", "silver", "gold"]),
        "expirationTimestamp": EXPIRES_AT,
        "repeatFrequency": rng.randint(1, 30),
    }
    body = json.dumps({"type": "action", "actionId": action_id, "properties": properties})
    return Published("action", body, ACCEPT, action_id)


def user_change(rng: random.Random, user_id: str) -> Published:
    """One user's profile."""
    properties = {"membershipType": rng.choice(["bronze", "silver", "gold"]), "ageGroup": rng.choice(["18-24", "25+"])}
    return Published("user", json.dumps({"type": "user", "userId": user_id, "properties": properties}), ACCEPT, user_id)


def mixed_stream(*, items: int, actions: int = 0, users: int = 0, seed: int) -> list[Published]:
    """Item, action and user changes in random order, each id once."""
    rng = random.Random(seed)
    stream = [item_change(rng, f"sku-{index:05d}") for index in range(items)]
    stream += [action_change(rng, f"act-{index:05d}") for index in range(actions)]
    stream += [user_change(rng, f"user-{index:05d}") for index in range(users)]
    # Upstream services publish whatever changes, in no particular order.
    rng.shuffle(stream)
    return stream


def session_events(*, events: int, sessions: int, seed: int) -> list[Published]:
    """``events`` events of ``sessions`` browsing sessions (several each), interleaved as a site publishes them:
    each next event comes from a session picked at random among those with events left, in each session's order."""
    rng = random.Random(seed)
    per_session = [events // sessions + (1 if index < events % sessions else 0) for index in range(sessions)]
    left = {index: count for index, count in enumerate(per_session) if count}
    stream: list[Published] = []
    sequence = dict.fromkeys(left, 0)
    while left:
        session = rng.choice(list(left))
        number = sequence[session]
        sequence[session] += 1
        left[session] -= 1
        if not left[session]:
            del left[session]
        event_id = f"evt-{session:05d}-{number:03d}"
        change = {
            "type": "event",
            "sessionId": f"s-{session:05d}",
            "userId": f"user-{session:05d}",
            "eventType": rng.choice(["click", "click", "click", "purchase"]),
            "itemId": f"sku-{rng.randrange(1000):05d}",
            "sentAt": SENT_AT + len(stream),
            "eventId": event_id,
            "properties": {"device": rng.choice(["mobile", "desktop", "tv"])},
        }
        stream.append(Published("event", json.dumps(change), ACCEPT, event_id))
    return stream
