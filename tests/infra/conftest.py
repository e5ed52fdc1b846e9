"""Infrastructure test setup: keep the jsii runtime quiet before any test module imports aws_cdk, and synthesize
the monitoring construct's stacks once for the modules that read them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# Before aws_cdk starts its Node.js runtime: keep jsii's Node end-of-life banner out of the test output
# (the Makefile exports the same for the CLI).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

if TYPE_CHECKING:
    from tests.infra.monitoring_stacks import Synthesized


@pytest.fixture(scope="session")
def monitoring_assembly_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the monitoring stacks' cloud assembly (and cdk-nag's validation report) is written."""
    return tmp_path_factory.mktemp("monitoring")


@pytest.fixture(scope="session")
def monitoring_stacks(monitoring_assembly_dir: Path) -> dict[str, Synthesized]:
    """The monitoring construct's stacks (``tests.infra.monitoring_stacks``), synthesized once for every module."""
    # Imported here, so importing this conftest does not start the jsii runtime before the variables above are set.
    from tests.infra.monitoring_stacks import synthesize_monitoring

    return synthesize_monitoring(monitoring_assembly_dir)
