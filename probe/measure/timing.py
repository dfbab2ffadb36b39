"""Clocks and deadlines shared by the measurement steps.

A step runs under one ``Deadline``: an ``asyncio.timeout`` whose limit moves as
the step goes from phase to phase (connect, handshake, body) and never passes
the step's overall budget. ``Interrupt`` lets the user stop a round: it fires
every open deadline at once, so each step ends through its normal time-out path
and still returns the record of what it measured (no swallowed cancellation).
"""

import asyncio
from types import TracebackType


class Clock:
    """Seconds since the start of a target's measurement (monotonic)."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._origin = self._loop.time()

    def now(self) -> float:
        return self._loop.time() - self._origin


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
