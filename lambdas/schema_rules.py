"""What Amazon Personalize asks of a dataset's schema, written once for everything that checks it.

The stack checks schema files at synth time (``stacks/config.py``), so a schema Personalize would refuse fails
``cdk synth`` rather than the deployment; the local emulator (``local/emulator``) refuses the same schemas the way
the service does. Both read the tables below, so the two cannot drift apart. The module depends on nothing but
the standard library: it ships in the Lambda asset and is imported at synth time too.

Dataset types are spelled as the stack and dataset ARNs spell them (``ITEMS``, ``ACTION_INTERACTIONS``: the
``dataset_type`` of ``contract.KindSpec``). A schema's fields are taken as parsed from its Avro JSON: the list of
``{"name": ..., "type": ..., "categorical": ...}`` objects under ``fields``. docs/personalize.md §4 gives the
rules in prose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

# --- Every dataset group ------------------------------------------------------------------------------------------

# The fields a schema of each type must define, with their (non-null) Avro type, from the "Custom dataset and
# schema requirements" table (https://docs.aws.amazon.com/personalize/latest/dg/custom-datasets-and-schemas.html).
# Items, Users and Actions schemas also need at least one metadata field besides the id (same page).
REQUIRED_FIELDS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "INTERACTIONS": {"USER_ID": "string", "ITEM_ID": "string", "TIMESTAMP": "long"},
        "ITEMS": {"ITEM_ID": "string"},
        "USERS": {"USER_ID": "string"},
        "ACTIONS": {"ACTION_ID": "string"},
        "ACTION_INTERACTIONS": {
            "USER_ID": "string",
            "ACTION_ID": "string",
            "EVENT_TYPE": "string",
            "TIMESTAMP": "long",
        },
    }
)

# Reserved keywords and the type Personalize requires of them ("long, null": a long that may be nullable), from the
# "Custom dataset and schema requirements" table
# (https://docs.aws.amazon.com/personalize/latest/dg/custom-datasets-and-schemas.html). A schema that gets one wrong
# fails CreateDataset at deploy time; checked at synth instead, and refused the same way by the local emulator.
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

# --- Domain dataset groups ----------------------------------------------------------------------------------------

# Avro types that make a field numerical (the "Schema data types" of
# https://docs.aws.amazon.com/personalize/latest/dg/how-it-works-dataset-schema.html).
NUMERIC_TYPES: Final = frozenset({"int", "long", "float", "double"})


@dataclass(frozen=True, slots=True)
class RequiredField:
    """A field a domain requires of one dataset type's schema: present, of ``type`` and not nullable.

    Attributes
    ----------
    name:
        The field's name (``CATEGORY_L1``).
    type:
        Its Avro primitive type (``string``).
    categorical:
        Whether the field must be declared ``"categorical": true``.
    """

    name: str
    type: str
    categorical: bool = False

    def describe(self) -> str:
        """The field as the documentation lists it: ``CATEGORY_L1 (categorical "string")``."""
        return f'{self.name} ({"categorical " if self.categorical else ""}"{self.type}")'


@dataclass(frozen=True, slots=True)
class DomainRequirements:
    """What a domain asks of one dataset type's schema.

    Attributes
    ----------
    fields:
        The required fields.
    metadata_field:
        Whether the schema also needs one more field that is a categorical string or numerical (Users).
    source:
        The documentation page the requirements come from.
    """

    fields: tuple[RequiredField, ...]
    source: str
    metadata_field: bool = False


_DOCS: Final = "https://docs.aws.amazon.com/personalize/latest/dg/"
_ID_FIELDS: Final = {name: RequiredField(name, "string") for name in ("USER_ID", "ITEM_ID")}
_INTERACTION_FIELDS: Final = (
    _ID_FIELDS["USER_ID"],
    _ID_FIELDS["ITEM_ID"],
    RequiredField("TIMESTAMP", "long"),
    RequiredField("EVENT_TYPE", "string"),
)

# The required fields of each dataset type in each domain. Overviews: ECOMMERCE-datasets-and-schemas.html and
# VIDEO-ON-DEMAND-datasets-and-schemas.html (the "domain dataset and schema requirements" tables); each row's
# ``source`` is the dataset type's own page. A domain dataset group holds only these three dataset types
# (CreateDataset refuses Actions and Action interactions datasets there). The pages' reserved keywords (CATEGORY_L2,
# GENRE_L2, SUBSCRIPTION_MODEL...) are optional and not checked: the pages disagree on some of their types (ECOMMERCE
# CREATION_TIMESTAMP is "long" in the overview table and "float" on the Items page).
DOMAIN_REQUIREMENTS: Final[Mapping[str, Mapping[str, DomainRequirements]]] = MappingProxyType(
    {
        "ECOMMERCE": MappingProxyType(
            {
                # "USER_ID (string), ITEM_ID (string), TIMESTAMP (long), EVENT_TYPE (string ...)"
                "INTERACTIONS": DomainRequirements(_INTERACTION_FIELDS, f"{_DOCS}ECOMMERCE-interactions-dataset.html"),
                # "USER_ID, 1 metadata field (categorical string or numerical)"
                "USERS": DomainRequirements(
                    (_ID_FIELDS["USER_ID"],), f"{_DOCS}ECOMMERCE-users-dataset.html", metadata_field=True
                ),
                # "ITEM_ID, PRICE (float), CATEGORY_L1 (categorical string)"
                "ITEMS": DomainRequirements(
                    (
                        _ID_FIELDS["ITEM_ID"],
                        RequiredField("PRICE", "float"),
                        RequiredField("CATEGORY_L1", "string", categorical=True),
                    ),
                    f"{_DOCS}ECOMMERCE-items-dataset.html",
                ),
            }
        ),
        "VIDEO_ON_DEMAND": MappingProxyType(
            {
                # "USER_ID (string), ITEM_ID string, TIMESTAMP (long), EVENT_TYPE (string ...)"
                "INTERACTIONS": DomainRequirements(
                    _INTERACTION_FIELDS, f"{_DOCS}VIDEO-ON-DEMAND-interactions-dataset.html"
                ),
                # "USER_ID, 1 metadata field (categorical string or numerical)"
                "USERS": DomainRequirements(
                    (_ID_FIELDS["USER_ID"],), f"{_DOCS}VIDEO-ON-DEMAND-users-dataset.html", metadata_field=True
                ),
                # "ITEM_ID, GENRES (categorical string), CREATION_TIMESTAMP (in Unix epoch time format)"; the
                # overview table gives CREATION_TIMESTAMP's type: long.
                "ITEMS": DomainRequirements(
                    (
                        _ID_FIELDS["ITEM_ID"],
                        RequiredField("GENRES", "string", categorical=True),
                        RequiredField("CREATION_TIMESTAMP", "long"),
                    ),
                    f"{_DOCS}VIDEO-ON-DEMAND-items-dataset.html",
                ),
            }
        ),
    }
)
DOMAINS: Final[tuple[str, ...]] = tuple(DOMAIN_REQUIREMENTS)


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """A required field a schema lacks or gets wrong.

    Attributes
    ----------
    field:
        The field's name (``CATEGORY_L1``), or ``None`` for the Users metadata field, which has no fixed name.
    message:
        What is wrong and what would do, naming the field.
    """

    field: str | None
    message: str


def domain_field_problems(domain: str, dataset_type: str, fields: Sequence[Any]) -> list[FieldProblem]:
    """Return the fields ``domain`` requires of a ``dataset_type`` schema that ``fields`` lacks or mistypes.

    Parameters
    ----------
    domain:
        ``ECOMMERCE`` or ``VIDEO_ON_DEMAND``.
    dataset_type:
        The dataset type, upper case (``ITEMS``). A type the domain does not hold has no requirements here.
    fields:
        The schema's ``fields`` as parsed from its JSON; entries that are not objects are ignored.

    Returns
    -------
    list[FieldProblem]
        One problem per missing or mistyped field, in the documentation's order; empty when the schema fits.

    Raises
    ------
    ValueError
        If ``domain`` is not a Personalize domain.
    """
    if domain not in DOMAIN_REQUIREMENTS:
        raise ValueError(f"unknown domain {domain!r}; Personalize's domains are {', '.join(DOMAINS)}")
    requirements = DOMAIN_REQUIREMENTS[domain].get(dataset_type)
    if requirements is None:
        return []
    by_name = {raw["name"]: raw for raw in fields if isinstance(raw, Mapping) and isinstance(raw.get("name"), str)}
    where = f"{domain} {dataset_type} schemas"
    problems: list[FieldProblem] = []
    for required in requirements.fields:
        raw = by_name.get(required.name)
        if raw is None:
            problems.append(FieldProblem(required.name, f"{where} need the field {required.describe()}"))
        elif not _fits(raw, required):
            problems.append(
                FieldProblem(
                    required.name,
                    f"{where} need the field {required.describe()} (not null), "
                    f"got type {_shown(raw.get('type'))}{', categorical' if raw.get('categorical') is True else ''}",
                )
            )
    if requirements.metadata_field:
        named = {required.name for required in requirements.fields}
        if not any(_is_metadata(raw) for name, raw in by_name.items() if name not in named):
            problems.append(
                FieldProblem(None, f"{where} need one metadata field besides the id: a categorical string or a number")
            )
    return problems


def _fits(raw: Mapping[str, Any], required: RequiredField) -> bool:
    """Return whether a schema field is what ``required`` asks: its type, not nullable, categorical if asked."""
    return _types(raw.get("type")) == [required.type] and (not required.categorical or raw.get("categorical") is True)


def _types(raw: Any) -> list[Any]:
    """Return the member types of a field's ``type``: ``"string"``, ``["null", "string"]`` or ``[{"type": ...}]``."""
    members = raw if isinstance(raw, list) else [raw]
    return [member.get("type") if isinstance(member, Mapping) else member for member in members]


def _is_metadata(raw: Mapping[str, Any]) -> bool:
    """Return whether a field can be the Users metadata field a domain asks for: categorical string or numerical."""
    base = [member for member in _types(raw.get("type")) if member != "null"]
    if len(base) != 1:
        return False
    return base[0] in NUMERIC_TYPES or (base[0] == "string" and raw.get("categorical") is True)


def _shown(raw: Any) -> str:
    """Return a field's ``type`` as written in the schema (``["null", "float"]``)."""
    if isinstance(raw, list):
        return "[" + ", ".join(_shown(member) for member in raw) + "]"
    return f'"{raw}"' if isinstance(raw, str) else repr(raw)
