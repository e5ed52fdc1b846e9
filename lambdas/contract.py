"""The pipeline's contract in one place: the five record kinds, the Lambda's environment, the dead-letter queue's
attributes and codes, the metric names, and the custom resource types.

Every part of the project reads these names from here: the ingest Lambda (``lambdas/ingest``), the provisioning
Lambda (``lambdas/resources``), the stack (``stacks/``), the local stand-ins (``local/``) and the tools (``tools/``).
So a name is written once, and nothing has to be kept equal to a copy of it. The module depends on nothing but the
standard library, because it ships in the Lambda asset and is imported at synth time too.

docs/contracts.md describes the three contracts (the message, the environment, the dead-letter queue) in prose;
docs/personalize.md gives the source of every limit below.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

# --- The Lambda's environment (docs/contracts.md §2) ---------------------------------------------------------------

DEAD_LETTER_QUEUE_URL: Final = "DEAD_LETTER_QUEUE_URL"
MAX_RECEIVE_COUNT: Final = "MAX_RECEIVE_COUNT"
MAX_CONCURRENCY: Final = "MAX_CONCURRENCY"
# Powertools' own variables, set by the stack and by local mode alike.
POWERTOOLS_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"

# --- Metrics (the handler emits them; stacks/monitoring graphs and alarms on them) --------------------------------

SERVICE_NAME: Final = "personalize-ingest"
METRICS_NAMESPACE: Final = "PersonalizeIngest"


class Metric(enum.StrEnum):
    """Every metric the ingest handler emits. Renaming one empties a graph or an alarm, so both sides use these."""

    BATCH_SIZE = "BatchSize"
    RECORDS_RECEIVED = "RecordsReceived"
    RECORDS_ACCEPTED = "RecordsAccepted"
    RECORDS_SUPERSEDED = "RecordsSuperseded"
    RECORDS_FAILED = "RecordsFailed"
    RECORDS_DEAD_LETTERED = "RecordsDeadLettered"
    RECORDS_PER_CALL = "RecordsPerCall"
    API_CALLS = "ApiCalls"
    API_ERRORS = "ApiErrors"
    API_LATENCY = "ApiLatency"
    THROTTLED_CALLS = "ThrottledCalls"
    RETRIES = "Retries"
    BISECTIONS = "Bisections"
    SETUP_ERRORS = "SetupErrors"
    UNEXPECTED_ERRORS = "UnexpectedErrors"


class Dimension(enum.StrEnum):
    """The metric dimensions besides Powertools' ``service``."""

    API = "Api"
    KIND = "Kind"
    ERROR_CODE = "ErrorCode"
    ERROR_TYPE = "ErrorType"


# --- The dead-letter queue (docs/contracts.md §3) ---------------------------------------------------------------


class ErrorCode(enum.StrEnum):
    """Dead-letter codes: the wire values of a dead letter's ``ErrorCode`` attribute."""

    MALFORMED_MESSAGE = "MalformedMessage"
    SCHEMA_VIOLATION = "SchemaViolation"
    DATASET_NOT_CONFIGURED = "DatasetNotConfigured"
    INVALID_INPUT = "InvalidInput"
    RETRIES_EXHAUSTED = "RetriesExhausted"


# The message attributes a dead letter carries. Both message id attributes name the message the change first came
# in. ORIGIN_MESSAGE_ID_ATTRIBUTE is the one the pipeline trusts, so an event's derived eventId survives a trip
# through the DLQ: namespaced, because a publisher may well set a "SourceMessageId" of its own (a correlation id),
# which must never become an eventId. SOURCE_MESSAGE_ID_ATTRIBUTE is the same id under the name on-call reads; the
# DLQ tool trusts it only on letters the handler wrote before the namespaced name existed (docs/contracts.md §3).
ERROR_CODE_ATTRIBUTE: Final = "ErrorCode"
ERROR_MESSAGE_ATTRIBUTE: Final = "ErrorMessage"
SOURCE_MESSAGE_ID_ATTRIBUTE: Final = "SourceMessageId"
ORIGIN_MESSAGE_ID_ATTRIBUTE: Final = "PersonalizeIngest.SourceMessageId"
API_ATTRIBUTE: Final = "Api"
DEAD_LETTER_ATTRIBUTES: Final = (
    ERROR_CODE_ATTRIBUTE,
    ERROR_MESSAGE_ATTRIBUTE,
    SOURCE_MESSAGE_ID_ATTRIBUTE,
    ORIGIN_MESSAGE_ID_ATTRIBUTE,
    API_ATTRIBUTE,
)

# --- Custom resources (stacks/personalize_datasets.py declares them; lambdas/resources serves them) ----------------

SCHEMA_RESOURCE_TYPE: Final = "Custom::PersonalizeSchema"
DATASET_GROUP_RESOURCE_TYPE: Final = "Custom::PersonalizeDatasetGroup"
DATASET_RESOURCE_TYPE: Final = "Custom::PersonalizeDataset"
EVENT_TRACKER_RESOURCE_TYPE: Final = "Custom::PersonalizeEventTracker"

# --- The five record kinds (docs/contracts.md §1) -----------------------------------------------------------------

# Personalize's quotas per dataset group (docs/personalize.md §2): PutItems, PutUsers and PutActions 10 calls/s each,
# not adjustable; PutEvents and PutActionInteractions 1,000 calls/s each, adjustable on request.
PUT_QUOTA_FIXED: Final = 10.0
PUT_QUOTA_EVENTS: Final = 1_000.0
# Records per Put* call (the botocore model's list maximum; docs/personalize.md §1).
RECORDS_PER_CALL: Final = 10


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One record kind of the message contract and everything every part of the project names it by.

    Attributes
    ----------
    name:
        The message's ``type`` value (``item``).
    config_key:
        The kind's key under ``datasets`` in cdk.json (``items``): plural, as Personalize names dataset types.
    dataset_type:
        CreateDataset's ``datasetType``, upper case as the stack and ARNs spell it (``ITEMS``).
    api:
        The personalize-events operation that writes it (botocore's operation name, ``PutItems``).
    list_field:
        The request member holding the records (``items``).
    target_field:
        The request member naming where records go: ``datasetArn`` or ``trackingId``.
    dataset_env:
        The Lambda environment variable holding the dataset's ARN.
    tracking_env:
        For kinds written through a tracking id, the variable holding it; ``None`` for the dataset-ARN kinds.
    id_field:
        For upsert kinds, the record id: a newer change to the same id replaces the older one.
    schema_file:
        The default schema's file name in ``schemas/``.
    quota_per_second:
        The API's request-rate quota per dataset group.
    """

    name: str
    config_key: str
    dataset_type: str
    api: str
    list_field: str
    target_field: str
    dataset_env: str
    tracking_env: str | None
    id_field: str | None
    schema_file: str
    quota_per_second: float

    @property
    def target_env(self) -> str:
        """The variable holding the call's target: the tracking id where the API takes one, else the dataset ARN."""
        return self.tracking_env or self.dataset_env

    @property
    def iam_action(self) -> str:
        """The IAM action of the API (``personalize:PutItems``)."""
        return f"personalize:{self.api}"


KIND_SPECS: Final[Mapping[str, KindSpec]] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            KindSpec(
                name="item",
                config_key="items",
                dataset_type="ITEMS",
                api="PutItems",
                list_field="items",
                target_field="datasetArn",
                dataset_env="ITEMS_DATASET_ARN",
                tracking_env=None,
                id_field="itemId",
                schema_file="items.json",
                quota_per_second=PUT_QUOTA_FIXED,
            ),
            KindSpec(
                name="action",
                config_key="actions",
                dataset_type="ACTIONS",
                api="PutActions",
                list_field="actions",
                target_field="datasetArn",
                dataset_env="ACTIONS_DATASET_ARN",
                tracking_env=None,
                id_field="actionId",
                schema_file="actions.json",
                quota_per_second=PUT_QUOTA_FIXED,
            ),
            KindSpec(
                name="user",
                config_key="users",
                dataset_type="USERS",
                api="PutUsers",
                list_field="users",
                target_field="datasetArn",
                dataset_env="USERS_DATASET_ARN",
                tracking_env=None,
                id_field="userId",
                schema_file="users.json",
                quota_per_second=PUT_QUOTA_FIXED,
            ),
            KindSpec(
                name="event",
                config_key="interactions",
                dataset_type="INTERACTIONS",
                api="PutEvents",
                list_field="eventList",
                target_field="trackingId",
                dataset_env="INTERACTIONS_DATASET_ARN",
                tracking_env="EVENT_TRACKING_ID",
                id_field=None,
                schema_file="interactions.json",
                quota_per_second=PUT_QUOTA_EVENTS,
            ),
            KindSpec(
                name="actionInteraction",
                config_key="actionInteractions",
                dataset_type="ACTION_INTERACTIONS",
                api="PutActionInteractions",
                list_field="actionInteractions",
                target_field="trackingId",
                dataset_env="ACTION_INTERACTIONS_DATASET_ARN",
                tracking_env="ACTION_INTERACTIONS_TRACKING_ID",
                id_field=None,
                schema_file="action_interactions.json",
                quota_per_second=PUT_QUOTA_EVENTS,
            ),
        )
    }
)
KIND_NAMES: Final[tuple[str, ...]] = tuple(KIND_SPECS)
APIS: Final[tuple[str, ...]] = tuple(spec.api for spec in KIND_SPECS.values())
KINDS_BY_CONFIG_KEY: Final[Mapping[str, KindSpec]] = MappingProxyType(
    {spec.config_key: spec for spec in KIND_SPECS.values()}
)
KINDS_BY_API: Final[Mapping[str, KindSpec]] = MappingProxyType({spec.api: spec for spec in KIND_SPECS.values()})

# --- The custom resource handlers' environment (stacks/personalize_provider.py sets it; lambdas/resources reads it)

# Seconds after a request's start at which is_complete gives up with a message naming what it still waits for.
GIVE_UP_AFTER_SECONDS: Final = "GIVE_UP_AFTER_SECONDS"

# --- Throughput (docs/design.md "Throughput"; the stack sets both on the ingest Lambda) ----------------------------

# The event source's batch size: a batch that arrives full means more is waiting, so the partial last call of an
# upsert kind may be deferred to fill a later one.
BATCH_SIZE: Final = "BATCH_SIZE"
# Request-rate quotas per dataset group the handler paces to, overriding the defaults above for the APIs it names:
# ``PutEvents=2000,PutActionInteractions=1500`` (AWS raises those two on request).
PUT_QUOTAS: Final = "PUT_QUOTAS"

# --- Tags of the custom resources (stacks/personalize_tagging.py renders them; lambdas/resources applies them) ------

# The property carrying a taggable custom resource's tags (the dataset group, datasets and event tracker; Personalize
# schemas take none), in CloudFormation's own shape: a list of {"Key": ..., "Value": ...} objects.
TAGS_PROPERTY: Final = "Tags"

# --- The spill (docs/bulk.md, "The spill"; stacks/spill_workflow.py sets these on the spill functions) ------------

# The spill functions' environment, besides the dataset variables above and DEAD_LETTER_QUEUE_URL.
SPILL_QUEUE_URL: Final = "SPILL_QUEUE_URL"  # the ingest queue the spill drains
SPILL_BUCKET: Final = "SPILL_BUCKET"  # the import bucket parts are written to
SPILL_ROLE_ARN: Final = "SPILL_ROLE_ARN"  # the role import jobs read the bucket with
SPILL_MAPPING_UUID: Final = "SPILL_MAPPING_UUID"  # the ingest function's event source mapping
SPILL_STATE_MACHINE_ARN: Final = "SPILL_STATE_MACHINE_ARN"  # the workflow the scheduled check starts
SPILL_AFTER_SECONDS: Final = "SPILL_AFTER_SECONDS"  # cdk.json's spillAfterSeconds
SPILL_QUIET_SECONDS: Final = "SPILL_QUIET_SECONDS"  # the ingest function's timeout: no batch outlives it


class SpillMetric(enum.StrEnum):
    """The spill's metrics (same namespace and service as the handler's); stacks/spill_workflow.py alarms on them."""

    SPILLS_STARTED = "SpillsStarted"
    SPILLS_FINISHED = "SpillsFinished"
    SPILLS_FAILED = "SpillsFailed"
    RECORDS_SPILLED = "RecordsSpilled"
    IMPORT_JOB_SECONDS = "ImportJobSeconds"
    MAPPING_RESTORED = "MappingRestored"
