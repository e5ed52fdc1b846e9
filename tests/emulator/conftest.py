"""Fixtures for the emulator's tests: a fresh server per test, plain boto3 clients, and a setup helper.

Every test talks HTTP to the emulator through boto3 exactly as the pipeline does against AWS. Lifecycle
delays are tiny (20 ms) so the suite stays fast, but not zero: statuses still have to be polled. A test that
asks for ``clock`` gets an emulator that reads the time from that :class:`ManualClock` instead (statuses,
quota windows, injected latency), so what happens at a given instant is checked without sleeping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.emulator import Emulator, EmulatorConfig, EmulatorServer
from tests.emulator.emulator_helpers import FAST, ManualClock, Setup, client_kwargs


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
def clock() -> ManualClock:
    """A manual clock; asking for it puts ``emu`` on it."""
    return ManualClock()


@pytest.fixture
def emu(emulator_config: EmulatorConfig, request: pytest.FixtureRequest) -> Iterator[EmulatorServer]:
    """A fresh emulator on a free loopback port (on the test's ``clock`` if the test asks for one)."""
    emulator = None
    if "clock" in request.fixturenames:
        clock: ManualClock = request.getfixturevalue("clock")
        emulator = Emulator(emulator_config, clock=clock, monotonic=clock, sleep=clock.sleep)
    with EmulatorServer(port=0, config=emulator_config, emulator=emulator) as server:
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
def setup(personalize: Any, request: pytest.FixtureRequest) -> Setup:
    """The setup helper for ``emu`` (moving the test's ``clock`` while it waits, if there is one)."""
    clock = request.getfixturevalue("clock") if "clock" in request.fixturenames else None
    return Setup(personalize, clock)
