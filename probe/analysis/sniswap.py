"""The SNI swap: the same server, the same object, only the name in the ClientHello changes.

If a download from a neutral server slows down (or fails) when it carries a
platform's name as SNI, and not with the server's own name, the network is
reacting to the name: nothing else differs. The same 10x + Wehe rule as for
targets and controls decides "slowed".
"""

from dataclasses import dataclass

from probe.analysis import stats
from probe.records import SWAP_BASELINE, SWAP_ROLE, RoundResult, TargetResult


@dataclass(frozen=True)
class SwapOutcome:
    sni: str
    state: str  # "slowed", "blocked", "same", "inconclusive", or "no_baseline"
    goodput_bytes_per_second: float | None
    baseline_bytes_per_second: float | None
    ratio: float | None  # baseline / this
    failure: str | None


def judge_swap(result: RoundResult) -> dict[str, SwapOutcome]:
    """The swap's outcome per SNI name (empty when the round had no swap)."""
    entries = [t for t in result.targets if t.role == SWAP_ROLE]
    baseline = next((t for t in entries if t.name == SWAP_BASELINE), None)
    return {
        _sni(entry): _judge(entry, baseline) for entry in entries if entry.name != SWAP_BASELINE
    }


def _judge(entry: TargetResult, baseline: TargetResult | None) -> SwapOutcome:
    rate = entry.goodput_bytes_per_second
    base = None if baseline is None else baseline.goodput_bytes_per_second
    failure = None if entry.failure is None else str(entry.failure)

    def outcome(state: str, ratio: float | None = None) -> SwapOutcome:
        return SwapOutcome(_sni(entry), state, rate, base, ratio, failure)

    if baseline is None or baseline.failure is not None or base is None:
        return outcome("no_baseline")
    if failure is not None:
        return outcome("blocked")
    if rate is None or rate <= 0:
        return outcome("inconclusive")
    ratio = base / rate
    if ratio < stats.EXTREME_RATIO:
        return outcome("same", ratio)
    assert entry.transfer is not None and baseline.transfer is not None
    wehe = stats.wehe_test(
        stats.throughput_bins(entry.transfer.samples),
        stats.throughput_bins(baseline.transfer.samples),
    )
    differentiated = wehe is not None and wehe.decision == "differentiated"
    return outcome("slowed" if differentiated else "inconclusive", ratio)


def _sni(entry: TargetResult) -> str:
    return entry.transfer.sni if entry.transfer is not None else entry.name
