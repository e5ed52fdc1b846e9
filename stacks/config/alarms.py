"""When the alarms fire: :class:`AlarmThresholds`, read from the ``alarms`` context object.

The monitoring construct (``stacks/monitoring``) builds its alarms from these values; the bounds that keep an
alarm one CloudWatch can evaluate are checked here, so a threshold it could never fire on fails ``cdk synth``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

from stacks.config.parsing import ConfigError, parse_int, parse_object

ALARMS_KEY: Final = "alarms"
# Counting alarms sum over five minutes: long enough that one datapoint is not a single unlucky batch, short enough
# that a page goes out within minutes.
COUNT_PERIOD_SECONDS: Final = 5 * 60
# CloudWatch evaluates an alarm on a Metrics Insights query with "only the latest 3 hours of data"
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html). Such an alarm whose
# EvaluationPeriods x Period reaches further back never gets the datapoints it needs, so it can never fire.
METRICS_INSIGHTS_ALARM_WINDOW_SECONDS: Final = 3 * 60 * 60
# SustainedThrottling is such an alarm, summed per count period: 3 h / 5 min = 36 consecutive periods at most.
# (PutMetricAlarm's own bound, a day of evaluation, is looser.)
MAX_THROTTLED_PERIODS: Final = METRICS_INSIGHTS_ALARM_WINDOW_SECONDS // COUNT_PERIOD_SECONDS


@dataclass(frozen=True)
class AlarmThresholds:
    """When the alarms fire. The defaults suit the default configuration (batch size 10, maximum concurrency 2).

    Parameters
    ----------
    max_message_age_seconds
        The ingest queue's oldest message may be this old before the pipeline counts as falling behind
        (three consecutive minutes over it). 15 minutes: a healthy pipeline takes seconds; a retried message
        reappears after the visibility timeout (6 minutes with the default 60 s function), and SQS leaves a
        message received three times or more out of this metric, so a quarter of an hour means a stall or a
        backlog the quota cannot absorb.
    dead_letter_messages
        Messages in the dead-letter queue (waiting or being inspected) that raise the alarm: 1, any.
    function_errors
        Failed invocations per five minutes. The handler never raises for a bad record, so any error is a crash,
        a timeout or an invalid environment.
    setup_errors
        ResourceNotFound / AccessDenied answers per five minutes: the dataset is gone or the policy is wrong.
    throttled_calls
        Personalize calls answered with throttling per five minutes ...
    throttled_periods
        ... for this many consecutive five-minute periods. The handler retries throttled calls and paces itself,
        so short bursts are absorbed; throttling that lasts means the quota is shared with someone else or the
        maximum concurrency is too high. At most 36 (:data:`MAX_THROTTLED_PERIODS`, three hours): the alarm
        watches a Metrics Insights query, and CloudWatch evaluates those on the latest three hours of data only.
    """

    max_message_age_seconds: int = 900
    dead_letter_messages: int = 1
    function_errors: int = 1
    setup_errors: int = 1
    throttled_calls: int = 50
    throttled_periods: int = 3

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AlarmThresholds.{field.name} must be a positive integer, got {value!r}")
        # Beyond the window the alarm could never fire (see METRICS_INSIGHTS_ALARM_WINDOW_SECONDS): refuse it at synth.
        if self.throttled_periods > MAX_THROTTLED_PERIODS:
            raise ValueError(
                f"AlarmThresholds.throttled_periods must be at most {MAX_THROTTLED_PERIODS}, "
                f"got {self.throttled_periods}"
            )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def parse_alarms(value: object) -> AlarmThresholds:
    """Read the ``alarms`` object: camelCase names of :class:`AlarmThresholds` fields, each a positive integer.

    Raises
    ------
    ConfigError
        An unknown field, or a value that is not a positive integer or is out of its bound (``alarms.<field>``).
    """
    entries = parse_object(ALARMS_KEY, {} if value is None else value)
    names = {_camel(threshold.name): threshold.name for threshold in fields(AlarmThresholds)}
    unknown = sorted(set(entries) - set(names))
    if unknown:
        raise ConfigError(ALARMS_KEY, f"unknown field(s) {', '.join(unknown)}; known fields: {', '.join(names)}")
    values = {names[key]: parse_int(f"{ALARMS_KEY}.{key}", raw, minimum=1) for key, raw in entries.items()}
    try:
        return AlarmThresholds(**values)
    except ValueError as error:
        # AlarmThresholds names its own field (AlarmThresholds.throttled_periods); the user wrote the camelCase key.
        message = str(error)
        key = next((f"{ALARMS_KEY}.{camel}" for camel, name in names.items() if f".{name} " in message), ALARMS_KEY)
        raise ConfigError(key, message.split(" ", 1)[1] if key != ALARMS_KEY else message) from None
