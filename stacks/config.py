"""Typed, validated configuration of the ingestion stack, built from the CDK context (cdk.json or ``-c``).

``app.py`` is the only reader of the context: it passes the raw mapping to :meth:`PipelineConfig.from_context`
and hands the frozen result to the stack. Values given on the command line (``-c batchSize=20``) arrive as
strings, so every parser here accepts the string spelling of its type too: ``"20"`` for an integer,
``"true"``/``"false"`` for a boolean and a JSON document for an object (``-c 'datasets={"items": {...}}'``).
Every problem is raised as :class:`ConfigError` with the context key first in the message, so a bad value fails
``cdk synth`` with a message that says which key to fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Final

from stacks.monitoring import AlarmThresholds
from stacks.personalize_properties import GROUP_NAME_MAX_LENGTH


class ConfigError(ValueError):
    """A configuration value is missing or invalid.

    Parameters
    ----------
    key
        The context key (dotted for nested values, e.g. ``datasets.items.arn``) the problem is about.
    problem
        What is wrong and what would be accepted, including the offending value.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


# --------------------------------------------------------------------------------------------------------------
# Dataset kinds: one row per dataset type the pipeline writes to. Adding a kind is adding a row here (and the
# handler's own table in lambdas/ingest/); the stack derives the Lambda environment and the IAM policy from it.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetKind:
    """What the stack needs to know about one Personalize dataset type.

    Parameters
    ----------
    name
        The key under the ``datasets`` context object (``items``).
    dataset_type
        The dataset type as it ends a dataset ARN (``.../dataset/<group>/ITEMS``).
    env_var
        The ingest Lambda's environment variable that carries the dataset ARN (DESIGN.md, Contract 2).
    put_action
        The IAM action of the incremental API that writes this kind.
    default_schema
        The schema file (relative to the project root) of a dataset the stack creates when the configuration
        names none.
    required_fields
        The fields Personalize requires in this type's schema (PERSONALIZE.md §4), checked at synth so a wrong
        schema file fails ``cdk synth`` rather than the deployment.
    tracking_env
        For kinds written through a tracking id (events: ``EVENT_TRACKING_ID``, action interactions:
        ``ACTION_INTERACTIONS_TRACKING_ID``), the variable that carries it.
    put_on_dataset
        Whether ``put_action`` can be scoped to the dataset ARN. PutEvents and PutActionInteractions have no
        resource type and need ``Resource: "*"`` (PERSONALIZE.md §1).
    needs_metadata
        Whether the schema needs a metadata field besides the required ones (Items, Users, Actions; §4).
    tracking_id_required
        Whether an existing dataset of this kind must be given its tracking id: an event tracker's id cannot be
        derived from the dataset ARN, whereas the Action interactions dataset's own id is read at runtime with
        DescribeDataset when absent.
    """

    name: str
    dataset_type: str
    env_var: str
    put_action: str
    default_schema: str
    required_fields: tuple[str, ...]
    tracking_env: str | None = None
    put_on_dataset: bool = True
    needs_metadata: bool = True
    tracking_id_required: bool = False


DATASET_KINDS: Final[Mapping[str, DatasetKind]] = MappingProxyType(
    {
        kind.name: kind
        for kind in (
            DatasetKind(
                name="items",
                dataset_type="ITEMS",
                env_var="ITEMS_DATASET_ARN",
                put_action="personalize:PutItems",
                default_schema="schemas/items.json",
                required_fields=("ITEM_ID",),
            ),
            DatasetKind(
                name="actions",
                dataset_type="ACTIONS",
                env_var="ACTIONS_DATASET_ARN",
                put_action="personalize:PutActions",
                default_schema="schemas/actions.json",
                required_fields=("ACTION_ID",),
            ),
            DatasetKind(
                name="users",
                dataset_type="USERS",
                env_var="USERS_DATASET_ARN",
                put_action="personalize:PutUsers",
                default_schema="schemas/users.json",
                required_fields=("USER_ID",),
            ),
            DatasetKind(
                name="interactions",
                dataset_type="INTERACTIONS",
                env_var="INTERACTIONS_DATASET_ARN",
                put_action="personalize:PutEvents",
                default_schema="schemas/interactions.json",
                required_fields=("USER_ID", "ITEM_ID", "TIMESTAMP"),
                tracking_env="EVENT_TRACKING_ID",
                put_on_dataset=False,
                needs_metadata=False,
                tracking_id_required=True,
            ),
            DatasetKind(
                name="actionInteractions",
                dataset_type="ACTION_INTERACTIONS",
                env_var="ACTION_INTERACTIONS_DATASET_ARN",
                put_action="personalize:PutActionInteractions",
                default_schema="schemas/action_interactions.json",
                required_fields=("USER_ID", "ACTION_ID", "EVENT_TYPE", "TIMESTAMP"),
                tracking_env="ACTION_INTERACTIONS_TRACKING_ID",
                put_on_dataset=False,
                needs_metadata=False,
            ),
        )
    }
)

# Reserved keywords and the type Personalize requires of them ("long, null": a long that may be nullable), from the
# "Custom dataset and schema requirements" table
# (https://docs.aws.amazon.com/personalize/latest/dg/custom-datasets-and-schemas.html). A schema that gets one wrong
# fails CreateDataset at deploy time; checked at synth instead. The emulator enforces the same table
# (local/emulator/avro.py; tests/infra/test_config.py checks the two agree).
RESERVED_FIELDS: Final[Mapping[str, Mapping[str, tuple[str, bool]]]] = {
    "INTERACTIONS": {
        "EVENT_TYPE": ("string", False),
        "EVENT_VALUE": ("float", True),
        "IMPRESSION": ("string", True),
        "RECOMMENDATION_ID": ("string", True),
        "EVENT_ATTRIBUTION_SOURCE": ("string", True),
    },
    "ITEMS": {"CREATION_TIMESTAMP": ("long", False)},
    "USERS": {},
    "ACTIONS": {
        "CREATION_TIMESTAMP": ("long", False),
        "VALUE": ("long", True),
        "TYPE": ("string", True),
        "EXPIRATION_TIMESTAMP": ("long", True),
        "REPEAT_FREQUENCY": ("long", True),
    },
    "ACTION_INTERACTIONS": {"IMPRESSION": ("string", True), "RECOMMENDATION_ID": ("string", True)},
}

# The fields a ``datasets.<kind>`` object may carry: ``schema`` (the stack creates the dataset with that schema
# file; ``{}`` takes the kind's default schema) or ``arn`` (an existing dataset: "bring your own dataset group"),
# the latter with ``trackingId`` for the kinds written through one.
DATASET_FIELDS: Final[tuple[str, ...]] = ("schema", "arn", "trackingId")
# PutEvents' and PutActionInteractions' trackingId: 1..256 characters (botocore model); it is a UUID in practice.
_TRACKING_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9-]{1,256}")
DATASET_GROUP_FIELDS: Final[tuple[str, ...]] = ("name", "domain", "kmsKeyArn", "roleArn")
# Schema files are read relative to the project root (where cdk.json is), whatever the working directory.
PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent
# CreateSchema takes at most 20,000 characters (API_CreateSchema.html).
SCHEMA_MAX_LENGTH: Final = 20_000
# Domain dataset groups (API_CreateDatasetGroup.html); they cannot hold Actions datasets (PERSONALIZE.md §3).
DOMAINS: Final[tuple[str, ...]] = ("ECOMMERCE", "VIDEO_ON_DEMAND")
NOT_IN_DOMAIN_GROUPS: Final = frozenset({"ACTIONS", "ACTION_INTERACTIONS"})
# Personalize names: a letter or digit, then letters, digits, hyphens and underscores (API_CreateDatasetGroup.html).
# The stack names the datasets, schemas and tracker after the group, so the group's name leaves room for them.
_GROUP_NAME_PATTERN: Final = re.compile(rf"[a-zA-Z0-9][a-zA-Z0-9_-]{{0,{GROUP_NAME_MAX_LENGTH - 1}}}")
# kmsKeyArn and roleArn as CreateDatasetGroup's model patterns them, narrowed to a KMS key and an IAM role.
_KMS_KEY_ARN_PATTERN: Final = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")
_ROLE_ARN_PATTERN: Final = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
REMOVAL_POLICY_KEY: Final = "removalPolicy"
REMOVAL_POLICIES: Final[tuple[str, ...]] = ("retain", "destroy")
REMOVAL_POLICY_DEFAULT: Final = "retain"
DATASET_GROUP_KEY: Final = "datasetGroup"

# personalize-events' datasetArn shape (botocore model: max 256 chars, this pattern). botocore does not check it
# client-side, so a typo would only surface as a rejected PutItems call at runtime: check it at synth.
_DATASET_ARN_API_PATTERN: Final = re.compile(r"arn:([a-z\d-]+):personalize:.*:.*:.+")
_DATASET_ARN_MAX_LENGTH: Final = 256
# The structure behind it: arn:PARTITION:personalize:REGION:ACCOUNT:dataset/GROUP_NAME/TYPE (PERSONALIZE.md §3;
# group names are 1..63 chars of [a-zA-Z0-9_-] starting with a letter or digit). The stack needs the region and
# account to scope personalize:DescribeSchema, so an ARN that hides them is rejected too.
_DATASET_ARN_PARTS: Final = re.compile(
    r"arn:(?P<partition>[a-z\d-]+):personalize:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):(?P<account>\d{12}):"
    r"dataset/(?P<group>[a-zA-Z0-9][a-zA-Z0-9_-]{0,62})/(?P<type>[A-Za-z_]+)"
)

# CloudFormation stack names: a letter, then letters, digits and hyphens, at most 128 characters
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-using-console-create-stack-parameters.html).
_STACK_NAME_PATTERN: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")

# The only retention periods CloudWatch Logs accepts
# (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html).
LOG_RETENTION_DAYS: Final[tuple[int, ...]] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# Lambda rejects an SQS event source mapping with a batch size over 10 and no batching window: "When you set
# BatchSize to a value greater than 10, you must set MaximumBatchingWindowInSeconds to at least 1"
# (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html).
_UNWINDOWED_BATCH_SIZE_MAX: Final = 10


# --------------------------------------------------------------------------------------------------------------
# Parsers: one per value type, each accepting the type itself or its string spelling from ``-c``.
# --------------------------------------------------------------------------------------------------------------

_INT_TEXT: Final = re.compile(r"[+-]?\d+")


def parse_int(key: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    """Read an integer context value within ``[minimum, maximum]``.

    Parameters
    ----------
    key
        The context key, for the error message.
    value
        An ``int`` or its decimal string (``"20"``, as ``-c batchSize=20`` passes it). Booleans are refused.
    minimum, maximum
        The inclusive bounds; ``maximum=None`` means unbounded.

    Returns
    -------
    int
        The value.

    Raises
    ------
    ConfigError
        The value is not an integer or is out of bounds.
    """
    expected = (
        f"must be an integer between {minimum} and {maximum}"
        if maximum is not None
        else f"must be an integer of at least {minimum}"
    )
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None or number < minimum or (maximum is not None and number > maximum):
        raise ConfigError(key, f"{expected}, got {value!r}")
    return number


def parse_bool(key: str, value: object) -> bool:
    """Read a boolean context value: ``True``/``False`` or the strings ``"true"``/``"false"`` (any case).

    Raises
    ------
    ConfigError
        Anything else (``"yes"``, ``1``, ...), which is more likely a mistake than an intent.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ConfigError(key, f"must be true or false, got {value!r}")


def parse_str(key: str, value: object, *, pattern: re.Pattern[str], shape: str) -> str:
    """Read a string context value that must fully match ``pattern`` (described to the user as ``shape``).

    Raises
    ------
    ConfigError
        The value is not a string or does not match.
    """
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(key, f"must be {shape}, got {value!r}")
    return value


def parse_object(key: str, value: object) -> Mapping[str, object]:
    """Read an object-valued context value: a mapping, or a JSON object given as a string from ``-c``.

    Raises
    ------
    ConfigError
        The value is neither, or the string is not a JSON object.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(key, f"must be a JSON object, got {value!r} ({error.msg})") from None
    if not isinstance(value, Mapping) or not all(isinstance(name, str) for name in value):
        raise ConfigError(key, f"must be a JSON object, got {value!r}")
    return value


@dataclass(frozen=True)
class IntSetting:
    """An integer context key with its default and the bounds the service behind it enforces."""

    key: str
    default: int
    minimum: int
    maximum: int | None = None

    def read(self, context: Mapping[str, object]) -> int:
        """Return the key's value from ``context`` (the default when absent or null), validated."""
        value = context.get(self.key)
        return self.check(self.default if value is None else value)

    def check(self, value: object) -> int:
        """Validate ``value`` against this setting's bounds (see :func:`parse_int`)."""
        return parse_int(self.key, value, minimum=self.minimum, maximum=self.maximum)


# Bounds come from the service each value configures.
# SQS event source batch size: 1..10,000 for standard queues (API_CreateEventSourceMapping.html, BatchSize).
BATCH_SIZE: Final = IntSetting("batchSize", default=10, minimum=1, maximum=10_000)
# Batching window: 0..300 seconds (API_CreateEventSourceMapping.html, MaximumBatchingWindowInSeconds).
MAX_BATCHING_WINDOW_SECONDS: Final = IntSetting("maxBatchingWindowSeconds", default=0, minimum=0, maximum=300)
# ESM maximum concurrency: 2..1000 (https://docs.aws.amazon.com/lambda/latest/api/API_ScalingConfig.html). The
# default is the minimum on purpose: PutItems/PutActions are capped at 10 calls/s per dataset group, not adjustable
# (https://docs.aws.amazon.com/personalize/latest/dg/limits.html), so more pollers only buy throttling.
MAX_CONCURRENCY: Final = IntSetting("maxConcurrency", default=2, minimum=2, maximum=1000)
# Redrive policy maxReceiveCount: 1..1000
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html).
MAX_RECEIVE_COUNT: Final = IntSetting("maxReceiveCount", default=5, minimum=1, maximum=1000)
# Lambda timeout 1..900 s and memory 128..10,240 MB
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
# The minimum is ours, not Lambda's: the handler keeps a reserve of its time to write dead letters and answer, and
# one Personalize call may take seconds; below 10 s it would spend most invocations waiting for nothing.
FUNCTION_TIMEOUT_SECONDS: Final = IntSetting("functionTimeoutSeconds", default=60, minimum=10, maximum=900)
FUNCTION_MEMORY_MB: Final = IntSetting("functionMemoryMb", default=512, minimum=128, maximum=10_240)
# The version of the public Powertools for AWS Lambda (Python) v3 layer, pinned so deploys are reproducible
# (https://docs.powertools.aws.dev/lambda/python/latest/#lambda-layer).
POWERTOOLS_LAYER_VERSION: Final = IntSetting("powertoolsLayerVersion", default=27, minimum=1)

QUEUE_TYPE_KEY: Final = "queueType"
# standard: at-least-once, best-effort order, collapse to the newest change per id within a batch. fifo: order per
# message group (the publisher groups by kind + id, or by session), exactly-once publishing.
QUEUE_TYPES: Final[tuple[str, ...]] = ("standard", "fifo")
# "For FIFO queues, the maximum [batch size] is 10"; "Batching window is not supported for FIFO queues"
# (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html).
_FIFO_BATCH_SIZE_MAX: Final = 10
ALARM_EMAIL_KEY: Final = "alarmEmail"
ALARMS_KEY: Final = "alarms"
# An address SNS can send the subscription confirmation to; SNS itself checks nothing more at deploy time.
_EMAIL_PATTERN: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
STACK_NAME_KEY: Final = "stackName"
STACK_NAME_DEFAULT: Final = "PersonalizeIngest"
DATASETS_KEY: Final = "datasets"
LOG_RETENTION_DAYS_KEY: Final = "logRetentionDays"
LOG_RETENTION_DAYS_DEFAULT: Final = 30


# --------------------------------------------------------------------------------------------------------------
# The configuration itself
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetConfig:
    """A Personalize dataset the pipeline writes to: one the stack creates, or an existing one.

    Parameters
    ----------
    kind
        The dataset kind (its row in :data:`DATASET_KINDS`).
    arn
        An existing dataset's ARN, ``arn:<partition>:personalize:<region>:<account>:dataset/<group>/<TYPE>``
        ("bring your own dataset group"); ``None`` when the stack creates the dataset.
    schema_file, schema
        The schema file (as configured) and its text, when the stack creates the dataset; ``None`` otherwise.
    tracking_id
        An existing dataset's tracking id (``trackingId``): the event tracker's for ``interactions`` (required:
        PutEvents writes through it), optionally the dataset's own for ``actionInteractions``.
    """

    kind: DatasetKind
    arn: str | None = None
    schema_file: str | None = None
    schema: str | None = None
    tracking_id: str | None = None

    @classmethod
    def from_context(cls, kind_name: str, value: object) -> DatasetConfig:
        """Build the dataset of kind ``kind_name`` from its ``datasets.<kind>`` context object.

        ``{"arn": ...}`` names an existing dataset; ``{"schema": "schemas/items.json"}`` has the stack create it
        with that schema; ``{}`` has the stack create it with the kind's default schema.

        Raises
        ------
        ConfigError
            Unknown kind or field, both fields, an ARN that is not a dataset ARN of that kind, or a schema file
            that cannot be read or is not a schema of that kind.
        """
        key = f"{DATASETS_KEY}.{kind_name}"
        kind = DATASET_KINDS.get(kind_name)
        if kind is None:
            raise ConfigError(key, f"unknown dataset kind {kind_name!r}; known kinds: {', '.join(DATASET_KINDS)}")
        fields = parse_object(key, value)
        unknown = sorted(set(fields) - set(DATASET_FIELDS))
        if unknown:
            raise ConfigError(key, f"unknown field(s) {', '.join(unknown)}; known fields: {', '.join(DATASET_FIELDS)}")
        if "arn" in fields and "schema" in fields:
            raise ConfigError(
                key, 'either "arn" (an existing dataset) or "schema" (a dataset the stack creates), not both'
            )
        if "arn" in fields:
            tracking_id = fields.get("trackingId")
            if tracking_id is not None and not isinstance(tracking_id, str):
                raise ConfigError(f"{key}.trackingId", f"must be a string, got {tracking_id!r}")
            return cls(
                kind=kind, arn=_parse_dataset_arn(f"{key}.arn", fields["arn"], kind), tracking_id=tracking_id or None
            )
        if "trackingId" in fields:
            raise ConfigError(
                f"{key}.trackingId", "only for an existing dataset (arn); the stack knows the ids of what it creates"
            )
        schema_file = fields.get("schema", kind.default_schema)
        return cls(kind=kind, schema_file=str(schema_file), schema=_read_schema(f"{key}.schema", schema_file, kind))

    @property
    def provisioned(self) -> bool:
        """Whether the stack creates this dataset (rather than writing to an existing one)."""
        return self.arn is None

    @property
    def _parts(self) -> re.Match[str]:
        match = _DATASET_ARN_PARTS.fullmatch(self.arn or "")
        if match is None:
            raise ConfigError(f"{DATASETS_KEY}.{self.kind.name}.arn", "the stack creates this dataset: no ARN yet")
        return match

    def __post_init__(self) -> None:
        key = f"{DATASETS_KEY}.{self.kind.name}"
        if (self.arn is None) == (self.schema is None):
            raise ConfigError(key, "needs exactly one of an existing dataset's ARN and a schema to create it with")
        if self.arn is not None:
            _parse_dataset_arn(f"{key}.arn", self.arn, self.kind)
        else:
            _check_schema(f"{key}.schema", str(self.schema), self.kind)
        self._check_tracking_id(key)

    def _check_tracking_id(self, key: str) -> None:
        if self.tracking_id is not None:
            if self.kind.tracking_env is None:
                raise ConfigError(f"{key}.trackingId", f"{self.kind.name} are written by dataset ARN, not tracking id")
            if self.arn is None:
                raise ConfigError(f"{key}.trackingId", "only for an existing dataset (arn)")
            parse_str(
                f"{key}.trackingId",
                self.tracking_id,
                pattern=_TRACKING_ID_PATTERN,
                shape="a tracking id (1..256 letters, digits and hyphens)",
            )
        elif self.arn is not None and self.kind.tracking_id_required:
            raise ConfigError(
                f"{key}.trackingId",
                f"required with an existing {self.kind.dataset_type} dataset: the trackingId of its dataset group's "
                "event tracker (aws personalize describe-event-tracker), which PutEvents writes through",
            )

    @property
    def dataset_group_arn(self) -> str:
        """The ARN of the (existing) dataset group this existing dataset belongs to."""
        parts = self._parts
        return (
            f"arn:{parts['partition']}:personalize:{parts['region']}:{parts['account']}:dataset-group/{parts['group']}"
        )

    @property
    def any_schema_arn(self) -> str:
        """An ARN pattern matching every Personalize schema in the existing dataset's account and region.

        In bring-your-own mode the stack does not know which schema the dataset uses (the handler reads it
        with DescribeDataset at runtime), so DescribeSchema can only be scoped this far.
        """
        parts = self._parts
        return f"arn:{parts['partition']}:personalize:{parts['region']}:{parts['account']}:schema/*"


def _read_schema(key: str, value: object, kind: DatasetKind) -> str:
    """Read and check the schema file ``value`` (relative to the project root) of a ``kind`` dataset."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, f"must be the path of a schema file (such as {kind.default_schema}), got {value!r}")
    path = Path(value)
    path = path if path.is_absolute() else PROJECT_ROOT / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(key, f"cannot read schema file {value!r}: {error.strerror or error}") from None
    return _check_schema(key, text, kind)


def _check_schema(key: str, text: str, kind: DatasetKind) -> str:
    """Check that ``text`` is an Avro record schema with the fields Personalize requires of a ``kind`` dataset."""
    if len(text) > SCHEMA_MAX_LENGTH:
        raise ConfigError(key, f"the schema has {len(text)} characters; Personalize takes at most {SCHEMA_MAX_LENGTH}")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(key, f"the schema is not JSON: {error.msg} at line {error.lineno}") from None
    if (
        not isinstance(document, dict)
        or document.get("type") != "record"
        or not isinstance(document.get("fields"), list)
    ):
        raise ConfigError(key, 'the schema must be an Avro record: {"type": "record", "fields": [...], ...}')
    names = {field.get("name") for field in document["fields"] if isinstance(field, dict)}
    missing = [name for name in kind.required_fields if name not in names]
    if missing:
        raise ConfigError(key, f"{kind.dataset_type} schemas need the field(s) {', '.join(missing)}")
    if kind.needs_metadata and len(names - set(kind.required_fields)) < 1:
        raise ConfigError(key, f"{kind.dataset_type} schemas need at least one metadata field besides the id")
    for field_ in document["fields"]:
        if not isinstance(field_, dict) or field_.get("name") not in RESERVED_FIELDS.get(kind.dataset_type, {}):
            continue
        expected, may_be_null = RESERVED_FIELDS[kind.dataset_type][field_["name"]]
        members = field_.get("type") if isinstance(field_.get("type"), list) else [field_.get("type")]
        allowed = [[expected], ["null", expected], [expected, "null"]] if may_be_null else [[expected]]
        if members not in allowed:
            shape = f'"{expected}" or ["null", "{expected}"]' if may_be_null else f'"{expected}"'
            raise ConfigError(
                key,
                f"{field_['name']} is reserved in {kind.dataset_type} schemas and must be of type {shape}, "
                f"got {json.dumps(field_.get('type'))}",
            )
    return text


@dataclass(frozen=True)
class DatasetGroupConfig:
    """The dataset group the stack creates for its datasets (context key ``datasetGroup``).

    Parameters
    ----------
    name
        The group's name; its datasets, schemas and event tracker are named after it. At most
        :data:`GROUP_NAME_MAX_LENGTH` characters, so theirs fit Personalize's 63.
    domain
        ``ECOMMERCE`` or ``VIDEO_ON_DEMAND`` for a domain dataset group; ``None`` for a custom one.
    kms_key_arn, role_arn
        A KMS key to encrypt the group's data with, and the role Personalize uses it through (both or neither).
    """

    name: str
    domain: str | None = None
    kms_key_arn: str | None = None
    role_arn: str | None = None

    @classmethod
    def from_context(cls, value: object, *, default_name: str) -> DatasetGroupConfig:
        """Build the group from its ``datasetGroup`` context object (``None``: all defaults).

        Raises
        ------
        ConfigError
            An unknown field or an invalid value.
        """
        fields = parse_object(DATASET_GROUP_KEY, {} if value is None else value)
        unknown = sorted(set(fields) - set(DATASET_GROUP_FIELDS))
        if unknown:
            raise ConfigError(
                DATASET_GROUP_KEY,
                f"unknown field(s) {', '.join(unknown)}; known fields: {', '.join(DATASET_GROUP_FIELDS)}",
            )

        def optional(field: str) -> str | None:
            raw = fields.get(field)
            if raw is None or raw == "":
                return None
            if not isinstance(raw, str):
                raise ConfigError(f"{DATASET_GROUP_KEY}.{field}", f"must be a string, got {raw!r}")
            return raw

        return cls(
            name=optional("name") or default_name,
            domain=optional("domain"),
            kms_key_arn=optional("kmsKeyArn"),
            role_arn=optional("roleArn"),
        )

    def __post_init__(self) -> None:
        key = DATASET_GROUP_KEY
        parse_str(
            f"{key}.name",
            self.name,
            pattern=_GROUP_NAME_PATTERN,
            shape=(
                "a Personalize name (a letter or digit, then letters, digits, hyphens or underscores) of at most "
                f"{GROUP_NAME_MAX_LENGTH} characters, so the datasets named after it fit Personalize's 63"
            ),
        )
        if self.domain is not None and self.domain not in DOMAINS:
            raise ConfigError(f"{key}.domain", f"must be one of {', '.join(DOMAINS)} or absent, got {self.domain!r}")
        if (self.kms_key_arn is None) != (self.role_arn is None):
            raise ConfigError(key, "kmsKeyArn and roleArn go together: Personalize uses the KMS key through the role")
        if self.kms_key_arn is not None:
            parse_str(f"{key}.kmsKeyArn", self.kms_key_arn, pattern=_KMS_KEY_ARN_PATTERN, shape="a KMS key ARN")
        if self.role_arn is not None:
            parse_str(f"{key}.roleArn", self.role_arn, pattern=_ROLE_ARN_PATTERN, shape="an IAM role ARN")


def _parse_dataset_arn(key: str, value: object, kind: DatasetKind) -> str:
    if (
        not isinstance(value, str)
        or len(value) > _DATASET_ARN_MAX_LENGTH
        or not _DATASET_ARN_API_PATTERN.fullmatch(value)
    ):
        raise ConfigError(
            key,
            f"must be a Personalize dataset ARN (at most {_DATASET_ARN_MAX_LENGTH} characters matching "
            f"{_DATASET_ARN_API_PATTERN.pattern}), got {value!r}",
        )
    parts = _DATASET_ARN_PARTS.fullmatch(value)
    if parts is None:
        raise ConfigError(
            key,
            "must have the shape arn:<partition>:personalize:<region>:<12-digit account>:dataset/"
            f"<dataset group name>/{kind.dataset_type}, got {value!r}",
        )
    if parts["type"] != kind.dataset_type:
        raise ConfigError(
            key, f"must be the ARN of an {kind.dataset_type} dataset (ending in /{kind.dataset_type}), got {value!r}"
        )
    return value


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the ingestion stack is configured with; build it with :meth:`from_context`.

    Parameters
    ----------
    datasets
        The datasets to write to, at least one, at most one per kind, all in one dataset group: either all
        created by the stack, or all existing ones.
    dataset_group
        The dataset group the stack creates for its datasets (``datasetGroup``); ``None`` for existing datasets.
    removal_policy
        ``retain`` keeps the dataset group, its datasets and event tracker (and their data) when the stack is
        deleted or replaces them; ``destroy`` deletes them (``removalPolicy``).
    stack_name
        The CloudFormation stack name (context key ``stackName``).
    batch_size
        Records per Lambda invocation from the SQS event source (``batchSize``).
    max_batching_window_seconds
        How long the event source gathers records before invoking; 0 invokes at once
        (``maxBatchingWindowSeconds``).
    max_concurrency
        The event source's maximum concurrent invocations (``maxConcurrency``).
    max_receive_count
        Deliveries before SQS moves a message to the dead-letter queue (``maxReceiveCount``).
    function_timeout_seconds, function_memory_mb
        The ingest Lambda's timeout and memory (``functionTimeoutSeconds``, ``functionMemoryMb``).
    log_retention_days
        Retention of the ingest Lambda's log group, one of :data:`LOG_RETENTION_DAYS` (``logRetentionDays``).
    powertools_layer_version
        The pinned version of the public Powertools v3 layer (``powertoolsLayerVersion``).
    queue_type
        ``standard`` or ``fifo`` (``queueType``): FIFO queues keep each message group's changes in order; the
        event source then takes at most 10 records and no batching window.
    alarm_email
        An address subscribed to the alarm topic (``alarmEmail``); ``None`` for none.
    alarms
        The alarm thresholds (``alarms``, an object of camelCase :class:`stacks.monitoring.AlarmThresholds`
        fields; absent fields keep their defaults).
    """

    datasets: tuple[DatasetConfig, ...]
    dataset_group: DatasetGroupConfig | None = None
    removal_policy: str = REMOVAL_POLICY_DEFAULT
    stack_name: str = STACK_NAME_DEFAULT
    batch_size: int = BATCH_SIZE.default
    max_batching_window_seconds: int = MAX_BATCHING_WINDOW_SECONDS.default
    max_concurrency: int = MAX_CONCURRENCY.default
    max_receive_count: int = MAX_RECEIVE_COUNT.default
    function_timeout_seconds: int = FUNCTION_TIMEOUT_SECONDS.default
    function_memory_mb: int = FUNCTION_MEMORY_MB.default
    log_retention_days: int = LOG_RETENTION_DAYS_DEFAULT
    powertools_layer_version: int = POWERTOOLS_LAYER_VERSION.default
    queue_type: str = QUEUE_TYPES[0]
    alarm_email: str | None = None
    alarms: AlarmThresholds = field(default_factory=AlarmThresholds)

    @classmethod
    def from_context(cls, context: Mapping[str, object]) -> PipelineConfig:
        """Validate the CDK context values into a configuration.

        Parameters
        ----------
        context
            The context keys (from cdk.json's ``context`` and ``-c``); keys this class does not know, such as
            feature flags, are ignored. Absent or null keys take their defaults, except ``datasets``; the
            dataset group's name defaults to the stack's name.

        Returns
        -------
        PipelineConfig
            The frozen, validated configuration.

        Raises
        ------
        ConfigError
            The first invalid value, named by its key.
        """
        stack_name = STACK_NAME_DEFAULT if context.get(STACK_NAME_KEY) is None else context[STACK_NAME_KEY]
        log_retention_days = context.get(LOG_RETENTION_DAYS_KEY)
        datasets = _parse_datasets(context.get(DATASETS_KEY))
        group = context.get(DATASET_GROUP_KEY)
        # `-c datasetGroup=` (an empty value) clears cdk.json's group, for existing datasets given with -c.
        group = None if group in ("", "null") else group
        if not any(dataset.provisioned for dataset in datasets) and group is not None:
            raise ConfigError(
                DATASET_GROUP_KEY,
                "only for datasets the stack creates; existing datasets (datasets.<kind>.arn) bring their own group",
            )
        removal_policy = context.get(REMOVAL_POLICY_KEY)
        return cls(
            datasets=datasets,
            dataset_group=(
                DatasetGroupConfig.from_context(group, default_name=str(stack_name))
                if any(dataset.provisioned for dataset in datasets)
                else None
            ),
            removal_policy=REMOVAL_POLICY_DEFAULT if removal_policy is None else _parse_removal_policy(removal_policy),
            stack_name=_parse_stack_name(stack_name),
            batch_size=BATCH_SIZE.read(context),
            max_batching_window_seconds=MAX_BATCHING_WINDOW_SECONDS.read(context),
            max_concurrency=MAX_CONCURRENCY.read(context),
            max_receive_count=MAX_RECEIVE_COUNT.read(context),
            function_timeout_seconds=FUNCTION_TIMEOUT_SECONDS.read(context),
            function_memory_mb=FUNCTION_MEMORY_MB.read(context),
            log_retention_days=(
                LOG_RETENTION_DAYS_DEFAULT if log_retention_days is None else _parse_log_retention(log_retention_days)
            ),
            powertools_layer_version=POWERTOOLS_LAYER_VERSION.read(context),
            queue_type=_parse_queue_type(context.get(QUEUE_TYPE_KEY) or QUEUE_TYPES[0]),
            alarm_email=_parse_alarm_email(context.get(ALARM_EMAIL_KEY)),
            alarms=_parse_alarms(context.get(ALARMS_KEY)),
        )

    def __post_init__(self) -> None:
        # Re-check what from_context checked, so a config built directly (tests, other apps) is as safe.
        if not self.datasets:
            raise ConfigError(DATASETS_KEY, _no_datasets_message())
        kinds = [dataset.kind.name for dataset in self.datasets]
        if len(set(kinds)) != len(kinds):
            raise ConfigError(DATASETS_KEY, f"at most one dataset per kind, got kinds {kinds}")
        self._check_dataset_group()
        _parse_stack_name(self.stack_name)
        _parse_removal_policy(self.removal_policy)
        _parse_log_retention(self.log_retention_days)
        for setting, value in (
            (BATCH_SIZE, self.batch_size),
            (MAX_BATCHING_WINDOW_SECONDS, self.max_batching_window_seconds),
            (MAX_CONCURRENCY, self.max_concurrency),
            (MAX_RECEIVE_COUNT, self.max_receive_count),
            (FUNCTION_TIMEOUT_SECONDS, self.function_timeout_seconds),
            (FUNCTION_MEMORY_MB, self.function_memory_mb),
            (POWERTOOLS_LAYER_VERSION, self.powertools_layer_version),
        ):
            setting.check(value)
        _parse_queue_type(self.queue_type)
        _parse_alarm_email(self.alarm_email)
        if self.fifo and self.batch_size > _FIFO_BATCH_SIZE_MAX:
            raise ConfigError(
                BATCH_SIZE.key,
                f"must be at most {_FIFO_BATCH_SIZE_MAX} with {QUEUE_TYPE_KEY} fifo (Lambda's limit for FIFO queues), "
                f"got {self.batch_size}",
            )
        if self.fifo and self.max_batching_window_seconds:
            raise ConfigError(
                MAX_BATCHING_WINDOW_SECONDS.key,
                f"must be 0 with {QUEUE_TYPE_KEY} fifo (Lambda has no batching window for FIFO queues), "
                f"got {self.max_batching_window_seconds}",
            )
        if self.batch_size > _UNWINDOWED_BATCH_SIZE_MAX and self.max_batching_window_seconds == 0:
            raise ConfigError(
                MAX_BATCHING_WINDOW_SECONDS.key,
                f"must be at least 1 when {BATCH_SIZE.key} is above {_UNWINDOWED_BATCH_SIZE_MAX} (Lambda requires a "
                f"batching window for larger batches), got 0 with {BATCH_SIZE.key} {self.batch_size}",
            )

    def _check_dataset_group(self) -> None:
        created = [dataset.kind.name for dataset in self.datasets if dataset.provisioned]
        existing = [dataset.kind.name for dataset in self.datasets if not dataset.provisioned]
        if created and existing:
            # The stack's group is new: an existing dataset cannot be in it, and the Put* quotas and maxConcurrency
            # are sized for one group.
            raise ConfigError(
                DATASETS_KEY,
                "either every dataset is created by the stack (schema) or every one exists (arn); got "
                f"{', '.join(created)} to create and {', '.join(existing)} existing",
            )
        if existing:
            if self.dataset_group is not None:
                raise ConfigError(DATASET_GROUP_KEY, "only for datasets the stack creates")
            groups = sorted({dataset.dataset_group_arn for dataset in self.datasets})
            if len(groups) > 1:
                # The Put* request quotas are per dataset group, and maxConcurrency is sized for one group.
                raise ConfigError(
                    DATASETS_KEY, f"all datasets must belong to one dataset group, got {', '.join(groups)}"
                )
            return
        if self.dataset_group is None:
            raise ConfigError(DATASET_GROUP_KEY, "required when the stack creates the datasets")
        if self.dataset_group.domain:
            for dataset in self.datasets:
                if dataset.kind.dataset_type in NOT_IN_DOMAIN_GROUPS:
                    raise ConfigError(
                        f"{DATASETS_KEY}.{dataset.kind.name}",
                        f"a domain dataset group ({self.dataset_group.domain}) cannot hold an "
                        f"{dataset.kind.dataset_type} dataset; remove datasetGroup.domain or this dataset",
                    )

    @property
    def fifo(self) -> bool:
        """Whether the ingest queue (and so its dead-letter queue) is a FIFO queue."""
        return self.queue_type == "fifo"

    @property
    def provisions_datasets(self) -> bool:
        """Whether the stack creates the dataset group and its datasets (rather than using existing ones)."""
        return self.dataset_group is not None

    def dataset(self, kind_name: str) -> DatasetConfig | None:
        """Return the configured dataset of kind ``kind_name`` (``"items"``), or ``None``."""
        return next((dataset for dataset in self.datasets if dataset.kind.name == kind_name), None)


def _no_datasets_message() -> str:
    return (
        'at least one dataset is required, as an object of kind -> {"schema": "<schema file>"} (the stack creates '
        f'it) or {{"arn": "<dataset ARN>"}} (an existing one); known kinds: {", ".join(DATASET_KINDS)}'
    )


def _parse_datasets(value: object) -> tuple[DatasetConfig, ...]:
    if value is None:
        raise ConfigError(DATASETS_KEY, _no_datasets_message())
    entries = parse_object(DATASETS_KEY, value)
    if not entries:
        raise ConfigError(DATASETS_KEY, _no_datasets_message())
    datasets = [DatasetConfig.from_context(kind_name, entry) for kind_name, entry in entries.items()]
    # In table order, so the template does not depend on the order the keys were written in.
    order = list(DATASET_KINDS)
    return tuple(sorted(datasets, key=lambda dataset: order.index(dataset.kind.name)))


def _parse_stack_name(value: object) -> str:
    return parse_str(
        STACK_NAME_KEY,
        value,
        pattern=_STACK_NAME_PATTERN,
        shape="a CloudFormation stack name (a letter, then letters, digits or hyphens; at most 128 characters)",
    )


def _parse_removal_policy(value: object) -> str:
    if not isinstance(value, str) or value.strip().lower() not in REMOVAL_POLICIES:
        raise ConfigError(REMOVAL_POLICY_KEY, f"must be one of {', '.join(REMOVAL_POLICIES)}, got {value!r}")
    return value.strip().lower()


def _parse_queue_type(value: object) -> str:
    if not isinstance(value, str) or value.strip().lower() not in QUEUE_TYPES:
        raise ConfigError(QUEUE_TYPE_KEY, f"must be one of {', '.join(QUEUE_TYPES)}, got {value!r}")
    return value.strip().lower()


def _parse_alarm_email(value: object) -> str | None:
    if value is None or value == "":
        return None
    return parse_str(ALARM_EMAIL_KEY, value, pattern=_EMAIL_PATTERN, shape="an email address")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _parse_alarms(value: object) -> AlarmThresholds:
    """Read the ``alarms`` object: camelCase names of :class:`AlarmThresholds` fields, each a positive integer."""
    entries = parse_object(ALARMS_KEY, {} if value is None else value)
    names = {_camel(threshold.name): threshold.name for threshold in fields(AlarmThresholds)}
    unknown = sorted(set(entries) - set(names))
    if unknown:
        raise ConfigError(ALARMS_KEY, f"unknown field(s) {', '.join(unknown)}; known fields: {', '.join(names)}")
    values = {names[key]: parse_int(f"{ALARMS_KEY}.{key}", raw, minimum=1) for key, raw in entries.items()}
    try:
        return AlarmThresholds(**values)
    except ValueError as error:
        # The construct names its own field (AlarmThresholds.throttled_periods); the user wrote the camelCase key.
        message = str(error)
        key = next((f"{ALARMS_KEY}.{camel}" for camel, name in names.items() if f".{name} " in message), ALARMS_KEY)
        raise ConfigError(key, message.split(" ", 1)[1] if key != ALARMS_KEY else message) from None


def _parse_log_retention(value: object) -> int:
    allowed = ", ".join(str(day) for day in LOG_RETENTION_DAYS)
    problem = f"must be one of CloudWatch Logs' retention periods ({allowed}), got {value!r}"
    try:
        days = parse_int(LOG_RETENTION_DAYS_KEY, value, minimum=1)
    except ConfigError:
        raise ConfigError(LOG_RETENTION_DAYS_KEY, problem) from None
    if days not in LOG_RETENTION_DAYS:
        raise ConfigError(LOG_RETENTION_DAYS_KEY, problem)
    return days


# Every context key the configuration reads; app.py reads exactly these from the CDK context.
CONTEXT_KEYS: Final[tuple[str, ...]] = (
    STACK_NAME_KEY,
    DATASETS_KEY,
    DATASET_GROUP_KEY,
    REMOVAL_POLICY_KEY,
    BATCH_SIZE.key,
    MAX_BATCHING_WINDOW_SECONDS.key,
    MAX_CONCURRENCY.key,
    MAX_RECEIVE_COUNT.key,
    FUNCTION_TIMEOUT_SECONDS.key,
    FUNCTION_MEMORY_MB.key,
    LOG_RETENTION_DAYS_KEY,
    POWERTOOLS_LAYER_VERSION.key,
    QUEUE_TYPE_KEY,
    ALARM_EMAIL_KEY,
    ALARMS_KEY,
)
