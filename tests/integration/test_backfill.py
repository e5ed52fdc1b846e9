"""The backfill command end to end, against moto's S3 and the Personalize emulator over loopback HTTP.

The command is run as a user runs it (``tools.backfill.cli.main`` with arguments; its clients find the stand-ins
through ``AWS_ENDPOINT_URL_*``), and what landed is read from the emulator: the records the import jobs loaded.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.emulator import EmulatorConfig, EmulatorServer
from tests.emulator.emulator_helpers import Setup, client_kwargs
from tests.integration.conftest import REGION
from tools.backfill.cli import build_parser, main, options_from_args
from tools.backfill.run import Options, run_backfill

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/PersonalizeImport"
# Tiny import delays: the command polls at POLL seconds.
IMPORT_DELAY = 0.1
POLL = "0.02"


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


@dataclass
class Backfill:
    """A world for one test: the emulator, moto's S3 with a fresh bucket, datasets, and a work directory."""

    emu: EmulatorServer
    personalize: Any
    s3: Any
    setup: Setup
    bucket: str
    workdir: Path

    def dataset(self, dataset_type: str = "Items") -> str:
        return self.setup.dataset(dataset_type)

    def jsonl(self, changes: list[Any], name: str = "changes.jsonl") -> Path:
        """Write changes (dicts are dumped; strings are written as they are) one per line."""
        path = self.workdir / name
        path.write_text("".join((c if isinstance(c, str) else json.dumps(c)) + "\n" for c in changes))
        return path

    def args(self, *extra: str, datasets: dict[str, str]) -> list[str]:
        """Command-line arguments: the datasets, this test's bucket and role, a fast poll, the rejects path."""
        dataset_args = [arg for kind, arn in datasets.items() for arg in ("--dataset", f"{kind}={arn}")]
        return [
            *dataset_args,
            "--import-location",
            f"s3://{self.bucket}/imports/",
            "--role-arn",
            ROLE,
            "--poll-seconds",
            POLL,
            "--rejects",
            str(self.rejects),
            *extra,
        ]

    @property
    def rejects(self) -> Path:
        return self.workdir / "rejects.jsonl"

    def rejected(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.rejects.read_text().splitlines()]

    def jobs(self, dataset: str) -> list[dict[str, Any]]:
        return list(self.personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"])

    def records(self, dataset: str) -> list[dict[str, Any]]:
        return list(self.emu.state.records(dataset))

    def objects(self) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return sorted(str(obj["Key"]) for obj in listed)


@pytest.fixture
def emulator(sqs_endpoint: str) -> Iterator[EmulatorServer]:
    """The emulator, reading import jobs' data from moto's server (which serves S3 as well as SQS)."""
    config = EmulatorConfig(
        create_delay=0.02,
        delete_delay=0.02,
        import_delay=IMPORT_DELAY,
        s3_endpoint_url=sqs_endpoint,
        min_import_interactions=1,
    )
    with EmulatorServer(port=0, config=config) as server:
        yield server


@pytest.fixture
def world(emulator: EmulatorServer, sqs_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backfill:
    """Clients for both stand-ins, a fresh bucket, and the endpoint variables that point the command at them."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_PERSONALIZE", emulator.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", sqs_endpoint)
    personalize = boto3.client("personalize", **client_kwargs(emulator.endpoint_url))
    s3 = boto3.client("s3", endpoint_url=sqs_endpoint, region_name=REGION)
    bucket = f"import-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    return Backfill(emulator, personalize, s3, Setup(personalize), bucket, tmp_path)


class CrashingClient:
    """A personalize client that dies at one call: before it is sent, or right after its answer."""

    def __init__(self, inner: Any, method: str, *, after: bool) -> None:
        self._inner = inner
        self._method = method
        self._after = after

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name != self._method:
            return attribute

        def crash(*args: Any, **kwargs: Any) -> Any:
            if self._after:
                attribute(*args, **kwargs)
            raise Crash(name)

        return crash


def options_of(args: list[str]) -> Options:
    """The options the command line would run with."""
    return options_from_args(build_parser().parse_args(args), boto3.session.Session())


def item(item_id: str, price: float = 9.5, **properties: Any) -> dict[str, Any]:
    return {"type": "item", "itemId": item_id, "properties": {"price": price, **properties}}


def event(user: str, item_id: str, sent_at: int = 1_763_805_600) -> dict[str, Any]:
    return {
        "type": "event",
        "sessionId": f"s-{user}",
        "userId": user,
        "eventType": "click",
        "itemId": item_id,
        "sentAt": sent_at,
    }


def sns(change: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": json.dumps(change)}


def landed(world: Backfill, dataset: str) -> dict[str, dict[str, Any]]:
    return {record["itemId"]: record for record in world.records(dataset)}


def test_a_backfill_validates_collapses_imports_and_rejects_with_reasons(world: Backfill) -> None:
    items, interactions = world.dataset("Items"), world.dataset("Interactions")
    changes = world.jsonl(
        [
            item("a", 1.0, genres=["horror", "comedy"]),
            sns(item("b", 2.0, description='says "hi", then \\ leaves')),
            item("a", 3.0),  # newer: replaces the first change to "a"
            "{not json",
            item("c", 1.0, colour="red"),  # no such field in the schema
            {"type": "item", "itemId": "null", "properties": {"price": 1}},
            event("u1", "a"),
            event("u2", "b"),
        ]
    )

    # The service wants 1,000 interactions per job (checked in test_bad_input...): lowered here, as in the emulator.
    args = [str(changes), *world.args(datasets={"item": items, "event": interactions})]
    options = dataclasses.replace(options_of(args), min_records=lambda dataset_type, mode: 1)
    report = run_backfill(options, personalize=world.personalize, s3=world.s3, progress=lambda line: None)

    assert report.exit_status == 1  # some lines were rejected
    assert {k: (r["properties"]) for k, r in landed(world, items).items()} == {
        "a": {"price": 3.0},
        "b": {"price": 2.0, "description": 'says "hi", then \\ leaves'},
    }
    assert sorted((e["userId"], e["itemId"], e["sentAt"]) for e in world.records(interactions)) == [
        ("u1", "a", 1_763_805_600),
        ("u2", "b", 1_763_805_600),
    ]
    rejected = world.rejected()
    assert [(r["lineNumber"], r["ErrorCode"]) for r in rejected] == [
        (4, "MalformedMessage"),
        (5, "SchemaViolation"),
        (6, "MalformedMessage"),
    ]
    assert rejected[0]["line"] == "{not json"
    assert all(r["ErrorMessage"] and r["source"] == str(changes) for r in rejected)
    (job,) = world.jobs(items)
    assert (job["status"], job["importMode"]) == ("ACTIVE", "FULL")
    assert job["jobName"].startswith("backfill-items-")
    assert len(world.jobs(interactions)) == 1


def test_changed_at_decides_the_newest_change_before_line_order(world: Backfill) -> None:
    items = world.dataset("Items")
    changes = world.jsonl(
        [
            {**item("a", 2.0), "changedAt": "2026-01-02T00:00:00Z"},
            {**item("a", 1.0), "changedAt": "2026-01-01T00:00:00Z"},  # a later line, an earlier change
            item("b", 1.0),
            item("b", 2.0),
        ]
    )

    assert main([str(changes), *world.args(datasets={"item": items})]) == 0

    assert {key: record["properties"]["price"] for key, record in landed(world, items).items()} == {"a": 2.0, "b": 2.0}


def test_a_rerun_of_the_same_input_creates_no_job_and_uploads_nothing(world: Backfill, capsys: Any) -> None:
    items = world.dataset("Items")
    changes = world.jsonl([item("a"), item("b")])
    args = [str(changes), *world.args(datasets={"item": items})]
    assert main(args) == 0
    capsys.readouterr()

    assert main([*args, "--json"]) == 0

    (job,) = world.jobs(items)
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["datasets"][0]["parts"][0]["jobArn"] == job["datasetImportJobArn"]
    assert "already uploaded" in err
    assert "found ACTIVE, not created again" in err


@pytest.mark.parametrize("after", [False, True], ids=["before-create", "after-create"])
def test_a_crash_around_job_creation_then_a_rerun_gives_one_job_and_every_record(world: Backfill, after: bool) -> None:
    items = world.dataset("Items")
    changes = world.jsonl([item(f"i{n}", float(n)) for n in range(50)])
    args = [str(changes), *world.args(datasets={"item": items})]
    options = options_of(args)
    crashing = CrashingClient(world.personalize, "create_dataset_import_job", after=after)

    with pytest.raises(Crash):
        run_backfill(options, personalize=crashing, s3=world.s3, progress=lambda line: None)
    assert len(world.jobs(items)) == (1 if after else 0)
    assert any(key.endswith("part-00001.csv") for key in world.objects())  # the upload happened before the crash

    assert main(args) == 0

    (job,) = world.jobs(items)
    assert job["status"] == "ACTIVE"
    assert set(landed(world, items)) == {f"i{n}" for n in range(50)}


def test_parts_over_the_size_limit_are_split_first_full_then_incremental(world: Backfill, capsys: Any) -> None:
    items = world.dataset("Items")
    changes = world.jsonl([item(f"item-{n:04d}", float(n)) for n in range(300)])

    status = main([str(changes), *world.args("--max-part-bytes", "2000", "--json", datasets={"item": items})])

    assert status == 0
    parts = json.loads(capsys.readouterr().out)["datasets"][0]["parts"]
    assert len(parts) > 3
    assert all(part["bytes"] <= 2000 and part["status"] == "ACTIVE" for part in parts)
    assert [part["importMode"] for part in parts] == ["FULL"] + ["INCREMENTAL"] * (len(parts) - 1)
    assert sum(part["records"] for part in parts) == 300
    assert len(landed(world, items)) == 300


def test_a_second_backfill_is_incremental_and_keeps_the_first(world: Backfill) -> None:
    items = world.dataset("Items")
    assert main([str(world.jsonl([item("a")], "one.jsonl")), *world.args(datasets={"item": items})]) == 0

    assert main([str(world.jsonl([item("b")], "two.jsonl")), *world.args(datasets={"item": items})]) == 0

    assert [job["importMode"] for job in world.jobs(items)] == ["FULL", "INCREMENTAL"]
    assert set(landed(world, items)) == {"a", "b"}


def test_mode_full_replaces_earlier_bulk_records(world: Backfill) -> None:
    items = world.dataset("Items")
    assert main([str(world.jsonl([item("a")], "one.jsonl")), *world.args(datasets={"item": items})]) == 0

    assert (
        main([str(world.jsonl([item("b")], "two.jsonl")), *world.args("--mode", "full", datasets={"item": items})]) == 0
    )

    assert set(landed(world, items)) == {"b"}


def test_gzip_and_s3_inputs_and_csv_for_a_named_dataset(world: Backfill) -> None:
    items, users = world.dataset("Items"), world.dataset("Users")
    world.s3.put_object(
        Bucket=world.bucket,
        Key="in/changes.jsonl.gz",
        Body=gzip.compress(b'{"type":"item","itemId":"z","properties":{"price":1}}\n'),
    )
    csv_path = world.workdir / "users.csv"
    csv_path.write_text('USER_ID,MEMBERSHIP_TYPE\nu1,gold\nu2,"silver|bronze"\nu1,platinum\n,gold\n')

    status = main(
        [
            f"s3://{world.bucket}/in/changes.jsonl.gz",
            "--csv",
            f"users={csv_path}",
            *world.args(datasets={"item": items, "user": users}),
        ]
    )

    assert status == 1  # the line without a USER_ID
    assert set(landed(world, items)) == {"z"}
    by_user = {r["userId"]: r["properties"] for r in world.records(users)}
    assert by_user == {"u1": {"membershipType": "platinum"}, "u2": {"membershipType": "silver|bronze"}}
    assert [(r["lineNumber"], r["ErrorCode"]) for r in world.rejected()] == [(5, "SchemaViolation")]


def test_dry_run_counts_and_uploads_nothing(world: Backfill, capsys: Any) -> None:
    items = world.dataset("Items")
    changes = world.jsonl([item("a"), item("a"), item("b"), "[]"])

    status = main([str(changes), *world.args("--dry-run", "--json", datasets={"item": items})])

    summary = json.loads(capsys.readouterr().out)
    assert status == 1
    assert (summary["records"], summary["rejected"]) == (4, 1)
    assert (summary["datasets"][0]["records"], summary["datasets"][0]["superseded"]) == (2, 1)
    assert world.objects() == []
    assert world.jobs(items) == []


def test_no_wait_starts_the_job_and_leaves_it_running(world: Backfill) -> None:
    items = world.dataset("Items")

    assert main([str(world.jsonl([item("a")])), *world.args("--no-wait", datasets={"item": items})]) == 0

    (job,) = world.jobs(items)
    assert job["status"] in {"CREATE PENDING", "CREATE IN_PROGRESS"}


def bad_header(world: Backfill) -> list[str]:
    path = world.workdir / "items.csv"
    path.write_text("ITEM_ID,COLOUR\na,red\n")
    return ["--csv", f"items={path}"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing-dataset", "does not exist"),
        ("wrong-type", "is a USERS dataset"),
        ("wrong-bucket", "bucket no-such-bucket-here does not exist"),
        ("csv-header", "the header does not fit"),
        ("few-interactions", "needs at least"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_uploaded(
    world: Backfill, capsys: Any, case: str, expected: str
) -> None:
    items = world.dataset("Items")
    datasets = {"item": items}
    extra: list[str] = []
    inputs = [str(world.jsonl([item("a")]))]
    if case == "missing-dataset":
        datasets = {"item": items.replace("dataset/", "dataset/gone-")}
    elif case == "wrong-type":
        datasets = {"item": world.dataset("Users")}
    elif case == "csv-header":
        inputs = bad_header(world)
    elif case == "few-interactions":
        datasets = {"event": world.dataset("Interactions")}
        inputs = [str(world.jsonl([event("u1", "a")]))]
    args = [*inputs, *world.args(*extra, datasets=datasets)]
    if case == "wrong-bucket":
        args[args.index("--import-location") + 1] = "s3://no-such-bucket-here/x/"
    status = main(args)  # few-interactions: the service's minimum applies, not the emulator's lowered one

    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) >= 1
    assert expected in err[-1]
    assert err[-1].startswith("backfill: error:")
    assert world.objects() == []
