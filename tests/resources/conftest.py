"""Fixtures of the custom resource handler tests: a fresh emulator per test, a client, and a CloudFormation driver.

The handlers run for real against the emulator over loopback HTTP, with the lifecycle delays cut to 20 ms (not
zero: statuses still have to be polled, as on AWS).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.cloudformation import CustomResourceDriver
from local.emulator import EmulatorConfig, EmulatorServer
from tests.resources.resource_helpers import CLIENT_SETTINGS


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own AWS configuration (profiles, endpoints) out of the tests."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_PERSONALIZE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def emu() -> Iterator[EmulatorServer]:
    """A fresh emulator on a free loopback port, with 20 ms lifecycles."""
    with EmulatorServer(port=0, config=EmulatorConfig(create_delay=0.02, delete_delay=0.02)) as server:
        yield server


@pytest.fixture
def personalize(emu: EmulatorServer) -> Any:
    """A plain ``personalize`` client for ``emu``."""
    return boto3.client("personalize", endpoint_url=emu.endpoint_url, **CLIENT_SETTINGS)


@pytest.fixture
def cfn(personalize: Any) -> CustomResourceDriver:
    """CloudFormation and the Provider framework, driving the handlers with ``personalize``."""
    return CustomResourceDriver.for_client(personalize, poll_interval=0.005, timeout=10)
