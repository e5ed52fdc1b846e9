"""The kind table: one row per record kind of the message contract (docs/contracts.md §1).

Everything that differs between items, actions, users, events and action interactions is a column here; the
rest of the pipeline is written once against ``Kind``. What every part of the project names a kind by (its API,
list field, target field, environment variables, id field, quota) comes from ``contract.KIND_SPECS``; this module
adds only the columns the ingest Lambda alone needs. Field limits are not copied here: they come from botocore's
service model (``ingest.model``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Final

from contract import KIND_SPECS, KindSpec


@dataclass(frozen=True, slots=True)
class Kind:
    """One record kind: the contract's row (``spec``) and what the ingest Lambda adds to it.

    Attributes
    ----------
    spec:
        The contract's row: name, API, list and target fields, environment variables, id field, quota.
    request_schema_fields:
        Schema fields carried by request fields rather than ``properties`` (ids, reserved event fields).
    forbidden_property_keys:
        Property keys the API refuses (compared case-insensitively, docs/personalize.md §1).
    derive_event_id:
        Whether a missing ``eventId`` is derived from the SQS message, so a redelivery cannot count twice.
    string_value_limit:
        The longest non-textual string value the dataset accepts, where Personalize sets one.
    """

    spec: KindSpec
    request_schema_fields: frozenset[str]
    forbidden_property_keys: frozenset[str] = frozenset()
    derive_event_id: bool = False
    string_value_limit: int | None = None

    @property
    def name(self) -> str:
        """The message's ``type`` value."""
        return self.spec.name

    @property
    def api(self) -> str:
        """The personalize-events operation (botocore's operation name)."""
        return self.spec.api

    @property
    def list_field(self) -> str:
        """The request member holding the records."""
        return self.spec.list_field

    @property
    def target_field(self) -> str:
        """The request member naming where records go: ``datasetArn`` or ``trackingId``."""
        return self.spec.target_field

    @property
    def target_env(self) -> str:
        """The Lambda environment variable (docs/contracts.md §2) holding that ARN or tracking id."""
        return self.spec.target_env

    @property
    def dataset_env(self) -> str:
        """The environment variable holding the dataset ARN whose schema validates ``properties``."""
        return self.spec.dataset_env

    @property
    def id_field(self) -> str | None:
        """For upsert kinds, the record id: within a batch only the newest change per id is sent."""
        return self.spec.id_field

    @property
    def quota_per_second(self) -> float:
        """The API's request-rate quota per dataset group (docs/personalize.md §2), shared by all environments."""
        return self.spec.quota_per_second


# docs/personalize.md §1: forbidden `properties` keys for events and action interactions.
_EVENT_FORBIDDEN = frozenset({"userid", "sessionid", "eventtype", "timestamp", "recommendationid", "impression"})

# The ingest Lambda's own columns, keyed by the contract's kind name: every kind of KIND_SPECS needs a row (a kind
# added to the contract without one fails the import, not a batch).
_INGEST_COLUMNS: Final[Mapping[str, Callable[[KindSpec], Kind]]] = MappingProxyType(
    {
        "item": partial(
            Kind,
            request_schema_fields=frozenset({"ITEM_ID"}),
            # docs/personalize.md §2: every Items string value is at most 1,000 characters (textual fields excepted).
            string_value_limit=1_000,
        ),
        "action": partial(Kind, request_schema_fields=frozenset({"ACTION_ID"})),
        "user": partial(Kind, request_schema_fields=frozenset({"USER_ID"})),
        "event": partial(
            Kind,
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
        ),
        "actionInteraction": partial(
            Kind,
            request_schema_fields=frozenset(
                {"USER_ID", "ACTION_ID", "EVENT_TYPE", "TIMESTAMP", "IMPRESSION", "RECOMMENDATION_ID"}
            ),
            forbidden_property_keys=_EVENT_FORBIDDEN,
            derive_event_id=True,
        ),
    }
)

KINDS: Final[dict[str, Kind]] = {name: _INGEST_COLUMNS[name](spec) for name, spec in KIND_SPECS.items()}
