"""Schema files of the datasets the stack creates: read relative to the project root, and checked at synth.

A schema Personalize would refuse (not an Avro record, a required field missing, a reserved field of the wrong
type, too long, or in a domain dataset group a field the domain requires missing) fails CreateSchema or
CreateDataset minutes into a deployment; checked here, it fails ``cdk synth`` with the key to fix. The rules are
``schema_rules``' (``lambdas/schema_rules.py``), the tables the local emulator refuses schemas by too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from schema_rules import DOMAIN_REQUIREMENTS, RESERVED_FIELDS, domain_field_problems
from stacks.config.kinds import DatasetKind
from stacks.config.parsing import ConfigError

# Schema files are read relative to the project root (where cdk.json is), whatever the working directory.
PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]
# CreateSchema takes at most 20,000 characters (API_CreateSchema.html).
SCHEMA_MAX_LENGTH: Final = 20_000

# The reserved keywords of each dataset type and the type Personalize requires of them are schema_rules' table
# (RESERVED_FIELDS), which the local emulator refuses schemas by too; the domains' required fields likewise
# (DOMAIN_REQUIREMENTS, checked by check_domain_schema).


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


def check_domain_schema(key: str, text: str, kind: DatasetKind, *, domain: str, schema_file: str | None) -> None:
    """Check that the schema ``text`` of a ``kind`` dataset has every field ``domain`` requires of that type.

    Parameters
    ----------
    key
        The context key of the schema (``datasets.items.schema``), first in the message.
    text
        The schema document, already checked by :func:`check_schema`.
    kind
        The dataset's kind.
    domain
        The dataset group's domain (``ECOMMERCE``, ``VIDEO_ON_DEMAND``).
    schema_file
        The schema file as configured, named in the message so the user knows which file to edit.

    Raises
    ------
    ConfigError
        Naming every missing or mistyped field, and the documentation page listing the domain's requirements.
    """
    fields = json.loads(text)["fields"]
    problems = domain_field_problems(domain, kind.dataset_type, fields)
    if not problems:
        return
    source = DOMAIN_REQUIREMENTS[domain][kind.dataset_type].source
    where = f"the schema file {schema_file}" if schema_file else "the schema"
    raise ConfigError(
        key,
        f"{'; '.join(problem.message for problem in problems)}. Add or fix these fields in {where} (the project's "
        f"default schemas are for custom dataset groups), or remove datasetGroup.domain; see {source}",
    )
