"""The grey zone judged: a target measured again alone, beside the slowest control alone.

The solo pair is an input to the slow-network rule (``target_verdict``:
congestion can starve one flow of a shared link, not one that has it to
itself); here it becomes the clause and the figures the verdict carries.
"""

from dataclasses import dataclass

from probe.analysis.compare import Network
from probe.analysis.evidence import AloneFigures, Evidence
from probe.analysis.kind import KindFindings, KindJudge, Note
from probe.records import Remeasured, RoundResult, SoloPair, TargetResult
from probe.units import format_rate


class GreyZoneJudge(KindJudge):
    name = "grey_zone"

    def judge(self, result: RoundResult, network: Network) -> "GreyZoneFindings":
        return GreyZoneFindings(result.remeasured)


@dataclass(frozen=True)
class GreyZoneFindings(KindFindings):
    remeasured: Remeasured | None

    def note_for(self, target: TargetResult) -> Note | None:
        pair = None if self.remeasured is None else self.remeasured.pair(target.name)
        if pair is None:
            return None

        def attach(evidence: Evidence) -> None:
            evidence.alone = AloneFigures(
                control=pair.control.name,
                goodput_bytes_per_second=pair.target.goodput_bytes_per_second,
                control_goodput_bytes_per_second=pair.control.goodput_bytes_per_second,
                failure=pair.target.failure,
                control_failure=pair.control.failure,
            )

        return Note(alone_text(pair), attach)


def alone_text(pair: SoloPair) -> str:
    """One clause on the grey zone's solo downloads, for a verdict's reason."""
    target, control = pair.target.goodput_bytes_per_second, pair.control.goodput_bytes_per_second
    if not target or not control:
        failure = pair.target.failure or pair.control.failure or "no data"
        return f"measured alone again: {failure}"
    return (
        f"measured alone again: {format_rate(target)} against {pair.control.name} "
        f"{format_rate(control)} ({control / target:.1f}x)"
    )
