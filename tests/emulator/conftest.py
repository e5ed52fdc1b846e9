"""Fixtures for the emulator's tests: a fresh server per test, plain boto3 clients, and a setup helper.

Every test talks HTTP to the emulator through boto3 exactly as the pipeline does against AWS. Lifecycle
delays are tiny (20 ms) so the suite stays fast, but not zero: statuses still have to be polled.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.emulator import EmulatorConfig, EmulatorServer
from tests.emulator.emulator_helpers import FAST, Setup, client_kwargs


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own AWS configuration (profiles, endpoints) out of the tests."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_PERSONALIZE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """The configuration of ``emu``; override the fixture in a module to change it."""
    return FAST


@pytest.fixture
def emu(emulator_config: EmulatorConfig) -> Iterator[EmulatorServer]:
    """A fresh emulator on a free loopback port."""
    with EmulatorServer(port=0, config=emulator_config) as server:
        yield server


@pytest.fixture
def personalize(emu: EmulatorServer) -> Any:
    """A plain ``personalize`` client for ``emu``."""
    return boto3.client("personalize", **client_kwargs(emu.endpoint_url))


@pytest.fixture
def events(emu: EmulatorServer) -> Any:
    """A plain ``personalize-events`` client for ``emu``."""
    return boto3.client("personalize-events", **client_kwargs(emu.endpoint_url))


@pytest.fixture
def setup(personalize: Any) -> Setup:
    """The setup helper for ``emu``."""
    return Setup(personalize)
