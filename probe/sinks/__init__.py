"""Sinks: where finished rounds go (the terminal, the JSON document, the plot, the metrics).

Every sink has the same two methods, as cloudprober's surfacers and OONI's
savers do: the runner hands each one every finished round with its
verdicts, and tells it when the run is over. Sinks read; they never measure.
"""

from dataclasses import dataclass
from typing import Protocol

from probe.analysis.round_judgement import RoundJudgement
from probe.analysis.target_verdict import Verdict
from probe.config import Config
from probe.records import RoundResult


@dataclass(frozen=True)
class FinishedRound:
    """One round as the runner hands it to the sinks."""

    number: int  # 1 for the first round of this run
    result: RoundResult
    judgement: RoundJudgement
    # Verdicts over the rolling window of the latest rounds, this one included.
    window: dict[str, Verdict]
    window_rounds: int  # how many rounds that window holds now
    config: Config  # what the round measured, as it was then (a reload changes it later)


class OutputError(Exception):
    """A sink could not write its output (a full disk, a closed pipe); one sentence."""


def reason_of(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


class Sink(Protocol):
    def round_finished(self, finished: FinishedRound) -> None:
        """A round is measured and judged (an interrupted one too: it says so)."""

    def close(self) -> None:
        """The run is over: write what was kept for the end."""
