"""The command's inputs: local files or S3 objects, gzip-compressed or not, read line by line with a digest.

Two kinds of input:

- **changes**: JSON Lines, one message body per line, exactly as upstream teams publish them to the ingest queue
  (docs/contracts.md §1), envelopes included;
- **CSV** for one named dataset, in Personalize's bulk format (a header row of schema field names).

A file is gzip-compressed when it starts with gzip's magic bytes (whatever its name). Lines are split on line feeds
only (a trailing carriage return goes), and bytes that are not UTF-8 are kept as surrogate escapes, so such a line
reaches the decoder and is rejected there with the Lambda's own reason instead of stopping the run. The digest is
SHA-256 over the bytes as stored (compressed or not): it names the input in job names and in the manifest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from tools.backfill.errors import BackfillError

_GZIP_MAGIC: Final = b"\x1f\x8b"
CHANGES: Final = "changes"


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One input as the command line names it.

    Attributes
    ----------
    location:
        A local path or ``s3://bucket/key``.
    kind:
        ``CHANGES`` for JSON Lines of messages, else the name of the kind (``item``) whose dataset a CSV file
        holds rows of.
    """

    location: str
    kind: str = CHANGES

    @property
    def is_csv(self) -> bool:
        """Whether the input is Personalize-format CSV rather than JSON Lines of changes."""
        return self.kind != CHANGES


@dataclass(frozen=True, slots=True)
class Line:
    """One line of an input: where it comes from, its 1-based number, its text (line break removed)."""

    source: str
    number: int
    text: str


class _HashingReader(io.RawIOBase):
    """A raw stream that hashes and counts every byte read through it."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner
        self.digest = hashlib.sha256()
        self.size = 0

    def close(self) -> None:
        if not self.closed:
            self.inner.close()
        super().close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.inner.read(len(buffer))
        if not chunk:
            return 0
        self.digest.update(chunk)
        self.size += len(chunk)
        buffer[: len(chunk)] = chunk
        return len(chunk)


class OpenedInput:
    """An input opened for reading: iterate :meth:`lines`, then read :attr:`sha256` and :attr:`size`."""

    def __init__(self, spec: InputSpec, raw: Any) -> None:
        self.spec = spec
        self._reader = _HashingReader(raw)
        self._finished = False

    def lines(self) -> Iterator[Line]:
        """Yield every line; a gzip input is decompressed on the way."""
        buffered = io.BufferedReader(self._reader, buffer_size=1 << 20)
        compressed = buffered.peek(2)[:2] == _GZIP_MAGIC
        stream: IO[bytes] | gzip.GzipFile = gzip.GzipFile(fileobj=buffered) if compressed else buffered
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="\n")
        try:
            for number, raw_line in enumerate(text, start=1):
                yield Line(self.spec.location, number, raw_line.removesuffix("\n").removesuffix("\r"))
        except (OSError, EOFError) as error:  # a truncated or corrupt gzip stream
            raise BackfillError(f"{self.spec.location}: cannot be read ({error})") from None
        finally:
            text.close()
        self._finished = True

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the input's stored bytes (read :meth:`lines` to the end first)."""
        if not self._finished:
            raise RuntimeError("the digest is known once every line was read")
        return str(self._reader.digest.hexdigest())

    @property
    def size(self) -> int:
        """How many stored bytes were read."""
        return self._reader.size


def open_input(spec: InputSpec, s3: Any) -> OpenedInput:
    """Open a local file or an S3 object.

    Raises
    ------
    BackfillError
        The file or object does not exist or cannot be read.
    """
    if spec.location.startswith("s3://"):
        bucket, _, key = spec.location.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise BackfillError(f"{spec.location}: an S3 input is s3://bucket/key")
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "an error")
            raise BackfillError(f"{spec.location}: cannot be read (S3 answered {code})") from None
        except BotoCoreError as error:
            raise BackfillError(f"{spec.location}: cannot be read ({error})") from None
        return OpenedInput(spec, body)
    path = Path(spec.location)
    if not path.is_file():
        raise BackfillError(f"{spec.location}: no such file")
    try:
        return OpenedInput(spec, path.open("rb"))
    except OSError as error:
        raise BackfillError(f"{spec.location}: cannot be read ({error.strerror})") from None
