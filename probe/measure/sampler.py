"""Cumulative-bytes samples on a memoryless timer, with TCP_INFO alongside.

Intervals are exponential with a 250 ms mean, clamped to 25-650 ms, as OONI's
and ndt7's samplers do: a memoryless schedule cannot lock into step with a
periodic pattern in the traffic (a token bucket refilling, a scheduler tick).
The sampler is its own task, so a stalled download still gets samples: the
flat line is the evidence.

A sample whose count grew since the one before is stamped with the moment
the count last grew, not the moment the timer woke: both are true ("this
many bytes by then"), but only the first lies on the arrival curve. At a
policer's rate the body arrives one 16 KB TLS record a second and the timer
wakes up to 650 ms after a record; the last sample, taken at the stop, cuts
that lag short, which tilted the fitted rate upwards (in the lab, 8 s at a
150 kbit/s shaper read a median 4.8% high with the timer's stamps, 1.0%
with these: bench/lab_fidelity.py --repeat).
"""

import asyncio
import random
import socket

from probe.measure.tcpinfo import read_tcp_info
from probe.measure.timing import Clock
from probe.records import ByteSample, TcpInfoSample

MEAN_INTERVAL = 0.250
MIN_INTERVAL = 0.025
MAX_INTERVAL = 0.650


def next_interval(rng: random.Random) -> float:
    return min(MAX_INTERVAL, max(MIN_INTERVAL, rng.expovariate(1.0 / MEAN_INTERVAL)))


class ByteCounter:
    """The download loop adds to it; the sampler reads it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.bytes = 0
        self.grew_at: float | None = None  # when ``bytes`` last grew

    def add(self, count: int) -> None:
        # The time first: a body thread adds while the loop samples, and a sample
        # that saw the new time with the old count is still true; the reverse is not.
        if count:
            self.grew_at = self.clock.now()
        self.bytes += count


class Sampler:
    """Samples ``counter`` (and the socket's TCP_INFO) until stopped."""

    def __init__(self, counter: ByteCounter, sock: socket.socket | None) -> None:
        self.counter = counter
        self.sock = sock
        self.clock = counter.clock
        self.samples: list[ByteSample] = []
        self.tcp_info: list[TcpInfoSample] = []
        self._rng = random.Random()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self) -> None:
        self.sample()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        """Stop the timer and take the final sample (once: later calls do nothing)."""
        if self._stopped:
            return
        self._stopped = True
        if self._task is not None:
            # The task sleeps between samples, so it cannot sample again once cancelled.
            self._task.cancel()
        self.sample()

    def sample(self) -> None:
        now = self.clock.now()
        count = self.counter.bytes
        grew = not self.samples or count != self.samples[-1].bytes
        t = self.counter.grew_at if grew and self.counter.grew_at is not None else now
        self.samples.append(ByteSample(t=t, bytes=count))
        if self.sock is not None:
            info = read_tcp_info(self.sock, now)
            if info is not None:
                self.tcp_info.append(info)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(next_interval(self._rng))
            self.sample()
