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
(the alarm thresholds) and ``pipeline`` (:class:`PipelineConfig` itself). It imports nothing from the CDK.
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
from stacks.config.schemas import PROJECT_ROOT, RESERVED_FIELDS, SCHEMA_MAX_LENGTH
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
    STACK_NAME_DEFAULT,
    STACK_NAME_KEY,
)

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
    "FUNCTION_MEMORY_MB",
    "FUNCTION_TIMEOUT_SECONDS",
    "LOG_RETENTION_DAYS",
    "LOG_RETENTION_DAYS_DEFAULT",
    "LOG_RETENTION_DAYS_KEY",
    "MAX_BATCHING_WINDOW_SECONDS",
    "MAX_CONCURRENCY",
    "MAX_RECEIVE_COUNT",
    "MAX_THROTTLED_PERIODS",
    "NOT_IN_DOMAIN_GROUPS",
    "PROJECT_ROOT",
    "QUEUE_TYPES",
    "QUEUE_TYPE_KEY",
    "REMOVAL_POLICIES",
    "REMOVAL_POLICY_DEFAULT",
    "REMOVAL_POLICY_KEY",
    "RESERVED_FIELDS",
    "RETIRED_KEYS",
    "SCHEMA_MAX_LENGTH",
    "STACK_NAME_DEFAULT",
    "STACK_NAME_KEY",
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
    "parse_str",
]
