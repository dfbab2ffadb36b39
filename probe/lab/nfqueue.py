"""Serving an NFQUEUE from a process in the lab's router, until SIGTERM or SIGINT.

The delayer and the QUIC SNI filter both give the router's queued packets
their verdicts in userspace; this is the loop they share: wait for packets
(or for the caller's next due time), hand each to the binding's callback, and
unbind on the way out so that the kernel stops queueing to a process that is
gone.
"""

import select
import signal
from collections.abc import Callable
from typing import Any


def serve_queue(queue_number: int, on_packet: Callable[[Any], None], said: str) -> None:
    """Bind ``on_packet`` to NFQUEUE ``queue_number``, print ``said`` (the lab waits for a
    line: the element is ready), and serve until a stop signal."""
    from netfilterqueue import NetfilterQueue  # only the lab's router needs it

    nfqueue = NetfilterQueue()
    nfqueue.bind(queue_number, on_packet)
    print(said, flush=True)
    serve_until_stopped(nfqueue)


def serve_until_stopped(
    nfqueue: Any, release_due: Callable[[], float | None] = lambda: None
) -> None:
    """Run ``nfqueue`` (a bound ``netfilterqueue.NetfilterQueue``) until a stop signal.

    ``release_due`` is called before each wait: the seconds until the caller
    has something to do of its own (None: nothing), so that held packets go
    out on time.
    """
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    fd = nfqueue.get_fd()
    try:
        while not stopping:
            wait = release_due()
            readable, _, _ = select.select([fd], [], [], 0.5 if wait is None else wait)
            if readable:
                nfqueue.run(block=False)  # every packet waiting in the socket
    finally:
        nfqueue.unbind()
