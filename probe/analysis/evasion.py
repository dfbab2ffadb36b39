"""Judge the evasion matrix (``measure.evasion``): which evasions restored the baseline's rate.

In each direction the scrambled session is the baseline (nothing in it names
anything). The plain session is held down when it is 10x slower than the
baseline (``stats.EXTREME_RATIO``, as in ``analysis.locate`` and the
verdicts), or fails where the baseline does not. Where it is held down, an
evasion whose session is not held down by the same rule
restored the rate, and one that is held down did not; where the plain
session is not held down there is nothing to evade, and every evasion is
``not_applicable``, as is one that could not be sent (the fake without
CAP_NET_RAW) or that the replay server itself refused (its admission
control, not the path).
"""

from dataclasses import dataclass

from probe.analysis.stats import EXTREME_RATIO
from probe.records import (
    Direction,
    Evasion,
    EvasionMatrix,
    EvasionSession,
    EvasionState,
    Failure,
    ReplayRecord,
)


@dataclass(frozen=True)
class EvasionCell:
    """One evasion in one direction."""

    evasion: Evasion
    direction: Direction
    state: EvasionState
    goodput_bytes_per_second: float | None
    failure: str | None


@dataclass(frozen=True)
class EvasionTable:
    """The matrix judged: per direction whether the plain session was held down, and each
    evasion's state."""

    name: str
    server: str
    held_down: dict[Direction, bool]
    cells: list[EvasionCell]

    def state(self, evasion: Evasion, direction: Direction) -> EvasionState | None:
        found = [c for c in self.cells if (c.evasion, c.direction) == (evasion, direction)]
        return found[0].state if found else None

    @property
    def restoring(self) -> list[Evasion]:
        """The evasions that restored the rate in every direction where it was held down."""
        held = [d for d, down in self.held_down.items() if down]
        return [
            evasion
            for evasion in Evasion
            if held and all(self.state(evasion, d) == EvasionState.RESTORED for d in held)
        ]


def held_down(session: ReplayRecord | None, baseline: ReplayRecord | None) -> bool | None:
    """Whether ``session`` is held down against ``baseline`` (None: cannot say, as when the
    replay server itself refused one of them)."""
    if session is None or baseline is None or baseline.goodput_bytes_per_second is None:
        return None
    if Failure.REPLAY_REFUSED in (session.failure, baseline.failure):
        return None
    if session.goodput_bytes_per_second is None:
        return True
    return session.goodput_bytes_per_second * EXTREME_RATIO < baseline.goodput_bytes_per_second


def judge_matrix(matrix: EvasionMatrix) -> EvasionTable:
    directions = list(dict.fromkeys(s.direction for s in matrix.sessions))
    held: dict[Direction, bool] = {}
    cells = []
    for direction in directions:
        mine = [s for s in matrix.sessions if s.direction == direction]
        baseline = _record(mine, None, baseline=True)
        plain_held = held_down(_record(mine, None, baseline=False), baseline)
        held[direction] = bool(plain_held)
        for session in (s for s in mine if s.evasion is not None):
            assert session.evasion is not None
            cells.append(_cell(session, session.evasion, baseline, bool(plain_held)))
    return EvasionTable(matrix.name, matrix.server, held, cells)


def _record(
    sessions: list[EvasionSession], evasion: Evasion | None, baseline: bool
) -> ReplayRecord | None:
    return next(
        (s.record for s in sessions if s.evasion == evasion and s.baseline == baseline), None
    )


def _cell(
    session: EvasionSession, evasion: Evasion, baseline: ReplayRecord | None, plain_held: bool
) -> EvasionCell:
    record = session.record
    rate = record.goodput_bytes_per_second if record is not None else None
    failure = record.failure.value if record is not None and record.failure else None
    verdict = held_down(record, baseline)
    if not plain_held or verdict is None:
        state = EvasionState.NOT_APPLICABLE
    else:
        state = EvasionState.NOT_RESTORED if verdict else EvasionState.RESTORED
    return EvasionCell(evasion, session.direction, state, rate, failure)
