"""The taint check judged: does the address stay slowed for any name, after the platform's?

The swap's innocuous download ran beside the platform names, on a connection
opened before any of them was seen; the taint check's, after them, on a new
one (``measure.taint``). Compared as the swap compares (10x, then Wehe's
test, bounded by what the controls say of the network): ``slowed`` or
``blocked`` means the address is tainted, and each name sent to it gets the
clause. The daemon measures a tainted address again a few minutes later
(``config.Daemon.taint_retests``), and the next round carries those re-tests:
``judge_retests`` says for how long it stayed slowed.
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
from probe.records import (
    SWAP_BASELINE,
    Comparison,
    Role,
    RoundResult,
    TaintRetests,
    TargetResult,
)
from probe.units import format_duration, format_rate

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


@dataclass
class RetestOutcome:
    """One re-test of a tainted address, against the tainting round's innocuous download."""

    after_seconds: float  # since the tainting round finished
    state: Comparison
    goodput_bytes_per_second: float | None = None
    ratio: float | None = None  # before / this
    failure: str | None = None

    @property
    def tainted(self) -> bool:
        return self.state in (Comparison.SLOWED, Comparison.BLOCKED)


@dataclass
class TaintDuration:
    """For how long an address stayed tainted: the daemon's re-tests after a round."""

    round_id: str  # the round that found it tainted
    address: str | None
    retests: list[RetestOutcome]

    @property
    def tainted_for_seconds(self) -> float:
        """How long after the round it still read tainted, at least: the latest re-test of
        those tainted from the first on (0: clean at the first)."""
        seconds = 0.0
        for retest in self.retests:
            if not retest.tainted:
                break
            seconds = retest.after_seconds
        return seconds

    @property
    def cleared_after_seconds(self) -> float | None:
        """The first re-test that read clean (None: none did, as far as they went)."""
        return next((r.after_seconds for r in self.retests if not r.tainted), None)


class TaintJudge(KindJudge):
    name = "taint"

    def judge(self, result: RoundResult, network: Network) -> "TaintFindings":
        retests = result.taint_retests
        duration = judge_retests(retests, network) if retests is not None else None
        return TaintFindings(judge_taint(result, network), duration)


def judge_retests(retests: TaintRetests, network: Network) -> TaintDuration:
    """Each re-test compared as the taint check is, with the tainting round's innocuous
    download as "before"."""
    before = measured_entry(retests.baseline)
    outcomes = []
    for retest in retests.retests:
        state, ratio = compare(measured_entry(retest.result), before, network)
        failure = retest.result.failure
        outcomes.append(
            RetestOutcome(
                retest.after_seconds,
                state,
                retest.result.goodput_bytes_per_second,
                ratio,
                None if failure is None else str(failure),
            )
        )
    first = next((r.result.transfer for r in retests.retests if r.result.transfer), None)
    return TaintDuration(retests.round_id, first.address if first else None, outcomes)


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
    duration: TaintDuration | None = None  # the previous round's taint, re-tested since

    def note_for(self, target: TargetResult) -> Note | None:
        outcome = self.outcome
        host = urlsplit(target.url).hostname or ""
        if outcome is None or not outcome.tainted or host not in outcome.names:
            return None

        def attach(evidence: "Evidence") -> None:
            evidence.taint = outcome

        return Note(taint_text(outcome), attach)

    def shown(self) -> Shown | None:
        outcome, duration = self.outcome, self.duration
        if outcome is None and duration is None:
            return None
        columns = (
            Column("address"),
            Column("when"),
            Column("before", numeric=True),
            Column("after the names", numeric=True),
            Column("result"),
        )
        rows, sentences = [], []
        if duration is not None:
            before = outcome.baseline_bytes_per_second if outcome else None
            rows += [_retest_row(duration, retest, before) for retest in duration.retests]
            sentences.append(f"Re-tested: {duration_text(duration)}.")
        if outcome is not None:
            rows.append(
                (
                    Cell(outcome.address or "-"),
                    Cell("this round"),
                    Cell(format_rate(outcome.baseline_bytes_per_second)),
                    Cell(format_rate(outcome.goodput_bytes_per_second)),
                    state_cell(outcome.state, outcome.failure),
                )
            )
            if outcome.tainted:
                sentences.append(f"Tainted address: {taint_text(outcome)}.")
        return Shown(
            "Taint check (the swap's server, its own name, after)", columns, rows, sentences
        )

    def series(self) -> list[Series]:
        series = []
        if self.outcome is not None:
            series.append(
                Series(
                    "address_tainted",
                    "1 when the SNI swap's server, asked with its own name after the platform "
                    "names, was slowed or blocked against before them in the latest round: "
                    "the address carries the names' penalty for any name.",
                    (),
                    [((), float(self.outcome.tainted))],
                )
            )
        if self.duration is not None:
            series.append(
                Series(
                    "address_tainted_for_seconds",
                    "How long after the round that found the swap's server tainted it still "
                    "read slowed, at least (the daemon's re-tests; 0: clean at the first).",
                    (),
                    [((), self.duration.tainted_for_seconds)],
                )
            )
        return series


def _retest_row(
    duration: TaintDuration, retest: RetestOutcome, before: float | None
) -> tuple[Cell, ...]:
    return (
        Cell(duration.address or "-"),
        Cell(f"{format_duration(retest.after_seconds)} after"),
        Cell(format_rate(before)),
        Cell(format_rate(retest.goodput_bytes_per_second)),
        state_cell(retest.state, retest.failure),
    )


def duration_text(duration: TaintDuration) -> str:
    """ "still slowed 1 min and 5 min after round R; clean by 10 min" and the like."""
    slowed = [r for r in duration.retests if r.tainted]
    cleared = duration.cleared_after_seconds
    after = f"after round {duration.round_id}" if duration.round_id else "after the round"
    if not duration.retests:
        return f"the address tainted {after} was not measured again"
    if not slowed:
        return f"the address tainted {after} was clean by {format_duration(cleared or 0)}"
    times = " and ".join(format_duration(r.after_seconds) for r in slowed)
    clean = f"; clean by {format_duration(cleared)}" if cleared is not None else ""
    return f"the address was still slowed {times} {after}{clean}"


def taint_text(outcome: TaintOutcome) -> str:
    after = outcome.failure or format_rate(outcome.goodput_bytes_per_second)
    return (
        f"after the platform names went to the swap's server {outcome.address}, its own name "
        f"got {after} there against {format_rate(outcome.baseline_bytes_per_second)} before "
        f"({outcome.state}): the address is tainted, whatever the name"
    )
