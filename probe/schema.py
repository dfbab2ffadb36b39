"""The judged round: what the runner makes of a round and hands to every sink.

It sits between the analysis and the sinks in the one-way flow: the runner
builds it from the round's records and verdicts, and the sinks (the
terminal, the JSON document, the metrics, the archive) only read it.
"""

from dataclasses import dataclass, field

from probe.analysis.round_judgement import RoundJudgement
from probe.analysis.target_verdict import Verdict
from probe.config import Config
from probe.records import RoundResult, Transport


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
    quic_window: dict[str, Verdict] = field(default_factory=dict)  # the window over QUIC

    def window_on(self, transport: Transport) -> dict[str, Verdict]:
        """The window's verdicts over ``transport``, by target name."""
        return self.quic_window if transport == Transport.QUIC else self.window
