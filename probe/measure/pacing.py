"""One session after another to a replay server, as its admission control lets them in.

``throttle-probe serve`` admits 30 connections a minute from one address by
default, and holds at most 4 not yet authenticated: a session whose
ClientHello the path reset or dropped stays pending there for the server's
5 s hello time-out, since the server never hears of the reset. Sessions
started two seconds apart stay within both; one the server refused anyway
(its FIN before a byte) is sent once more after the hello time-out.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from probe.records import Failure, ReplayRecord

SESSION_GAP = 2.0  # seconds between session starts: 30 a minute
REFUSED_RETRY = 6.0  # the server's hello time-out (5 s), and a second


class Pacer:
    """Starts what it is given no sooner than ``gap`` seconds after the previous start."""

    def __init__(self, gap: float = SESSION_GAP) -> None:
        self.gap = gap
        self._last = float("-inf")

    async def turn(self) -> None:
        wait = self._last + self.gap - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last = time.monotonic()

    async def session(self, run: Callable[[], Awaitable[ReplayRecord]]) -> ReplayRecord:
        """``run`` at its turn; once more after ``REFUSED_RETRY`` if the server refused it."""
        await self.turn()
        record = await run()
        if record.failure != Failure.REPLAY_REFUSED:
            return record
        await asyncio.sleep(REFUSED_RETRY)
        await self.turn()
        return await run()
