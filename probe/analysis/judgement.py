"""Everything the analysis says about one round: the SNI swap, the replay test, the verdicts."""

from dataclasses import dataclass

from probe.analysis.replay import ReplayOutcome, judge_replays
from probe.analysis.sniswap import SwapOutcome, judge_swap
from probe.analysis.verdict import Verdict, judge_round
from probe.records import RoundResult


@dataclass(frozen=True)
class RoundJudgement:
    verdicts: dict[str, Verdict]
    swap: dict[str, SwapOutcome]
    replays: list[ReplayOutcome]


def judge_all(result: RoundResult, replay_control_name: str = "") -> RoundJudgement:
    """Judge the swap and the replay once each, and hand both to the targets' verdicts."""
    swap = judge_swap(result)
    replays = judge_replays(result.replays, replay_control_name)
    return RoundJudgement(judge_round(result, swap, replays), swap, replays)
