"""The kind table: one row per record kind of the message contract (DESIGN.md Contract 1).

Everything that differs between items, actions, users, events and action interactions is a column here; the
rest of the pipeline is written once against ``Kind``. Field limits are not copied here: they come from
botocore's service model (``ingest.model``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Kind:
    """One record kind and how it maps onto its Personalize API.

    Attributes
    ----------
    name:
        The message's ``type`` value.
    api:
        The personalize-events operation (botocore's operation name).
    list_field:
        The request member holding the records.
    target_field:
        The request member naming where records go: ``datasetArn`` or ``trackingId``.
    target_env:
        The Lambda environment variable (Contract 2) holding that ARN or tracking id.
    dataset_env:
        The environment variable holding the dataset ARN whose schema validates ``properties``.
    id_field:
        For upsert kinds, the record id: within a batch only the newest change per id is sent.
    request_schema_fields:
        Schema fields carried by request fields rather than ``properties`` (ids, reserved event fields).
    forbidden_property_keys:
        Property keys the API refuses (compared case-insensitively, PERSONALIZE.md §1).
    derive_event_id:
        Whether a missing ``eventId`` is derived from the SQS message, so a redelivery cannot count twice.
    string_value_limit:
        The longest non-textual string value the dataset accepts, where Personalize sets one.
    quota_per_second:
        The API's request-rate quota per dataset group (PERSONALIZE.md §2), shared by all environments.
    """

    name: str
    api: str
    list_field: str
    target_field: str
    target_env: str
    dataset_env: str
    id_field: str | None
    request_schema_fields: frozenset[str]
    forbidden_property_keys: frozenset[str] = frozenset()
    derive_event_id: bool = False
    string_value_limit: int | None = None
    quota_per_second: float = 10.0


# PERSONALIZE.md §1: forbidden `properties` keys for events and action interactions.
_EVENT_FORBIDDEN = frozenset({"userid", "sessionid", "eventtype", "timestamp", "recommendationid", "impression"})

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            name="item",
            api="PutItems",
            list_field="items",
            target_field="datasetArn",
            target_env="ITEMS_DATASET_ARN",
            dataset_env="ITEMS_DATASET_ARN",
            id_field="itemId",
            request_schema_fields=frozenset({"ITEM_ID"}),
            # PERSONALIZE.md §2: every Items string value is at most 1,000 characters (textual fields excepted).
            string_value_limit=1_000,
        ),
        Kind(
            name="action",
            api="PutActions",
            list_field="actions",
            target_field="datasetArn",
            target_env="ACTIONS_DATASET_ARN",
            dataset_env="ACTIONS_DATASET_ARN",
            id_field="actionId",
            request_schema_fields=frozenset({"ACTION_ID"}),
        ),
        Kind(
            name="user",
            api="PutUsers",
            list_field="users",
            target_field="datasetArn",
            target_env="USERS_DATASET_ARN",
            dataset_env="USERS_DATASET_ARN",
            id_field="userId",
            request_schema_fields=frozenset({"USER_ID"}),
        ),
        Kind(
            name="event",
            api="PutEvents",
            list_field="eventList",
            target_field="trackingId",
            target_env="EVENT_TRACKING_ID",
            dataset_env="INTERACTIONS_DATASET_ARN",
            id_field=None,
            request_schema_fields=frozenset(
                {
                    "USER_ID",
                    "ITEM_ID",
                    "TIMESTAMP",
                    "EVENT_TYPE",
                    "EVENT_VALUE",
                    "IMPRESSION",
                    "RECOMMENDATION_ID",
                    "EVENT_ATTRIBUTION_SOURCE",
                }
            ),
            forbidden_property_keys=_EVENT_FORBIDDEN,
            derive_event_id=True,
            quota_per_second=1_000.0,
        ),
        Kind(
            name="actionInteraction",
            api="PutActionInteractions",
            list_field="actionInteractions",
            target_field="trackingId",
            target_env="ACTION_INTERACTIONS_TRACKING_ID",
            dataset_env="ACTION_INTERACTIONS_DATASET_ARN",
            id_field=None,
            request_schema_fields=frozenset(
                {"USER_ID", "ACTION_ID", "EVENT_TYPE", "TIMESTAMP", "IMPRESSION", "RECOMMENDATION_ID"}
            ),
            forbidden_property_keys=_EVENT_FORBIDDEN,
            derive_event_id=True,
            quota_per_second=1_000.0,
        ),
    )
}
