"""The datasets the pipeline writes to, and the dataset group the stack creates for them.

A dataset is either one the stack creates (``{"schema": ...}``, in a group it creates too) or an existing one
(``{"arn": ...}``: "bring your own dataset group"); :class:`DatasetConfig` and :class:`DatasetGroupConfig` check
each against what Personalize accepts, so a mistake fails ``cdk synth`` with the key to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from stacks.config.kinds import DATASET_KINDS, DatasetKind
from stacks.config.parsing import ConfigError, parse_object, parse_str
from stacks.config.schemas import check_schema, read_schema
from stacks.personalize_properties import GROUP_NAME_MAX_LENGTH

DATASETS_KEY: Final = "datasets"
# The fields a ``datasets.<kind>`` object may carry: ``schema`` (the stack creates the dataset with that schema
# file; ``{}`` takes the kind's default schema) or ``arn`` (an existing dataset: "bring your own dataset group"),
# the latter with ``trackingId`` for the kinds written through one.
DATASET_FIELDS: Final[tuple[str, ...]] = ("schema", "arn", "trackingId")
# PutEvents' and PutActionInteractions' trackingId: 1..256 characters (botocore model); it is a UUID in practice.
_TRACKING_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9-]{1,256}")
DATASET_GROUP_FIELDS: Final[tuple[str, ...]] = ("name", "domain", "kmsKeyArn", "roleArn")
# Domain dataset groups (API_CreateDatasetGroup.html); they cannot hold Actions datasets (docs/personalize.md §3).
DOMAINS: Final[tuple[str, ...]] = ("ECOMMERCE", "VIDEO_ON_DEMAND")
NOT_IN_DOMAIN_GROUPS: Final = frozenset({"ACTIONS", "ACTION_INTERACTIONS"})
# Personalize names: a letter or digit, then letters, digits, hyphens and underscores (API_CreateDatasetGroup.html).
# The stack names the datasets, schemas and tracker after the group, so the group's name leaves room for them.
_GROUP_NAME_PATTERN: Final = re.compile(rf"[a-zA-Z0-9][a-zA-Z0-9_-]{{0,{GROUP_NAME_MAX_LENGTH - 1}}}")
# kmsKeyArn and roleArn as CreateDatasetGroup's model patterns them, narrowed to a KMS key and an IAM role.
_KMS_KEY_ARN_PATTERN: Final = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")
_ROLE_ARN_PATTERN: Final = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
DATASET_GROUP_KEY: Final = "datasetGroup"

# personalize-events' datasetArn shape (botocore model: max 256 chars, this pattern). botocore does not check it
# client-side, so a typo would only surface as a rejected PutItems call at runtime: check it at synth.
_DATASET_ARN_API_PATTERN: Final = re.compile(r"arn:([a-z\d-]+):personalize:.*:.*:.+")
_DATASET_ARN_MAX_LENGTH: Final = 256
# The structure behind it: arn:PARTITION:personalize:REGION:ACCOUNT:dataset/GROUP_NAME/TYPE (docs/personalize.md §3;
# group names are 1..63 chars of [a-zA-Z0-9_-] starting with a letter or digit). The stack needs the region and
# account to scope personalize:DescribeSchema, so an ARN that hides them is rejected too.
_DATASET_ARN_PARTS: Final = re.compile(
    r"arn:(?P<partition>[a-z\d-]+):personalize:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):(?P<account>\d{12}):"
    r"dataset/(?P<group>[a-zA-Z0-9][a-zA-Z0-9_-]{0,62})/(?P<type>[A-Za-z_]+)"
)


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
                kind=kind, arn=parse_dataset_arn(f"{key}.arn", fields["arn"], kind), tracking_id=tracking_id or None
            )
        if "trackingId" in fields:
            raise ConfigError(
                f"{key}.trackingId", "only for an existing dataset (arn); the stack knows the ids of what it creates"
            )
        schema_file = fields.get("schema", kind.default_schema)
        return cls(kind=kind, schema_file=str(schema_file), schema=read_schema(f"{key}.schema", schema_file, kind))

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
            parse_dataset_arn(f"{key}.arn", self.arn, self.kind)
        else:
            check_schema(f"{key}.schema", str(self.schema), self.kind)
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


def parse_dataset_arn(key: str, value: object, kind: DatasetKind) -> str:
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
