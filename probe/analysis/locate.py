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
  control triggered, or fails where that one does not, at every TTL tried:
  equipment that sees the name at hop k sees it at every TTL past k, and a
  session that was merely unlucky once is not a throttle.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from probe.records import (
    LocateFinding,
    SessionStep,
    SessionTrial,
    TtlOutcome,
    TtlStep,
    TtlTrial,
    TtlWalk,
)

# OONI's 10x, as the verdicts use it: a policer at 150 kbit/s is 100x and more
# below a free path, while two sessions at once on a fast link of a 2-core lab
# machine were seen 5x apart.
SLOWDOWN = 10.0

_GOT_FURTHER = {TtlOutcome.EXPIRED, TtlOutcome.ANSWERED, TtlOutcome.CLOSED}
_AT_SERVER = {TtlOutcome.ANSWERED, TtlOutcome.CLOSED}


@dataclass(frozen=True)
class Location:
    """Where the equipment acts on one name, and what the walk saw."""

    walk: TtlWalk
    finding: LocateFinding
    hop: int | None  # the TTL at which the name was first reset or dropped
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
    """The name's session failed where the control's did not, or ran ``SLOWDOWN`` slower."""
    if control.goodput_bytes_per_second is None:
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
