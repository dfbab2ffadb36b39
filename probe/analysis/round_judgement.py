"""Everything the analysis says about one round: the SNI swap, the replay test, the verdicts."""

from dataclasses import dataclass

from probe.analysis.replay_findings import ReplayOutcome, findings, judge_replays
from probe.analysis.sniswap import SwapOutcome, judge_swap
from probe.analysis.target_verdict import Controls, Verdict, judge_round, round_controls
from probe.records import RoundResult


@dataclass(frozen=True)
class RoundJudgement:
    verdicts: dict[str, Verdict]
    swap: dict[str, SwapOutcome]
    replays: list[ReplayOutcome]
    replay_findings: list[str]  # one sentence per direction
    controls: Controls  # what the round's controls say of the network


def judge_all(result: RoundResult, replay_control_name: str = "") -> RoundJudgement:
    """Summarise the controls and judge the swap and the replay once each, for the verdicts."""
    controls = round_controls(result)
    swap = judge_swap(result, controls.network)
    replays = judge_replays(result.replays, replay_control_name, controls.network)
    verdicts = judge_round(result, swap, replays, controls)
    return RoundJudgement(verdicts, swap, replays, findings(replays), controls)
