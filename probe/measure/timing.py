"""Clocks and deadlines shared by the measurement steps.

A step runs under one ``Deadline``: an ``asyncio.timeout`` whose limit moves as
the step goes from phase to phase (connect, handshake, body) and never passes
the step's overall budget. ``Interrupt`` lets the user stop a round: it fires
every open deadline at once, so each step ends through its normal time-out path
and still returns the record of what it measured (no swallowed cancellation).
"""

import asyncio
import time
from collections.abc import Callable
from types import TracebackType

from probe.records import Failure, Phase, StopReason


class Clock:
    """Seconds since the start of a target's measurement (monotonic)."""

    def __init__(self) -> None:
        self._origin = time.monotonic()

    def now(self) -> float:
        # The event loop's own clock (asyncio's loops read time.monotonic), read
        # directly: a fast body's thread calls it once per TLS record.
        return time.monotonic() - self._origin


class Interrupt:
    """A request to stop the round, observed by every open ``Deadline``."""

    def __init__(self) -> None:
        self.requested = False
        self._open: set[Deadline] = set()

    def request(self) -> None:
        self.requested = True
        for deadline in list(self._open):
            deadline.refresh()

    def _register(self, deadline: "Deadline") -> None:
        self._open.add(deadline)

    def _unregister(self, deadline: "Deadline") -> None:
        self._open.discard(deadline)


class Deadline:
    """``async with Deadline(budget, interrupt) as deadline:`` then ``deadline.phase(s)``."""

    def __init__(self, budget: float, interrupt: Interrupt | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._overall = self._loop.time() + budget
        self._phase: float | None = None
        self._interrupt = interrupt
        self._timeout = asyncio.timeout(None)

    async def __aenter__(self) -> "Deadline":
        await self._timeout.__aenter__()
        if self._interrupt is not None:
            self._interrupt._register(self)
        self.refresh()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._interrupt is not None:
            self._interrupt._unregister(self)
        await self._timeout.__aexit__(exc_type, exc, traceback)

    def phase(self, seconds: float | None) -> None:
        """Start a phase that may last ``seconds`` (None: only the overall budget)."""
        self._phase = None if seconds is None else self._loop.time() + seconds
        self.refresh()

    def refresh(self) -> None:
        when = self._overall if self._phase is None else min(self._phase, self._overall)
        if self.interrupted:
            when = self._loop.time()
        self._timeout.reschedule(when)

    @property
    def interrupted(self) -> bool:
        return self._interrupt is not None and self._interrupt.requested

    @property
    def overall_expired(self) -> bool:
        return self._loop.time() >= self._overall


class PhaseLog:
    """Appends a step's phases to ``phases`` as they open one after the other."""

    def __init__(self, phases: list[Phase], clock: Clock) -> None:
        self._phases = phases
        self._clock = clock
        self._open: Phase | None = None

    @property
    def current(self) -> str | None:
        return None if self._open is None else self._open.name

    def open(self, name: str) -> None:
        """End the open phase (if any) and start ``name``."""
        now = self._clock.now()
        self.close(now)
        self._open = Phase(name, t0=now)
        self._phases.append(self._open)

    def close(self, now: float) -> None:
        if self._open is not None:
            self._open.t = now
        self._open = None

    def fail(self, failure: Failure) -> None:
        if self._open is not None:
            self._open.t, self._open.failure = self._clock.now(), failure
            self._open = None


def how_it_ended(
    deadline: Deadline,
    error: BaseException,
    phase: str | None,
    classify: Callable[[BaseException, str | None], Failure],
) -> tuple[StopReason, Failure | None]:
    """The stop reason and failure of a step that ``error`` ended during ``phase``.

    A body still flowing when the overall budget ran out is a result (its
    samples hold), not a failure; a user's interrupt is neither.
    """
    if deadline.interrupted:
        return StopReason.INTERRUPTED, Failure.INTERRUPTED
    if isinstance(error, TimeoutError) and phase == "body" and deadline.overall_expired:
        return StopReason.DEADLINE, None
    return StopReason.FAILURE, classify(error, phase)
