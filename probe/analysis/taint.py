"""The taint check judged: does the address stay slowed for any name, after the platform's?

The swap's innocuous download ran beside the platform names, on a connection
opened before any of them was seen; the taint check's, after them, on a new
one (``measure.taint``). Compared as the swap compares (10x, then Wehe's
test, bounded by what the controls say of the network): ``slowed`` or
``blocked`` means the address is tainted, and each name sent to it gets the
clause. The daemon does not yet re-test later to say for how long.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from probe.analysis.compare import Network, compare
from probe.analysis.kind import (
    Cell,
    Column,
    KindFindings,
    KindJudge,
    Note,
    Series,
    Shown,
    state_cell,
)
from probe.analysis.sniswap import measured_entry
from probe.records import SWAP_BASELINE, Comparison, Role, RoundResult, TargetResult
from probe.units import format_rate

if TYPE_CHECKING:
    from probe.analysis.evidence import Evidence


@dataclass
class TaintOutcome:
    """The swap's server with its own name, after the platform names, against before."""

    state: Comparison  # slowed or blocked: tainted
    address: str | None
    names: list[str]  # the names sent to it before (the swap's)
    goodput_bytes_per_second: float | None = None
    baseline_bytes_per_second: float | None = None
    ratio: float | None = None  # before / after
    failure: str | None = None

    @property
    def tainted(self) -> bool:
        return self.state in (Comparison.SLOWED, Comparison.BLOCKED)


class TaintJudge(KindJudge):
    name = "taint"

    def judge(self, result: RoundResult, network: Network) -> "TaintFindings":
        return TaintFindings(judge_taint(result, network))


def judge_taint(result: RoundResult, network: Network) -> TaintOutcome | None:
    after = result.taint
    baseline = next((t for t in result.targets if t.name == SWAP_BASELINE), None)
    if after is None or baseline is None:
        return None
    state, ratio = compare(measured_entry(after), measured_entry(baseline), network)
    names = [
        t.transfer.sni
        for t in result.targets
        if t.role == Role.SNI_SWAP and t is not baseline and t.transfer is not None
    ]
    return TaintOutcome(
        state,
        after.transfer.address if after.transfer is not None else None,
        names,
        after.goodput_bytes_per_second,
        baseline.goodput_bytes_per_second,
        ratio,
        None if after.failure is None else str(after.failure),
    )


@dataclass(frozen=True)
class TaintFindings(KindFindings):
    outcome: TaintOutcome | None

    def note_for(self, target: TargetResult) -> Note | None:
        outcome = self.outcome
        host = urlsplit(target.url).hostname or ""
        if outcome is None or not outcome.tainted or host not in outcome.names:
            return None

        def attach(evidence: "Evidence") -> None:
            evidence.taint = outcome

        return Note(taint_text(outcome), attach)

    def shown(self) -> Shown | None:
        outcome = self.outcome
        if outcome is None:
            return None
        columns = (
            Column("address"),
            Column("before", numeric=True),
            Column("after the names", numeric=True),
            Column("result"),
        )
        row = (
            Cell(outcome.address or "-"),
            Cell(format_rate(outcome.baseline_bytes_per_second)),
            Cell(format_rate(outcome.goodput_bytes_per_second)),
            state_cell(outcome.state, outcome.failure),
        )
        sentences = [f"Tainted address: {taint_text(outcome)}."] if outcome.tainted else []
        return Shown(
            "Taint check (the swap's server, its own name, after)", columns, [row], sentences
        )

    def series(self) -> list[Series]:
        outcome = self.outcome
        if outcome is None:
            return []
        return [
            Series(
                "address_tainted",
                "1 when the SNI swap's server, asked with its own name after the platform "
                "names, was slowed or blocked against before them in the latest round: the "
                "address carries the names' penalty for any name.",
                (),
                [((), float(outcome.tainted))],
            )
        ]


def taint_text(outcome: TaintOutcome) -> str:
    after = outcome.failure or format_rate(outcome.goodput_bytes_per_second)
    return (
        f"after the platform names went to the swap's server {outcome.address}, its own name "
        f"got {after} there against {format_rate(outcome.baseline_bytes_per_second)} before "
        f"({outcome.state}): the address is tainted, whatever the name"
    )
