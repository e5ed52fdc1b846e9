"""The local report of a run: what the CloudWatch dashboard would show, as one self-contained HTML page.

Record during the run (:class:`TimelineRecorder`, :class:`QueueSampler`), build the per-interval series from the
recording, the emulator's call log and the dead letters (:func:`build_timeline`), write the page
(:func:`write_report`). ``python -m local.report.screenshot`` takes a PNG of a written page.
"""

from __future__ import annotations

from local.report.page import CHARTS, Chart, render_report, write_report
from local.report.recorder import (
    InvocationSpan,
    QueueSample,
    QueueSampler,
    Recording,
    TimelineRecorder,
    oldest_sent_at,
)
from local.report.timeline import (
    OUTCOMES,
    DeadLetter,
    RunTimeline,
    build_timeline,
    call_outcome,
    dead_letters_from_messages,
)

__all__ = [
    "CHARTS",
    "OUTCOMES",
    "Chart",
    "DeadLetter",
    "InvocationSpan",
    "QueueSample",
    "QueueSampler",
    "Recording",
    "RunTimeline",
    "TimelineRecorder",
    "build_timeline",
    "call_outcome",
    "dead_letters_from_messages",
    "oldest_sent_at",
    "render_report",
    "write_report",
]
