"""Reading a dataset import job's data from S3: the object at ``dataLocation``, or every object of a folder.

The emulator reads from the S3-compatible endpoint it is given (``s3_endpoint_url``: moto's server on loopback,
as a user's own stand-in for S3), with dummy credentials; it never reads the real S3. What the service would read
through the job's IAM role, the emulator reads directly: it cannot evaluate IAM.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# s3://bucket/key or s3://bucket/folder/ (the error-messages page's "Invalid Data location" asks for this syntax).
_LOCATION: Final = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<key>.*)")
# "Insufficient privileges for accessing data in Amazon S3": the service's wording (error-messages page).
ACCESS_DENIED: Final = "Insufficient privileges for accessing data in Amazon S3."
# moto accepts any credentials; fixed dummy ones keep real credentials from the environment away from a stand-in.
_DUMMY_ACCESS_KEY_ID: Final = "testing"
_DUMMY_SECRET_ACCESS_KEY: Final = "testing"  # noqa: S105 - not a secret: moto's documented dummy value


class SourceError(Exception):
    """The data cannot be read; the message is the job's failure reason (after the dataset-type prefix)."""


@dataclass(frozen=True)
class Location:
    """Where a job's data is: one object, or the objects of a folder (a key ending in ``/``, or none)."""

    bucket: str
    key: str

    @property
    def folder(self) -> bool:
        """Whether the location names a folder rather than one object."""
        return self.key == "" or self.key.endswith("/")

    def url(self, key: str | None = None) -> str:
        """Return ``s3://bucket/key`` (of the location, or of one of its objects)."""
        return f"s3://{self.bucket}/{self.key if key is None else key}"


def parse_location(text: str) -> Location | None:
    """Return the location ``s3://bucket/key`` names, or ``None`` when it is not of that form."""
    match = _LOCATION.fullmatch(text)
    return Location(match["bucket"], match["key"]) if match else None


# boto3's default session is not safe to create clients from in several threads at once; a client, once made, is.
_CLIENTS_LOCK: Final = threading.Lock()


def s3_client(endpoint_url: str, region: str) -> Any:
    """Return a client for the S3 stand-in at ``endpoint_url`` (path-style addressing, dummy credentials)."""
    with _CLIENTS_LOCK:
        return _client(endpoint_url, region)


@cache
def _client(endpoint_url: str, region: str) -> Any:
    """Create the client :func:`s3_client` hands out (once per endpoint and region)."""
    config = Config(
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 2, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=config,
        aws_access_key_id=_DUMMY_ACCESS_KEY_ID,
        aws_secret_access_key=_DUMMY_SECRET_ACCESS_KEY,
    )


def list_objects(client: Any, location: Location) -> list[tuple[str, int]]:
    """Return the (key, size) of the objects a location names: the object itself, or a folder's objects.

    A folder's objects are those directly in it: the model documents sub folders for data deletion jobs only.

    Raises
    ------
    SourceError
        If the bucket or the object does not exist, access is refused, or the endpoint cannot be reached.
    """
    try:
        if not location.folder:
            return [(location.key, _object_size(client, location))]
        found: list[tuple[str, int]] = []
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=location.bucket, Prefix=location.key, Delimiter="/"):
            found.extend(
                (obj["Key"], int(obj["Size"])) for obj in page.get("Contents", []) if obj["Key"] != location.key
            )
    except ClientError as exc:
        raise SourceError(_client_error(exc, location)) from exc
    except BotoCoreError as exc:
        raise SourceError(f"Amazon S3 could not be reached: {exc}") from exc
    if not found:
        raise SourceError(f"No data files found at {location.url()}.")
    return found


def _object_size(client: Any, location: Location) -> int:
    """Return the size of the object a location names (HEAD answers a bare 404: ask the bucket which is missing)."""
    try:
        return int(client.head_object(Bucket=location.bucket, Key=location.key)["ContentLength"])
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) not in ("404", "NotFound"):
            raise
        client.head_bucket(Bucket=location.bucket)  # a missing bucket raises here: 404 too, then NoSuchBucket
        raise


def read_object(client: Any, location: Location, key: str) -> bytes:
    """Return the bytes of one object of the location.

    Raises
    ------
    SourceError
        As :func:`list_objects`.
    """
    try:
        body: bytes = client.get_object(Bucket=location.bucket, Key=key)["Body"].read()
    except ClientError as exc:
        raise SourceError(_client_error(exc, location)) from exc
    except BotoCoreError as exc:
        raise SourceError(f"Amazon S3 could not be reached: {exc}") from exc
    return body


def _client_error(exc: ClientError, location: Location) -> str:
    """Return the failure reason of an S3 error (only access denial has a documented wording)."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in ("AccessDenied", "403", "Forbidden"):
        return ACCESS_DENIED
    if code == "NoSuchBucket" or (code in ("404", "NotFound") and exc.operation_name == "HeadBucket"):
        return f"The bucket {location.bucket} does not exist."
    if code in ("NoSuchKey", "404", "NotFound"):
        return f"No data file found at {location.url()}."
    return f"Amazon S3 answered {code or 'an error'} for {location.url()}."
