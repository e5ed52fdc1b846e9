"""Dataset import jobs against moto's S3 server over loopback: lifecycle, CSV checks, modes, limits, delete order.

The emulator reads each job's CSV from moto's server (the stand-in for S3 a user would run) and is driven through
boto3 and the AWS CLI over HTTP. Statuses are checked on the manual clock: a job created at t is CREATE PENDING
until t + import_delay/2, CREATE IN_PROGRESS until t + import_delay, then ACTIVE or CREATE FAILED.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

import import_rules
from local.emulator import EmulatorConfig, EmulatorServer
from local.emulator.__main__ import config_from_args, parse_args
from local.sqs_server import SqsServer
from tests.emulator.emulator_helpers import CREDENTIALS, REGION, SCHEMA_FIELDS, ManualClock, Setup, aws_cli

ROLE = "arn:aws:iam::123456789012:role/PersonalizeS3Access"
DELAY = 1.0


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's server on loopback (it serves S3 as well as SQS), for the whole module."""
    with SqsServer(port=0) as server:
        yield server.endpoint_url


@pytest.fixture
def emulator_config(s3_endpoint: str) -> EmulatorConfig:
    """Fast resources, import jobs that take DELAY seconds, and moto's S3."""
    return EmulatorConfig(create_delay=0.02, delete_delay=0.02, import_delay=DELAY, s3_endpoint_url=s3_endpoint)


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    """A plain S3 client for moto's server."""
    keys = CREDENTIALS
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=keys["aws_access_key_id"],
        aws_secret_access_key=keys["aws_secret_access_key"],
    )


def new_bucket(s3: Any) -> str:
    """Create a bucket with a fresh name; return the name."""
    name = f"bulk-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh bucket."""
    return new_bucket(s3)


@dataclass
class World:
    """What an import test works with: the emulator on the manual clock, its clients, and a bucket on moto."""

    emu: EmulatorServer
    personalize: Any
    setup: Setup
    clock: ManualClock
    s3: Any
    bucket: str

    def __iter__(self) -> Iterator[Any]:
        """Unpack as ``emu, personalize, setup, clock, s3, bucket = world``."""
        return iter((self.emu, self.personalize, self.setup, self.clock, self.s3, self.bucket))


@pytest.fixture
def world(emu: EmulatorServer, personalize: Any, setup: Setup, clock: ManualClock, s3: Any) -> World:
    """The emulator on the manual clock, with its clients and a fresh bucket."""
    return World(emu, personalize, setup, clock, s3, new_bucket(s3))


def items_csv(rows: list[dict[str, Any]], fields: list[dict[str, Any]] | None = None) -> str:
    """Return Items rows as the backfill command would write them."""
    out = io.StringIO()
    import_rules.write_rows(import_rules.columns({"fields": fields or SCHEMA_FIELDS["Items"]}), rows, out)
    return out.getvalue()


def item(item_id: str, price: float = 9.5, **extra: Any) -> dict[str, Any]:
    return {"ITEM_ID": item_id, "PRICE": price, **extra}


def put(s3: Any, bucket: str, key: str, text: str | bytes) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode() if isinstance(text, str) else text)
    return f"s3://{bucket}/{key}"


def start(personalize: Any, dataset: str, location: str, name: str | None = None, **extra: Any) -> str:
    created = personalize.create_dataset_import_job(
        jobName=name or f"job-{uuid.uuid4().hex[:8]}",
        datasetArn=dataset,
        dataSource={"dataLocation": location},
        roleArn=ROLE,
        **extra,
    )
    return str(created["datasetImportJobArn"])


def describe(personalize: Any, job: str) -> dict[str, Any]:
    return dict(personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"])


def finish(personalize: Any, clock: ManualClock, job: str) -> dict[str, Any]:
    """Move the clock past the job's end and return its description."""
    clock.advance(DELAY + 0.001)
    return describe(personalize, job)


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def by_id(emu: EmulatorServer, dataset: str) -> dict[str, dict[str, Any]]:
    return {record["itemId"]: record for record in emu.state.records(dataset)}


def test_a_job_goes_pending_in_progress_active_and_its_rows_land_typed(world: World) -> None:
    emu, personalize, setup, clock, s3, bucket = world
    dataset = setup.dataset("Items")
    rows = [item("a", 1.5, GENRES="horror|comedy", NUMBER_OF_RATINGS=7, IN_STOCK=True), item("b", DESCRIPTION='a "q"')]
    job = start(personalize, dataset, put(s3, bucket, "items.csv", items_csv(rows)), name="first-import")

    assert describe(personalize, job)["status"] == "CREATE PENDING"
    assert emu.state.records(dataset) == []
    clock.advance(DELAY / 2)
    assert describe(personalize, job)["status"] == "CREATE IN_PROGRESS"
    described = finish(personalize, clock, job)

    assert described["status"] == "ACTIVE"
    assert described["jobName"] == "first-import"
    assert job.endswith(":dataset-import-job/first-import")
    assert described["datasetArn"] == dataset
    assert described["dataSource"] == {"dataLocation": f"s3://{bucket}/items.csv"}
    assert described["roleArn"] == ROLE
    assert described["importMode"] == "FULL"
    assert described["publishAttributionMetricsToS3"] is False
    assert "failureReason" not in described
    landed = by_id(emu, dataset)
    assert landed["a"]["properties"] == {"price": 1.5, "genres": "horror|comedy", "numberOfRatings": 7, "inStock": True}
    assert landed["b"]["properties"] == {"price": 9.5, "description": 'a "q"'}
    assert {record["importJobArn"] for record in landed.values()} == {job}


def test_a_folder_location_reads_every_file_directly_in_it(world: World) -> None:
    emu, personalize, setup, clock, s3, bucket = world
    dataset = setup.dataset("Items")
    put(s3, bucket, "bulk/part-1.csv", items_csv([item("a")]))
    put(s3, bucket, "bulk/part-2.csv", items_csv([item("b")]))
    put(s3, bucket, "bulk/older/part-0.csv", items_csv([item("old")]))
    job = start(personalize, dataset, f"s3://{bucket}/bulk/")

    assert finish(personalize, clock, job)["status"] == "ACTIVE"
    assert set(by_id(emu, dataset)) == {"a", "b"}


def bad(text: str) -> str:
    """An Items file whose second line breaks a rule."""
    return f"ITEM_ID,PRICE\n{text}\n"


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        pytest.param("missing.csv", None, "No data file found at s3://", id="no-object"),
        pytest.param("x.csv", bad("a,cheap"), "line 2: column PRICE: expected a float", id="bad-value"),
        pytest.param("x.csv", bad("a"), "line 2: expected 2 values, found 1", id="short-row"),
        pytest.param("x.csv", "ITEM_ID,GENRES\na,x\n", "Input CSV is missing the following columns:[PRICE]", id="col"),
        pytest.param("x.csv", '"ITEM_ID","PRICE"\na,1\n', "must not be enclosed in quotation marks", id="quoted"),
        pytest.param("x.csv", "ITEM_ID,PRICE,COLOUR\na,1,red\n", "column COLOUR is not a field", id="unknown"),
        pytest.param("x.csv", "PRICE,ITEM_ID\n1,a\n", "the columns must follow the schema's order", id="order"),
        pytest.param("x.csv", bad(f"{'i' * 257},1"), "Length cannot be more than 256 characters for ITEM_ID", id="id"),
        pytest.param("x.csv", bad('a,"1\nb,2'), "line 2: the line is not valid CSV", id="two-line-record"),
        pytest.param("x.csv", b"ITEM_ID,PRICE\n\xff,1\n", "is not UTF-8 encoded text", id="not-utf8"),
        pytest.param("x.csv", "", "the first line must be the header row", id="empty"),
    ],
)
def test_data_that_breaks_a_rule_fails_the_whole_job_with_a_reason(
    world: World, key: str, body: str | bytes | None, reason: str
) -> None:
    emu, personalize, setup, clock, s3, bucket = world
    dataset = setup.dataset("Items")
    good = put(s3, bucket, "good.csv", items_csv([item("kept")]))
    assert finish(personalize, clock, start(personalize, dataset, good))["status"] == "ACTIVE"
    location = put(s3, bucket, key, body) if body is not None else f"s3://{bucket}/{key}"
    job = start(personalize, dataset, location)

    assert describe(personalize, job)["status"] == "CREATE PENDING"
    described = finish(personalize, clock, job)

    assert described["status"] == "CREATE FAILED"
    assert described["failureReason"].startswith("Failed to create a data import job for ITEMS dataset.")
    assert reason in described["failureReason"]
    assert set(by_id(emu, dataset)) == {"kept"}  # a failed FULL import replaces nothing
    summary = personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"][-1]
    assert summary["failureReason"] == described["failureReason"]


def test_a_missing_bucket_or_no_s3_endpoint_fails_the_job(
    emu: EmulatorServer, personalize: Any, setup: Setup, clock: ManualClock
) -> None:
    dataset = setup.dataset("Items")
    job = start(personalize, dataset, f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/items.csv")
    assert "does not exist" in finish(personalize, clock, job)["failureReason"]

    emu.configure(s3_endpoint_url=None)
    job = start(personalize, dataset, "s3://any-bucket/items.csv")
    assert "no S3 endpoint" in finish(personalize, clock, job)["failureReason"]


def test_a_job_whose_name_matches_fail_create_fails_without_reading_s3(
    emu: EmulatorServer, personalize: Any, setup: Setup, clock: ManualClock
) -> None:
    dataset = setup.dataset("Items")
    emu.configure(fail_create="doomed", failure_reason="planned failure")
    job = start(personalize, dataset, "s3://nowhere-at-all/items.csv", name="doomed-import")
    clock.advance(DELAY / 2)
    assert describe(personalize, job)["status"] == "CREATE IN_PROGRESS"
    assert finish(personalize, clock, job)["failureReason"] == "planned failure"


def test_full_replaces_earlier_bulk_records_but_keeps_individual_ones_and_incremental_adds(
    world: World, events: Any
) -> None:
    emu, personalize, setup, clock, s3, bucket = world
    dataset = setup.dataset("Items")
    first = put(s3, bucket, "1.csv", items_csv([item("a", 1.0), item("b", 1.0)]))
    assert finish(personalize, clock, start(personalize, dataset, first))["status"] == "ACTIVE"
    events.put_items(datasetArn=dataset, items=[{"itemId": "put", "properties": json.dumps({"price": 5})}])
    clock.advance(1)
    events.put_items(datasetArn=dataset, items=[{"itemId": "a", "properties": json.dumps({"price": 7})}])

    assert by_id(emu, dataset)["a"]["properties"] == {"price": 7}  # the newer individual record wins
    second = put(s3, bucket, "2.csv", items_csv([item("c", 2.0)]))
    full = start(personalize, dataset, second, importMode="FULL")
    assert finish(personalize, clock, full)["importMode"] == "FULL"
    landed = by_id(emu, dataset)
    assert set(landed) == {"a", "put", "c"}  # b (bulk) is gone; a and put (individual) stay
    assert "importJobArn" not in landed["a"]

    third = put(s3, bucket, "3.csv", items_csv([item("a", 3.0), item("d", 3.0)]))
    incremental = start(personalize, dataset, third, importMode="INCREMENTAL")
    assert finish(personalize, clock, incremental)["status"] == "ACTIVE"
    landed = by_id(emu, dataset)
    assert set(landed) == {"a", "put", "c", "d"}
    assert landed["a"]["properties"] == {"price": 3.0}  # the newer bulk record replaces the same id
    assert landed["a"]["importJobArn"] == incremental


def test_incremental_is_refused_before_a_first_bulk_import(
    personalize: Any, setup: Setup, clock: ManualClock, s3: Any, bucket: str
) -> None:
    dataset = setup.dataset("Items")
    location = put(s3, bucket, "items.csv", items_csv([item("a")]))
    with pytest.raises(ClientError) as info:
        start(personalize, dataset, location, importMode="INCREMENTAL")
    assert error_code(info) == "InvalidInputException"
    assert "importMode FULL" in str(info.value)

    full = start(personalize, dataset, location)
    with pytest.raises(ClientError):  # still running: no bulk records yet
        start(personalize, dataset, location, importMode="INCREMENTAL")
    finish(personalize, clock, full)
    start(personalize, dataset, location, importMode="INCREMENTAL")


def test_interaction_imports_need_1000_records_and_land_as_events(world: World) -> None:
    emu, personalize, setup, clock, s3, bucket = world
    dataset = setup.dataset("Interactions")
    interactions = import_rules.columns({"fields": SCHEMA_FIELDS["Interactions"]})

    def upload(key: str, count: int) -> str:
        rows = [
            {"USER_ID": f"u{n % 30}", "ITEM_ID": f"i{n}", "TIMESTAMP": 1_700_000_000 + n, "EVENT_TYPE": "click"}
            for n in range(count)
        ]
        rows[0]["DEVICE"] = "phone"
        out = io.StringIO()
        import_rules.write_rows(interactions, rows, out)
        return put(s3, bucket, key, out.getvalue())

    too_few = finish(personalize, clock, start(personalize, dataset, upload("999.csv", 999)))
    assert "holds 999 records; an import job needs at least 1000" in too_few["failureReason"]
    job = start(personalize, dataset, upload("1000.csv", 1000))

    assert finish(personalize, clock, job)["status"] == "ACTIVE"
    landed = emu.state.records(dataset)
    assert len(landed) == 1000
    assert {k: v for k, v in landed[0].items() if k != "receivedAt"} == {
        "userId": "u0",
        "itemId": "i0",
        "sentAt": 1_700_000_000,
        "eventType": "click",
        "properties": {"device": "phone"},
        "importJobArn": job,
    }


def test_job_names_are_unique_in_the_region(personalize: Any, setup: Setup, s3: Any, bucket: str) -> None:
    dataset = setup.dataset("Items")
    location = put(s3, bucket, "items.csv", items_csv([item("a")]))
    start(personalize, dataset, location, name="nightly")
    with pytest.raises(ClientError) as info:
        start(personalize, setup.dataset("Users"), location, name="nightly")
    assert error_code(info) == "ResourceAlreadyExistsException"


def test_at_most_five_jobs_run_at_once_in_a_region(
    personalize: Any, setup: Setup, clock: ManualClock, s3: Any, bucket: str
) -> None:
    datasets = [setup.dataset("Items"), setup.dataset("Users")]
    location = put(s3, bucket, "items.csv", items_csv([item("a")]))
    jobs = [start(personalize, datasets[n % 2], location) for n in range(import_rules.MAX_PENDING_IMPORT_JOBS)]
    with pytest.raises(ClientError) as info:
        start(personalize, datasets[0], location)
    assert error_code(info) == "LimitExceededException"
    assert "More than 5 resources with PENDING or IN_PROGRESS status." in str(info.value)

    assert finish(personalize, clock, jobs[0])["status"] in ("ACTIVE", "CREATE FAILED")
    start(personalize, datasets[0], location)


def test_a_dataset_cannot_be_deleted_while_an_import_job_on_it_runs(world: World) -> None:
    emu, personalize, setup, clock, s3, bucket = world
    dataset = setup.dataset("Items")
    job = start(personalize, dataset, put(s3, bucket, "items.csv", items_csv([item("a")])))
    for _ in range(2):
        with pytest.raises(ClientError) as info:
            personalize.delete_dataset(datasetArn=dataset)
        assert error_code(info) == "ResourceInUseException"
        assert job in str(info.value)
        clock.advance(DELAY / 2 - 0.01)

    finish(personalize, clock, job)
    personalize.delete_dataset(datasetArn=dataset)
    setup.wait_gone(setup.describe_dataset, dataset)
    assert personalize.list_dataset_import_jobs()["datasetImportJobs"] == []
    assert emu.state.stats()["resources"]["datasetImportJobs"] == 0


def test_list_pages_and_filters_by_dataset(
    personalize: Any, setup: Setup, clock: ManualClock, s3: Any, bucket: str
) -> None:
    items, users = setup.dataset("Items"), setup.dataset("Users")
    location = put(s3, bucket, "items.csv", items_csv([item("a")]))
    mine = [start(personalize, items, location, name=f"items-{n}") for n in range(3)]
    start(personalize, users, location, name="users-0")

    first = personalize.list_dataset_import_jobs(datasetArn=items, maxResults=2)
    second = personalize.list_dataset_import_jobs(datasetArn=items, maxResults=2, nextToken=first["nextToken"])

    listed = first["datasetImportJobs"] + second["datasetImportJobs"]
    assert [job["datasetImportJobArn"] for job in listed] == mine
    assert "nextToken" not in second
    assert {job["status"] for job in listed} == {"CREATE PENDING"}
    assert set(listed[0]) >= {"jobName", "creationDateTime", "lastUpdatedDateTime", "importMode"}
    assert len(personalize.list_dataset_import_jobs()["datasetImportJobs"]) == 4
    with pytest.raises(ClientError) as info:
        personalize.list_dataset_import_jobs(nextToken="not-a-token")
    assert error_code(info) == "InvalidNextTokenException"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param({"dataSource": {"dataLocation": "https://example.com/items.csv"}}, "InvalidInputException"),
        pytest.param({"dataSource": {"dataLocation": "s3:/bucket"}}, "InvalidInputException", id="not-s3-syntax"),
        pytest.param({"roleArn": "arn:aws:iam::123456789012:user/someone"}, "InvalidInputException", id="not-a-role"),
        pytest.param({"importMode": "PARTIAL"}, "InvalidInputException", id="mode"),
        pytest.param({"jobName": "-starts-with-dash"}, "InvalidInputException", id="name"),
        pytest.param({"datasetArn": "arn:aws:personalize:us-east-1:123456789012:dataset/x/ITEMS"}, "ResourceNotFound"),
        pytest.param({"tags": [{"tagKey": "aws:owner", "tagValue": "x"}]}, "InvalidInputException", id="tag"),
    ],
)
def test_requests_the_service_refuses_at_once(
    personalize: Any, setup: Setup, change: dict[str, Any], code: str
) -> None:
    request = {
        "jobName": "refused",
        "datasetArn": setup.dataset("Items"),
        "dataSource": {"dataLocation": "s3://bucket/items.csv"},
        "roleArn": ROLE,
        **change,
    }
    with pytest.raises(ClientError) as info:
        personalize.create_dataset_import_job(**request)
    assert error_code(info).startswith(code)
    assert personalize.list_dataset_import_jobs()["datasetImportJobs"] == []


def test_an_unknown_job_is_not_found_and_jobs_take_tags(personalize: Any, setup: Setup, s3: Any, bucket: str) -> None:
    dataset = setup.dataset("Items")
    with pytest.raises(ClientError) as info:
        describe(personalize, dataset.replace(":dataset/", ":dataset-import-job/"))
    assert error_code(info) == "ResourceNotFoundException"
    location = put(s3, bucket, "items.csv", items_csv([item("a")]))
    job = start(personalize, dataset, location, tags=[{"tagKey": "team", "tagValue": "catalog"}])
    assert personalize.list_tags_for_resource(resourceArn=job)["tags"] == [{"tagKey": "team", "tagValue": "catalog"}]


def test_the_aws_cli_creates_and_describes_an_import_job(
    emu: EmulatorServer, personalize: Any, setup: Setup, s3: Any, bucket: str
) -> None:
    dataset = setup.dataset("Items")
    location = put(s3, bucket, "items.csv", items_csv([item("cli")]))
    emu.configure(import_delay=0.02)

    created = aws_cli(
        emu.endpoint_url,
        "personalize",
        "create-dataset-import-job",
        "--job-name",
        "from-the-cli",
        "--dataset-arn",
        dataset,
        "--data-source",
        f"dataLocation={location}",
        "--role-arn",
        ROLE,
        "--import-mode",
        "FULL",
    )

    assert created.returncode == 0, created.stderr
    job = json.loads(created.stdout)["datasetImportJobArn"]
    assert setup.wait(lambda arn: describe(personalize, arn), job, "ACTIVE")[-1] == "ACTIVE"
    described = aws_cli(emu.endpoint_url, "personalize", "describe-dataset-import-job", "--dataset-import-job-arn", job)
    assert json.loads(described.stdout)["datasetImportJob"]["status"] == "ACTIVE"
    assert set(by_id(emu, dataset)) == {"cli"}


def test_the_import_settings_have_flags() -> None:
    args = parse_args(["--s3-endpoint-url", "http://127.0.0.1:5000", "--import-delay", "3", "--max-import-jobs", "2"])
    config = config_from_args(args)
    assert (config.s3_endpoint_url, config.import_delay, config.max_import_jobs) == ("http://127.0.0.1:5000", 3.0, 2)
    assert config.min_import_interactions == import_rules.MIN_INTERACTION_RECORDS
    with pytest.raises(ValueError, match="s3_endpoint_url"):
        EmulatorConfig(s3_endpoint_url="127.0.0.1:5000")
