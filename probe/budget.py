"""The daily data budget: what the daemon may download in a UTC day.

A probe on a metered VPS must not cost more than its owner agreed to
(speed-test exporters are known for ~1 GB per test). Bytes are counted as
rounds finish; the budget resets at midnight UTC. The schedule uses it twice:
it stretches the interval so that rounds of the latest size fit the day
(measuring evenly rather than all morning and blind all evening), and it
pauses measuring until the next day when the next round would overrun it.
"""

import datetime
import time
from collections.abc import Callable

DAY = 86400.0


class DataBudget:
    """Bytes spent today (UTC) against ``daily_bytes``."""

    def __init__(self, daily_bytes: int, now: Callable[[], float] = time.time) -> None:
        self.daily_bytes = daily_bytes
        self._now = now
        self._day = self._today()
        self._spent = 0
        self.paused = False  # set by the schedule while it waits for the next day

    def _today(self) -> datetime.date:
        return datetime.datetime.fromtimestamp(self._now(), datetime.UTC).date()

    def _roll_over(self) -> None:
        today = self._today()
        if today != self._day:
            self._day, self._spent = today, 0

    @property
    def spent(self) -> int:
        self._roll_over()
        return self._spent

    def add(self, count: int) -> None:
        self._roll_over()
        self._spent += count

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.daily_bytes

    def seconds_until_reset(self) -> float:
        """Seconds to the next midnight UTC."""
        return DAY - self._now() % DAY

    def paced_interval(self, interval: float, round_bytes: int) -> float:
        """``interval``, stretched so that the rounds of ``round_bytes`` that the rest of
        today's budget allows spread over the rest of the day.

        When not one more round fits, the interval stays: the schedule pauses instead.
        """
        rounds_left = (self.daily_bytes - self.spent) // round_bytes if round_bytes > 0 else 0
        if rounds_left < 1:
            return interval
        return max(interval, self.seconds_until_reset() / rounds_left)
