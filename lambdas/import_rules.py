"""What Amazon Personalize asks of a dataset import job's CSV, written once for the writer and the reader.

The backfill command writes bulk CSV files with these rules and the local emulator (``local/emulator``) reads them
with the same rules, so a file the emulator accepts is one the command would write and the other way round. The
module depends on nothing but the standard library (it ships in the Lambda asset root, next to ``schema_rules``).

A schema's fields are taken as parsed from its Avro JSON (the objects under ``fields``), as ``schema_rules`` takes
them. Problems name the file, the line and the column, never a value: values may be personal data.

Sources (each constant below names its own):

- Quotas: https://docs.aws.amazon.com/personalize/latest/dg/limits.html
- Common error messages: https://docs.aws.amazon.com/personalize/latest/dg/error-messages.html
- Bulk data format: https://docs.aws.amazon.com/personalize/latest/dg/data-prep-formatting.html (CSV, a header row of
  schema field names not in quotation marks, one record per line, UTF-8, epoch-second timestamps, categorical
  values joined with ``|``)
- Schema formatting: https://docs.aws.amazon.com/personalize/latest/dg/how-it-works-dataset-schema.html ("schema
  fields can appear in any order, but they must match the order of the corresponding column headers in the CSV")
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, Final

QUOTAS_PAGE: Final = "https://docs.aws.amazon.com/personalize/latest/dg/limits.html"
ERRORS_PAGE: Final = "https://docs.aws.amazon.com/personalize/latest/dg/error-messages.html"

# --- Import job limits ------------------------------------------------------------------------------------------

FULL: Final = "FULL"
INCREMENTAL: Final = "INCREMENTAL"
# CreateDatasetImportJob's importMode: FULL is the default, and the only mode before a first bulk import.
IMPORT_MODES: Final = (FULL, INCREMENTAL)

# "Total number of pending or in progress dataset import jobs" per region: 5, not adjustable (QUOTAS_PAGE); the
# LimitExceededException message is ERRORS_PAGE's.
MAX_PENDING_IMPORT_JOBS: Final = 5
TOO_MANY_IMPORT_JOBS_MESSAGE: Final = (
    f"More than {MAX_PENDING_IMPORT_JOBS} resources with PENDING or IN_PROGRESS status."
)

_GB: Final = 1024**3
# "Maximum amount of bulk ... data per dataset import job" (QUOTAS_PAGE): 100 GB with FULL, 1 GB with INCREMENTAL,
# for interactions, users and items alike (actions and action interactions are not listed; the same is assumed).
MAX_IMPORT_BYTES: Final[Mapping[str, int]] = {FULL: 100 * _GB, INCREMENTAL: 1 * _GB}

# "Minimum number of interactions records per dataset import job with FULL or INCREMENTAL import mode": 1000
# (QUOTAS_PAGE). The import-modes section of https://docs.aws.amazon.com/personalize/latest/dg/bulk-data-import.html
# asks the same of an INCREMENTAL import into an Action interactions dataset.
MIN_INTERACTION_RECORDS: Final = 1000
_MIN_RECORDS: Final[Mapping[tuple[str, str], int]] = {
    ("INTERACTIONS", FULL): MIN_INTERACTION_RECORDS,
    ("INTERACTIONS", INCREMENTAL): MIN_INTERACTION_RECORDS,
    ("ACTION_INTERACTIONS", INCREMENTAL): MIN_INTERACTION_RECORDS,
}


def min_records(dataset_type: str, import_mode: str) -> int:
    """Return the fewest records one import job of ``import_mode`` into a ``dataset_type`` dataset may hold."""
    return _MIN_RECORDS.get((dataset_type, import_mode), 0)


# --- Values -----------------------------------------------------------------------------------------------------

# "Maximum number of characters for USER_ID / ITEM_ID data values": 256 (QUOTAS_PAGE); ACTION_ID is taken as the
# same (PutActions' actionId is at most 256 characters in the service model).
ID_FIELDS: Final = frozenset({"USER_ID", "ITEM_ID", "ACTION_ID"})
MAX_ID_LENGTH: Final = 256
# "Maximum number of characters for categorical and non-categorical string data values": 1000 (QUOTAS_PAGE); for a
# categorical field the limit applies to the whole |-joined value, as the emulator applies it to Put* records.
MAX_STRING_LENGTH: Final = 1000
# "Maximum number of characters for textual data values": 20,000 (QUOTAS_PAGE); longer text is cut, not refused,
# as for Put* records.
MAX_TEXTUAL_LENGTH: Final = 20_000
# Several categorical values (and IMPRESSION's item ids) in one cell: "separate the values using the vertical bar".
CATEGORY_SEPARATOR: Final = "|"

_INTEGER: Final = re.compile(r"[+-]?\d+")
_NUMBER: Final = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INT_RANGES: Final[Mapping[str, tuple[int, int]]] = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
PRIMITIVES: Final = frozenset({"string", "int", "long", "float", "double", "boolean"})


@dataclass(frozen=True, slots=True)
class Column:
    """One schema field as a CSV column.

    Attributes
    ----------
    name:
        The field's name, which is the column's header (``ITEM_ID``).
    type:
        Its Avro primitive type (``string``, ``int``, ``long``, ``float``, ``double``, ``boolean``).
    nullable:
        Whether the type is a union with ``null``: the cell may be empty, and the column may be left out.
    categorical, textual:
        The field's flags (string fields only).
    """

    name: str
    type: str
    nullable: bool
    categorical: bool = False
    textual: bool = False

    @property
    def max_length(self) -> int:
        """The most characters a value may hold (a textual value past it is cut, any other refused)."""
        if self.textual:
            return MAX_TEXTUAL_LENGTH
        return MAX_ID_LENGTH if self.name in ID_FIELDS else MAX_STRING_LENGTH


def columns(schema: str | Mapping[str, Any]) -> tuple[Column, ...]:
    """Return the columns of a schema, in the schema's order (the order a CSV's header must follow).

    Parameters
    ----------
    schema:
        The schema's Avro JSON, as text or parsed.

    Raises
    ------
    ValueError
        If the schema is not a record of flat fields of Personalize's primitive types.
    """
    document = json.loads(schema) if isinstance(schema, str) else schema
    fields = document.get("fields") if isinstance(document, Mapping) else None
    if not isinstance(fields, list) or not fields:
        raise ValueError("a schema is an Avro record with a non-empty list of fields")
    return tuple(_column(raw) for raw in fields)


def _column(raw: Any) -> Column:
    """Return one schema field as a column."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        raise ValueError("every schema field is an object with a name")
    declared = raw.get("type")
    members: list[Any] = declared if isinstance(declared, list) else [declared]
    names = [member.get("type") if isinstance(member, Mapping) else member for member in members]
    base = [name for name in names if name != "null"]
    if len(base) != 1 or base[0] not in PRIMITIVES:
        raise ValueError(f"field {raw['name']}: expected one of {sorted(PRIMITIVES)}, optionally with null")
    categorical, textual = raw.get("categorical") is True, raw.get("textual") is True
    return Column(raw["name"], base[0], "null" in names, categorical, textual)


def parse_value(column: Column, text: str) -> tuple[Any, str | None]:
    """Return a cell's typed value (``None`` for an empty cell), and what is wrong with it, if anything.

    Integers become ``int``, floats and doubles ``float``, booleans ``bool`` (``true``/``false`` in any case),
    strings stay as written (a textual value cut to :data:`MAX_TEXTUAL_LENGTH`).
    """
    if text == "":
        return None, None if column.nullable else f"a value is required ({column.name} is not nullable)"
    if column.type == "string":
        if len(text) > column.max_length:
            if column.textual:
                return text[: column.max_length], None
            # The service's wording for this failure (ERRORS_PAGE).
            return None, f"Length cannot be more than {column.max_length} characters for {column.name}"
        return text, None
    if column.type in _INT_RANGES:
        low, high = _INT_RANGES[column.type]
        if not _INTEGER.fullmatch(text) or not low <= int(text) <= high:
            return None, f"expected an {column.type}"
        return int(text), None
    if column.type in ("float", "double"):
        if not _NUMBER.fullmatch(text) or not math.isfinite(float(text)):
            return None, f"expected a {column.type}"
        return float(text), None
    if text.lower() in ("true", "false"):
        return text.lower() == "true", None
    return None, "expected a boolean (true or false)"


def format_value(column: Column, value: Any) -> str:
    """Return a value as its CSV cell: ``None`` empty, booleans ``true``/``false``, lists joined with ``|``.

    The inverse of :func:`parse_value` for values that pass it.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return CATEGORY_SEPARATOR.join(str(part) for part in value)
    if isinstance(value, float) and column.type in ("int", "long") and value.is_integer():
        return str(int(value))
    return str(value)


# --- Files ------------------------------------------------------------------------------------------------------

# How cells are quoted. The error-messages page (ERRORS_PAGE) asks for double quotes around text and "the \\
# character to escape any double quotes or \\ characters"; the reader also takes RFC 4180's doubled quotes. One
# record per line: a quoted cell cannot hold a line break.
_READ: Final[Mapping[str, Any]] = {"quotechar": '"', "escapechar": "\\", "doublequote": True, "strict": True}
_WRITE: Final[Mapping[str, Any]] = {"quotechar": '"', "escapechar": "\\", "doublequote": False, "lineterminator": "\n"}


def header_problems(schema_columns: Sequence[Column], header: Sequence[str]) -> list[str]:
    """Return what is wrong with a CSV's header row for a dataset with ``schema_columns`` (empty when it fits).

    Every non-nullable field needs its column; a nullable one may be left out; every column names a field, once;
    the columns follow the schema's order.
    """
    known = {column.name: index for index, column in enumerate(schema_columns)}
    problems = [f"column {name} is not a field of the schema" for name in header if name not in known]
    repeated = sorted({name for name in header if header.count(name) > 1})
    problems.extend(f"column {name} appears more than once" for name in repeated)
    missing = [column.name for column in schema_columns if not column.nullable and column.name not in header]
    if missing:
        # The service's wording (ERRORS_PAGE).
        problems.append(f"Input CSV is missing the following columns:[{', '.join(missing)}]")
    positions = [known[name] for name in header if name in known]
    if not problems and positions != sorted(positions):
        order = ", ".join(column.name for column in schema_columns)
        problems.append(f"the columns must follow the schema's order ({order})")
    return problems


def read_rows(
    schema_columns: Sequence[Column], text: str, *, source: str = "the CSV", max_problems: int = 10
) -> tuple[list[dict[str, Any]], list[str]]:
    """Parse one CSV file of bulk records against a schema.

    Parameters
    ----------
    schema_columns:
        The dataset schema's columns (:func:`columns`).
    text:
        The file's text (decoded from UTF-8 by the caller).
    source:
        How problems name the file (``s3://bucket/items.csv``).
    max_problems:
        Stop after this many problems.

    Returns
    -------
    tuple
        The rows, each a mapping of field name to typed value (an empty nullable cell is ``None``; a column the
        file leaves out is absent), and the problems found; the rows are complete only when there is none.
    """
    # Split on line feeds only (str.splitlines would also split inside values at \u2028 and the like); a BOM goes.
    lines = [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]
    if not lines or not lines[0].strip():
        return [], [f"{source}: the first line must be the header row of column names"]
    if '"' in lines[0]:
        return [], [f"{source}: header names must not be enclosed in quotation marks"]
    header = [name.strip() for name in lines[0].split(",")]
    problems = [f"{source}: {problem}" for problem in header_problems(schema_columns, header)]
    if problems:
        return [], problems
    by_name = {column.name: column for column in schema_columns}
    in_file = [by_name[name] for name in header]
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        row, found = _parse_line(in_file, line)
        problems.extend(f"{source} line {number}: {problem}" for problem in found)
        if len(problems) >= max_problems:
            return rows, problems[:max_problems]
        rows.append(row)
    return rows, problems


def _parse_line(in_file: Sequence[Column], line: str) -> tuple[dict[str, Any], list[str]]:
    """Parse one record's line into typed values; return them and the problems (naming columns only)."""
    try:
        cells = next(csv.reader([line], **_READ))
    except csv.Error:
        return {}, ["the line is not valid CSV (a record is one line; quote text and escape quotes with \\)"]
    if len(cells) != len(in_file):
        return {}, [f"expected {len(in_file)} values, found {len(cells)}"]
    row: dict[str, Any] = {}
    problems: list[str] = []
    for column, cell in zip(in_file, cells, strict=True):
        value, problem = parse_value(column, cell)
        if problem:
            problems.append(f"column {column.name}: {problem}")
        row[column.name] = value
    return row, problems


def write_rows(schema_columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], out: IO[str]) -> int:
    """Write a header row and ``rows`` (field name to value) as CSV that :func:`read_rows` reads back.

    Every column of the schema is written, in the schema's order; a field a row lacks is an empty cell. Returns the
    number of records written.
    """
    writer = csv.writer(out, **_WRITE)
    writer.writerow([column.name for column in schema_columns])
    count = 0
    for row in rows:
        writer.writerow([format_value(column, row.get(column.name)) for column in schema_columns])
        count += 1
    return count
