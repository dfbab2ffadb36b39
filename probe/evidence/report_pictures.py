"""The report page's pictures: a state timeline per target, one round against a control,
and each group's rates over the period. PNG bytes; matplotlib (the ``plot`` extra).

Rates are drawn in bit/s on a log axis whose ticks read "150 kbit/s" and
"100 Mbit/s", so that a policed target and a fast control fit one picture;
a target and its control each get their own time axis, because one lasts
ten seconds where the other lasts milliseconds.
"""

import datetime
import io
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from probe.evidence.story import moment
from probe.records import Role, Transport, VerdictKind
from probe.schema import ArchiveEntry
from probe.sinks.plot import (
    CONTROL_COLOUR,
    DPI,
    WIDTH_INCHES,
    draw_download,
    pyplot,
    rate_axis,
    throughput_series,
)
from probe.sinks.states import STATE_COLOURS, shown_state

if TYPE_CHECKING:
    from matplotlib.axes import Axes

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)  # matplotlib's day 0


def timeline_png(entries: Sequence[ArchiveEntry]) -> bytes | None:
    """Each target's window verdict round by round, as coloured bands over time."""
    bands = _bands(entries)
    if not bands:
        return None
    plt = pyplot()
    names = sorted(bands, reverse=True)  # the first name on top
    figure, axis = plt.subplots(figsize=(WIDTH_INCHES, 0.8 + 0.32 * len(names)))
    for row, name in enumerate(names):
        for start, end, state in bands[name]:
            axis.barh(row, end - start, left=start, height=0.7, color=STATE_COLOURS[state])
    axis.set_yticks(range(len(names)), names, fontsize="small")
    _time_axis(axis, [start for spans in bands.values() for start, _, _ in spans])
    seen = {state for spans in bands.values() for _, _, state in spans}
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=colour)
        for state, colour in STATE_COLOURS.items()
        if state in seen
    ]
    labels = [str(state) for state in STATE_COLOURS if state in seen]
    axis.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=8, frameon=False)
    return _png(plt, figure)


def _time_axis(axis: "Axes", days: Sequence[float]) -> None:
    """Dates in UTC: hours and minutes within one day, with the day beyond."""
    from matplotlib.ticker import FuncFormatter

    axis.xaxis_date(datetime.UTC)
    shown = "%H:%M" if not days or max(days) - min(days) < 1 else "%d %b %H:%M"
    axis.xaxis.set_major_formatter(
        FuncFormatter(lambda day, _: (EPOCH + datetime.timedelta(days=day)).strftime(shown))
    )
    axis.set_xlabel("time (UTC)")


def _bands(entries: Sequence[ArchiveEntry]) -> dict[str, list[tuple[float, float, str]]]:
    """Per target (and per target over QUIC): (start, end, state) in matplotlib's dates,
    each round lasting until the next one starts."""
    ordered = sorted(entries, key=lambda e: e.started_at)
    bands: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for index, entry in enumerate(ordered):
        start = _days(moment(entry.started_at))
        following = ordered[index + 1].started_at if index + 1 < len(ordered) else None
        end = _days(moment(following or entry.finished_at))
        for transport in Transport:
            verdicts = entry.window_over(transport) or entry.verdicts(transport)
            for name, verdict in verdicts.items():
                shown = name if transport == Transport.TCP else f"{name} over QUIC"
                detail = verdict.mechanism or verdict.stage
                state = shown_state(verdict.verdict, detail, verdict.rule)
                bands[shown].append((start, max(end, start + 1e-5), state))
    return dict(bands)


def _days(when: datetime.datetime) -> float:
    """Days since 1970, UTC: the numbers matplotlib's date axis reads (its default epoch)."""
    return (when - EPOCH).total_seconds() / 86400


def round_png(entry: ArchiveEntry, target: str, transport: Transport) -> bytes | None:
    """One round: the target's throughput over its download beside the slowest healthy
    control's, each on its own time axis."""
    entries = entry.entries_over(transport)
    mine = next((e for e in entries if e.name == target), None)
    healthy = [
        e
        for e in entries
        if e.role == Role.CONTROL and e.failure is None and e.goodput_bytes_per_second
    ]
    if mine is None or not throughput_series(mine)[0] or not healthy:
        return None
    control = min(healthy, key=lambda e: e.goodput_bytes_per_second or 0.0)
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(WIDTH_INCHES, 3.2), sharey=True)
    draw_download(axes[0], f"{mine.name} (target)", mine, STATE_COLOURS[VerdictKind.THROTTLED])
    draw_download(axes[1], f"{control.name} (the slowest control)", control, CONTROL_COLOUR)
    return _png(plt, figure)


def groups_png(entries: Sequence[ArchiveEntry]) -> dict[str, bytes]:
    """One PNG per target group: its targets' rates (solid) round by round over the
    period, against the controls' (dashed)."""
    series: dict[tuple[str, str, bool], list[tuple[datetime.datetime, float]]] = defaultdict(list)
    for entry in entries:
        when = moment(entry.started_at)
        for target in entry.entries_over(Transport.TCP):
            rate = target.goodput_bytes_per_second
            if rate is None or target.failure is not None:
                continue
            if target.role in (Role.TARGET, Role.CONTROL):
                control = target.role == Role.CONTROL
                series[(target.group, target.name, control)].append((when, rate * 8))
    groups = sorted({group for group, _, control in series if not control})
    return {group: _group_png(group, series) for group in groups}


def _group_png(group: str, series: dict[tuple[str, str, bool], Any]) -> bytes:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(WIDTH_INCHES, 3.2))
    for (series_group, name, control), points in sorted(series.items()):
        if control or series_group == group:
            style = "--" if control else "-"
            label = f"{name} (control)" if control else name
            axis.plot(*zip(*points, strict=True), style, marker=".", label=label)
    rate_axis(axis)
    axis.set_title(f"{group} against the controls, round by round")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize="small", loc="best")
    figure.autofmt_xdate()
    return _png(plt, figure)


def _png(plt: Any, figure: Any) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return buffer.getvalue()
