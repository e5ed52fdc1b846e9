"""Typed, validated configuration of the ingestion stack, built from the CDK context (cdk.json or ``-c``).

``app.py`` is the only reader of the context: it passes the raw mapping to :meth:`PipelineConfig.from_context`
and hands the frozen result to the stack. Values given on the command line (``-c batchSize=20``) arrive as
strings, so every parser accepts the string spelling of its type too: ``"20"`` for an integer,
``"true"``/``"false"`` for a boolean and a JSON document for an object (``-c 'datasets={"items": {...}}'``).
Every problem is raised as :class:`ConfigError` with the context key first in the message, so a bad value fails
``cdk synth`` with a message that says which key to fix.

The package follows the configuration's parts: ``parsing`` (the value parsers and :class:`ConfigError`),
``settings`` (the scalar settings and their bounds), ``kinds`` (the contract's dataset kinds with the stack's
columns), ``schemas`` (schema files and their checks), ``datasets`` (datasets and the dataset group), ``alarms``
(the alarm thresholds), ``tags`` (the resources' tags), ``quotas`` (the Put* quotas the handler paces to) and
``pipeline`` (:class:`PipelineConfig` itself). It imports nothing from the CDK.
"""

from __future__ import annotations

from stacks.config.alarms import ALARMS_KEY, MAX_THROTTLED_PERIODS, AlarmThresholds
from stacks.config.datasets import (
    DATASET_FIELDS,
    DATASET_GROUP_FIELDS,
    DATASET_GROUP_KEY,
    DATASETS_KEY,
    DOMAINS,
    NOT_IN_DOMAIN_GROUPS,
    DatasetConfig,
    DatasetGroupConfig,
)
from stacks.config.kinds import DATASET_KINDS, DatasetKind
from stacks.config.parsing import ConfigError, IntSetting, parse_bool, parse_int, parse_object, parse_str
from stacks.config.pipeline import CONTEXT_KEYS, PipelineConfig
from stacks.config.quotas import FIXED_QUOTA_APIS, PUT_QUOTAS_KEY, parse_put_quotas, render_put_quotas
from stacks.config.schemas import PROJECT_ROOT, SCHEMA_MAX_LENGTH
from stacks.config.settings import (
    ALARM_EMAIL_KEY,
    BATCH_SIZE,
    FUNCTION_MEMORY_MB,
    FUNCTION_TIMEOUT_SECONDS,
    LOG_RETENTION_DAYS,
    LOG_RETENTION_DAYS_DEFAULT,
    LOG_RETENTION_DAYS_KEY,
    MAX_BATCHING_WINDOW_SECONDS,
    MAX_CONCURRENCY,
    MAX_RECEIVE_COUNT,
    QUEUE_TYPE_KEY,
    QUEUE_TYPES,
    REMOVAL_POLICIES,
    REMOVAL_POLICY_DEFAULT,
    REMOVAL_POLICY_KEY,
    RETIRED_KEYS,
    SPILL_AFTER_SECONDS,
    STACK_NAME_DEFAULT,
    STACK_NAME_KEY,
)
from stacks.config.tags import MAX_TAGS_PER_RESOURCE, TAGS_KEY, parse_tags, tag_problems

__all__ = [
    "ALARMS_KEY",
    "ALARM_EMAIL_KEY",
    "BATCH_SIZE",
    "CONTEXT_KEYS",
    "DATASETS_KEY",
    "DATASET_FIELDS",
    "DATASET_GROUP_FIELDS",
    "DATASET_GROUP_KEY",
    "DATASET_KINDS",
    "DOMAINS",
    "FIXED_QUOTA_APIS",
    "FUNCTION_MEMORY_MB",
    "FUNCTION_TIMEOUT_SECONDS",
    "LOG_RETENTION_DAYS",
    "LOG_RETENTION_DAYS_DEFAULT",
    "LOG_RETENTION_DAYS_KEY",
    "MAX_BATCHING_WINDOW_SECONDS",
    "MAX_CONCURRENCY",
    "MAX_RECEIVE_COUNT",
    "MAX_TAGS_PER_RESOURCE",
    "MAX_THROTTLED_PERIODS",
    "NOT_IN_DOMAIN_GROUPS",
    "PROJECT_ROOT",
    "PUT_QUOTAS_KEY",
    "QUEUE_TYPES",
    "QUEUE_TYPE_KEY",
    "REMOVAL_POLICIES",
    "REMOVAL_POLICY_DEFAULT",
    "REMOVAL_POLICY_KEY",
    "RETIRED_KEYS",
    "SCHEMA_MAX_LENGTH",
    "SPILL_AFTER_SECONDS",
    "STACK_NAME_DEFAULT",
    "STACK_NAME_KEY",
    "TAGS_KEY",
    "AlarmThresholds",
    "ConfigError",
    "DatasetConfig",
    "DatasetGroupConfig",
    "DatasetKind",
    "IntSetting",
    "PipelineConfig",
    "parse_bool",
    "parse_int",
    "parse_object",
    "parse_put_quotas",
    "parse_str",
    "parse_tags",
    "render_put_quotas",
    "tag_problems",
]
