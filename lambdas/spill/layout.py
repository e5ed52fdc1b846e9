"""Where a spill keeps its work in the import bucket, under ``spill/<spillId>/``.

- ``<type>/parts/<chunk>.csv``: the rows one drained chunk wrote for a dataset (header included);
- ``index/<chunk>.json``: what the chunk did with every message it settled, written after its parts and dead
  letters and before its deletes. A chunk counts once its index exists; a part without one (a crash between the
  two) is ignored, and its messages, never deleted, come back and are drained again;
- ``progress.json``: rows written so far per dataset type (for the record minimum of interactions imports);
- ``<type>/import-<n>/<chunk>.csv``: the compacted rows an import job reads (a folder, at most 1 GB);
- ``<type>/compacted.json``: the folders, written last by the compaction.

Chunk names sort in the order the chunks were written (milliseconds, then a random tail).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Final

from botocore.exceptions import ClientError

ROOT: Final = "spill/"


def prefix(spill_id: str) -> str:
    """The spill's folder."""
    return f"{ROOT}{spill_id}/"


def chunk_name(now: float | None = None) -> str:
    """A new chunk's name: sortable by time, unique by its tail."""
    return f"{int((time.time() if now is None else now) * 1000):015d}-{uuid.uuid4().hex[:8]}"


def part_key(spill_id: str, dataset_type: str, chunk: str) -> str:
    return f"{prefix(spill_id)}{dataset_type.lower()}/parts/{chunk}.csv"


def index_key(spill_id: str, chunk: str) -> str:
    return f"{prefix(spill_id)}index/{chunk}.json"


def import_folder(spill_id: str, dataset_type: str, number: int) -> str:
    return f"{prefix(spill_id)}{dataset_type.lower()}/import-{number:03d}/"


def compacted_key(spill_id: str, dataset_type: str) -> str:
    return f"{prefix(spill_id)}{dataset_type.lower()}/compacted.json"


def progress_key(spill_id: str) -> str:
    return f"{prefix(spill_id)}progress.json"


def list_keys(s3: Any, bucket: str, folder: str) -> list[str]:
    """Every key under ``folder``, sorted."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
        keys.extend(str(obj["Key"]) for obj in page.get("Contents", []))
    return sorted(keys)


def read_json(s3: Any, bucket: str, key: str) -> Any | None:
    """The JSON object at ``key``, or None when there is none."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return json.loads(body)


def write_json(s3: Any, bucket: str, key: str, document: Any) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode(), ContentType="application/json")
