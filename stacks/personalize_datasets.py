"""Personalize datasets: the dataset group, a schema and dataset per type, and the event tracker, as custom resources.

This construct is the infrastructure half of the provisioning unit; ``lambdas/resources/`` is its runtime half.
CloudFormation's own ``AWS::Personalize::Dataset`` cannot create Actions or Action interactions datasets
(docs/personalize.md §5), so every Personalize resource here is a custom resource served by one asynchronous CDK
``Provider`` (``stacks/personalize_provider.py``); their properties are ``stacks/personalize_properties.py``'s.
The dataset group, datasets and event tracker are taggable (``stacks/personalize_tagging.py``): ``Tags.of()`` on the
stack or any scope above them tags the Personalize resources too. Schemas take no tags in Personalize.

The template's references give CloudFormation the order: schemas and the group first, then the datasets, then
the tracker; deletion runs the other way, and the handlers wait for each asynchronous deletion to finish.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from aws_cdk import CustomResource, Fn, RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from contract import (
    DATASET_GROUP_RESOURCE_TYPE,
    DATASET_RESOURCE_TYPE,
    EVENT_TRACKER_RESOURCE_TYPE,
    SCHEMA_RESOURCE_TYPE,
)
from stacks.personalize_properties import (
    dataset_group_properties,
    dataset_properties,
    event_tracker_properties,
    schema_properties,
)
from stacks.personalize_provider import build_provider, nag_arn, personalize_arn
from stacks.personalize_tagging import TaggedCustomResource

# Dataset types whose dataset comes with a tracking id of its own (PutActionInteractions writes through it).
TRACKED_DATASET_TYPES: Final = frozenset({"ACTION_INTERACTIONS"})


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset for the construct to create.

    Parameters
    ----------
    dataset_type
        The Personalize dataset type, upper case (``ITEMS``, ``ACTION_INTERACTIONS``...).
    schema
        Its Avro schema, as JSON text.
    """

    dataset_type: str
    schema: str


class PersonalizeDatasets(Construct):
    """A Personalize dataset group with its schemas, datasets and (with an Interactions dataset) event tracker.

    Parameters
    ----------
    scope, construct_id
        The usual construct parameters.
    group_name
        The dataset group's name; datasets, schemas and the tracker are named after it.
    domain
        ``ECOMMERCE`` or ``VIDEO_ON_DEMAND`` for a domain group (its schemas get the domain too), or ``None``.
    kms_key_arn, role_arn
        A KMS key for the group's data and the role Personalize uses it through (both or neither). The provider
        may pass that role to Personalize, and nothing else.
    datasets
        The datasets to create, at most one per type.
    removal_policy
        Of the group, its datasets and tracker: ``RETAIN`` keeps them (and their data) when
        the stack is deleted or replaces them; ``DESTROY`` deletes them. Schemas are always deleted once no
        dataset uses them (a schema a retained dataset uses is left in place).
    log_retention
        Retention of the provider's log groups.

    Attributes
    ----------
    dataset_group
        The dataset group custom resource (taggable).
    schemas, datasets
        Dataset type -> the schema and dataset custom resources (datasets are taggable, schemas are not).
    event_tracker
        The event tracker custom resource (taggable), or ``None`` without an Interactions dataset.
    provider
        The custom resource provider (its ``on_event`` and ``is_complete`` functions).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        group_name: str,
        domain: str | None,
        kms_key_arn: str | None,
        role_arn: str | None,
        datasets: Sequence[DatasetSpec],
        removal_policy: RemovalPolicy,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self._group_name = group_name
        types = [dataset.dataset_type for dataset in datasets]
        if not datasets or len(set(types)) != len(types):
            raise ValueError(f"PersonalizeDatasets needs at least one dataset and one per type, got {types}")
        # Personalize takes a role only with a KMS key, and uses the key through the role (API_CreateDatasetGroup.html);
        # the provider's iam:PassRole grant is for that role, so a key without one would fail only at deploy time.
        if (kms_key_arn is None) != (role_arn is None):
            raise ValueError("PersonalizeDatasets needs kms_key_arn and role_arn together, or neither")

        self.provider = build_provider(
            self,
            group_name=group_name,
            role_arn=role_arn,
            with_tracker="INTERACTIONS" in types,
            log_retention=log_retention,
        )
        service_token = self.provider.service_token

        self.dataset_group = TaggedCustomResource(
            self,
            "DatasetGroup",
            service_token=service_token,
            resource_type=DATASET_GROUP_RESOURCE_TYPE,
            properties=dataset_group_properties(
                name=group_name, domain=domain, kms_key_arn=kms_key_arn, role_arn=role_arn
            ),
            removal_policy=removal_policy,
        )
        group_arn = self.dataset_group_arn
        self.schemas: dict[str, CustomResource] = {}
        self.datasets: dict[str, TaggedCustomResource] = {}
        for spec in datasets:
            name = spec.dataset_type.title().replace("_", "")
            schema = CustomResource(
                self,
                f"{name}Schema",
                service_token=service_token,
                resource_type=SCHEMA_RESOURCE_TYPE,
                properties=schema_properties(
                    group_name=group_name, dataset_type=spec.dataset_type, document=spec.schema, domain=domain
                ),
                # Schemas hold no data; the handler deletes one only once no dataset uses it.
                removal_policy=RemovalPolicy.DESTROY,
            )
            self.schemas[spec.dataset_type] = schema
            self.datasets[spec.dataset_type] = TaggedCustomResource(
                self,
                f"{name}Dataset",
                service_token=service_token,
                resource_type=DATASET_RESOURCE_TYPE,
                properties=dataset_properties(
                    group_name=group_name,
                    group_arn=group_arn,
                    dataset_type=spec.dataset_type,
                    schema_arn=schema.get_att_string("Arn"),
                ),
                removal_policy=removal_policy,
            )
        # PutEvents writes through an event tracker, one per group; it records into the Interactions dataset.
        self.event_tracker: TaggedCustomResource | None = None
        if "INTERACTIONS" in types:
            self.event_tracker = TaggedCustomResource(
                self,
                "EventTracker",
                service_token=service_token,
                resource_type=EVENT_TRACKER_RESOURCE_TYPE,
                properties=event_tracker_properties(group_name=group_name, group_arn=group_arn),
                # Retained with the group it belongs to, so a retained Interactions dataset keeps receiving events.
                removal_policy=removal_policy,
            )
            # Events need the Interactions dataset: create the tracker after it, delete it before it.
            self.event_tracker.node.add_dependency(self.datasets["INTERACTIONS"])

    # --- attributes ------------------------------------------------------------------------------------------

    @property
    def dataset_group_arn(self) -> str:
        """The dataset group's ARN (a token)."""
        return self.dataset_group.get_att_string("Arn")

    def dataset_arn(self, dataset_type: str) -> str:
        """The ARN of the ``dataset_type`` dataset (a token)."""
        return self.datasets[dataset_type].get_att_string("Arn")

    def schema_arn(self, dataset_type: str) -> str:
        """The ARN of the schema the ``dataset_type`` dataset uses (a token).

        The dataset's own ``SchemaArn`` attribute rather than the schema resource's ``Arn``: they are the same
        schema, except after CloudFormation rolled back an in-place schema update, when the dataset keeps the newer
        schema (UpdateDataset cannot remove fields). It is what DescribeDataset tells the ingest handler to read.
        """
        return self.datasets[dataset_type].get_att_string("SchemaArn")

    @property
    def schemas_arn_pattern(self) -> str:
        """An ARN pattern matching every schema of this group (``schema/<group>-*``, a token).

        What the ingest Lambda may describe: after an in-place schema update (UpdateDataset) the dataset names its
        new schema before CloudFormation has updated the Lambda's policy, so a grant on the current schema alone
        would answer AccessDenied in between.
        """
        return Fn.sub(personalize_arn(f"schema/{self._group_name}-*"))

    @property
    def schemas_arn_finding(self) -> str:
        """How cdk-nag names :attr:`schemas_arn_pattern` in an AwsSolutions-IAM5 finding."""
        return nag_arn(f"schema/{self._group_name}-*")

    @property
    def dataset_arns(self) -> Mapping[str, str]:
        """Dataset type -> dataset ARN (tokens)."""
        return {dataset_type: self.dataset_arn(dataset_type) for dataset_type in self.datasets}

    @property
    def event_tracking_id(self) -> str | None:
        """The event tracker's trackingId (PutEvents), or ``None`` without an Interactions dataset."""
        return self.event_tracker.get_att_string("TrackingId") if self.event_tracker else None

    def tracking_id(self, dataset_type: str) -> str | None:
        """The trackingId records of ``dataset_type`` are written through, or ``None`` if they take a dataset ARN.

        Interactions (PutEvents) go through the event tracker; Action interactions (PutActionInteractions)
        through the tracker Personalize made with their dataset (docs/personalize.md §1).
        """
        if dataset_type == "INTERACTIONS":
            return self.event_tracking_id
        if dataset_type in TRACKED_DATASET_TYPES:
            return self.dataset_tracking_id(dataset_type)
        return None

    def dataset_tracking_id(self, dataset_type: str) -> str:
        """The trackingId Personalize made with the ``dataset_type`` dataset (Action interactions only)."""
        if dataset_type not in TRACKED_DATASET_TYPES:
            raise ValueError(f"a {dataset_type} dataset has no tracking id of its own")
        return self.datasets[dataset_type].get_att_string("TrackingId")
