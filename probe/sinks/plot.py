"""``check --plot``: throughput over time of each target against its controls, as a PNG.

Throughput is drawn from the records' cumulative-bytes samples, binned like
the verdicts bin them, on a logarithmic axis so that 150 kbit/s and
100 Mbit/s fit in one picture. matplotlib is an optional extra
(``pip install 'throttle-probe[plot]'``) imported only here.
"""

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.analysis import stats
from probe.records import Role, RoundResult, TargetResult
from probe.schema import FinishedRound
from probe.sinks import OutputError
from probe.wording import os_reason

if TYPE_CHECKING:
    from matplotlib.axes import Axes


class PlotSink:
    """``check --plot``: the last round drawn once the run is over."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._last: RoundResult | None = None

    def round_finished(self, finished: FinishedRound) -> None:
        self._last = finished.result

    def close(self) -> None:
        if self._last is not None:
            plot_round(self._last, self._path)
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


def plot_round(result: RoundResult, path: Path) -> None:
    """Write one panel per target group, controls drawn dashed on every panel.

    PlotError (one sentence) if the file cannot be written.
    """
    plt = pyplot()
    controls = [t for t in result.targets if t.role == Role.CONTROL]
    groups: dict[str, list[TargetResult]] = {}
    for entry in result.targets:
        if entry.role != Role.CONTROL:
            groups.setdefault(entry.group, []).append(entry)
    panels = max(1, len(groups))
    figure, axes = plt.subplots(panels, 1, figsize=(9, 3.2 * panels), squeeze=False)
    for axis, (group, entries) in zip(axes[:, 0], groups.items(), strict=False):
        for entry in entries:
            _draw(axis, entry, "-")
        for entry in controls:
            _draw(axis, entry, "--")
        kind = "SNI swap" if entries[0].role == Role.SNI_SWAP else group
        axis.set_title(f"{kind} against the controls (dashed)")
        axis.set_yscale("log")
        axis.set_ylabel("throughput (bit/s)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize="small", loc="best")
    axes[-1, 0].set_xlabel("seconds since the first body byte")
    figure.suptitle(f"throttle-probe check, {result.started_at}")
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=100)
    except OSError as error:
        raise PlotError(f"Cannot write the plot to {path}: {os_reason(error)}.") from None
    finally:
        plt.close(figure)


def _draw(axis: "Axes", entry: TargetResult, style: str) -> None:
    transfer = entry.transfer
    if transfer is None or len(transfer.samples) < 2:
        return
    start, end = transfer.samples[0].t, transfer.samples[-1].t
    bins = stats.throughput_bins(transfer.body_samples())
    width = (end - start) / len(bins)
    times = [width * (i + 0.5) for i in range(len(bins))]
    # A bin with no byte cannot sit on a log axis: it is drawn at the bottom edge.
    bits = [max(rate * 8, 1e3) for rate in bins]
    axis.plot(times, bits, style, marker=".", label=entry.name)
