"""Everything the analysis says about one round: each kind's findings, the verdicts."""

from dataclasses import dataclass, field
from typing import TypeVar

from probe.analysis.kind import KindFindings
from probe.analysis.quic_verdict import cross_transport, judge_quic, quic_blocked_wholesale
from probe.analysis.registry import round_judges
from probe.analysis.shutdown import network_state
from probe.analysis.target_verdict import Controls, Verdict, judge_round, round_controls
from probe.records import NetworkState, RoundResult, Transport

F = TypeVar("F", bound=KindFindings)


@dataclass(frozen=True)
class RoundJudgement:
    verdicts: dict[str, Verdict]  # over TCP, by target name
    kinds: dict[str, KindFindings]  # each kind's findings, by the kind's name, in registry order
    controls: Controls  # what the round's controls say of the network (over TCP)
    quic: dict[str, Verdict] = field(default_factory=dict)  # over QUIC, by target name
    quic_controls: Controls | None = None  # what they say over QUIC, if any was measured
    # Most controls failed over QUIC while their TCP worked (None: none went over QUIC).
    quic_blocked: bool | None = None
    network: NetworkState | None = None  # over TCP, as the controls saw it (None: no control)

    def on(self, transport: Transport) -> dict[str, Verdict]:
        """The verdicts over ``transport``, by target name."""
        return self.quic if transport == Transport.QUIC else self.verdicts

    def found(self, kind: type[F]) -> F | None:
        """The findings of type ``kind`` (the schema writes each kind's typed part)."""
        return next((f for f in self.kinds.values() if isinstance(f, kind)), None)


def judge_all(result: RoundResult, replay_control_name: str = "") -> RoundJudgement:
    """Summarise the controls and judge each kind once, for the verdicts; then the
    targets over QUIC, and what one transport says of the other."""
    controls = round_controls(result)
    judges = round_judges(replay_control_name)
    kinds = {judge.name: judge.judge(result, controls.network) for judge in judges}
    verdicts = judge_round(result, list(kinds.values()), controls)
    quic, quic_controls = judge_quic(result) if result.quic else ({}, None)
    cross_transport(result, verdicts, quic)
    return RoundJudgement(
        verdicts,
        kinds,
        controls,
        quic,
        quic_controls,
        quic_blocked_wholesale(result),
        network_state(result.targets, controls),
    )
