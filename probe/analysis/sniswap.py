"""The SNI swap: the same server, the same object, only the name in the ClientHello changes.

If a download from a neutral server slows down (or fails) when it carries a
platform's name as SNI, and not with the server's own name, the network is
reacting to the name: nothing else differs (``compare`` decides "slowed").
"""

from dataclasses import dataclass

from probe.analysis.compare import Measured, Network, compare, measured
from probe.records import (
    SWAP_BASELINE,
    Comparison,
    Role,
    RoundResult,
    StopReason,
    TargetResult,
)


@dataclass(frozen=True)
class SwapOutcome:
    sni: str
    state: Comparison
    goodput_bytes_per_second: float | None
    baseline_bytes_per_second: float | None
    ratio: float | None  # baseline / this
    failure: str | None


def judge_swap(result: RoundResult, network: Network = Network.HEALTHY) -> dict[str, SwapOutcome]:
    """The swap's outcome per SNI name (empty when the round had no swap).

    ``network``: as the round's controls saw it.
    """
    entries = [t for t in result.targets if t.role == Role.SNI_SWAP]
    baseline = next((t for t in entries if t.name == SWAP_BASELINE), None)
    return {
        _sni(entry): _judge(entry, baseline, network)
        for entry in entries
        if entry.name != SWAP_BASELINE
    }


def _judge(entry: TargetResult, baseline: TargetResult | None, network: Network) -> SwapOutcome:
    base = None if baseline is None else _measured(baseline)
    state, ratio = compare(_measured(entry), base, network)
    return SwapOutcome(
        _sni(entry),
        state,
        entry.goodput_bytes_per_second,
        None if baseline is None else baseline.goodput_bytes_per_second,
        ratio,
        None if entry.failure is None else str(entry.failure),
    )


def _measured(entry: TargetResult) -> Measured:
    transfer = entry.transfer
    samples = transfer.body_samples() if transfer is not None else []
    stop = transfer.stop_reason if transfer is not None else StopReason.FAILURE
    return measured(entry.goodput_bytes_per_second, samples, entry.failure, stop)


def _sni(entry: TargetResult) -> str:
    return entry.transfer.sni if entry.transfer is not None else entry.name
