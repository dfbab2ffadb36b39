"""Cumulative-bytes samples on a memoryless timer, with TCP_INFO alongside.

Intervals are exponential with a 250 ms mean, clamped to 25-650 ms, as OONI's
and ndt7's samplers do: a memoryless schedule cannot lock into step with a
periodic pattern in the traffic (a token bucket refilling, a scheduler tick).
The sampler is its own task, so a stalled download still gets samples: the
flat line is the evidence.
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

    def __init__(self) -> None:
        self.bytes = 0


class Sampler:
    """Samples ``counter`` (and the socket's TCP_INFO) until stopped."""

    def __init__(self, counter: ByteCounter, sock: socket.socket | None, clock: Clock) -> None:
        self.counter = counter
        self.sock = sock
        self.clock = clock
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
        self.samples.append(ByteSample(t=now, bytes=self.counter.bytes))
        if self.sock is not None:
            info = read_tcp_info(self.sock, now)
            if info is not None:
                self.tcp_info.append(info)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(next_interval(self._rng))
            self.sample()
