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

from probe.analysis import stats
from probe.evidence.story import FREEZE, SHUTDOWN, moment, timeline_state
from probe.records import Role, TargetResult, Transport, VerdictKind
from probe.schema import ArchiveEntry
from probe.sinks.plot import pyplot
from probe.units import format_rate

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# One colour per state, distinct in print and for the common colour blindnesses
# (throttled orange, blocked red, freeze purple, shutdown black).
STATE_COLOURS = {
    VerdictKind.OK: "#2e7d32",
    VerdictKind.THROTTLED: "#e65100",
    VerdictKind.BLOCKED: "#b71c1c",
    FREEZE: "#6a1b9a",
    SHUTDOWN: "#000000",
    VerdictKind.DEGRADED: "#f9a825",
    VerdictKind.INCONCLUSIVE: "#9e9e9e",
    VerdictKind.PLATFORM_REFUSED: "#1565c0",
}
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)  # matplotlib's day 0
WIDTH_INCHES, DPI = 10.0, 100  # 1000 px wide: a terminal user's image viewer, an A4 page


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
                state = timeline_state(verdict.verdict, detail, verdict.rule)
                bands[shown].append((start, max(end, start + 1e-5), state))
    return dict(bands)


def _days(when: datetime.datetime) -> float:
    """Days since 1970, UTC: the numbers matplotlib's date axis reads (its default epoch)."""
    return (when - EPOCH).total_seconds() / 86400


def round_png(entry: ArchiveEntry, target: str, transport: Transport) -> bytes | None:
    """One round: the target's throughput over its download beside the slowest healthy
    control's, each on its own time axis, one rate axis."""
    entries = entry.entries_over(transport)
    mine = next((e for e in entries if e.name == target), None)
    healthy = [
        e
        for e in entries
        if e.role == Role.CONTROL and e.failure is None and e.goodput_bytes_per_second
    ]
    if mine is None or not _series(mine) or not healthy:
        return None
    control = min(healthy, key=lambda e: e.goodput_bytes_per_second or 0.0)
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(WIDTH_INCHES, 3.2), sharey=True)
    for axis, shown, colour in ((axes[0], mine, "#e65100"), (axes[1], control, "#2e7d32")):
        times, bits = _series(shown)
        axis.plot(times, bits, "-", marker=".", color=colour)
        role = "target" if shown is mine else "the slowest control"
        axis.set_title(f"{shown.name} ({role}): {format_rate(shown.goodput_bytes_per_second)}")
        axis.set_xlabel("seconds since its first body byte")
        axis.grid(True, which="both", alpha=0.3)
    rate_axis(axes[0])
    figure.tight_layout()
    return _png(plt, figure)


def _series(entry: TargetResult) -> tuple[list[float], list[float]]:
    """Bin mid-times (s) and rates (bit/s) of a download: empty without two samples."""
    transfer = entry.transfer
    if transfer is None or len(transfer.samples) < 2:
        return [], []
    samples = transfer.body_samples()
    bins = stats.throughput_bins(samples)
    if not bins:
        return [], []
    width = (samples[-1].t - samples[0].t) / len(bins)
    # A bin with no byte cannot sit on a log axis: it is drawn at 1 kbit/s.
    return [width * (i + 0.5) for i in range(len(bins))], [max(r * 8, 1e3) for r in bins]


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


def rate_axis(axis: "Axes") -> None:
    """A log axis in bit/s whose ticks read as people say rates ("150 kbit/s")."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_yscale("log")
    # 1, 2 and 5 of each decade, so that a range under one decade still has ticks.
    axis.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_major_formatter(FuncFormatter(lambda bits, _: format_rate(bits / 8)))
    axis.yaxis.set_minor_formatter(NullFormatter())
    axis.set_ylabel("goodput")


def _png(plt: Any, figure: Any) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return buffer.getvalue()
