"""Judge a TTL walk (``measure.locate``): at which hop the equipment acts on the name.

Read step by step, from TTL 1 up, each step being the name's trial and the
control's at the same TTL:

* the name reset where the control was not: equipment resets the name's
  connections, and sits at this hop (a TTL one lower did not reach it);
* the name met silence where the control got an answer, from a router or the
  server, twice: equipment drops the name's ClientHello at this hop, or at an
  earlier one that sends no ICMP (the run of steps silent for both before it);
* both reset: the path resets every name (a firewall on port 443, say), and
  no censor is located;
* the name's ClientHello answered by the server: nothing on the path resets
  or drops the handshake. A throttle or a freeze let it through and act
  later: where the sessions after a TTL-limited ClientHello were run
  (``measure.locate_session``), the hop is the first TTL from which on the
  session the name triggered is ``SLOWDOWN`` times slower than the one the
  control triggered, or fails where that one does not, at every TTL tried
  from it on: equipment that sees the name at hop k sees it at every TTL past
  k, and a session unlucky once, with a fast one after it, is no throttle.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from probe.analysis import stats
from probe.analysis.compare import Network
from probe.analysis.evasion import EvasionTable, judge_matrix
from probe.analysis.kind import Cell, Column, KindFindings, KindJudge, Note, Series, Shown, Tone
from probe.records import (
    EvasionState,
    Failure,
    LocateFinding,
    RoundResult,
    SessionStep,
    SessionTrial,
    TargetResult,
    TtlOutcome,
    TtlStep,
    TtlTrial,
    TtlWalk,
)
from probe.units import format_rate

if TYPE_CHECKING:  # the evidence holds the outcome: imported for the type only
    from probe.analysis.evidence import Evidence

# OONI's 10x, as the verdicts use it: a policer at 150 kbit/s is 100x and more
# below a free path, while two sessions at once on a fast link of a 2-core lab
# machine were seen 5x apart.
SLOWDOWN = stats.EXTREME_RATIO

_GOT_FURTHER = {TtlOutcome.EXPIRED, TtlOutcome.ANSWERED, TtlOutcome.CLOSED}
_AT_SERVER = {TtlOutcome.ANSWERED, TtlOutcome.CLOSED}


@dataclass(frozen=True)
class Location:
    """Where the equipment acts on one name, and what the walk saw."""

    walk: TtlWalk
    finding: LocateFinding
    hop: int | None  # the TTL from which on the name is reset, dropped or throttled
    earliest_hop: int | None  # as early as this, past routers that send no ICMP
    hop_address: str | None  # the router that answered the control at ``hop``, if one did
    previous_address: str | None  # the last router before it that answered

    @property
    def ttls(self) -> list[int]:
        return [step.ttl for step in self.walk.steps]

    @property
    def server_hop(self) -> int | None:
        """The TTL at which the control reached the server, if it did."""
        return next((s.ttl for s in self.walk.steps if s.control.outcome in _AT_SERVER), None)


def decided(steps: Sequence[TtlStep]) -> bool:
    """Whether the walk can stop: a step has decided what the name meets."""
    return any(_finding_at(step) is not None for step in steps)


def sessions_decided(steps: Sequence[SessionStep]) -> bool:
    """Whether the session walk can stop: two TTLs in a row slowed the name's session."""
    return len(steps) >= 2 and all(slowed(step.name, step.control) for step in steps[-2:])


def slowed(name: SessionTrial, control: SessionTrial) -> bool:
    """The name's session failed where the control's did not, or ran ``SLOWDOWN`` slower; a
    session the replay server refused says nothing."""
    if control.goodput_bytes_per_second is None or name.failure == Failure.REPLAY_REFUSED:
        return False
    if name.goodput_bytes_per_second is None:
        return True
    return name.goodput_bytes_per_second * SLOWDOWN < control.goodput_bytes_per_second


def judge(walk: TtlWalk, session_path: TtlWalk | None = None) -> Location:
    """The walk's finding, hop and addresses (see the module doc); ``session_path``: the
    TTL walk to the sessions' server, whose routers name a throttle's hop."""
    location = _judge_handshakes(walk)
    if location.finding != LocateFinding.NOTHING or not walk.sessions:
        return location
    step = _first_of_the_slowed_tail(walk.sessions)
    if step is None:
        return location
    path = session_path.steps if session_path is not None else []
    at = next((s.control.icmp_from for s in path if s.ttl == step.ttl), None)
    before = _last_address([s for s in path if s.ttl < step.ttl])
    return Location(walk, LocateFinding.THROTTLE, step.ttl, step.ttl, at, before)


def _first_of_the_slowed_tail(steps: Sequence[SessionStep]) -> SessionStep | None:
    """The first step from which on every step's name session was slowed."""
    first = None
    for step in reversed(steps):
        if not slowed(step.name, step.control):
            break
        first = step
    return first


def _judge_handshakes(walk: TtlWalk) -> Location:
    for index, step in enumerate(walk.steps):
        finding = _finding_at(step)
        if finding is None:
            continue
        if finding not in (LocateFinding.RESET, LocateFinding.DROP):
            return Location(walk, finding, None, None, None, None)
        earlier = walk.steps[:index]
        earliest = step.ttl if finding == LocateFinding.RESET else _after_silence(earlier, step)
        return Location(
            walk, finding, step.ttl, earliest, step.control.icmp_from, _last_address(earlier)
        )
    unreached = LocateFinding.NOT_REACHED
    return Location(walk, unreached, None, None, None, None)


def _finding_at(step: TtlStep) -> LocateFinding | None:
    name, control = step.name.outcome, step.control.outcome
    if name == TtlOutcome.NO_CONNECTION:
        return LocateFinding.UNREACHABLE
    if name == TtlOutcome.RESET:
        return LocateFinding.WHOLE_PATH if control == TtlOutcome.RESET else LocateFinding.RESET
    if name == TtlOutcome.SILENT and control in _GOT_FURTHER and step.name.retried:
        return LocateFinding.DROP
    if name in _AT_SERVER:
        return LocateFinding.NOTHING
    return None


def _after_silence(earlier: Sequence[TtlStep], step: TtlStep) -> int:
    """The first TTL of the run of steps silent for both names just before ``step``."""
    earliest = step.ttl
    for previous in reversed(earlier):
        if not _both_silent(previous.name, previous.control):
            break
        earliest = previous.ttl
    return earliest


def _both_silent(name: TtlTrial, control: TtlTrial) -> bool:
    return name.outcome == control.outcome == TtlOutcome.SILENT


def _last_address(earlier: Sequence[TtlStep]) -> str | None:
    for step in reversed(earlier):
        if step.control.icmp_from or step.name.icmp_from:
            return step.control.icmp_from or step.name.icmp_from
    return None


_SAID = {
    LocateFinding.RESET: "resets the name's connections at hop {hop}",
    LocateFinding.DROP: "drops the name's ClientHello at hop {hop}",
    LocateFinding.THROTTLE: "slows the sessions after the name's ClientHello from hop {hop} "
    "on: {name_rate} after the name's there, {control_rate} after the control's",
    LocateFinding.NOTHING: "its ClientHello reached the server at hop {server}: nothing on "
    "the path resets or drops it{sessions}",
    LocateFinding.WHOLE_PATH: "the control met the same at hop {last}: the path does it to "
    "every name",
    LocateFinding.UNREACHABLE: "no TCP connection to {address}:{port}: nothing to send on",
    LocateFinding.NOT_REACHED: "neither equipment nor the server within {last} hops",
}


NO_SESSIONS = (
    " (a throttle or freeze, which acts after the handshake, is looked for with the "
    "targets file's replay server and CAP_NET_RAW)"
)


def sentence(location: Location) -> str:
    """What the walk found, in one clause."""
    walk = location.walk
    at_hop = [s for s in walk.sessions if s.ttl == location.hop]
    return _SAID[location.finding].format(
        hop=_hop_text(location),
        server=location.server_hop,
        last=location.ttls[-1] if location.ttls else 0,
        address=walk.address,
        port=walk.port,
        name_rate=format_rate(at_hop[0].name.goodput_bytes_per_second) if at_hop else "",
        control_rate=format_rate(at_hop[0].control.goodput_bytes_per_second) if at_hop else "",
        sessions=_sessions_clause(walk),
    )


def _sessions_clause(walk: TtlWalk) -> str:
    if not walk.sessions:
        return NO_SESSIONS
    last = walk.sessions[-1].ttl
    return (
        f", and sessions to {walk.session_server} after its ClientHello with TTL 1 to {last} "
        "were not held 10x below those after the control's"
    )


def _hop_text(location: Location) -> str:
    hop = str(location.hop)
    if location.earliest_hop is not None and location.earliest_hop != location.hop:
        hop = f"{location.earliest_hop}-{location.hop} (a router that sends no ICMP between)"
    router = router_of(location)
    return f"{hop} ({router})" if router else hop


def router_of(location: Location) -> str:
    """The router at the hop, or the last one before it that answered."""
    if location.hop_address:
        return location.hop_address
    return f"after {location.previous_address}" if location.previous_address else ""


@dataclass(frozen=True)
class LocateOutcome:
    """A location as the judged round writes it (the walk is among the records)."""

    name: str  # the host name sent
    target: str  # the targets file's name for it ("" if none)
    finding: LocateFinding
    hop: int | None
    earliest_hop: int | None
    hop_address: str | None
    previous_address: str | None
    server_hop: int | None
    sentence: str
    evasions: EvasionTable | None = None  # the evasion matrix judged (daemon.evasions)


def outcome_of(location: Location) -> LocateOutcome:
    walk = location.walk
    return LocateOutcome(
        walk.name,
        walk.target,
        location.finding,
        location.hop,
        location.earliest_hop,
        location.hop_address,
        location.previous_address,
        location.server_hop,
        sentence(location),
        judge_matrix(walk.evasions) if walk.evasions is not None else None,
    )


_LOCATED = {LocateFinding.RESET, LocateFinding.DROP, LocateFinding.THROTTLE}


class LocateJudge(KindJudge):
    """The daemon's locations since the previous round (``daemon.locate``)."""

    name = "locate"

    def judge(self, result: RoundResult, network: Network) -> "LocateFindings":
        return LocateFindings([outcome_of(judge(walk)) for walk in result.locate])


@dataclass(frozen=True)
class LocateFindings(KindFindings):
    outcomes: list[LocateOutcome] = field(default_factory=list)

    def note_for(self, target: TargetResult) -> Note | None:
        outcome = next((o for o in self.outcomes if o.target == target.name), None)
        if outcome is None or outcome.finding not in _LOCATED:
            return None

        def attach(evidence: "Evidence") -> None:
            evidence.located = outcome

        return Note(f"located: {outcome.sentence}", attach)

    def shown(self) -> Shown | None:
        if not self.outcomes:
            return None
        rows = [
            (
                Cell(o.target or o.name),
                Cell(o.finding, Tone.ALARM if o.finding in _LOCATED else None),
                Cell("" if o.hop is None else str(o.hop)),
                Cell(
                    o.hop_address or (f"after {o.previous_address}" if o.previous_address else "")
                ),
            )
            for o in self.outcomes
        ]
        columns = (
            Column("target"),
            Column("finding"),
            Column("hop", numeric=True),
            Column("router"),
        )
        sentences = [f"{o.name}: {o.sentence}." for o in self.outcomes]
        sentences += [
            f"{o.name}: what gets past the equipment: "
            f"{', '.join(e.value for e in o.evasions.restoring) or 'none of the evasions tried'}."
            for o in self.outcomes
            if o.evasions is not None and any(o.evasions.held_down.values())
        ]
        return Shown("Where the equipment acts (locate)", columns, rows, sentences)

    def series(self) -> list[Series]:
        located = [o for o in self.outcomes if o.hop is not None and o.target]
        if not located:
            return []
        samples = [((o.target, o.finding.value), float(o.hop or 0)) for o in located]
        help_text = (
            "The hop at which equipment acts on the target, as the daemon's latest locate "
            "found it (daemon.locate: after its window verdict turned throttled or blocked, "
            "at most once a day), by finding: reset, drop or throttle; kept until the next."
        )
        hop = Series("locate_hop", help_text, ("target", "finding"), samples, kept=True)
        return [hop, *self._evasions()]

    def _evasions(self) -> list[Series]:
        cells = [
            (o.target, cell)
            for o in self.outcomes
            if o.evasions is not None and o.target
            for cell in o.evasions.cells
            if cell.state != EvasionState.NOT_APPLICABLE
        ]
        if not cells:
            return []
        samples = [
            ((target, c.evasion.value, c.direction.value), float(c.state == EvasionState.RESTORED))
            for target, c in cells
        ]
        help_text = (
            "The evasion matrix of the target (daemon.evasions): 1 where the evasion restored "
            "the scrambled baseline's rate in that direction, 0 where it did not; absent "
            "where it did not apply; kept until the next."
        )
        labels = ("target", "evasion", "direction")
        return [Series("evasion_restored", help_text, labels, samples, kept=True)]
