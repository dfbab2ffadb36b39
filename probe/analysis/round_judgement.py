"""Everything the analysis says about one round: the SNI swap, the replay test, the verdicts."""

from dataclasses import dataclass, field

from probe.analysis.quic_verdict import cross_transport, judge_quic, quic_blocked_wholesale
from probe.analysis.replay_findings import ReplayOutcome, findings, judge_replays
from probe.analysis.sniswap import SwapOutcome, judge_swap
from probe.analysis.target_verdict import Controls, Verdict, judge_round, round_controls
from probe.records import RoundResult, Transport


@dataclass(frozen=True)
class RoundJudgement:
    verdicts: dict[str, Verdict]  # over TCP, by target name
    swap: dict[str, SwapOutcome]
    replays: list[ReplayOutcome]
    replay_findings: list[str]  # one sentence per direction
    controls: Controls  # what the round's controls say of the network (over TCP)
    quic: dict[str, Verdict] = field(default_factory=dict)  # over QUIC, by target name
    quic_controls: Controls | None = None  # what they say over QUIC, if any was measured
    # Most controls failed over QUIC while their TCP worked (None: none went over QUIC).
    quic_blocked: bool | None = None

    def on(self, transport: Transport) -> dict[str, Verdict]:
        """The verdicts over ``transport``, by target name."""
        return self.quic if transport == Transport.QUIC else self.verdicts


def judge_all(result: RoundResult, replay_control_name: str = "") -> RoundJudgement:
    """Summarise the controls and judge the swap and the replay once each, for the verdicts;
    then the targets over QUIC, and what one transport says of the other."""
    controls = round_controls(result)
    swap = judge_swap(result, controls.network)
    replays = judge_replays(result.replays, replay_control_name, controls.network)
    verdicts = judge_round(result, swap, replays, controls)
    quic, quic_controls = judge_quic(result) if result.quic else ({}, None)
    cross_transport(result, verdicts, quic)
    return RoundJudgement(
        verdicts,
        swap,
        replays,
        findings(replays),
        controls,
        quic,
        quic_controls,
        quic_blocked_wholesale(result),
    )
