"""How every Lambda function of the stack is packaged: one asset, one runtime and architecture, the Powertools layer.

The ingest function (``stacks/ingest_pipeline.py``) and the custom resource handlers
(``stacks/personalize_datasets.py``) share the ``lambdas/`` asset and its pinned runtime, so the constants that
must change together live here once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from aws_cdk import Fn
from aws_cdk import aws_lambda as lambda_

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

# The public Powertools for AWS Lambda (Python) v3 layer. Its name encodes the runtime and the architecture, so
# the three constants change together. AWS publishes it from this account in the commercial regions; the China
# and GovCloud partitions use other accounts (https://docs.powertools.aws.dev/lambda/python/latest/#lambda-layer).
RUNTIME: Final = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE: Final = lambda_.Architecture.ARM_64
POWERTOOLS_LAYER_ACCOUNT: Final = "017000801446"
POWERTOOLS_LAYER_NAME: Final = "AWSLambdaPowertoolsPythonV3-python313-arm64"


def lambdas_asset() -> lambda_.Code:
    """The ``lambdas/`` directory as a Lambda asset, without build and test leftovers (:data:`ASSET_EXCLUDES`)."""
    return lambda_.Code.from_asset(str(LAMBDAS_ROOT), exclude=list(ASSET_EXCLUDES))


def powertools_layer_arn(version: int) -> str:
    """Return the ARN of the public Powertools v3 layer ``version`` in the deploying stack's partition and region.

    The partition and region are CloudFormation pseudo parameters, so one template deploys to any region. It is
    one ``Fn::Sub``, not a concatenation of tokens (an ``Fn::Join``), which cfn-lint advises against (I1022).
    """
    layer = f"{POWERTOOLS_LAYER_ACCOUNT}:layer:{POWERTOOLS_LAYER_NAME}:{version}"
    return Fn.sub(f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:{layer}")
