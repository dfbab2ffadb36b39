"""What the rounds said of the network, the controls and the checks, as stretches over time.

A target's episodes (``episodes``) follow its verdict; these follow the
round's own findings: the network's state (a shutdown or white list is
``domestic_only``), each control's own state (the 2025 freeze of foreign
hosting shows as a control stuck at ``freeze``), the ECH check's verdict and
the taint check's outcome. Consecutive rounds with the same state make one
stretch. Pure functions over archive entries.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from probe.records import Role, Transport
from probe.schema import ArchiveEntry

NETWORK = "network"
ECH = "ECH check"
TAINT = "taint check"


@dataclass
class StateEpisode:
    """One subject (the network, a control, a check) in one state over consecutive rounds."""

    subject: str  # NETWORK, ECH, TAINT, or "control NAME"
    state: str  # a NetworkState, a control's stage or "ok", an EchVerdict, tainted/clean
    start: str  # the first round's start (ISO 8601, UTC)
    end: str  # the last round's end
    rounds: int = 0
    round_ids: list[str] = field(default_factory=list)

    @property
    def usual(self) -> bool:
        """A state that says nothing is wrong (the table shows it plainly)."""
        return self.state in ("healthy", "ok", "clean")

    def summary(self) -> dict[str, Any]:
        """The stretch as the report's JSON gives it."""
        return {
            "subject": self.subject,
            "state": self.state,
            "start": self.start,
            "end": self.end,
            "rounds": self.rounds,
            "first_round_id": self.round_ids[0] if self.round_ids else None,
            "last_round_id": self.round_ids[-1] if self.round_ids else None,
        }


def state_episodes(entries: Iterable[ArchiveEntry]) -> list[StateEpisode]:
    """Each subject's stretches, the network first, then the controls and the checks,
    each by time."""
    open_ones: dict[str, StateEpisode] = {}
    done: list[StateEpisode] = []
    for entry in sorted(entries, key=lambda e: e.started_at):
        for subject, state in _states(entry):
            current = open_ones.get(subject)
            if current is None or current.state != state:
                if current is not None:
                    done.append(current)
                current = StateEpisode(subject, state, entry.started_at, "")
                open_ones[subject] = current
            current.end = entry.finished_at
            current.rounds += 1
            current.round_ids.append(entry.round_id)
    done.extend(open_ones.values())
    order = {NETWORK: 0, ECH: 2, TAINT: 3}
    return sorted(done, key=lambda e: (order.get(e.subject, 1), e.subject, e.start))


def _states(entry: ArchiveEntry) -> Iterator[tuple[str, str]]:
    """(subject, state) for what ``entry`` recorded (a check that did not run: nothing)."""
    if entry.network_state is not None:
        yield NETWORK, str(entry.network_state)
    for control in entry.entries_over(Transport.TCP):
        if control.role == Role.CONTROL and control.control_state is not None:
            yield f"control {control.name}", control.control_state.state
    if entry.ech is not None:
        yield ECH, str(entry.ech.verdict)
    if entry.taint_check is not None:
        yield TAINT, "tainted" if entry.taint_check.tainted else "clean"
