"""TCP connect times to the server while a download runs: the path's queue, seen in band.

A download's own TCP_INFO cannot tell a policer from a shaper: the receiver's
RTT estimate grows whenever data arrives slowly, queued or not. A fresh TCP
handshake to the same address, now and then during the body, crosses the same
router queues as the download: a shaper that queues the server's traffic
delays the SYN-ACK too, while a policer keyed on the ClientHello never sees
the bare handshake, and a policer adds no delay anyway. Each probe is one
SYN, SYN-ACK, ACK and a close: no TLS, no request, a few hundred bytes.
"""

import asyncio
import contextlib
import socket

from probe.measure.timing import Clock
from probe.records import RttSample


class ConnectRttProbe:
    """Every ``interval`` seconds, time a TCP connect to ``address:port`` (at most ``limit``)."""

    def __init__(
        self,
        address: str,
        port: int,
        clock: Clock,
        interval: float = 1.0,
        limit: int = 15,
        timeout: float = 3.0,
    ) -> None:
        self.address = address
        self.port = port
        self.clock = clock
        self.interval = interval
        self.limit = limit
        self.timeout = timeout
        self.samples: list[RttSample] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        for _ in range(self.limit):
            await asyncio.sleep(self.interval)
            self.samples.append(await self._one())

    async def _one(self) -> RttSample:
        t0 = self.clock.now()
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        try:
            async with asyncio.timeout(self.timeout):
                _, writer = await asyncio.open_connection(self.address, self.port, family=family)
        except (OSError, TimeoutError):
            return RttSample(t=t0, rtt=None)  # no answer in time: a queue this long, or loss
        rtt = self.clock.now() - t0
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return RttSample(t=t0, rtt=rtt)
