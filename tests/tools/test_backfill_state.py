"""The backfill's resumption state and plumbing: job names and attempts, modes, the manifest, skipping parts
already uploaded, reading inputs (gzip, digests, bytes that are not UTF-8), and the command line's names."""

from __future__ import annotations

import argparse
import gzip
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from bulk.jobs import attempt_name, latest_attempt
from bulk.targets import Destination
from tests.tools.conftest import CREDENTIALS, REGION
from tools.backfill.cli import kind_name
from tools.backfill.errors import BackfillError
from tools.backfill.inputs import InputSpec, open_input
from tools.backfill.jobs import JobRunner, base_name, plan_modes
from tools.backfill.parts import Part
from tools.backfill.run import run_key
from tools.backfill.store import Manifest, PartRecord, read_manifest, upload, write_manifest
from tools.backfill.targets import from_outputs

KEY = "0123456789abcdef" * 4
ARN = "arn:aws:personalize:us-east-1:123456789012:dataset/g/ITEMS"


def manifest(parts: int = 2, first_mode: str = "FULL") -> Manifest:
    modes = [first_mode] + ["INCREMENTAL"] * (parts - 1)
    return Manifest(
        dataset_arn=ARN,
        dataset_type="ACTION_INTERACTIONS",
        key=KEY,
        mode="auto",
        inputs=[{"source": "a.jsonl", "kind": "changes", "sha256": "ab" * 32}],
        records=10,
        superseded=1,
        parts=[PartRecord(n, f"p/part-{n:05d}.csv", 100, 5, "cd" * 32, mode) for n, mode in enumerate(modes, 1)],
    )


def test_job_names_are_deterministic_and_fit_the_model() -> None:
    name = base_name("ACTION_INTERACTIONS", KEY, 12)

    assert name == "backfill-action-interactions-0123456789ab-00012"
    assert len(attempt_name(name, 99)) <= 63
    assert attempt_name(name, 1) == name
    assert attempt_name(name, 3) == f"{name}-r3"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([], 0),
        (["b"], 1),
        (["b", "b-r2"], 2),
        (["b-r2", "b", "b-r3"], 3),
        (["b-r2x", "bb", "b-rr"], 0),
    ],
)
def test_latest_attempt_finds_the_highest_retry_of_a_part(names: list[str], expected: int) -> None:
    jobs = {name: {"jobName": name, "status": "ACTIVE"} for name in names}

    attempt, summary = latest_attempt(jobs, "b")

    assert attempt == expected
    assert (summary or {}).get("jobName") == (attempt_name("b", expected) if expected else None)


@pytest.mark.parametrize(
    ("option", "imported_before", "expected"),
    [
        ("auto", False, ["FULL", "INCREMENTAL", "INCREMENTAL"]),
        ("auto", True, ["INCREMENTAL"] * 3),
        ("full", True, ["FULL", "INCREMENTAL", "INCREMENTAL"]),
        ("incremental", True, ["INCREMENTAL"] * 3),
    ],
)
def test_only_the_first_part_may_be_full(option: str, imported_before: bool, expected: list[str]) -> None:
    assert plan_modes(option, 3, imported_before) == expected


def test_incremental_before_any_bulk_import_is_bad_input() -> None:
    with pytest.raises(BackfillError, match="first must be FULL"):
        plan_modes("incremental", 1, imported_before=False)


def runner(parts: Manifest) -> tuple[JobRunner, list[str]]:
    notes: list[str] = []
    destination = Destination("bucket", "backfill/", "arn:aws:iam::123456789012:role/r")
    return JobRunner(None, parts, destination, notify=notes.append, on_change=lambda: None), notes


def test_adopting_takes_running_and_active_jobs_and_retries_a_failed_one_under_a_new_name() -> None:
    state = manifest(parts=3)
    job_runner, notes = runner(state)
    first, second = base_name(state.dataset_type, KEY, 1), base_name(state.dataset_type, KEY, 2)
    jobs = {
        first: {"jobName": first, "status": "ACTIVE", "datasetImportJobArn": "arn:job/1"},
        second: {"jobName": second, "status": "CREATE FAILED", "failureReason": "no access"},
    }

    job_runner.adopt(jobs)

    assert [(p.job_name, p.job_arn, p.status) for p in state.parts] == [
        (first, "arn:job/1", "ACTIVE"),
        (f"{second}-r2", None, None),
        (base_name(state.dataset_type, KEY, 3), None, None),
    ]
    assert any("had failed (no access)" in note for note in notes)
    assert [job_runner.can_start(p) for p in state.parts] == [False, True, True]


def test_parts_after_a_full_first_part_wait_until_it_is_active() -> None:
    state = manifest(parts=2)
    job_runner, _ = runner(state)
    job_runner.adopt({})

    assert [job_runner.can_start(p) for p in state.parts] == [True, False]
    state.parts[0].job_arn, state.parts[0].status = "arn:job/1", "CREATE IN_PROGRESS"
    assert not job_runner.can_start(state.parts[1])
    state.parts[0].status = "CREATE FAILED"
    assert job_runner.done  # the others cannot start: the run ends and reports it
    state.parts[0].status = "ACTIVE"
    assert job_runner.can_start(state.parts[1])
    assert not job_runner.done


def test_the_manifest_reads_back() -> None:
    state = manifest()
    state.parts[0].etag, state.parts[0].job_arn = '"etag"', "arn:job/1"

    assert Manifest.from_json(state.to_json()) == state


def test_the_run_key_names_inputs_dataset_and_the_options_that_shape_parts() -> None:
    inputs = [{"source": "a", "kind": "changes", "sha256": "1" * 64}]
    key = run_key(inputs, ARN, "auto", 1000)

    assert run_key(list(inputs), ARN, "auto", 1000) == key
    assert run_key([{**inputs[0], "sha256": "2" * 64}], ARN, "auto", 1000) != key
    assert run_key(inputs, ARN + "2", "auto", 1000) != key
    assert run_key(inputs, ARN, "full", 1000) != key
    assert run_key(inputs, ARN, "auto", 999) != key


@pytest.fixture
def s3(sqs_endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=sqs_endpoint, region_name=REGION, **CREDENTIALS)


def test_a_part_already_uploaded_with_the_same_digest_is_not_sent_again(s3: Any, tmp_path: Path) -> None:
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    path = tmp_path / "part.csv"
    path.write_bytes(b"ITEM_ID\na\n")
    part = Part(1, path, 10, 1, "e" * 64)

    etag, sent = upload(s3, bucket, "p/part-00001.csv", part)
    again, sent_again = upload(s3, bucket, "p/part-00001.csv", part)
    changed, sent_changed = upload(s3, bucket, "p/part-00001.csv", Part(1, path, 10, 1, "f" * 64))

    assert (sent, sent_again, sent_changed) == (True, False, True)
    assert etag == again == changed


def test_a_manifest_is_stored_and_a_missing_one_is_none(s3: Any) -> None:
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    assert read_manifest(s3, bucket, "x/manifest.json") is None

    write_manifest(s3, bucket, "x/manifest.json", manifest())

    assert read_manifest(s3, bucket, "x/manifest.json") == manifest()


def test_inputs_are_read_line_by_line_with_a_digest_gzip_or_not(tmp_path: Path, s3: Any) -> None:
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(b'{"a":1}\r\n\n\xff{"b":2}\n{"c":3}')
    packed = tmp_path / "a.data"
    packed.write_bytes(gzip.compress(plain.read_bytes()))

    for path in (plain, packed):
        opened = open_input(InputSpec(str(path)), s3)
        lines = [(line.number, line.text) for line in opened.lines()]
        assert lines == [(1, '{"a":1}'), (2, ""), (3, '\udcff{"b":2}'), (4, '{"c":3}')]
        assert opened.size == path.stat().st_size
        assert len(opened.sha256) == 64


def test_a_missing_input_is_bad_input(tmp_path: Path, s3: Any) -> None:
    with pytest.raises(BackfillError, match="no such file"):
        open_input(InputSpec(str(tmp_path / "missing.jsonl")), s3)
    with pytest.raises(BackfillError, match="cannot be read"):
        open_input(InputSpec("s3://no-such-bucket-anywhere/x.jsonl"), s3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("item", "item"),
        ("items", "item"),
        ("ACTION_INTERACTIONS", "actionInteraction"),
        ("interactions", "event"),
        ("actionInteraction", "actionInteraction"),
    ],
)
def test_kinds_are_named_as_messages_config_or_dataset_types_name_them(text: str, expected: str) -> None:
    assert kind_name(text) == expected


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a dataset kind"):
        kind_name("widgets")


def test_an_import_location_is_a_bucket_and_a_prefix() -> None:
    assert Destination.parse("s3://bucket", None) == Destination("bucket", "", None)
    assert Destination.parse("s3://bucket/a/b", "r").url("a/b/x") == "s3://bucket/a/b/x"
    assert Destination.parse("s3://bucket/a/b", "r").prefix == "a/b/"
    with pytest.raises(BackfillError):
        Destination.parse("bucket/a", None)


def test_the_stack_outputs_name_datasets_bucket_and_role() -> None:
    outputs = {
        "ImportBucketName": "imports-bucket",
        "ImportRoleArn": "arn:aws:iam::1:role/r",
        "ItemDatasetArn": "arn:items",
        "ActionInteractionDatasetArn": "arn:ai",
        "IngestQueueUrl": "https://sqs",
    }

    datasets, destination = from_outputs(outputs, "stack")

    assert datasets == {"item": "arn:items", "actionInteraction": "arn:ai"}
    assert destination == Destination("imports-bucket", "backfill/", "arn:aws:iam::1:role/r")
    with pytest.raises(BackfillError, match="no ImportBucketName output"):
        from_outputs({"ItemDatasetArn": "arn:items"}, "stack")
