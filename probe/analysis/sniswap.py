"""The SNI swap: the same server, the same object, only the name in the ClientHello changes.

If a download from a neutral server slows down (or fails) when it carries a
platform's name as SNI, and not with the server's own name, the network is
reacting to the name: nothing else differs (``compare`` decides "slowed").
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from probe.analysis.compare import Measured, Network, compare, measured
from probe.analysis.kind import Cell, Column, KindFindings, KindJudge, Note, Shown, state_cell
from probe.measure.loss import loss_density
from probe.records import (
    SWAP_BASELINE,
    Comparison,
    Role,
    RoundResult,
    StopReason,
    TargetResult,
)
from probe.units import format_rate

if TYPE_CHECKING:
    from probe.analysis.evidence import Evidence


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
    base = None if baseline is None else measured_entry(baseline)
    state, ratio = compare(measured_entry(entry), base, network)
    return SwapOutcome(
        _sni(entry),
        state,
        entry.goodput_bytes_per_second,
        None if baseline is None else baseline.goodput_bytes_per_second,
        ratio,
        None if entry.failure is None else str(entry.failure),
    )


def measured_entry(entry: TargetResult) -> Measured:
    """A download's side of a comparison (the swap's, the taint check's)."""
    transfer = entry.transfer
    samples = transfer.body_samples() if transfer is not None else []
    stop = transfer.stop_reason if transfer is not None else StopReason.FAILURE
    loss = loss_density([transfer.tcp_info]) if transfer is not None else None
    return measured(entry.goodput_bytes_per_second, samples, entry.failure, stop, loss)


def _sni(entry: TargetResult) -> str:
    return entry.transfer.sni if entry.transfer is not None else entry.name


class SwapJudge(KindJudge):
    name = "sni_swap"

    def judge(self, result: RoundResult, network: Network) -> "SwapFindings":
        return SwapFindings(judge_swap(result, network))


@dataclass(frozen=True)
class SwapFindings(KindFindings):
    outcomes: dict[str, SwapOutcome]  # by SNI name

    def note_for(self, target: TargetResult) -> Note | None:
        outcome = self.outcomes.get(urlsplit(target.url).hostname or "")
        if outcome is None:
            return None

        def attach(evidence: "Evidence") -> None:
            evidence.sni_swap = outcome

        return Note(swap_text(outcome), attach)

    def shown(self) -> Shown | None:
        """One neutral server, each name as SNI, against its own name."""
        if not self.outcomes:
            return None
        columns = (
            Column("SNI"),
            Column("goodput", numeric=True),
            Column("innocuous name", numeric=True),
            Column("result"),
        )
        rows = [
            (
                Cell(sni),
                Cell(format_rate(outcome.goodput_bytes_per_second)),
                Cell(format_rate(outcome.baseline_bytes_per_second)),
                state_cell(outcome.state, outcome.failure),
            )
            for sni, outcome in self.outcomes.items()
        ]
        return Shown("SNI swap (same server, only the SNI differs)", columns, rows)


def swap_text(outcome: SwapOutcome) -> str:
    """One clause on the SNI swap, for a verdict's reason."""
    base = outcome.baseline_bytes_per_second
    if outcome.state == Comparison.NO_BASELINE or base is None:
        return "SNI swap: the neutral server failed with its own name"
    same_server = f"SNI swap: same server {format_rate(base)} with an innocuous name"
    if outcome.failure is not None:
        judged = "" if outcome.state == Comparison.BLOCKED else f" ({outcome.state})"
        return f"{same_server}, {outcome.failure} with this name{judged}"
    rate = outcome.goodput_bytes_per_second
    return f"{same_server}, {format_rate(rate)} with this name ({outcome.state})"
