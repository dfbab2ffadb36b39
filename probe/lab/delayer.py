"""Path delay for the lab's router: hold every forwarded packet for a fixed time.

netem is missing on the kernels this project is tested on, so the router
sends its forwarded packets to an NFQUEUE (``-j NFQUEUE``, the last rule of
FORWARD) and this process gives each one its verdict ``delay`` seconds after
it arrived. Every packet waits the same time, in arrival order, so nothing is
reordered and nothing is dropped: the path gets a longer round trip and
nothing else. A packet crosses the router once each way, so the round trip
grows by twice ``delay``.

Only packet metadata is copied to userspace (``COPY_META``): the verdict
needs the packet's id, not its bytes. Run it inside the router's namespace:
``python -m probe.lab.delayer --queue 0 --delay 0.025``. It prints a line
once bound, which is when the lab's service starter considers it up.
"""

import collections
import sys
import time
from typing import Protocol

from probe.lab.nfqueue import serve_until_stopped

QUEUE_LENGTH = 65536  # packets: a 10 Gbit/s path over 50 ms holds ~40k full-size ones


class _Packet(Protocol):
    def accept(self) -> None: ...


class Delayer:
    """Release each packet ``delay`` seconds after it was queued, in order."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._held: collections.deque[tuple[float, _Packet]] = collections.deque()

    def hold(self, packet: _Packet) -> None:
        self._held.append((time.monotonic() + self.delay, packet))

    def release_due(self) -> float | None:
        """Accept every packet whose time has come; seconds until the next one (None: none held)."""
        now = time.monotonic()
        held = self._held
        while held and held[0][0] <= now:
            held.popleft()[1].accept()
        return max(0.0, held[0][0] - now) if held else None


def run(queue_number: int, delay: float) -> None:
    """Serve the queue until SIGTERM or SIGINT."""
    from netfilterqueue import COPY_META, NetfilterQueue  # only the lab's router needs it

    delayer = Delayer(delay)
    nfqueue = NetfilterQueue()
    nfqueue.bind(queue_number, delayer.hold, max_len=QUEUE_LENGTH, mode=COPY_META)
    print(f"delaying queue {queue_number} by {delay * 1000:.0f} ms", flush=True)
    serve_until_stopped(nfqueue, delayer.release_due)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="hold an NFQUEUE's packets for a fixed delay")
    parser.add_argument("--queue", type=int, default=0, help="NFQUEUE number")
    parser.add_argument("--delay", type=float, required=True, help="seconds per packet")
    args = parser.parse_args(argv)
    run(args.queue, args.delay)
    sys.exit(0)


if __name__ == "__main__":
    main()
