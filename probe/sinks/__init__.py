"""Sinks: where finished rounds go (the terminal, the JSON document, the plot, the metrics).

Every sink has the same two methods, as cloudprober's surfacers and OONI's
savers do: the runner hands each one every finished round with its
verdicts, and tells it when the run is over. Sinks read; they never measure.
"""

from typing import Protocol

from probe.schema import FinishedRound


class OutputError(Exception):
    """A sink could not write its output (a full disk, a closed pipe); one sentence."""


class Sink(Protocol):
    def round_finished(self, finished: FinishedRound) -> None:
        """A round is measured and judged (an interrupted one too: it says so)."""

    def close(self) -> None:
        """The run is over: write what was kept for the end."""
