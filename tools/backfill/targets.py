"""Where the backfill command writes to, from a deployed stack's outputs; the datasets and the import location
themselves are ``bulk.targets`` (shared with the spill workflow)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from botocore.exceptions import ClientError

from bulk.targets import Destination
from contract import KIND_SPECS
from tools.backfill.errors import BackfillError

# The stack's outputs the command reads (stacks/ingestion_stack.py, stacks/import_bucket.py).
IMPORT_BUCKET_OUTPUT: Final = "ImportBucketName"
IMPORT_ROLE_OUTPUT: Final = "ImportRoleArn"
DEFAULT_PREFIX: Final = "backfill/"


def dataset_output(kind_name: str) -> str:
    """The stack output holding a kind's dataset ARN (``ItemDatasetArn``), as the stack names it."""
    return f"{kind_name[0].upper()}{kind_name[1:]}DatasetArn"


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The outputs of a deployed stack, by key.

    Raises
    ------
    BackfillError
        The stack does not exist.
    """
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error.response.get("Error", {}).get("Message", "")):
            raise BackfillError(f"stack {stack_name} does not exist (in this account and region)") from None
        raise
    return {str(output["OutputKey"]): str(output["OutputValue"]) for output in stacks[0].get("Outputs", [])}


def from_outputs(outputs: Mapping[str, str], stack_name: str) -> tuple[dict[str, str], Destination]:
    """The datasets (kind → ARN) and the import bucket and role a stack's outputs name.

    Raises
    ------
    BackfillError
        The stack has no import bucket output (deployed before the bulk path existed).
    """
    if IMPORT_BUCKET_OUTPUT not in outputs:
        raise BackfillError(f"stack {stack_name} has no {IMPORT_BUCKET_OUTPUT} output: deploy the current version")
    datasets = {name: outputs[dataset_output(name)] for name in KIND_SPECS if dataset_output(name) in outputs}
    destination = Destination(outputs[IMPORT_BUCKET_OUTPUT], DEFAULT_PREFIX, outputs.get(IMPORT_ROLE_OUTPUT))
    return datasets, destination
