"""A control's own state: the controls judge the round, and one that fails is a finding too.

A control that fails or freezes is left out of the round's figures and the
others judge it (``target_verdict.Controls``), but what happened to it is
news of its own: a control on Cloudflare freezing after 16 KB is the 2025
freeze of foreign hosting, seen by the probe. Its state is ``ok`` or the stage
it failed at (``freeze`` for a freeze), with a reason a person can read.
"""

from dataclasses import dataclass

from probe.analysis.freeze import freeze_text
from probe.analysis.stages import stage_of
from probe.measure.freeze import freeze_point
from probe.records import Failure, Role, Stage, TargetResult, Transport


@dataclass
class ControlState:
    """How one control's own download went."""

    stage: Stage | None  # None: it worked
    failure: Failure | None = None
    froze_after_bytes: int | None = None  # the body's offset, if it froze
    reason: str = ""

    @property
    def state(self) -> str:
        """``ok``, or the stage it failed at: the value of the metric's ``state`` label."""
        return "ok" if self.stage is None else str(self.stage)


def control_state(entry: TargetResult) -> ControlState:
    stage = stage_of(entry)
    if stage is None or entry.failure is None:
        return ControlState(None, reason="worked")
    point = freeze_point(entry.transfer)
    if point is not None:
        return ControlState(stage, entry.failure, point.body_bytes, freeze_text(point))
    return ControlState(stage, entry.failure, reason=f"{entry.failure} at the {stage} stage")


def failed_controls(entries: list[TargetResult]) -> list[tuple[TargetResult, ControlState]]:
    """The controls among ``entries`` that did not work (an interrupted one is no finding)."""
    states = [
        (entry, control_state(entry))
        for entry in entries
        if entry.role == Role.CONTROL and entry.failure != Failure.INTERRUPTED
    ]
    return [(entry, state) for entry, state in states if state.stage is not None]


def failed_controls_sentence(entries: list[TargetResult]) -> str | None:
    """One sentence on the controls that failed and what judges the round instead."""
    failed = failed_controls(entries)
    if not failed:
        return None
    controls = [e for e in entries if e.role == Role.CONTROL]
    working = len(controls) - len(failed)
    over = "" if not entries or entries[0].transport == Transport.TCP else " over QUIC"
    parts = "; ".join(f"{entry.name} {state.reason}" for entry, state in failed)
    if working == 0:
        judged = "no control worked, so no target can be judged against one"
    elif working == 1:
        judged = "the one left judges the round"
    else:
        judged = f"the other {working} judge the round"
    return f"Controls that failed{over}, left out of the figures: {parts}. {judged.capitalize()}."
