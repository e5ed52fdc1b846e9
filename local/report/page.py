"""The local report: one self-contained HTML page with the dashboard's graphs for a :class:`RunTimeline`.

plotly draws each graph; its JavaScript is embedded once in the page, so the file opens offline, from disk, with
nothing else beside it. The timeline itself is embedded too (``<script type="application/json" id="timeline">``),
so a test or a script can read what the graphs show.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]
import plotly.offline  # type: ignore[import-untyped]

from local.report.timeline import OK, OTHER_ERROR, SERVER_ERROR, THROTTLED, RunTimeline

DEFAULT_TITLE: Final = "Personalize ingest pipeline: local run"
# Outcome colours: the usual traffic lights, so a throttling storm or a run of 5xx stands out at a glance.
OUTCOME_COLOURS: Final[Mapping[str, str]] = {
    OK: "#2ca02c",
    THROTTLED: "#ff7f0e",
    SERVER_ERROR: "#d62728",
    OTHER_ERROR: "#7f7f7f",
}
_CHART_HEIGHT_PX: Final = 320
# Up to this many, a count axis ticks every whole number.
_WHOLE_TICKS_UP_TO: Final = 8
# No mode bar: its buttons would sit on the legends; zoom and hover still work.
_PLOT_CONFIG: Final[Mapping[str, Any]] = {"displaylogo": False, "displayModeBar": False, "responsive": True}


@dataclass(frozen=True, slots=True)
class Chart:
    """One graph of the page: its element id and its title (the dashboard's widget it stands for)."""

    element_id: str
    title: str


QUEUE_DEPTH: Final = Chart("chart-queue-depth", "Ingest queue: messages waiting and being processed")
OLDEST_MESSAGE: Final = Chart("chart-oldest-message", "Ingest queue: age of the oldest message (seconds)")
DEAD_LETTER_QUEUE: Final = Chart("chart-dead-letter-queue", "Dead-letter queue: messages waiting for repair")
INVOCATIONS: Final = Chart("chart-invocations", "Ingest Lambda: invocations")
CONCURRENCY: Final = Chart("chart-concurrency", "Ingest Lambda: concurrent executions")
RECORDS_ACCEPTED: Final = Chart("chart-records-accepted", "Records accepted by Personalize, per API")
DEAD_LETTERS: Final = Chart("chart-dead-letters", "Records dead-lettered, per reason")
CALLS: Final = Chart("chart-calls", "Personalize Put* calls, by outcome")
# Every graph, in the dashboard's order (queues, the Lambda, records, Personalize): the test checks each rendered.
CHARTS: Final[tuple[Chart, ...]] = (
    QUEUE_DEPTH,
    OLDEST_MESSAGE,
    DEAD_LETTER_QUEUE,
    INVOCATIONS,
    CONCURRENCY,
    RECORDS_ACCEPTED,
    DEAD_LETTERS,
    CALLS,
)

_STYLE: Final = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #222; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; }
p.lead { margin: 0 0 16px; color: #555; }
table.totals { border-collapse: collapse; margin: 0 0 16px; background: #fff; }
table.totals th, table.totals td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; font-size: 14px; }
div.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 12px; }
div.chart { background: #fff; border: 1px solid #ddd; }
p.note { color: #555; font-size: 13px; max-width: 1100px; }
"""


def write_report(timeline: RunTimeline, path: Path | str, *, title: str = DEFAULT_TITLE) -> Path:
    """Write the report of ``timeline`` to ``path`` (a self-contained HTML page); return the path.

    Parameters
    ----------
    timeline
        The run, per interval.
    path
        Where to write; parent directories are created.
    title
        The page's heading.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(timeline, title=title), encoding="utf-8")
    return target


def render_report(timeline: RunTimeline, *, title: str = DEFAULT_TITLE) -> str:
    """Return the report of ``timeline`` as the text of an HTML page."""
    figures = build_figures(timeline)
    charts = "\n".join(f'<div class="chart">{_figure_html(figure, chart)}</div>' for chart, figure in figures.items())
    timeline_json = json.dumps(timeline.to_dict()).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="lead">{html.escape(_lead(timeline))}</p>
{_totals_table(timeline)}
<div class="grid">
{charts}
</div>
<p class="note">What the CloudWatch dashboard would show for this run, per {timeline.interval_s:g} s instead of per
minute. Records and calls come from the Personalize emulator's call log (Put* calls answered 200, and every call's
outcome); dead letters from the dead-letter queue (ErrorCode, SentTimestamp); queue depths from GetQueueAttributes
samples (the maximum per interval); invocations and concurrency from the handler's calls. SQS publishes the age of
the oldest message to CloudWatch only, so here it is the age of the oldest message handed to the function in each
interval (0 while the queue is empty).</p>
<script type="application/json" id="timeline">{timeline_json}</script>
</body>
</html>
"""


def build_figures(timeline: RunTimeline) -> dict[Chart, Any]:
    """Return each chart's plotly figure, titled, in page order."""
    figures = {
        QUEUE_DEPTH: _lines(
            timeline,
            {"Waiting": timeline.queue_visible, "Being processed": timeline.queue_in_flight},
            "messages",
        ),
        OLDEST_MESSAGE: _lines(timeline, {"Oldest message": timeline.oldest_message_age_s}, "seconds"),
        DEAD_LETTER_QUEUE: _lines(timeline, {"Dead-letter queue": timeline.dead_letter_depth}, "messages", step=True),
        INVOCATIONS: _stacked_bars(timeline, {"Invocations": timeline.invocations}, "invocations"),
        CONCURRENCY: _lines(timeline, {"Concurrent executions": timeline.concurrency}, "executions", step=True),
        RECORDS_ACCEPTED: _stacked_bars(timeline, timeline.records_accepted, "records"),
        DEAD_LETTERS: _stacked_bars(timeline, timeline.dead_letters, "records"),
        CALLS: _stacked_bars(timeline, timeline.calls, "calls", colours=OUTCOME_COLOURS, keep_all=True),
    }
    return {chart: _titled(figure, chart.title) for chart, figure in figures.items()}


def _lead(timeline: RunTimeline) -> str:
    started = datetime.fromtimestamp(timeline.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    duration = timeline.intervals * timeline.interval_s
    return f"Run started {started}; {duration:g} s in intervals of {timeline.interval_s:g} s."


def _totals_table(timeline: RunTimeline) -> str:
    def joined(series: Mapping[str, Sequence[int]]) -> str:
        parts = [f"{name} {sum(values)}" for name, values in series.items() if sum(values)]
        return ", ".join(parts) or "none"

    rows = [
        ("Records accepted", sum(map(sum, timeline.records_accepted.values())), joined(timeline.records_accepted)),
        ("Records dead-lettered", sum(map(sum, timeline.dead_letters.values())), joined(timeline.dead_letters)),
        ("Put* calls", sum(map(sum, timeline.calls.values())), joined(timeline.calls)),
        ("Invocations", sum(timeline.invocations), f"peak concurrency {max(timeline.concurrency, default=0)}"),
    ]
    body = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{total}</td><td>{html.escape(detail)}</td></tr>"
        for name, total, detail in rows
    )
    return f'<table class="totals">{body}</table>'


def _figure_html(figure: Any, chart: Chart) -> str:
    html_text: str = pio.to_html(
        figure,
        full_html=False,
        include_plotlyjs=False,
        div_id=chart.element_id,
        config=dict(_PLOT_CONFIG),
        default_height=f"{_CHART_HEIGHT_PX}px",
        default_width="100%",
    )
    return html_text


def _layout(figure: Any, timeline: RunTimeline, unit: str, *, stacked: bool) -> Any:
    figure.update_layout(
        template="plotly_white",
        height=_CHART_HEIGHT_PX,
        margin={"l": 56, "r": 16, "t": 44, "b": 40},
        barmode="stack" if stacked else None,
        bargap=0.1,
        legend={"orientation": "v", "yanchor": "top", "y": 1.0, "x": 1.02, "xanchor": "left"},
        xaxis={
            "title": {"text": "seconds since the run started"},
            "range": [0, timeline.intervals * timeline.interval_s],
        },
        yaxis={"title": {"text": unit}, "rangemode": "tozero"},
    )
    if _largest(figure) <= _WHOLE_TICKS_UP_TO:
        # Small counts: whole ticks (no "1.5 executions"), and room for a flat line at zero.
        figure.update_yaxes(dtick=1, range=[0, max(1.0, _largest(figure)) * 1.1])
    return figure


def _largest(figure: Any) -> float:
    """The largest y the figure plots (the stacked total for bars)."""
    traces = list(figure.data)
    if not traces:
        return 0.0
    columns = [[value or 0 for value in trace.y] for trace in traces]
    if figure.layout.barmode == "stack":
        return float(max((sum(values) for values in zip(*columns, strict=True)), default=0))
    return float(max((max(values, default=0) for values in columns), default=0))


def _titled(figure: Any, chart_title: str) -> Any:
    figure.update_layout(title={"text": chart_title, "x": 0.01, "font": {"size": 15}})
    return figure


def _shown(series: Mapping[str, Sequence[Any]], *, keep_all: bool) -> dict[str, Sequence[Any]]:
    """The series worth a legend entry: those with data; the first one alone if none has, so the graph still draws."""
    if keep_all:
        return dict(series)
    shown = {name: values for name, values in series.items() if any(values)}
    if not shown and series:
        name, values = next(iter(series.items()))
        shown = {name: values}
    return shown


def _stacked_bars(
    timeline: RunTimeline,
    series: Mapping[str, Sequence[int]],
    unit: str,
    *,
    colours: Mapping[str, str] | None = None,
    keep_all: bool = False,
) -> Any:
    x = [second + timeline.interval_s / 2 for second in timeline.seconds()]
    figure = go.Figure()
    for name, values in _shown(series, keep_all=keep_all).items():
        marker = {"color": colours[name]} if colours and name in colours else None
        figure.add_trace(go.Bar(x=x, y=list(values), name=name, width=timeline.interval_s * 0.9, marker=marker))
    return _layout(figure, timeline, unit, stacked=True)


def _lines(
    timeline: RunTimeline,
    series: Mapping[str, Sequence[float | int | None]],
    unit: str,
    *,
    step: bool = False,
) -> Any:
    x = timeline.seconds()
    figure = go.Figure()
    for name, values in series.items():
        if not any(value is not None for value in values) and len(series) > 1:
            continue  # not sampled at all (the dead-letter queue, when the sampler was not given it)
        figure.add_trace(
            go.Scatter(
                x=x,
                y=list(values),
                name=name,
                mode="lines",
                connectgaps=True,
                line={"shape": "hv" if step else "linear", "width": 2},
            )
        )
    return _layout(figure, timeline, unit, stacked=False)
