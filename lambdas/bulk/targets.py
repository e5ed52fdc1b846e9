"""Where bulk data goes: each kind's dataset (its type, status and schema, read from Personalize) and the S3
location import jobs read (with the role they read it with).

A dataset's schema is read twice over: its Avro document, for the CSV's columns (``import_rules.columns``), and the
ingest Lambda's parsed view of it through ``ingest.catalog.DatasetCatalog`` (DescribeDataset, then DescribeSchema,
as the handler reads it), against which every change is validated. So a change the bulk path accepts is one the
Lambda would send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from bulk.errors import BulkError
from contract import KIND_SPECS
from import_rules import Column, columns
from ingest.catalog import DatasetCatalog
from ingest.kinds import KINDS, Kind
from ingest.model import ApiModel, api_models
from ingest.schema import DatasetSchema
from schema_rules import REQUIRED_FIELDS


@dataclass(frozen=True, slots=True)
class Target:
    """One kind's dataset, ready to validate against and write CSV for.

    Attributes
    ----------
    kind:
        The ingest Lambda's kind (contract row plus the Lambda's own columns).
    dataset_arn, dataset_type:
        The dataset, and its type as the contract spells it (``ITEMS``).
    columns:
        The schema's fields as CSV columns, in the schema's order.
    schema:
        The Lambda's parsed schema (metadata fields only), which ``ingest.validate`` checks ``properties`` against.
    api:
        The Put* API's model, from botocore (``ingest.model``).
    """

    kind: Kind
    dataset_arn: str
    dataset_type: str
    columns: tuple[Column, ...]
    schema: DatasetSchema
    api: ApiModel

    @property
    def field_by_property(self) -> Mapping[str, str]:
        """camelCase property key → schema field name (``numberOfRatings`` → ``NUMBER_OF_RATINGS``)."""
        return {field.property_key: field.name for field in self.schema.fields}


@dataclass(frozen=True, slots=True)
class Destination:
    """Where parts are uploaded (``s3://bucket/prefix``) and the role Personalize reads them with."""

    bucket: str
    prefix: str
    role_arn: str | None

    @classmethod
    def parse(cls, url: str, role_arn: str | None) -> Destination:
        """Read ``s3://bucket`` or ``s3://bucket/prefix/`` (a prefix gets a trailing slash)."""
        if not url.startswith("s3://"):
            raise BulkError(f"{url}: the import location is s3://bucket or s3://bucket/prefix/")
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise BulkError(f"{url}: the import location names no bucket")
        return cls(bucket, prefix if not prefix or prefix.endswith("/") else f"{prefix}/", role_arn)

    def url(self, key: str = "") -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{key}"


def describe_target(personalize: Any, catalog: DatasetCatalog, kind_name: str, dataset_arn: str) -> Target:
    """Read a kind's dataset and schema from Personalize and check they can be imported into.

    Raises
    ------
    BulkError
        The dataset does not exist, is of another type, is not ACTIVE, or its schema lacks a field its type needs.
    """
    kind = KINDS[kind_name]
    expected_type = KIND_SPECS[kind_name].dataset_type
    try:
        dataset = personalize.describe_dataset(datasetArn=dataset_arn)["dataset"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise BulkError(f"dataset {dataset_arn} ({kind_name}) does not exist") from None
        raise
    dataset_type = str(dataset.get("datasetType", "")).upper()
    if dataset_type != expected_type:
        raise BulkError(f"dataset {dataset_arn} is a {dataset_type} dataset; {kind_name} needs {expected_type}")
    if dataset.get("status") != "ACTIVE":
        raise BulkError(f"dataset {dataset_arn} is {dataset.get('status')}; an import needs it ACTIVE")
    document = personalize.describe_schema(schemaArn=dataset["schemaArn"])["schema"]["schema"]
    try:
        schema_columns = columns(document)
    except ValueError as error:
        raise BulkError(f"schema {dataset['schemaArn']} of {dataset_arn}: {error}") from None
    names = {column.name for column in schema_columns}
    missing = [name for name in REQUIRED_FIELDS[expected_type] if name not in names]
    if missing:
        raise BulkError(
            f"schema mismatch: {dataset['schemaArn']} of {dataset_arn} lacks {', '.join(missing)}, which a "
            f"{expected_type} dataset needs"
        )
    return Target(
        kind=kind,
        dataset_arn=dataset_arn,
        dataset_type=expected_type,
        columns=schema_columns,
        schema=catalog.describe(kind, dataset_arn).schema,
        api=api_models()[kind_name],
    )
