"""``check --plot``: one picture of what happened to each target, as a PNG, SVG or PDF.

On top, every target's goodput beside the controls' median on one rate axis,
coloured by its verdict, and the blocked and failed ones written where they
failed (the stage, the failure). Below, each slowed target's throughput over
its download against the slowest control's, each on its own time axis: one
lasts ten seconds where the other lasts milliseconds, and each shape is the
evidence. Rates are in bit/s on a log axis whose ticks read "150 kbit/s".
Throughput is binned from the records' cumulative-bytes samples as the
verdicts bin it. matplotlib is an optional extra (``pip install
'throttle-probe[plot]'``) imported only when drawing; the report page's
pictures use the same helpers.
"""

import logging
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.analysis import stats
from probe.analysis.round_judgement import RoundJudgement
from probe.analysis.stages import stage_of
from probe.analysis.target_verdict import Verdict
from probe.records import Role, RoundResult, TargetResult, Transport, VerdictKind
from probe.schema import FinishedRound
from probe.sinks import OutputError
from probe.sinks.states import STATE_COLOURS, shown_state
from probe.units import format_rate
from probe.wording import os_reason

if TYPE_CHECKING:
    from matplotlib.axes import Axes


class PlotSink:
    """``check --plot``: the last round drawn once the run is over."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._last: FinishedRound | None = None

    def round_finished(self, finished: FinishedRound) -> None:
        self._last = finished

    def close(self) -> None:
        if self._last is not None:
            plot_round(self._last.result, self._last.judgement, self._path)
            print(f"Plot written to {self._path}", file=sys.stderr)


class PlotError(OutputError):
    """The plot could not be written; ``str()`` is one sentence."""


PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def plot_path_problem(path: Path) -> str | None:
    """Why the plot could not be written to ``path``, found before measuring; or None."""
    if path.suffix.lower() not in PLOT_SUFFIXES:
        return f"--plot: {path} must end in {', '.join(PLOT_SUFFIXES)} (the picture's format)"
    folder = path.parent
    if not folder.is_dir():
        return f"--plot: the folder {folder} does not exist"
    if path.exists() and not path.is_file():
        return f"--plot: {path} is not a regular file"
    writable = os.access(path if path.exists() else folder, os.W_OK)
    return None if writable else f"--plot: {path} cannot be written here (permission denied)"


class PlotUnavailable(Exception):
    """matplotlib is not installed; ``str()`` says how to install it."""


def pyplot() -> Any:
    """matplotlib's pyplot, drawing to files only; PlotUnavailable without the extra."""
    # Where the home directory is not writable (a container, a sandboxed service)
    # matplotlib warns at every import that it made a temporary cache: noise here.
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable(
            "--plot needs matplotlib: pip install 'throttle-probe[plot]'."
        ) from None
    return plt


WIDTH_INCHES, DPI = 10.0, 100  # 1000 px wide: a terminal user's image viewer, an A4 page
CONTROL_COLOUR = "#546e7a"
SLOWED = (VerdictKind.THROTTLED,)


@dataclass(frozen=True)
class _Row:
    """One download on the top panel: shown as ``name``, judged ``verdict`` (controls: None)."""

    name: str
    entry: TargetResult
    verdict: Verdict | None


def plot_round(result: RoundResult, judgement: RoundJudgement, path: Path) -> None:
    """The round's picture; PlotError (one sentence) if the file cannot be written."""
    plt = pyplot()
    rows = _rows(result, judgement)
    slowed = [row for row in rows if row.verdict and row.verdict.verdict in SLOWED]
    pairs = [
        (row, control)
        for row in slowed
        if (control := _slowest_control(result, row.entry.transport)) is not None
    ]
    top = 1.0 + 0.3 * max(1, len(rows))
    figure = plt.figure(figsize=(WIDTH_INCHES, top + 2.6 * len(pairs)))
    grid = figure.add_gridspec(1 + len(pairs), 2, height_ratios=[top] + [2.6] * len(pairs))
    _overview(figure.add_subplot(grid[0, :]), rows, result)
    for index, (row, control) in enumerate(pairs, start=1):
        left = figure.add_subplot(grid[index, 0])
        right = figure.add_subplot(grid[index, 1], sharey=left)
        draw_download(left, row.name, row.entry, STATE_COLOURS[VerdictKind.THROTTLED])
        draw_download(right, f"{control.name} (the slowest control)", control, CONTROL_COLOUR)
    figure.suptitle(f"throttle-probe check, {result.started_at[:19]} UTC")
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=DPI)
    except OSError as error:
        raise PlotError(f"Cannot write the plot to {path}: {os_reason(error)}.") from None
    finally:
        plt.close(figure)


def _rows(result: RoundResult, judgement: RoundJudgement) -> list[_Row]:
    """The targets over TCP, then over QUIC, then the controls."""
    rows = []
    for transport, entries in ((Transport.TCP, result.targets), (Transport.QUIC, result.quic)):
        verdicts = judgement.on(transport)
        suffix = "" if transport == Transport.TCP else " over QUIC"
        rows += [
            _Row(f"{e.name}{suffix}", e, verdicts.get(e.name))
            for e in entries
            if e.role == Role.TARGET
        ]
    rows += [_Row(f"{e.name} (control)", e, None) for e in result.targets if e.role == Role.CONTROL]
    return rows


def _slowest_control(result: RoundResult, transport: Transport) -> TargetResult | None:
    entries = result.targets if transport == Transport.TCP else result.quic
    healthy = [e for e in entries if e.role == Role.CONTROL and e.failure is None and _rate(e)]
    return min(healthy, key=_rate) if healthy else None


def _rate(entry: TargetResult) -> float:
    return entry.goodput_bytes_per_second or 0.0


def _overview(axis: "Axes", rows: list[_Row], result: RoundResult) -> None:
    """Each download's goodput as a bar in its verdict's colour, the failed ones written
    where they failed, and the controls' median as a line."""
    rates = [_rate(row.entry) * 8 for row in rows if _rate(row.entry)]
    floor = min([1e5, *rates]) / 3
    for index, row in enumerate(reversed(rows)):
        state = _state(row)
        colour = CONTROL_COLOUR if row.verdict is None else STATE_COLOURS[state]
        bits = _rate(row.entry) * 8
        if bits and row.entry.failure is None:
            axis.barh(index, bits - floor, left=floor, height=0.7, color=colour)
            said = state if row.verdict is None else row.verdict.label
            axis.text(bits * 1.15, index, said, va="center", fontsize="small", color=colour)
        else:
            stage = stage_of(row.entry)
            failed = f"{row.verdict.label if row.verdict else 'failed'}: {row.entry.failure}"
            where = f" at the {stage} stage" if stage and row.verdict is None else ""
            axis.text(floor * 1.15, index, failed + where, va="center", color=colour)
    axis.set_yticks(range(len(rows)), [row.name for row in reversed(rows)], fontsize="small")
    healthy = [_rate(e) * 8 for e in result.targets if e.role == Role.CONTROL and _rate(e)]
    title = "Each target's goodput in this round, coloured by its verdict"
    if healthy:
        median = statistics.median(healthy)
        axis.axvline(median, linestyle="--", color=CONTROL_COLOUR)
        title += f"; dashed: the controls' median, {format_rate(median / 8)}"
    axis.set_xlim(floor, max([1e6, *rates]) * 30)  # room for the labels beyond the bars
    rate_axis(axis, "x")
    axis.set_title(title, fontsize="medium")
    axis.grid(True, axis="x", which="major", alpha=0.3)


def _state(row: _Row) -> str:
    verdict = row.verdict
    if verdict is None:
        return "ok" if row.entry.failure is None else "failed"
    return shown_state(verdict.verdict, verdict.mechanism or verdict.stage, verdict.rule)


def draw_download(axis: "Axes", title: str, entry: TargetResult, colour: str) -> None:
    """One download's throughput over its own time axis, in bit/s on a log axis."""
    times, bits = throughput_series(entry)
    axis.plot(times, bits, "-", marker=".", color=colour)
    axis.set_title(f"{title}: {format_rate(entry.goodput_bytes_per_second)}", fontsize="medium")
    axis.set_xlabel("seconds since its first body byte")
    axis.grid(True, which="major", alpha=0.3)
    rate_axis(axis, "y")


def throughput_series(entry: TargetResult) -> tuple[list[float], list[float]]:
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


def rate_axis(axis: "Axes", which: str = "y") -> None:
    """A log axis in bit/s whose ticks read as people say rates ("150 kbit/s")."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    scale = axis.xaxis if which == "x" else axis.yaxis
    (axis.set_xscale if which == "x" else axis.set_yscale)("log")
    low, high = axis.get_xlim() if which == "x" else axis.get_ylim()
    # 1, 2 and 5 of each decade over a short range, so that it still has ticks; the
    # decades alone over a long one, so that they do not crowd.
    short = low > 0 and high / low < 1000
    scale.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if short else (1.0,)))
    scale.set_major_formatter(FuncFormatter(lambda bits, _: format_rate(bits / 8)))
    scale.set_minor_formatter(NullFormatter())
    (axis.set_xlabel if which == "x" else axis.set_ylabel)("goodput")
