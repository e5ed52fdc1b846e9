"""What runs in Lambda is what the tests ran: the runtime layer holds the pinned releases of this virtualenv.

The layer (``make install`` builds it into ``.build/runtime-layer``) carries Powertools and the AWS SDK. These tests
compare it with the packages the test run imports, import both handlers from the layer alone in a fresh Python (as
Lambda would, with no site-packages), and check that every function of the synthesized stack deploys with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from stacks.lambda_packaging import LAMBDAS_ROOT, RUNTIME_LAYER_DISTRIBUTIONS, RUNTIME_LAYER_ROOT
from stacks.spill_workflow import CHECK_HANDLER, STEP_HANDLER
from tests.infra.synthesis import INGEST_HANDLER, Synthesized, project_context, synthesize

LAYER_PACKAGES = RUNTIME_LAYER_ROOT / "python"


def _layer_versions() -> dict[str, str]:
    """Every distribution in the layer and its version, from the layer's own metadata."""
    return {
        dist.metadata["Name"].lower().replace("_", "-"): dist.version
        for dist in metadata.distributions(path=[str(LAYER_PACKAGES)])
    }


def test_layer_each_distribution_is_the_version_the_tests_import() -> None:
    layer = _layer_versions()

    for name in RUNTIME_LAYER_DISTRIBUTIONS:
        assert layer.get(name) == metadata.version(name), (
            f"{name}: layer {layer.get(name)}, tests {metadata.version(name)}"
        )


def test_layer_holds_nothing_but_the_listed_distributions() -> None:
    # A package in the layer that is not listed would be deployed untested against the pin list
    assert sorted(_layer_versions()) == sorted(RUNTIME_LAYER_DISTRIBUTIONS)


def test_layer_handlers_import_from_layer_alone_on_python313() -> None:
    # GIVEN a fresh interpreter with no site-packages (-S -I), only the asset root and the layer, as in Lambda
    probe = (
        "import sys, json; sys.path[:0] = [sys.argv[1], sys.argv[2]];"
        "import ingest.handler, resources.handler, aws_lambda_powertools, boto3, botocore;"
        "print(json.dumps({'python': list(sys.version_info[:2]),"
        " 'files': [m.__file__ for m in (aws_lambda_powertools, boto3, botocore)],"
        " 'versions': [boto3.__version__, botocore.__version__]}))"
    )
    answer = subprocess.run(
        [sys.executable, "-S", "-I", "-c", probe, str(LAMBDAS_ROOT), str(LAYER_PACKAGES)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = json.loads(answer.stdout)

    # THEN both handlers import, on Python 3.13, with Powertools and the SDK taken from the layer
    assert found["python"] == [3, 13]
    assert all(Path(file).is_relative_to(LAYER_PACKAGES) for file in found["files"])
    assert found["versions"] == [metadata.version("boto3"), metadata.version("botocore")]


def test_layer_byte_code_is_hash_based_so_the_asset_hash_is_stable() -> None:
    # A timestamp-based .pyc changes with every build, and so would the layer's asset hash (a redeploy each time)
    compiled = sorted(LAYER_PACKAGES.glob("botocore/__pycache__/*.cpython-313.pyc"))

    assert compiled, "the layer carries no byte code for Python 3.13: cold starts would compile every module"
    flags = {int.from_bytes(path.read_bytes()[4:8], "little") for path in compiled}
    assert flags == {0b01}  # PEP 552: hash-based, not checked against the source


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(project_context(), tmp_path_factory.mktemp("packaging"))


def test_stack_every_python_function_deploys_with_the_one_runtime_layer(default: Synthesized) -> None:
    layer_id, _ = default.only("AWS::Lambda::LayerVersion")
    python_functions = {
        function_id: function["Properties"]
        for function_id, function in default.resources("AWS::Lambda::Function").items()
        if str(function["Properties"].get("Runtime", "")).startswith("python")
    }

    # The ingest function, the two custom resource handlers and the spill's two functions; every one of them
    assert {function["Handler"] for function in python_functions.values()} == {
        INGEST_HANDLER,
        "resources.handler.on_event",
        "resources.handler.is_complete",
        STEP_HANDLER,
        CHECK_HANDLER,
    }
    assert all(function.get("Layers") == [{"Ref": layer_id}] for function in python_functions.values())
