"""Helpers for the emulator's tests: schemas per dataset type, client settings, and a setup helper."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from local.emulator import EmulatorConfig

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# One attempt, so each test sees the emulator's answer itself, not botocore's retries of it.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
FAST = EmulatorConfig(create_delay=0.02, delete_delay=0.02)
AWS_CLI = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "aws"

Fields = list[dict[str, Any]]

# One schema per dataset type, as the project's schemas/ would hold them.
SCHEMA_FIELDS: dict[str, Fields] = {
    "Interactions": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "DEVICE", "type": ["null", "string"], "categorical": True},
    ],
    "Items": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRES", "type": ["null", "string"], "categorical": True},
        {"name": "RELEASE_TIMESTAMP", "type": ["null", "long"]},
        {"name": "NUMBER_OF_RATINGS", "type": ["null", "int"]},
        {"name": "PRICE", "type": "float"},
        {"name": "IN_STOCK", "type": ["null", "boolean"]},
        {"name": "GENRE_L2", "type": ["null", "string"], "categorical": True},
        {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
    ],
    "Users": [
        {"name": "USER_ID", "type": "string"},
        {"name": "MEMBERSHIP_TYPE", "type": ["null", "string"], "categorical": True},
    ],
    "Actions": [
        {"name": "ACTION_ID", "type": "string"},
        {"name": "VALUE", "type": ["null", "long"]},
        {"name": "EXPIRATION_TIMESTAMP", "type": ["null", "long"]},
    ],
    "Action_Interactions": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ACTION_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "CHANNEL", "type": ["null", "string"], "categorical": True},
    ],
}


def avro(fields: Fields, name: str = "Items") -> str:
    """Return a Personalize schema document with ``fields``."""
    record = {"type": "record", "name": name, "namespace": "com.amazonaws.personalize.schema", "fields": fields}
    return json.dumps({**record, "version": "1.0"})


def client_kwargs(endpoint_url: str, region: str = REGION) -> dict[str, Any]:
    """Return the keyword arguments of a boto3 client for the emulator (dummy credentials, no retries)."""
    return {"endpoint_url": endpoint_url, "region_name": region, "config": NO_RETRIES, **CREDENTIALS}


class ManualClock:
    """A clock that moves only when told to: the emulator's wall clock, monotonic clock and sleep in one.

    With it, statuses, quota windows and injected latency are checked by what the emulator does at a given
    instant, not by how fast the machine runs the test. ``sleep`` records each delay and moves the clock on.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._lock = threading.Lock()
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        """Return the current time."""
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        """Record an emulator's sleep and move the clock by it."""
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


class Setup:
    """Creates resources through the control plane and waits for them, as a deployment would.

    Parameters
    ----------
    personalize : Any
        A ``personalize`` client for the emulator.
    clock : ManualClock or None
        The emulator's clock, when it runs on one: waiting then moves it forward between polls instead of
        sleeping.
    """

    # How far a wait moves a manual clock between two polls: a fraction of the shortest delay in use.
    CLOCK_STEP = 0.005

    def __init__(self, personalize: Any, clock: ManualClock | None = None) -> None:
        self.personalize = personalize
        self.clock = clock
        self._count = 0

    def _name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}-{self._count}"

    def schema(self, dataset_type: str = "Items", fields: Fields | None = None, domain: str | None = None) -> str:
        """Create a schema (the type's default fields unless ``fields``); return its ARN."""
        document = avro(fields or SCHEMA_FIELDS[dataset_type])
        extra = {"domain": domain} if domain else {}
        return str(self.personalize.create_schema(name=self._name("schema"), schema=document, **extra)["schemaArn"])

    def group(self, *, domain: str | None = None, wait: bool = True) -> str:
        """Create a dataset group (ACTIVE unless ``wait`` is false); return its ARN."""
        extra = {"domain": domain} if domain else {}
        arn = str(self.personalize.create_dataset_group(name=self._name("group"), **extra)["datasetGroupArn"])
        if wait:
            self.wait(self.describe_group, arn, "ACTIVE")
        return arn

    def dataset(
        self, dataset_type: str = "Items", *, group: str | None = None, schema: str | None = None, wait: bool = True
    ) -> str:
        """Create a dataset (in a new group and with the type's schema by default); return its ARN."""
        arn = str(
            self.personalize.create_dataset(
                name=self._name("dataset"),
                schemaArn=schema or self.schema(dataset_type),
                datasetGroupArn=group or self.group(),
                datasetType=dataset_type,
            )["datasetArn"]
        )
        if wait:
            self.wait(self.describe_dataset, arn, "ACTIVE")
        return arn

    def tracker(self, group: str, *, wait: bool = True) -> tuple[str, str]:
        """Create an event tracker; return its ARN and trackingId."""
        created = self.personalize.create_event_tracker(name=self._name("tracker"), datasetGroupArn=group)
        if wait:
            self.wait(self.describe_tracker, created["eventTrackerArn"], "ACTIVE")
        return str(created["eventTrackerArn"]), str(created["trackingId"])

    def describe_group(self, arn: str) -> dict[str, Any]:
        return dict(self.personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"])

    def describe_dataset(self, arn: str) -> dict[str, Any]:
        return dict(self.personalize.describe_dataset(datasetArn=arn)["dataset"])

    def describe_tracker(self, arn: str) -> dict[str, Any]:
        return dict(self.personalize.describe_event_tracker(eventTrackerArn=arn)["eventTracker"])

    def _pause(self) -> None:
        """Let time pass between two polls: the manual clock's, or the machine's."""
        if self.clock is not None:
            self.clock.advance(self.CLOCK_STEP)
        else:
            time.sleep(0.002)

    def wait(self, describe: Callable[[str], dict[str, Any]], arn: str, status: str, timeout: float = 3.0) -> list[str]:
        """Poll ``describe`` until ``status``; return the distinct statuses seen, in order."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = describe(arn)["status"]
            if not seen or seen[-1] != current:
                seen.append(current)
            if current == status:
                return seen
            self._pause()
        raise AssertionError(f"{arn} never reached {status}; saw {seen}")

    def wait_gone(self, describe: Callable[[str], dict[str, Any]], arn: str, timeout: float = 3.0) -> list[str]:
        """Poll ``describe`` until it raises ResourceNotFound; return the statuses seen before."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                current = describe(arn)["status"]
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                return seen
            if not seen or seen[-1] != current:
                seen.append(current)
            self._pause()
        raise AssertionError(f"{arn} is still there; saw {seen}")


def admin(endpoint_url: str, method: str, route: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """Call an ``/_emulator/`` route over HTTP; return the status and the decoded JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{endpoint_url}/_emulator/{route}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


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


def aws_cli(endpoint_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the project's AWS CLI against the emulator (JSON output); return the finished process."""
    command = [str(AWS_CLI), *args, "--endpoint-url", endpoint_url, "--region", REGION, "--output", "json"]
    return subprocess.run(command, env=cli_env(), capture_output=True, text=True, timeout=60, check=False)
