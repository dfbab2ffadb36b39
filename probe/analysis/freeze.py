"""Frozen downloads judged: where each froze, and what the follow-up says of the budget.

The verdict of a frozen target (``blocked`` at stage ``freeze``) is the round's
rule's (``target_verdict``); here the follow-up (``measure.freeze_followup``)
becomes a clause of its reason and a part of its evidence, and every frozen
download, a control's too, a row of one table: a control on frozen hosting
is a finding about the network, even though it says nothing of the targets.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from probe.analysis.compare import Network
from probe.analysis.kind import Cell, Column, KindFindings, KindJudge, Note, Shown, Tone
from probe.measure.freeze import FreezePoint, freeze_point
from probe.records import FreezeFollowUp, Role, RoundResult, TargetResult
from probe.units import format_bytes

if TYPE_CHECKING:
    from probe.analysis.evidence import Evidence


class FreezeJudge(KindJudge):
    name = "freeze_followup"

    def judge(self, result: RoundResult, network: Network) -> "FreezeFindings":
        frozen = []
        for entry in result.targets:
            point = freeze_point(entry.transfer)
            if point is not None and entry.role in (Role.TARGET, Role.CONTROL):
                frozen.append((entry, point))
        return FreezeFindings(frozen)


@dataclass(frozen=True)
class FreezeFindings(KindFindings):
    frozen: list[tuple[TargetResult, FreezePoint]]

    def note_for(self, target: TargetResult) -> Note | None:
        followup = target.freeze_followup
        if followup is None:
            return None

        def attach(evidence: "Evidence") -> None:
            evidence.freeze_followup = followup

        return Note(followup_text(followup), attach)

    def shown(self) -> Shown | None:
        if not self.frozen:
            return None
        columns = ("download", "froze after", "body", "packets in/out", "ended by")
        rows = [_row(entry, point) for entry, point in self.frozen]
        return Shown(
            "Frozen connections",
            (*map(Column, columns), Column("small requests"), Column("upload")),
            rows,
        )


def _row(entry: TargetResult, point: FreezePoint) -> tuple[Cell, ...]:
    followup = entry.freeze_followup
    packets = (
        "-"
        if point.segments_in is None
        else f"{point.segments_in}/{point.segments_out if point.segments_out is not None else '-'}"
    )
    return (
        Cell(entry.name, aside="control" if entry.role == Role.CONTROL else ""),
        Cell(format_bytes(point.connection_bytes), Tone.ALARM),
        Cell(format_bytes(point.body_bytes)),
        Cell(packets),
        Cell(_ending_text(point)),
        _keepalive_cell(followup),
        _upload_cell(followup),
    )


def freeze_text(point: FreezePoint) -> str:
    """The freeze in a clause: "froze after 16.2 KiB on the connection (10.0 KiB of body, ...)"."""
    packets = "" if point.segments_in is None else f", {point.segments_in} packets in"
    return (
        f"froze after {format_bytes(point.connection_bytes)} on the connection "
        f"({format_bytes(point.body_bytes)} of body{packets}); {after_freeze_text(point)}"
    )


def after_freeze_text(point: FreezePoint) -> str:
    """What came after the last byte: a reset, retransmissions, or nothing at all."""
    silent = f"{point.silent_seconds:.1f} s"
    if point.reset:
        return f"then a reset after {silent} of silence"
    if point.segments_in_after:
        return (
            f"{point.segments_in_after} segments kept coming for {silent} with no new data "
            "(the server retransmitting: its acknowledgements were dropped)"
        )
    return f"then nothing for {silent}, no reset"


def _ending_text(point: FreezePoint) -> str:
    if point.reset:
        return "a reset"
    if point.segments_in_after:
        return f"silence, {point.segments_in_after} retransmissions in"
    return f"silence ({point.silent_seconds:.0f} s)"


def followup_text(followup: FreezeFollowUp) -> str:
    """The follow-up in a clause, for the verdict's reason."""
    return f"{_keepalive_text(followup)}; {_upload_text(followup)}"


def _keepalive_text(followup: FreezeFollowUp) -> str:
    received = format_bytes(followup.keepalive_bytes_in or 0)
    if followup.keepalive_froze:
        return (
            f"small requests on one connection froze too, after {followup.keepalive_answered} "
            f"answers ({received} in): the budget is per connection"
        )
    if followup.keepalive_froze is False:
        return (
            f"{followup.keepalive_answered} small requests on one connection passed "
            f"({received}): not a budget of the connection's bytes"
        )
    return f"the small requests could not be tested ({followup.keepalive_failure})"


def _upload_text(followup: FreezeFollowUp) -> str:
    size = format_bytes(followup.upload_bytes)
    if followup.upload_froze:
        acked = format_bytes(followup.upload_acked or 0)
        return f"a {size} upload froze too ({acked} acknowledged): sending counts"
    if followup.upload_froze is False:
        return f"a {size} upload went through"
    if followup.upload_answered_early:
        return "the server answered before the upload was through: not tested"
    return f"the upload could not be tested ({followup.upload_failure})"


def _keepalive_cell(followup: FreezeFollowUp | None) -> Cell:
    if followup is None:
        return Cell("-")
    if followup.keepalive_froze:
        return Cell("froze", Tone.ALARM, f"{followup.keepalive_answered} answered")
    if followup.keepalive_froze is False:
        return Cell("passed", Tone.FINE, format_bytes(followup.keepalive_bytes_in or 0))
    return Cell("not tested", aside=str(followup.keepalive_failure))


def _upload_cell(followup: FreezeFollowUp | None) -> Cell:
    if followup is None:
        return Cell("-")
    if followup.upload_froze:
        return Cell("froze", Tone.ALARM, f"{format_bytes(followup.upload_acked or 0)} through")
    if followup.upload_froze is False:
        return Cell("passed", Tone.FINE)
    if followup.upload_answered_early:
        return Cell("not tested", aside="answered early")
    return Cell("not tested", aside=str(followup.upload_failure))
