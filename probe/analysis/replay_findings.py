"""The replay test: the same bytes to your own server, only the ClientHello differs.

Per direction, the scrambled session (every byte of the ClientHello inverted,
Censored Planet's and Wehe's control) is the baseline; each other session
(a platform name, the control name, the split and padded shapes) is compared
with it by ``compare``. The findings read them together:

* a platform name slowed while the control name is not: the network reacts
  to the name in the ClientHello;
* the control name slowed too: it reacts to any ClientHello to this server;
* the platform name slowed but the split or padded shape not: the equipment
  does not reassemble a ClientHello spread over segments (as in 2021).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from probe.analysis.compare import Measured, Network, compare, measured
from probe.analysis.kind import Cell, Column, KindFindings, KindJudge, Note, Shown, state_cell
from probe.records import Comparison, Direction, ReplayRecord, RoundResult, TargetResult, Variant
from probe.units import format_rate

if TYPE_CHECKING:
    from probe.analysis.evidence import Evidence


@dataclass(frozen=True)
class ReplayOutcome:
    direction: Direction
    sni: str
    variant: Variant
    control: bool  # the innocuous name
    state: Comparison
    goodput_bytes_per_second: float | None
    baseline_bytes_per_second: float | None
    ratio: float | None  # baseline / this
    failure: str | None


def judge_replays(
    records: Sequence[ReplayRecord], control_name: str, network: Network = Network.HEALTHY
) -> list[ReplayOutcome]:
    """Every session of the round against the scrambled one of its direction.

    ``network``: as the round's controls saw it.
    """
    baselines = {r.direction: r for r in records if r.variant == Variant.SCRAMBLED}
    outcomes = []
    for record in records:
        baseline = baselines.get(record.direction)
        if record is baseline:
            state, ratio = Comparison.BASELINE, None
        else:
            base = None if baseline is None else _measured(baseline)
            state, ratio = compare(_measured(record), base, network)
        outcomes.append(
            ReplayOutcome(
                direction=record.direction,
                sni=record.sni,
                variant=record.variant,
                control=record.sni == control_name and record.variant == Variant.PLAIN,
                state=state,
                goodput_bytes_per_second=record.goodput_bytes_per_second,
                baseline_bytes_per_second=(
                    None if baseline is None else baseline.goodput_bytes_per_second
                ),
                ratio=ratio,
                failure=None if record.failure is None else str(record.failure),
            )
        )
    return outcomes


def findings(outcomes: Sequence[ReplayOutcome]) -> list[str]:
    """The sentences a person needs, one per direction."""
    lines = []
    for direction in dict.fromkeys(o.direction for o in outcomes):
        mine = [o for o in outcomes if o.direction == direction]
        lines.append(f"{direction}: {_finding(mine)}")
    return lines


def _finding(outcomes: Sequence[ReplayOutcome]) -> str:
    baseline = next((o for o in outcomes if o.state == Comparison.BASELINE), None)
    if baseline is None or baseline.failure is not None:
        return "no verdict: the scrambled baseline failed or is missing"
    named = [o for o in outcomes if o.variant == Variant.PLAIN and not o.control]
    control = next((o for o in outcomes if o.control), None)
    hit = [o for o in named if o.state in _HIT]
    if not hit:
        return f"no difference from the scrambled baseline ({_rate(baseline)})"
    names = ", ".join(f"{o.sni} {_state(o)}" for o in hit)
    if control is not None and control.state in _HIT:
        return f"{names}, and the control name too: any ClientHello to this server"
    text = f"{names}; control name and scrambled {_rate(baseline)}: the name triggers it"
    evaded = [o.variant for o in outcomes if o.variant in _EVASIONS and o.state == Comparison.SAME]
    if evaded:
        text += f"; {' and '.join(evaded)} ClientHellos evade it (no reassembly)"
    return text


_EVASIONS = (Variant.SPLIT, Variant.PADDED)
_HIT = (Comparison.SLOWED, Comparison.BLOCKED)


def replay_text(outcomes: Sequence[ReplayOutcome]) -> str:
    """One clause on a name's replay sessions, for a target's verdict reason."""
    parts = []
    for outcome in outcomes:
        if outcome.state == Comparison.NO_BASELINE:
            parts.append(f"{outcome.direction} no baseline")
        elif outcome.failure is not None:
            judged = "" if outcome.state == Comparison.BLOCKED else f" ({outcome.state})"
            parts.append(f"{outcome.direction} {outcome.failure}{judged}")
        else:
            base = outcome.baseline_bytes_per_second
            parts.append(
                f"{outcome.direction} {_rate(outcome)} vs {format_rate(base)} ({outcome.state})"
            )
    return "replay against scrambled: " + ", ".join(parts)


def _state(outcome: ReplayOutcome) -> str:
    if outcome.state == Comparison.BLOCKED:
        return f"blocked ({outcome.failure})"
    return f"slowed to {_rate(outcome)}"


def _rate(outcome: ReplayOutcome) -> str:
    rate = outcome.goodput_bytes_per_second
    return "n/a" if rate is None else format_rate(rate)


def _measured(record: ReplayRecord) -> Measured:
    return measured(
        record.goodput_bytes_per_second, record.samples, record.failure, record.stop_reason
    )


class ReplayJudge(KindJudge):
    """``control_name``: the innocuous name of the test (``replay.control_name``)."""

    name = "replay"

    def __init__(self, control_name: str = "") -> None:
        self.control_name = control_name

    def judge(self, result: RoundResult, network: Network) -> "ReplayFindings":
        return ReplayFindings(judge_replays(result.replays, self.control_name, network))


@dataclass(frozen=True)
class ReplayFindings(KindFindings):
    outcomes: list[ReplayOutcome]

    @property
    def sentences(self) -> list[str]:
        """One per direction."""
        return findings(self.outcomes)

    def note_for(self, target: TargetResult) -> Note | None:
        host = urlsplit(target.url).hostname or ""
        replayed = [o for o in self.outcomes if o.sni == host and o.variant == Variant.PLAIN]
        if not replayed:
            return None

        def attach(evidence: "Evidence") -> None:
            evidence.replay = replayed

        return Note(replay_text(replayed), attach)

    def shown(self) -> Shown | None:
        """Your server, each ClientHello, against the scrambled one."""
        if not self.outcomes:
            return None
        columns = (
            Column("direction"),
            Column("ClientHello"),
            Column("SNI"),
            Column("goodput", numeric=True),
            Column("scrambled", numeric=True),
            Column("result"),
        )
        rows = [
            (
                Cell(outcome.direction),
                Cell(outcome.variant),
                Cell(outcome.sni, aside="control" if outcome.control else ""),
                Cell(format_rate(outcome.goodput_bytes_per_second)),
                Cell(format_rate(outcome.baseline_bytes_per_second)),
                state_cell(outcome.state, outcome.failure),
            )
            for outcome in self.outcomes
        ]
        title = "Replay (your server, only the ClientHello differs)"
        return Shown(title, columns, rows, [f"Replay {line}" for line in self.sentences])
