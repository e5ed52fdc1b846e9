"""The control plane (``personalize``): schemas, dataset groups, datasets and event trackers.

Dataset import jobs are in :mod:`local.emulator.import_jobs`.

Each handler takes the checked request members and returns the response members; it runs under the state's
lock, so every operation is atomic. Rules come from the Personalize API reference and developer guide
(docs/personalize.md §3); the tagging operations are in :mod:`local.emulator.tags`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Final

from contract import KIND_SPECS
from local.emulator import errors, import_jobs, tags
from local.emulator.avro import (
    DATASET_TYPES,
    AvroSchema,
    SchemaError,
    check_compatible,
    check_domain_fits,
    check_fits,
    parse_schema,
)
from local.emulator.lifecycle import ACTIVE, DELETABLE, Timeline
from local.emulator.paging import paginate
from local.emulator.state import (
    Dataset,
    DatasetGroup,
    DatasetUpdate,
    EventTracker,
    OpContext,
    Schema,
    answered_dataset_type,
)
from schema_rules import DOMAIN_REQUIREMENTS

Params = dict[str, Any]
Handler = Callable[[OpContext, Params], Params]

# UpdateDataset replaces the schema of these types only ("Replacing a dataset's schema").
UPDATABLE_TYPES: Final = frozenset({KIND_SPECS["item"].dataset_type, KIND_SPECS["user"].dataset_type})
# The dataset type that comes with its own tracker: PutActionInteractions writes through it.
SELF_TRACKED_TYPE: Final = KIND_SPECS["actionInteraction"].dataset_type


# --- lookups ------------------------------------------------------------------------------------------------


def _find[T](table: dict[str, T], arn: str, ctx: OpContext, kind: str) -> T:
    """Return the resource ``arn`` of ``table`` in the caller's region, or raise ResourceNotFound."""
    resource = table.get(arn)
    if resource is None or getattr(resource, "region", None) != ctx.region:
        raise errors.not_found(f"{kind} {arn} does not exist.")
    return resource


def _schema(ctx: OpContext, arn: str) -> Schema:
    return _find(ctx.state.schemas, arn, ctx, "Schema")


def _group(ctx: OpContext, arn: str) -> DatasetGroup:
    return _find(ctx.state.dataset_groups, arn, ctx, "Dataset group")


def _dataset(ctx: OpContext, arn: str) -> Dataset:
    return _find(ctx.state.datasets, arn, ctx, "Dataset")


def _tracker(ctx: OpContext, arn: str) -> EventTracker:
    return _find(ctx.state.event_trackers, arn, ctx, "Event tracker")


def _fails(ctx: OpContext, name: str) -> bool:
    """Return whether the configuration makes the create of ``name`` fail."""
    pattern = ctx.config.fail_create
    return bool(pattern and pattern.search(name))


def _deletable(status: str | None, kind: str, arn: str) -> None:
    """Raise ResourceInUse unless a resource in ``status`` may be deleted (ACTIVE or CREATE FAILED)."""
    if status not in DELETABLE:
        raise errors.in_use(f"{kind} {arn} is in status {status}; it can be deleted when ACTIVE or CREATE FAILED.")


# --- schemas ------------------------------------------------------------------------------------------------


def create_schema(ctx: OpContext, params: Params) -> Params:
    """CreateSchema: parse the Avro JSON; names are unique per region; schemas never change afterwards."""
    name, arn = params["name"], ctx.arn(f"schema/{params['name']}")
    if arn in ctx.state.schemas:
        raise errors.already_exists(f"Schema {arn} already exists.")
    if sum(1 for s in ctx.state.schemas.values() if s.region == ctx.region) >= ctx.config.max_schemas:
        raise errors.limit_exceeded(f"The limit of {ctx.config.max_schemas} schemas has been reached.")
    try:
        parsed = parse_schema(params["schema"])
    except SchemaError as exc:
        raise errors.invalid_input(str(exc)) from exc
    ctx.state.schemas[arn] = Schema(arn, name, ctx.region, params["schema"], parsed, params.get("domain"), ctx.now)
    return {"schemaArn": arn}


def describe_schema(ctx: OpContext, params: Params) -> Params:
    """DescribeSchema."""
    return {"schema": _schema(ctx, params["schemaArn"]).describe()}


def list_schemas(ctx: OpContext, params: Params) -> Params:
    """ListSchemas (paginated)."""
    page, token = paginate([s for s in ctx.state.schemas.values() if s.region == ctx.region], params)
    return {"schemas": [s.summary() for s in page], "nextToken": token}


def delete_schema(ctx: OpContext, params: Params) -> Params:
    """DeleteSchema: refused while a dataset (or a pending dataset update) uses the schema."""
    schema = _schema(ctx, params["schemaArn"])
    for dataset in ctx.state.datasets.values():
        pending = dataset.update.schema_arn if dataset.update else None
        if schema.arn in (dataset.schema_arn_at(ctx.now), pending):
            raise errors.in_use(f"Schema {schema.arn} is used by dataset {dataset.arn}.")
    del ctx.state.schemas[schema.arn]
    return {}


# --- dataset groups -----------------------------------------------------------------------------------------


def create_dataset_group(ctx: OpContext, params: Params) -> Params:
    """CreateDatasetGroup: a KMS key needs a role and a role needs a key; at most N groups per region."""
    name, arn = params["name"], ctx.arn(f"dataset-group/{params['name']}")
    role, key = params.get("roleArn"), params.get("kmsKeyArn")
    if bool(role) != bool(key):
        raise errors.invalid_input("roleArn and kmsKeyArn go together: a KMS key needs a role that can use it.")
    if arn in ctx.state.dataset_groups:
        raise errors.already_exists(f"Dataset group {arn} already exists.")
    live = [g for g in ctx.state.dataset_groups.values() if g.region == ctx.region and not g.timeline.deleting]
    if len(live) >= ctx.config.max_dataset_groups:
        raise errors.limit_exceeded(
            f"The limit of {ctx.config.max_dataset_groups} active dataset groups in {ctx.region} has been reached."
        )
    fails, new_tags = _fails(ctx, name), tags.tags_to_create(params)
    ctx.state.dataset_groups[arn] = DatasetGroup(
        arn=arn,
        name=name,
        region=ctx.region,
        domain=params.get("domain"),
        kms_key_arn=key,
        role_arn=role,
        timeline=Timeline.creation(ctx.now, ctx.config.create_delay, fails=fails),
        failure_reason=ctx.config.failure_reason if fails else None,
    )
    ctx.state.tags[arn] = new_tags
    return {"datasetGroupArn": arn, "domain": params.get("domain")}


def describe_dataset_group(ctx: OpContext, params: Params) -> Params:
    """DescribeDatasetGroup."""
    return {"datasetGroup": _group(ctx, params["datasetGroupArn"]).describe(ctx.now)}


def list_dataset_groups(ctx: OpContext, params: Params) -> Params:
    """ListDatasetGroups (paginated)."""
    groups = [g for g in ctx.state.dataset_groups.values() if g.region == ctx.region]
    page, token = paginate(groups, params)
    return {"datasetGroups": [g.summary(ctx.now) for g in page], "nextToken": token}


def delete_dataset_group(ctx: OpContext, params: Params) -> Params:
    """DeleteDatasetGroup: only once its event trackers and datasets are gone."""
    group = _group(ctx, params["datasetGroupArn"])
    _deletable(group.timeline.status(ctx.now), "Dataset group", group.arn)
    for kind, table in (("event tracker", ctx.state.event_trackers), ("dataset", ctx.state.datasets)):
        children = [arn for arn, child in table.items() if child.group_arn == group.arn]
        if children:
            raise errors.in_use(f"Dataset group {group.arn} still has {kind} {children[0]}; delete it first.")
    group.timeline.delete(ctx.now, ctx.config.delete_delay, in_progress_step=False)
    return {}


# --- datasets -----------------------------------------------------------------------------------------------


def _dataset_type(raw: str) -> str:
    """Return the upper-case dataset type of ``raw`` (case-insensitive), or raise InvalidInput."""
    dataset_type = raw.upper()
    if dataset_type not in DATASET_TYPES:
        names = ", ".join(answered_dataset_type(known) for known in DATASET_TYPES)
        raise errors.invalid_input(f"datasetType {raw} is not valid; use one of {names}.")
    return dataset_type


def _check_domain(group: DatasetGroup, schema: Schema) -> None:
    """Raise InvalidInput unless the schema's domain is the group's (both may be None)."""
    if schema.domain != group.domain:
        raise errors.invalid_input(
            f"Schema {schema.arn} has domain {schema.domain or 'none'}, "
            f"dataset group {group.arn} has domain {group.domain or 'none'}; they must match."
        )


def _check_fits(schema: AvroSchema, dataset_type: str, domain: str | None) -> None:
    """Raise InvalidInput unless ``schema`` can back a ``dataset_type`` dataset (in a ``domain`` group, if any).

    A schema names no dataset type, so CreateSchema cannot check a type's fields: CreateDataset (and
    UpdateDataset) are where a schema meets its type, and its group's domain.
    """
    try:
        check_fits(schema, dataset_type)
        if domain:
            check_domain_fits(schema, domain, dataset_type)
    except SchemaError as exc:
        raise errors.invalid_input(str(exc)) from exc


def create_dataset(ctx: OpContext, params: Params) -> Params:
    """CreateDataset: the group ACTIVE, one dataset per type, domain rules, a schema that fits the type."""
    dataset_type = _dataset_type(params["datasetType"])
    group = _group(ctx, params["datasetGroupArn"])
    schema = _schema(ctx, params["schemaArn"])
    name = params["name"]
    if any(d.name == name and d.region == ctx.region for d in ctx.state.datasets.values()):
        raise errors.already_exists(f"A dataset named {name} already exists.")
    status = group.timeline.status(ctx.now)
    if status != ACTIVE:
        raise errors.in_use(f"Dataset group {group.arn} is in status {status}; it must be ACTIVE.")
    if group.domain and dataset_type not in DOMAIN_REQUIREMENTS[group.domain]:
        raise errors.invalid_input(f"A domain dataset group ({group.domain}) cannot have a {dataset_type} dataset.")
    _check_domain(group, schema)
    arn = ctx.arn(f"dataset/{group.name}/{dataset_type}")
    if arn in ctx.state.datasets:
        raise errors.already_exists(f"Dataset group {group.arn} already has a {dataset_type} dataset: {arn}.")
    _check_fits(schema.parsed, dataset_type, group.domain)
    new_tags = tags.tags_to_create(params)
    ctx.state.datasets[arn] = Dataset(
        arn=arn,
        name=name,
        region=ctx.region,
        group_arn=group.arn,
        dataset_type=dataset_type,
        schema_arn=schema.arn,
        timeline=Timeline.creation(ctx.now, ctx.config.create_delay, fails=_fails(ctx, name)),
        tracking_id=str(uuid.uuid4()) if dataset_type == SELF_TRACKED_TYPE else None,
    )
    ctx.state.tags[arn] = new_tags
    return {"datasetArn": arn}


def describe_dataset(ctx: OpContext, params: Params) -> Params:
    """DescribeDataset."""
    return {"dataset": _dataset(ctx, params["datasetArn"]).describe(ctx.now)}


def list_datasets(ctx: OpContext, params: Params) -> Params:
    """ListDatasets (of one group if ``datasetGroupArn`` is given; paginated)."""
    group_arn = params.get("datasetGroupArn")
    datasets = [
        d
        for d in ctx.state.datasets.values()
        if d.region == ctx.region and (group_arn is None or d.group_arn == group_arn)
    ]
    page, token = paginate(datasets, params)
    return {"datasets": [d.summary(ctx.now) for d in page], "nextToken": token}


def update_dataset(ctx: OpContext, params: Params) -> Params:
    """UpdateDataset: Items and Users only, ACTIVE, one update at a time, a compatible schema."""
    dataset = _dataset(ctx, params["datasetArn"])
    if dataset.dataset_type not in UPDATABLE_TYPES:
        updatable = " and ".join(sorted(UPDATABLE_TYPES))
        raise errors.invalid_input(f"Only {updatable} datasets can be updated, not {dataset.dataset_type}.")
    status = dataset.timeline.status(ctx.now)
    if status != ACTIVE or dataset.updating(ctx.now):
        state = "being updated" if status == ACTIVE else f"in status {status}"
        raise errors.in_use(f"Dataset {dataset.arn} is {state}.")
    new = _schema(ctx, params["schemaArn"])
    group = _group(ctx, dataset.group_arn)
    _check_domain(group, new)
    _check_fits(new.parsed, dataset.dataset_type, group.domain)
    current = dataset.schema_arn_at(ctx.now)
    try:
        check_compatible(ctx.state.schemas[current].parsed, new.parsed)
    except SchemaError as exc:
        raise errors.invalid_input(str(exc)) from exc
    dataset.schema_arn = current
    dataset.update = DatasetUpdate(new.arn, Timeline.creation(ctx.now, ctx.config.create_delay, fails=False))
    return {"datasetArn": dataset.arn}


def delete_dataset(ctx: OpContext, params: Params) -> Params:
    """DeleteDataset: when ACTIVE (and not being updated) or CREATE FAILED, and no import job on it is running
    (the API reference: not while "an associated DatasetImportJob ... is in the CREATE PENDING or IN PROGRESS
    state"); its records and import jobs go with it."""
    dataset = _dataset(ctx, params["datasetArn"])
    _deletable(dataset.timeline.status(ctx.now), "Dataset", dataset.arn)
    if dataset.updating(ctx.now):
        raise errors.in_use(f"Dataset {dataset.arn} is being updated.")
    running = import_jobs.running_jobs(ctx.state, dataset.arn, ctx.now)
    if running:
        raise errors.in_use(f"Dataset {dataset.arn} has dataset import job {running[0]} in progress.")
    dataset.timeline.delete(ctx.now, ctx.config.delete_delay)
    return {}


# --- event trackers -----------------------------------------------------------------------------------------


def create_event_tracker(ctx: OpContext, params: Params) -> Params:
    """CreateEventTracker: one per dataset group, which must be ACTIVE.

    A second tracker for a group is answered with ResourceAlreadyExists: the API reference says only "you
    will get an error"; ResourceAlreadyExists is the modeled error that names this situation.
    """
    group = _group(ctx, params["datasetGroupArn"])
    name = params["name"]
    if any(t.name == name and t.region == ctx.region for t in ctx.state.event_trackers.values()):
        raise errors.already_exists(f"An event tracker named {name} already exists.")
    existing = [t.arn for t in ctx.state.event_trackers.values() if t.group_arn == group.arn]
    if existing:
        raise errors.already_exists(f"Dataset group {group.arn} already has event tracker {existing[0]}.")
    status = group.timeline.status(ctx.now)
    if status != ACTIVE:
        raise errors.in_use(f"Dataset group {group.arn} is in status {status}; it must be ACTIVE.")
    arn, new_tags = ctx.arn(f"event-tracker/{uuid.uuid4().hex[:8]}"), tags.tags_to_create(params)
    tracker = EventTracker(
        arn=arn,
        name=name,
        region=ctx.region,
        group_arn=group.arn,
        account_id=ctx.config.account_id,
        tracking_id=str(uuid.uuid4()),
        timeline=Timeline.creation(ctx.now, ctx.config.create_delay, fails=_fails(ctx, name)),
    )
    ctx.state.event_trackers[arn] = tracker
    ctx.state.tags[arn] = new_tags
    return {"eventTrackerArn": arn, "trackingId": tracker.tracking_id}


def describe_event_tracker(ctx: OpContext, params: Params) -> Params:
    """DescribeEventTracker."""
    return {"eventTracker": _tracker(ctx, params["eventTrackerArn"]).describe(ctx.now)}


def list_event_trackers(ctx: OpContext, params: Params) -> Params:
    """ListEventTrackers (of one group if ``datasetGroupArn`` is given; paginated)."""
    group_arn = params.get("datasetGroupArn")
    trackers = [
        t
        for t in ctx.state.event_trackers.values()
        if t.region == ctx.region and (group_arn is None or t.group_arn == group_arn)
    ]
    page, token = paginate(trackers, params)
    return {"eventTrackers": [t.summary(ctx.now) for t in page], "nextToken": token}


def delete_event_tracker(ctx: OpContext, params: Params) -> Params:
    """DeleteEventTracker: when ACTIVE or CREATE FAILED."""
    tracker = _tracker(ctx, params["eventTrackerArn"])
    _deletable(tracker.timeline.status(ctx.now), "Event tracker", tracker.arn)
    tracker.timeline.delete(ctx.now, ctx.config.delete_delay)
    return {}


OPERATIONS: dict[str, Handler] = {
    "CreateSchema": create_schema,
    "DescribeSchema": describe_schema,
    "ListSchemas": list_schemas,
    "DeleteSchema": delete_schema,
    "CreateDatasetGroup": create_dataset_group,
    "DescribeDatasetGroup": describe_dataset_group,
    "ListDatasetGroups": list_dataset_groups,
    "DeleteDatasetGroup": delete_dataset_group,
    "CreateDataset": create_dataset,
    "DescribeDataset": describe_dataset,
    "ListDatasets": list_datasets,
    "UpdateDataset": update_dataset,
    "DeleteDataset": delete_dataset,
    "CreateEventTracker": create_event_tracker,
    "DescribeEventTracker": describe_event_tracker,
    "ListEventTrackers": list_event_trackers,
    "DeleteEventTracker": delete_event_tracker,
    **import_jobs.OPERATIONS,
    **tags.OPERATIONS,
}
