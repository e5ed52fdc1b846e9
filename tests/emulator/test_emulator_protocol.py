"""The wire: both protocols on one port, AWS's error shapes, regions from SigV4, the AWS CLI, concurrency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.emulator import EmulatorServer
from tests.emulator.emulator_helpers import SCHEMA_FIELDS, Setup, admin, avro, client_kwargs

REPO = Path(__file__).resolve().parents[2]
AWS_CLI = REPO / ".venv" / "bin" / "aws"


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
        events = boto3.client("personalize-events", **client_kwargs(emu.endpoint_url))
        personalize = boto3.client("personalize", **client_kwargs(emu.endpoint_url))
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


def cli_env() -> dict[str, str]:
    """The environment of an AWS CLI subprocess: dummy credentials, nothing from the developer's setup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {
        **env,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def test_aws_cli_creates_describes_and_puts_items(emu: EmulatorServer, setup: Setup) -> None:
    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(AWS_CLI), *args, "--endpoint-url", emu.endpoint_url, "--region", "us-east-1", "--output", "json"]
        return subprocess.run(command, env=cli_env(), capture_output=True, text=True, timeout=60, check=False)

    created = aws("personalize", "create-schema", "--name", "cli-items", "--schema", avro(SCHEMA_FIELDS["Items"]))
    schema_arn = json.loads(created.stdout)["schemaArn"]
    dataset = setup.dataset("Items", schema=schema_arn)
    described = aws("personalize", "describe-dataset", "--dataset-arn", dataset)
    records = json.dumps([{"itemId": "cli-1", "properties": json.dumps({"price": "3.5"})}])
    put = aws("personalize-events", "put-items", "--dataset-arn", dataset, "--items", records)
    bad = json.dumps([{"itemId": "cli-2", "properties": json.dumps({"colour": "red"})}])
    rejected = aws("personalize-events", "put-items", "--dataset-arn", dataset, "--items", bad)

    assert schema_arn == "arn:aws:personalize:us-east-1:123456789012:schema/cli-items"
    assert json.loads(described.stdout)["dataset"]["status"] == "ACTIVE"
    assert (put.returncode, put.stdout) == (0, "")
    assert [r["itemId"] for r in emu.state.records(dataset)] == ["cli-1"]
    assert rejected.returncode != 0
    assert "InvalidInputException" in rejected.stderr
    assert 'unknown field "colour"' in rejected.stderr


def test_module_runs_standalone_prints_url_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.emulator", "--port", "0", "--create-delay", "0.05"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        health = admin(url, "GET", "health")
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()

    assert url.startswith("http://127.0.0.1:")
    assert health == (200, {"status": "ok"})
    assert code == 0
