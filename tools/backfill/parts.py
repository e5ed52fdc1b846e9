"""The CSV an import job reads: one dataset's rows split into parts within the service's per-job limits.

Rows are written with ``import_rules.write_rows`` (the rule the emulator reads with: the schema's columns in its
order, ``|``-joined categorical lists, text in double quotes with ``\\`` escapes, one record per line) into a
spool file, then cut into parts. Every part is a whole CSV file with its own header, at most ``max_bytes`` long:
by default 1 GB, the INCREMENTAL limit (``import_rules.MAX_IMPORT_BYTES``), so that any part can be imported in
either mode and a re-run cuts the same parts whatever mode it picks. An Interactions (or INCREMENTAL Action
interactions) job needs at least ``import_rules.min_records`` rows: the last part takes rows from the one before
it rather than fall short.

The same rows give the same bytes, so the same parts, so the same digests: what resumption relies on.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from import_rules import Column, write_rows
from tools.backfill.errors import BackfillError


@dataclass(frozen=True, slots=True)
class Part:
    """One part file, ready to upload: its number (from 1), path, size, record count and SHA-256."""

    number: int
    path: Path
    size: int
    records: int
    sha256: str


def csv_lines(schema_columns: Sequence[Column], rows: Iterable[Mapping[str, Any]]) -> tuple[bytes, Iterable[bytes]]:
    """Return the header line and an iterable of the rows' lines, as UTF-8 bytes (each ending in a line feed)."""
    buffer = io.StringIO()
    write_rows(schema_columns, [], buffer)
    header = buffer.getvalue()

    def lines() -> Iterable[bytes]:
        for row in rows:
            out = io.StringIO()
            write_rows(schema_columns, [row], out)
            yield out.getvalue()[len(header) :].encode("utf-8")

    return header.encode("utf-8"), lines()


def boundaries(sizes: Sequence[int], header: int, max_bytes: int, min_records: int) -> list[tuple[int, int]]:
    """Cut rows of the given sizes into parts: [(first, end), ...] of row indexes, each part (header included) at
    most ``max_bytes``; when there are enough rows, none with fewer than ``min_records``.

    Raises
    ------
    BackfillError
        One row alone (with the header) is larger than ``max_bytes``.
    """
    parts: list[tuple[int, int]] = []
    first, size = 0, header
    for index, row_size in enumerate(sizes):
        if header + row_size > max_bytes:
            raise BackfillError(f"row {index + 1} alone is over the {max_bytes} bytes a part may hold")
        if size + row_size > max_bytes and index > first:
            parts.append((first, index))
            first, size = index, header
        size += row_size
    if len(sizes) > first:
        parts.append((first, len(sizes)))
    if len(parts) > 1 and parts[-1][1] - parts[-1][0] < min_records:
        # Move rows from the part before into the last one. Rows are small next to a part's limit (an event is at
        # most 10 KB, 1,000 of them 10 MB against 1 GB), so both still fit; checked all the same.
        (before_first, _), (_, end) = parts[-2], parts[-1]
        cut = max(before_first + 1, end - min_records)
        parts[-2:] = [(before_first, cut), (cut, end)]
        if header + sum(sizes[cut:end]) > max_bytes:
            raise BackfillError(f"cannot cut parts of at least {min_records} records within {max_bytes} bytes")
    return parts


class Spool:
    """Rows written once to a local spool file, then cut into part files (in a temporary directory)."""

    def __init__(self, schema_columns: Sequence[Column], workdir: Path) -> None:
        self._columns = schema_columns
        self._dir = workdir
        self._path = workdir / "rows.csv"
        self._sizes: array[int] = array("Q")
        self.header = b""

    def write(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Write the rows; return how many."""
        self.header, lines = csv_lines(self._columns, rows)
        with self._path.open("wb") as out:
            for line in lines:
                out.write(line)
                self._sizes.append(len(line))
        return len(self._sizes)

    @property
    def records(self) -> int:
        """How many rows were written."""
        return len(self._sizes)

    def cut(self, *, max_bytes: int, min_records: int) -> list[Part]:
        """Write the part files and return them (no part when there are no rows)."""
        parts = []
        with self._path.open("rb") as spool:
            for number, (first, end) in enumerate(
                boundaries(self._sizes, len(self.header), max_bytes, min_records), start=1
            ):
                path = self._dir / f"part-{number:05d}.csv"
                digest = hashlib.sha256(self.header)
                with path.open("wb") as out:
                    out.write(self.header)
                    remaining = sum(self._sizes[first:end])
                    while remaining:
                        chunk = spool.read(min(remaining, 1 << 20))
                        digest.update(chunk)
                        out.write(chunk)
                        remaining -= len(chunk)
                parts.append(Part(number, path, os.path.getsize(path), end - first, digest.hexdigest()))
        return parts


def workdir() -> Path:
    """A fresh temporary directory for one run's spools and parts (the caller removes it with :func:`remove`)."""
    return Path(tempfile.mkdtemp(prefix="backfill-"))


def remove(path: Path) -> None:
    """Remove a run's temporary directory."""
    shutil.rmtree(path, ignore_errors=True)
