"""Where on the path the equipment acts: ClientHellos sent with a rising TTL.

For each TTL k = 1, 2, ... a new TCP connection to the server (its handshake
at the system's TTL), then a ClientHello for the name with TTL k, so that it
goes no further than hop k. What comes back says how far it got and who acted
on it (``records.TtlOutcome``): an ICMP error (the TTL ran out at router k),
a reset (equipment at or before hop k, or the server), the server's answer
(it got all the way), or nothing (dropped, or a router that sends no ICMP).
Censored Planet found the 2021 throttler within five hops so; CenTrace located
commercial filters the same way, often upstream of the user's ISP.

At each k a ClientHello for a control name goes the same way at the same time,
on its own connection: where it meets the same fate, the hop acts on
everything and is not the censor. A trial met with silence is sent once more
a second later before it counts, since routers rate-limit their ICMP (Linux:
about one a second per destination after a burst of six).

The hop number needs no privilege: with IP_RECVERR the kernel hands the
time-exceeded to the TCP socket as EHOSTUNREACH. Who sent it (the hop's
address) is only in the ICMP packet itself, read from a raw socket, which
needs CAP_NET_RAW; without it the addresses are left out.
"""

import asyncio
import contextlib
import dataclasses
import errno
import os
import socket
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

from probe.measure.clienthello import RANDOM_SIZE, SESSION_ID_SIZE, client_hello_record
from probe.records import TtlOutcome, TtlStep, TtlTrial, TtlWalk

IP_RECVERR = 11  # linux/in.h; the socket module does not name it
CONNECT_TIMEOUT = 5.0
MIN_WAIT, MAX_WAIT = 1.5, 5.0  # seconds to wait for what a ClientHello brings back
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH}
# Between two names' walks: each router on the path spends two ICMP tokens per name,
# and Linux gives one back a second.
PAUSE_BETWEEN_NAMES = 2.0
_ICMP_TIME_EXCEEDED = 11


class HopListener:
    """Time-exceeded replies read from a raw ICMP socket: which router spoke for which of
    our connections (by its local port). ``open`` returns None without CAP_NET_RAW.

    A trial also waits on it, not on its socket alone: when the reply comes back
    while the kernel still holds the socket for the send (a near router), TCP
    keeps the error to itself until a retransmission expires too.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._senders: dict[int, str] = {}
        self._waiting: dict[int, asyncio.Future[str]] = {}
        asyncio.get_running_loop().add_reader(sock.fileno(), self._read)

    @classmethod
    def open(cls) -> "HopListener | None":
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except PermissionError:
            return None
        sock.setblocking(False)
        return cls(sock)

    def sender(self, local_port: int) -> str | None:
        return self._senders.get(local_port)

    def expiry(self, local_port: int) -> "asyncio.Future[str]":
        """Done with the router's address when a time-exceeded names ``local_port``."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[local_port] = future
        return future

    def forget(self, local_port: int) -> None:
        self._waiting.pop(local_port, None)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()

    def _read(self) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while True:
                packet = self._sock.recv(65535)
                port = time_exceeded_source_port(packet)
                if port is None:
                    continue
                router = socket.inet_ntoa(packet[12:16])
                self._senders[port] = router
                waiting = self._waiting.pop(port, None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(router)


def time_exceeded_source_port(packet: bytes) -> int | None:
    """The TCP source port quoted in an ICMP time-exceeded ``packet`` (IP header on),
    or None for any other packet. RFC 792: the reply quotes the expired datagram's IP
    header and its first 8 bytes, which hold the TCP ports."""
    outer = (packet[0] & 0x0F) * 4 if packet else 0
    if len(packet) < outer + 8 or packet[outer] != _ICMP_TIME_EXCEEDED:
        return None
    inner = outer + 8
    if len(packet) < inner + 20 or packet[inner + 9] != socket.IPPROTO_TCP:
        return None
    ports = inner + (packet[inner] & 0x0F) * 4
    if len(packet) < ports + 2:
        return None
    (source_port,) = struct.unpack_from("!H", packet, ports)
    return int(source_port)


async def ttl_trial(
    address: str, port: int, sni: str, ttl: int, wait: float, hops: HopListener | None
) -> TtlTrial:
    """Connect to ``address``, send the ClientHello for ``sni`` with TTL ``ttl``, and say what
    came back within ``wait`` seconds."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (address, port)), CONNECT_TIMEOUT)
        except (OSError, TimeoutError):
            return TtlTrial(ttl, TtlOutcome.NO_CONNECTION, None)
        local_port = sock.getsockname()[1]
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        hello = client_hello_record(sni, os.urandom(RANDOM_SIZE), os.urandom(SESSION_ID_SIZE))
        sent = time.monotonic()
        expiry = hops.expiry(local_port) if hops is not None else None
        try:
            outcome = await _what_comes_back(sock, hello, wait, expiry)
        finally:
            if hops is not None:
                hops.forget(local_port)
        seconds = None if outcome == TtlOutcome.SILENT else time.monotonic() - sent
        icmp_from = hops.sender(local_port) if hops and outcome == TtlOutcome.EXPIRED else None
        return TtlTrial(ttl, outcome, seconds, icmp_from)
    finally:
        _abort(sock)


async def _what_comes_back(
    sock: socket.socket, hello: bytes, wait: float, expiry: "asyncio.Future[str] | None"
) -> TtlOutcome:
    """Send ``hello`` and wait for the first of: data, a reset, an ICMP error, silence."""
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_sendall(sock, hello)
        answer = asyncio.ensure_future(loop.sock_recv(sock, 4096))
        waiting: set[asyncio.Future[Any]] = {answer} if expiry is None else {answer, expiry}
        done, _ = await asyncio.wait(waiting, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        if answer not in done:
            answer.cancel()
            return TtlOutcome.EXPIRED if done else TtlOutcome.SILENT
        data = answer.result()
    except (ConnectionResetError, BrokenPipeError):
        return TtlOutcome.RESET
    except OSError as error:  # a failure is the trial's outcome, never an exception
        return TtlOutcome.EXPIRED if error.errno in _UNREACHABLE else TtlOutcome.ERROR
    return TtlOutcome.ANSWERED if data else TtlOutcome.CLOSED


def _abort(sock: socket.socket) -> None:
    """Close with a reset at the full TTL, so that a server the ClientHello reached does
    not keep a connection open for it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 64)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def walk(
    name: str,
    control: str,
    address: str,
    port: int,
    max_hops: int,
    done: Callable[[Sequence[TtlStep]], bool],
    hops: HopListener | None = None,
    on_step: Callable[[TtlStep], None] | None = None,
) -> TtlWalk:
    """TTL 1 to ``max_hops`` for ``name`` and ``control`` side by side, until ``done`` says
    the steps so far decide (``analysis.locate.decided``)."""
    result = TtlWalk(name, control, address, port, hop_addresses=hops is not None)
    wait = await _wait_for(address, port)
    for ttl in range(1, max_hops + 1):
        name_trial, control_trial = await asyncio.gather(
            _trial_or_retry(address, port, name, ttl, wait, hops),
            _trial_or_retry(address, port, control, ttl, wait, hops),
        )
        step = TtlStep(ttl, name_trial, control_trial)
        result.steps.append(step)
        if on_step is not None:
            on_step(step)
        if done(result.steps):
            break
    return result


async def _trial_or_retry(
    address: str, port: int, sni: str, ttl: int, wait: float, hops: HopListener | None
) -> TtlTrial:
    """A trial, sent once more a second later if it met silence: a router that rate-limits
    its ICMP may have had no token left."""
    trial = await ttl_trial(address, port, sni, ttl, wait, hops)
    if trial.outcome != TtlOutcome.SILENT:
        return trial
    await asyncio.sleep(1.0)
    again = await ttl_trial(address, port, sni, ttl, wait, hops)
    return dataclasses.replace(again, retried=True)


async def _wait_for(address: str, port: int) -> float:
    """How long a trial waits: five round trips, as one TCP connect measures it, within
    MIN_WAIT and MAX_WAIT."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    started = time.monotonic()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (address, port)), CONNECT_TIMEOUT)
    except (OSError, TimeoutError):
        return MAX_WAIT
    finally:
        _abort(sock)
    return min(MAX_WAIT, max(MIN_WAIT, 5 * (time.monotonic() - started)))


async def address_of(host: str, port: int) -> str | None:
    """The first IPv4 address of ``host`` by the system's resolver; None if it has none."""
    loop = asyncio.get_running_loop()
    try:
        answers = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return None
    return str(answers[0][4][0]) if answers else None
