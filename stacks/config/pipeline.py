"""The whole configuration of the ingestion stack: :class:`PipelineConfig`, built from the CDK context.

``app.py`` reads exactly :data:`CONTEXT_KEYS` from the context and hands them to :meth:`PipelineConfig.from_context`;
the checks that involve several keys (FIFO limits, a batching window for large batches, one dataset group) are
made here, after each key's own reader has checked it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from stacks.config.alarms import ALARMS_KEY, AlarmThresholds, parse_alarms
from stacks.config.datasets import (
    DATASET_GROUP_KEY,
    DATASETS_KEY,
    NOT_IN_DOMAIN_GROUPS,
    DatasetConfig,
    DatasetGroupConfig,
)
from stacks.config.kinds import DATASET_KINDS
from stacks.config.parsing import ConfigError, IntSetting, parse_object
from stacks.config.quotas import PUT_QUOTAS_KEY, parse_put_quotas
from stacks.config.schemas import check_domain_schema
from stacks.config.settings import (
    ALARM_EMAIL_KEY,
    BATCH_SIZE,
    FIFO_BATCH_SIZE_MAX,
    FIFO_MAX_BATCHING_WINDOW_SECONDS,
    FUNCTION_MEMORY_MB,
    FUNCTION_TIMEOUT_SECONDS,
    LOG_RETENTION_DAYS_DEFAULT,
    LOG_RETENTION_DAYS_KEY,
    MAX_BATCHING_WINDOW_SECONDS,
    MAX_CONCURRENCY,
    MAX_RECEIVE_COUNT,
    QUEUE_TYPE_KEY,
    QUEUE_TYPES,
    REMOVAL_POLICY_DEFAULT,
    REMOVAL_POLICY_KEY,
    RETIRED_KEYS,
    SPILL_AFTER_SECONDS,
    STACK_NAME_DEFAULT,
    STACK_NAME_KEY,
    UNWINDOWED_BATCH_SIZE_MAX,
    parse_alarm_email,
    parse_log_retention,
    parse_queue_type,
    parse_removal_policy,
    parse_stack_name,
)
from stacks.config.tags import TAGS_KEY, parse_tags


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the ingestion stack is configured with; build it with :meth:`from_context`.

    Parameters
    ----------
    datasets
        The datasets to write to, at least one, at most one per kind, all in one dataset group: either all
        created by the stack, or all existing ones.
    dataset_group
        The dataset group the stack creates for its datasets (``datasetGroup``); ``None`` for existing datasets.
    removal_policy
        ``retain`` keeps the dataset group, its datasets and event tracker (and their data) when the stack is
        deleted or replaces them; ``destroy`` deletes them (``removalPolicy``).
    stack_name
        The CloudFormation stack name (context key ``stackName``).
    batch_size
        Records per Lambda invocation from the SQS event source (``batchSize``). With ``queueType`` fifo and no
        ``batchSize`` in the context, :meth:`from_context` takes 10, Lambda's most for FIFO queues; a config built
        directly for a FIFO queue names it.
    max_batching_window_seconds
        How long the event source gathers records before invoking; 0 invokes at once
        (``maxBatchingWindowSeconds``). With ``queueType`` fifo and no value in the context, 0.
    max_concurrency
        The event source's maximum concurrent invocations (``maxConcurrency``).
    max_receive_count
        Deliveries before SQS moves a message to the dead-letter queue (``maxReceiveCount``).
    function_timeout_seconds, function_memory_mb
        The ingest Lambda's timeout and memory (``functionTimeoutSeconds``, ``functionMemoryMb``).
    log_retention_days
        Retention of the ingest Lambda's log group, one of :data:`LOG_RETENTION_DAYS` (``logRetentionDays``).
    queue_type
        ``standard`` or ``fifo`` (``queueType``): FIFO queues keep each message group's changes in order; the
        event source then takes at most 10 records and no batching window.
    alarm_email
        An address subscribed to the alarm topic (``alarmEmail``); ``None`` for none.
    alarms
        The alarm thresholds (``alarms``, an object of camelCase :class:`~stacks.config.alarms.AlarmThresholds`
        fields; absent fields keep their defaults).
    spill_after_seconds
        Spill the queue into import jobs once it would take longer than this through Put; 0 never
        (``spillAfterSeconds``). FIFO queues never spill.
    put_quotas
        Put* API -> calls per second the ingest Lambda paces to where AWS raised the quota (``putQuotas``); the
        APIs not named keep the contract's quotas.
    tags
        Tag key -> value for every resource the stack creates (``tags``), the Personalize dataset group, datasets
        and event tracker included (schemas take no tags); checked against Personalize's tag limits
        (:mod:`stacks.config.tags`).
    """

    datasets: tuple[DatasetConfig, ...]
    dataset_group: DatasetGroupConfig | None = None
    removal_policy: str = REMOVAL_POLICY_DEFAULT
    stack_name: str = STACK_NAME_DEFAULT
    batch_size: int = BATCH_SIZE.default
    max_batching_window_seconds: int = MAX_BATCHING_WINDOW_SECONDS.default
    max_concurrency: int = MAX_CONCURRENCY.default
    max_receive_count: int = MAX_RECEIVE_COUNT.default
    function_timeout_seconds: int = FUNCTION_TIMEOUT_SECONDS.default
    function_memory_mb: int = FUNCTION_MEMORY_MB.default
    log_retention_days: int = LOG_RETENTION_DAYS_DEFAULT
    queue_type: str = QUEUE_TYPES[0]
    alarm_email: str | None = None
    alarms: AlarmThresholds = field(default_factory=AlarmThresholds)
    tags: Mapping[str, str] = field(default_factory=dict)
    spill_after_seconds: int = SPILL_AFTER_SECONDS.default
    put_quotas: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_context(cls, context: Mapping[str, object]) -> PipelineConfig:
        """Validate the CDK context values into a configuration.

        Parameters
        ----------
        context
            The context keys (from cdk.json's ``context`` and ``-c``); keys this class does not know, such as
            feature flags, are ignored. Absent or null keys take their defaults, except ``datasets``; the
            dataset group's name defaults to the stack's name.

        Returns
        -------
        PipelineConfig
            The frozen, validated configuration.

        Raises
        ------
        ConfigError
            The first invalid value, named by its key.
        """
        for key, instead in RETIRED_KEYS.items():
            if context.get(key) is not None:
                raise ConfigError(key, instead)
        stack_name = STACK_NAME_DEFAULT if context.get(STACK_NAME_KEY) is None else context[STACK_NAME_KEY]
        log_retention_days = context.get(LOG_RETENTION_DAYS_KEY)
        datasets = _parse_datasets(context.get(DATASETS_KEY))
        group = context.get(DATASET_GROUP_KEY)
        # `-c datasetGroup=` (an empty value) clears cdk.json's group, for existing datasets given with -c.
        group = None if group in ("", "null") else group
        if not any(dataset.provisioned for dataset in datasets) and group is not None:
            raise ConfigError(
                DATASET_GROUP_KEY,
                "only for datasets the stack creates; existing datasets (datasets.<kind>.arn) bring their own group",
            )
        removal_policy = context.get(REMOVAL_POLICY_KEY)
        queue_type = parse_queue_type(context.get(QUEUE_TYPE_KEY) or QUEUE_TYPES[0])
        fifo = queue_type == "fifo"
        return cls(
            datasets=datasets,
            dataset_group=(
                DatasetGroupConfig.from_context(group, default_name=str(stack_name))
                if any(dataset.provisioned for dataset in datasets)
                else None
            ),
            removal_policy=REMOVAL_POLICY_DEFAULT if removal_policy is None else parse_removal_policy(removal_policy),
            stack_name=parse_stack_name(stack_name),
            batch_size=_read_batching(BATCH_SIZE, context, fifo_default=FIFO_BATCH_SIZE_MAX if fifo else None),
            max_batching_window_seconds=_read_batching(
                MAX_BATCHING_WINDOW_SECONDS,
                context,
                fifo_default=FIFO_MAX_BATCHING_WINDOW_SECONDS if fifo else None,
            ),
            max_concurrency=MAX_CONCURRENCY.read(context),
            max_receive_count=MAX_RECEIVE_COUNT.read(context),
            function_timeout_seconds=FUNCTION_TIMEOUT_SECONDS.read(context),
            function_memory_mb=FUNCTION_MEMORY_MB.read(context),
            log_retention_days=(
                LOG_RETENTION_DAYS_DEFAULT if log_retention_days is None else parse_log_retention(log_retention_days)
            ),
            queue_type=queue_type,
            alarm_email=parse_alarm_email(context.get(ALARM_EMAIL_KEY)),
            alarms=parse_alarms(context.get(ALARMS_KEY)),
            tags=parse_tags(context.get(TAGS_KEY)),
            spill_after_seconds=SPILL_AFTER_SECONDS.read(context),
            put_quotas=parse_put_quotas(context.get(PUT_QUOTAS_KEY)),
        )

    def __post_init__(self) -> None:
        # Re-check what from_context checked, so a config built directly (tests, other apps) is as safe.
        if not self.datasets:
            raise ConfigError(DATASETS_KEY, _no_datasets_message())
        kinds = [dataset.kind.name for dataset in self.datasets]
        if len(set(kinds)) != len(kinds):
            raise ConfigError(DATASETS_KEY, f"at most one dataset per kind, got kinds {kinds}")
        self._check_dataset_group()
        parse_stack_name(self.stack_name)
        parse_removal_policy(self.removal_policy)
        parse_log_retention(self.log_retention_days)
        for setting, value in (
            (BATCH_SIZE, self.batch_size),
            (MAX_BATCHING_WINDOW_SECONDS, self.max_batching_window_seconds),
            (MAX_CONCURRENCY, self.max_concurrency),
            (MAX_RECEIVE_COUNT, self.max_receive_count),
            (FUNCTION_TIMEOUT_SECONDS, self.function_timeout_seconds),
            (FUNCTION_MEMORY_MB, self.function_memory_mb),
            (SPILL_AFTER_SECONDS, self.spill_after_seconds),
        ):
            setting.check(value)
        parse_queue_type(self.queue_type)
        parse_alarm_email(self.alarm_email)
        parse_tags(self.tags)
        parse_put_quotas(self.put_quotas)
        if self.fifo and self.batch_size > FIFO_BATCH_SIZE_MAX:
            raise ConfigError(
                BATCH_SIZE.key,
                f"must be at most {FIFO_BATCH_SIZE_MAX} with {QUEUE_TYPE_KEY} fifo (Lambda's limit for FIFO queues), "
                f"got {self.batch_size}: pass -c {BATCH_SIZE.key}={FIFO_BATCH_SIZE_MAX}, or leave {BATCH_SIZE.key} out "
                "of the context for that default",
            )
        if self.fifo and self.max_batching_window_seconds:
            raise ConfigError(
                MAX_BATCHING_WINDOW_SECONDS.key,
                f"must be 0 with {QUEUE_TYPE_KEY} fifo (Lambda has no batching window for FIFO queues), "
                f"got {self.max_batching_window_seconds}: pass -c {MAX_BATCHING_WINDOW_SECONDS.key}=0, or leave "
                f"{MAX_BATCHING_WINDOW_SECONDS.key} out of the context for that default",
            )
        if self.batch_size > UNWINDOWED_BATCH_SIZE_MAX and self.max_batching_window_seconds == 0:
            raise ConfigError(
                MAX_BATCHING_WINDOW_SECONDS.key,
                f"must be at least 1 when {BATCH_SIZE.key} is above {UNWINDOWED_BATCH_SIZE_MAX} (Lambda requires a "
                f"batching window for larger batches), got 0 with {BATCH_SIZE.key} {self.batch_size}",
            )

    def _check_dataset_group(self) -> None:
        created = [dataset.kind.name for dataset in self.datasets if dataset.provisioned]
        existing = [dataset.kind.name for dataset in self.datasets if not dataset.provisioned]
        if created and existing:
            # The stack's group is new: an existing dataset cannot be in it, and the Put* quotas and maxConcurrency
            # are sized for one group.
            raise ConfigError(
                DATASETS_KEY,
                "either every dataset is created by the stack (schema) or every one exists (arn); got "
                f"{', '.join(created)} to create and {', '.join(existing)} existing",
            )
        if existing:
            if self.dataset_group is not None:
                raise ConfigError(DATASET_GROUP_KEY, "only for datasets the stack creates")
            groups = sorted({dataset.dataset_group_arn for dataset in self.datasets})
            if len(groups) > 1:
                # The Put* request quotas are per dataset group, and maxConcurrency is sized for one group.
                raise ConfigError(
                    DATASETS_KEY, f"all datasets must belong to one dataset group, got {', '.join(groups)}"
                )
            return
        if self.dataset_group is None:
            raise ConfigError(DATASET_GROUP_KEY, "required when the stack creates the datasets")
        if self.dataset_group.domain:
            for dataset in self.datasets:
                if dataset.kind.dataset_type in NOT_IN_DOMAIN_GROUPS:
                    raise ConfigError(
                        f"{DATASETS_KEY}.{dataset.kind.name}",
                        f"a domain dataset group ({self.dataset_group.domain}) cannot hold an "
                        f"{dataset.kind.dataset_type} dataset; remove datasetGroup.domain or this dataset",
                    )
            # A domain asks more of each dataset type's schema than a custom group does (schema_rules'
            # DOMAIN_REQUIREMENTS); CreateDataset would refuse the schema minutes into the deployment.
            for dataset in self.datasets:
                check_domain_schema(
                    f"{DATASETS_KEY}.{dataset.kind.name}.schema",
                    str(dataset.schema),
                    dataset.kind,
                    domain=self.dataset_group.domain,
                    schema_file=dataset.schema_file,
                )

    @property
    def fifo(self) -> bool:
        """Whether the ingest queue (and so its dead-letter queue) is a FIFO queue."""
        return self.queue_type == "fifo"

    @property
    def provisions_datasets(self) -> bool:
        """Whether the stack creates the dataset group and its datasets (rather than using existing ones)."""
        return self.dataset_group is not None

    def dataset(self, kind_name: str) -> DatasetConfig | None:
        """Return the configured dataset of kind ``kind_name`` (``"items"``), or ``None``."""
        return next((dataset for dataset in self.datasets if dataset.kind.name == kind_name), None)


def _read_batching(setting: IntSetting, context: Mapping[str, object], *, fifo_default: int | None) -> int:
    """A batching setting from the context; absent with a FIFO queue, ``fifo_default`` (Lambda's FIFO limit)
    rather than the standard queue's default, which a FIFO queue refuses. A value given is kept, and checked
    against the FIFO limit by ``__post_init__``."""
    if fifo_default is not None and context.get(setting.key) is None:
        return fifo_default
    return setting.read(context)


def _no_datasets_message() -> str:
    return (
        'at least one dataset is required, as an object of kind -> {"schema": "<schema file>"} (the stack creates '
        f'it) or {{"arn": "<dataset ARN>"}} (an existing one); known kinds: {", ".join(DATASET_KINDS)}'
    )


def _parse_datasets(value: object) -> tuple[DatasetConfig, ...]:
    if value is None:
        raise ConfigError(DATASETS_KEY, _no_datasets_message())
    entries = parse_object(DATASETS_KEY, value)
    if not entries:
        raise ConfigError(DATASETS_KEY, _no_datasets_message())
    datasets = [DatasetConfig.from_context(kind_name, entry) for kind_name, entry in entries.items()]
    # In table order, so the template does not depend on the order the keys were written in.
    order = list(DATASET_KINDS)
    return tuple(sorted(datasets, key=lambda dataset: order.index(dataset.kind.name)))


# Every context key the configuration reads; app.py reads exactly these from the CDK context.
CONTEXT_KEYS: Final[tuple[str, ...]] = (
    STACK_NAME_KEY,
    DATASETS_KEY,
    DATASET_GROUP_KEY,
    REMOVAL_POLICY_KEY,
    BATCH_SIZE.key,
    MAX_BATCHING_WINDOW_SECONDS.key,
    MAX_CONCURRENCY.key,
    MAX_RECEIVE_COUNT.key,
    FUNCTION_TIMEOUT_SECONDS.key,
    FUNCTION_MEMORY_MB.key,
    LOG_RETENTION_DAYS_KEY,
    *RETIRED_KEYS,
    QUEUE_TYPE_KEY,
    ALARM_EMAIL_KEY,
    ALARMS_KEY,
    TAGS_KEY,
    SPILL_AFTER_SECONDS.key,
    PUT_QUOTAS_KEY,
)
