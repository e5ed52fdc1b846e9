"""How every Lambda function of the stack is packaged: one asset, one runtime and architecture, one layer.

The ingest function (``stacks/ingest_pipeline.py``) and the custom resource handlers
(``stacks/personalize_datasets.py``) share the ``lambdas/`` asset and its pinned runtime, so the constants that
must change together live here once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, cast

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

# The Lambda asset root (docs/design.md, "Layout": ``lambdas/`` holds every function's code; imports are absolute
# from it). Resolved from this file, not the working directory, so tests and the CLI package the same directory.
LAMBDAS_ROOT: Final = Path(__file__).resolve().parent.parent / "lambdas"
# Nothing a build or a test run leaves behind may enter the asset: a fresh ``__pycache__`` changes the asset
# hash on every synth (docs/design.md, "Toolchain notes") and so redeploys an unchanged function.
ASSET_EXCLUDES: Final[tuple[str, ...]] = (
    "**/__pycache__",
    "**/*.pyc",
    "**/*.pyo",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
    "**/*.egg-info",
    "**/.DS_Store",
)

# Python 3.13 on Graviton. The runtime is the one the tests run on (the Makefile builds the virtualenv from 3.13),
# and the layer below is built for exactly this pair.
RUNTIME: Final = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE: Final = lambda_.Architecture.ARM_64
# The layer every function deploys with: the Powertools release and the AWS SDK the tests import, as pinned in
# constraints.txt, installed for Python 3.13 on arm64 by ``make install`` (the Makefile's RUNTIME_LAYER). Lambda's
# own SDK differs by region and date and is usually older, and the ingest handler reads botocore's service model
# for its limits, so the functions run on the SDK they were tested with (docs/design.md, "Layout").
RUNTIME_LAYER_ROOT: Final = Path(__file__).resolve().parent.parent / ".build" / "runtime-layer"
# The packages the layer must hold, by distribution name: tests/infra/test_lambda_packaging.py checks that each is
# the version this virtualenv runs.
RUNTIME_LAYER_DISTRIBUTIONS: Final[tuple[str, ...]] = (
    "aws-lambda-powertools",
    "boto3",
    "botocore",
    "jmespath",
    "python-dateutil",
    "s3transfer",
    "six",
    "typing-extensions",
    "urllib3",
)
_RUNTIME_LAYER_ID: Final = "RuntimeLayer"


class RuntimeLayerMissingError(RuntimeError):
    """The layer directory has not been built: ``make install`` builds it."""


def lambdas_asset() -> lambda_.Code:
    """The ``lambdas/`` directory as a Lambda asset, without build and test leftovers (:data:`ASSET_EXCLUDES`)."""
    return lambda_.Code.from_asset(str(LAMBDAS_ROOT), exclude=list(ASSET_EXCLUDES))


def runtime_layer(scope: Construct) -> lambda_.ILayerVersion:
    """The stack's one layer of runtime dependencies (:data:`RUNTIME_LAYER_ROOT`), made on first use.

    Every function of the stack takes the same layer, so it is one ``AWS::Lambda::LayerVersion`` per stack, found
    by its id on later calls.

    Raises
    ------
    RuntimeLayerMissingError
        The layer has not been built (``make install`` builds it).
    """
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(_RUNTIME_LAYER_ID)
    if existing is not None:
        return cast("lambda_.ILayerVersion", existing)
    if not (RUNTIME_LAYER_ROOT / "python").is_dir():
        raise RuntimeLayerMissingError(
            f"{RUNTIME_LAYER_ROOT} is missing: run `make install`, which builds the Lambda layer of Powertools and "
            "the AWS SDK the tests run"
        )
    return lambda_.LayerVersion(
        stack,
        _RUNTIME_LAYER_ID,
        code=lambda_.Code.from_asset(str(RUNTIME_LAYER_ROOT), exclude=[".stamp-*"]),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description="Powertools for AWS Lambda (Python) and the AWS SDK for Python, as tested (see constraints.txt)",
    )
