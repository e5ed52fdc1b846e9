"""The import location in S3: checking the bucket, uploading parts once, and the run's manifest.

A part is uploaded with one PutObject, so it is either wholly there or not at all; it carries its SHA-256 as user
metadata. A part already there with the same size and digest is not uploaded again: after a crash mid-upload a
re-run sends only the parts that are missing (or differ). The manifest (``manifest.json`` next to the parts) is the
run's record for people and for the next run: the inputs and their digests, the parts with their sizes, digests and
ETags, the mode each part is imported in, and the jobs created. It is rewritten after every step.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from botocore.exceptions import ClientError

from tools.backfill.errors import BackfillError
from tools.backfill.parts import Part

MANIFEST_VERSION: Final = 1
DIGEST_METADATA: Final = "sha256"


@dataclass(slots=True)
class PartRecord:
    """A part as the manifest holds it."""

    number: int
    key: str
    bytes: int
    records: int
    sha256: str
    import_mode: str
    etag: str | None = None
    job_name: str | None = None
    job_arn: str | None = None
    status: str | None = None
    failure_reason: str | None = None


@dataclass(slots=True)
class Manifest:
    """One dataset's share of a run: what was read, cut, uploaded and imported."""

    dataset_arn: str
    dataset_type: str
    key: str
    mode: str
    inputs: list[dict[str, str]]
    records: int
    superseded: int
    parts: list[PartRecord] = field(default_factory=list)
    version: int = MANIFEST_VERSION

    def to_json(self) -> str:
        """The manifest as JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Read a manifest written by :meth:`to_json`."""
        data = json.loads(text)
        data["parts"] = [PartRecord(**part) for part in data.get("parts", [])]
        return cls(**data)


def check_bucket(s3: Any, bucket: str) -> None:
    """Raise a one-line error unless the bucket exists and answers.

    Raises
    ------
    BackfillError
        The bucket does not exist, or access to it is denied.
    """
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise BackfillError(f"bucket {bucket} does not exist") from None
        if code in ("403", "AccessDenied", "Forbidden"):
            raise BackfillError(f"bucket {bucket}: access denied (a wrong bucket, or no access to it)") from None
        raise


def upload(s3: Any, bucket: str, key: str, part: Part) -> tuple[str, bool]:
    """Upload a part unless the same bytes are already there; return its ETag and whether it was uploaded."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) not in ("404", "NoSuchKey", "NotFound"):
            raise
    else:
        if int(head["ContentLength"]) == part.size and head.get("Metadata", {}).get(DIGEST_METADATA) == part.sha256:
            return str(head["ETag"]), False
    with part.path.open("rb") as body:
        put = s3.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="text/csv", Metadata={DIGEST_METADATA: part.sha256}
        )
    return str(put["ETag"]), True


def read_manifest(s3: Any, bucket: str, key: str) -> Manifest | None:
    """The manifest at ``key``, or None when there is none (or it cannot be read as one)."""
    try:
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    try:
        manifest = Manifest.from_json(text)
    except (ValueError, TypeError):
        return None
    return manifest if manifest.version == MANIFEST_VERSION else None


def write_manifest(s3: Any, bucket: str, key: str, manifest: Manifest) -> None:
    """Write (or replace) the manifest."""
    s3.put_object(Bucket=bucket, Key=key, Body=manifest.to_json().encode("utf-8"), ContentType="application/json")
