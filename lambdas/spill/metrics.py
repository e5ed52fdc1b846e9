"""The spill's metrics as CloudWatch embedded metric format lines (one JSON document per line on stdout).

EMF needs no client and no permission: Lambda's log agent turns the line into metrics
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
The namespace and the ``service`` dimension are the handler's, so one dashboard reads both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from contract import METRICS_NAMESPACE, SERVICE_NAME, SpillMetric

Emit = Callable[[str], None]


def emf_line(metric: SpillMetric, value: float, unit: str = "Count", *, now: float | None = None) -> str:
    """One metric value as an EMF document."""
    return json.dumps(
        {
            "_aws": {
                "Timestamp": int((time.time() if now is None else now) * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": METRICS_NAMESPACE,
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": str(metric), "Unit": unit}],
                    }
                ],
            },
            "service": SERVICE_NAME,
            str(metric): value,
        }
    )


def publish(metric: SpillMetric, value: float, unit: str = "Count", *, emit: Emit = print) -> None:
    """Write one metric value (``emit`` is ``print`` in Lambda; tests collect the lines)."""
    emit(emf_line(metric, value, unit))
