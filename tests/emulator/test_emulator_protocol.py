"""The wire: both protocols on one port, AWS's error shapes, regions from SigV4, the AWS CLI, concurrency."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.emulator import EmulatorConfig, EmulatorServer
from local.emulator import __main__ as emulator_main
from tests.emulator.emulator_helpers import SCHEMA_FIELDS, Setup, admin, avro, aws_cli, client_kwargs

REPO = Path(__file__).resolve().parents[2]


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """POST without botocore; return status, headers and body."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_control_plane_unknown_target_answers_unknown_operation(emu: EmulatorServer) -> None:
    headers = {"X-Amz-Target": "AmazonPersonalize.CreateRecommender", "Content-Type": "application/x-amz-json-1.1"}

    status, _, body = raw_post(emu.endpoint_url + "/", b"{}", headers)

    assert status == 400
    assert json.loads(body)["__type"].endswith("#UnknownOperationException")


def test_control_plane_error_body_has_type_and_message(emu: EmulatorServer) -> None:
    headers = {"X-Amz-Target": "AmazonPersonalize.DescribeSchema", "Content-Type": "application/x-amz-json-1.1"}

    status, _, body = raw_post(emu.endpoint_url + "/", b'{"schemaArn": "bad"}', headers)

    assert status == 400
    assert json.loads(body)["__type"] == "com.amazonaws.personalize#InvalidInputException"
    assert "schemaArn" in json.loads(body)["message"]


def test_control_plane_timestamps_are_epoch_seconds_on_the_wire(emu: EmulatorServer, personalize: Any) -> None:
    arn = personalize.create_dataset_group(name="g")["datasetGroupArn"]
    headers = {"X-Amz-Target": "AmazonPersonalize.DescribeDatasetGroup", "Content-Type": "application/x-amz-json-1.1"}

    _, _, body = raw_post(emu.endpoint_url + "/", json.dumps({"datasetGroupArn": arn}).encode(), headers)

    assert isinstance(json.loads(body)["datasetGroup"]["creationDateTime"], float)


def test_events_error_has_error_type_header_and_message(emu: EmulatorServer) -> None:
    body = json.dumps({"datasetArn": "arn:aws:personalize:us-east-1:1:dataset/g/ITEMS", "items": [{"itemId": "i"}]})

    status, headers, answer = raw_post(emu.endpoint_url + "/items", body.encode(), {})

    assert status == 404
    assert headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert "message" in json.loads(answer)


def test_events_success_is_200_with_empty_body(emu: EmulatorServer, events: Any, setup: Setup) -> None:
    dataset = setup.dataset("Items")

    answer = events.put_items(datasetArn=dataset, items=[{"itemId": "i", "properties": '{"price": 1}'}])

    metadata = answer["ResponseMetadata"]
    assert (metadata["HTTPStatusCode"], metadata["HTTPHeaders"]["content-length"]) == (200, "0")


def test_region_comes_from_sigv4_scope(emu: EmulatorServer, personalize: Any) -> None:
    frankfurt = boto3.client("personalize", **client_kwargs(emu.endpoint_url, region="eu-central-1"))

    arn = frankfurt.create_dataset_group(name="g")["datasetGroupArn"]

    assert arn == "arn:aws:personalize:eu-central-1:123456789012:dataset-group/g"
    assert personalize.list_dataset_groups()["datasetGroups"] == []
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset_group(datasetGroupArn=arn)


def test_concurrent_pollers_and_writers_all_succeed(emu: EmulatorServer, setup: Setup) -> None:
    group = setup.group()
    setup.dataset("Interactions", group=group)
    _, tracking_id = setup.tracker(group)
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        events: Any = boto3.client("personalize-events", **client_kwargs(emu.endpoint_url))
        personalize: Any = boto3.client("personalize", **client_kwargs(emu.endpoint_url))
        try:
            for n in range(20):
                event = {"eventId": f"{worker}-{n}", "eventType": "click", "sentAt": 1_700_000_000, "itemId": "i"}
                events.put_events(trackingId=tracking_id, sessionId=f"s-{worker}", eventList=[event])
                personalize.describe_dataset_group(datasetGroupArn=group)
        except BaseException as exc:  # collected, so the assertion below names it
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(emu.state.events(tracking_id)) == 160


def test_aws_cli_creates_describes_and_puts_items_and_events(emu: EmulatorServer, setup: Setup) -> None:
    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return aws_cli(emu.endpoint_url, *args)

    # GIVEN a schema created with the CLI, and an Items dataset and an event tracker that use it
    created = aws("personalize", "create-schema", "--name", "cli-items", "--schema", avro(SCHEMA_FIELDS["Items"]))
    schema_arn = json.loads(created.stdout)["schemaArn"]
    dataset = setup.dataset("Items", schema=schema_arn)
    group = setup.describe_dataset(dataset)["datasetGroupArn"]
    setup.dataset("Interactions", group=group)
    _, tracking_id = setup.tracker(group)

    # WHEN the CLI describes the dataset, puts a good and a bad item, and puts an event timed in ISO-8601
    described = aws("personalize", "describe-dataset", "--dataset-arn", dataset)
    records = json.dumps([{"itemId": "cli-1", "properties": json.dumps({"price": "3.5"})}])
    put = aws("personalize-events", "put-items", "--dataset-arn", dataset, "--items", records)
    bad = json.dumps([{"itemId": "cli-2", "properties": json.dumps({"colour": "red"})}])
    rejected = aws("personalize-events", "put-items", "--dataset-arn", dataset, "--items", bad)
    iso_event = {"eventId": "cli-e1", "eventType": "click", "sentAt": "2026-11-22T10:00:00Z", "itemId": "cli-1"}
    event = json.dumps([iso_event])
    put_event = aws(
        "personalize-events", "put-events", "--tracking-id", tracking_id, "--session-id", "s-1", "--event-list", event
    )

    # THEN the CLI read every answer as it reads AWS's: output, success without output, the modeled error
    assert schema_arn == "arn:aws:personalize:us-east-1:123456789012:schema/cli-items"
    assert json.loads(described.stdout)["dataset"]["status"] == "ACTIVE"
    assert (put.returncode, put.stdout) == (0, "")
    assert [r["itemId"] for r in emu.state.records(dataset)] == ["cli-1"]
    assert rejected.returncode != 0
    assert "InvalidInputException" in rejected.stderr
    assert 'unknown field "colour"' in rejected.stderr
    # AND the event's timestamp came over the wire as the epoch seconds the CLI converts it to
    assert (put_event.returncode, put_event.stderr) == (0, "")
    assert [(e["eventId"], e["sentAt"]) for e in emu.state.events(tracking_id)] == [("cli-e1", 1_795_341_600.0)]


def free_port() -> int:
    """Return a loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_module_runs_standalone_on_the_given_port_with_flags_and_stops_on_sigterm() -> None:
    # GIVEN the module started on a chosen port, with a quota and a lifecycle delay set by flags
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "local.emulator", f"--port={port}", "--quota=PutItems=3", "--create-delay=0.05"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # WHEN it prints its URL, is asked for its health and settings, then gets SIGTERM
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        health = admin(url, "GET", "health")
        _, config = admin(url, "GET", "config")
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()

    # THEN it served on that port with those settings (the other quotas Personalize's), and exited cleanly
    assert url == f"http://127.0.0.1:{port}"
    assert health == (200, {"status": "ok"})
    assert config["quotas"] == {
        "PutItems": 3,
        "PutUsers": 10,
        "PutActions": 10,
        "PutEvents": 1000,
        "PutActionInteractions": 1000,
    }
    assert config["create_delay"] == 0.05
    assert code == 0


@pytest.mark.parametrize(
    "argv",
    [["--quota", "PutThings=3"], ["--quota", "PutItems"], ["--quota", "PutItems=fast"], ["--fail-create", "(x"]],
    ids=["unknown-api", "no-value", "not-a-number", "broken-regex"],
)
def test_module_malformed_flag_exits_with_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        emulator_main.parse_args(argv)

    assert exited.value.code == 2
    assert "argument" in capsys.readouterr().err


def test_module_out_of_range_setting_exits_2_without_serving(capsys: pytest.CaptureFixture[str]) -> None:
    code = emulator_main.main(["--throttle-rate", "2"])

    assert code == 2
    assert "throttle_rate must be within [0, 1]" in capsys.readouterr().err


def test_module_flags_build_every_setting() -> None:
    args = emulator_main.parse_args(
        [
            "--account-id=210987654321",
            "--default-region=eu-west-1",
            "--delete-delay=0.3",
            "--fail-create=^bad-",
            "--failure-reason=no",
            "--max-dataset-groups=2",
            "--max-schemas=7",
            "--quota=PutEvents=50",
            "--throttle-rate=0.1",
            "--server-error-rate=0.2",
            "--latency=0.01",
            "--latency-jitter=0.02",
            "--fault-control-plane",
            "--control-throttle-code=LimitExceededException",
            "--seed=9",
            "--reject-records=poison",
        ]
    )

    config = emulator_main.config_from_args(args).to_json()

    assert config == {
        **EmulatorConfig().to_json(),
        "account_id": "210987654321",
        "default_region": "eu-west-1",
        "delete_delay": 0.3,
        "fail_create": "^bad-",
        "failure_reason": "no",
        "max_dataset_groups": 2,
        "max_schemas": 7,
        "quotas": {**EmulatorConfig().quotas, "PutEvents": 50},
        "throttle_rate": 0.1,
        "server_error_rate": 0.2,
        "latency": 0.01,
        "latency_jitter": 0.02,
        "fault_control_plane": True,
        "control_throttle_code": "LimitExceededException",
        "seed": 9,
        "reject_records": "poison",
    }
