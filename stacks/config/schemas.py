"""Schema files of the datasets the stack creates: read relative to the project root, and checked at synth.

A schema Personalize would refuse (not an Avro record, a required field missing, a reserved field of the wrong
type, too long) fails CreateSchema or CreateDataset minutes into a deployment; checked here, it fails ``cdk synth``
with the key to fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from stacks.config.kinds import DatasetKind
from stacks.config.parsing import ConfigError

# Schema files are read relative to the project root (where cdk.json is), whatever the working directory.
PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]
# CreateSchema takes at most 20,000 characters (API_CreateSchema.html).
SCHEMA_MAX_LENGTH: Final = 20_000

# Reserved keywords and the type Personalize requires of them ("long, null": a long that may be nullable), from the
# "Custom dataset and schema requirements" table
# (https://docs.aws.amazon.com/personalize/latest/dg/custom-datasets-and-schemas.html). A schema that gets one wrong
# fails CreateDataset at deploy time; checked at synth instead. The emulator enforces the same table
# (local/emulator/avro.py; tests/infra/test_config_datasets.py checks the two agree).
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


def read_schema(key: str, value: object, kind: DatasetKind) -> str:
    """Read and check the schema file ``value`` (relative to the project root) of a ``kind`` dataset."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, f"must be the path of a schema file (such as {kind.default_schema}), got {value!r}")
    path = Path(value)
    path = path if path.is_absolute() else PROJECT_ROOT / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(key, f"cannot read schema file {value!r}: {error.strerror or error}") from None
    return check_schema(key, text, kind)


def check_schema(key: str, text: str, kind: DatasetKind) -> str:
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
