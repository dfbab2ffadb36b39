"""Where a throttle sits: a TTL-limited ClientHello for the name, then an ordinary session.

A throttle lets the handshake through and acts later, so no reset or silence
shows where it is. Instead, on a connection to the replay server (``throttle-
probe serve``, outside the censored network), a first data segment carrying
the name's ClientHello goes out with TTL k and the connection's own sequence
numbers: equipment at or before hop k takes it for the connection's
ClientHello and arms itself; the server, further on, never gets it. Then the
replay's authenticated ClientHello (with the control name) goes at the full
TTL over the same sequence range, and the session downloads for a few
seconds. Beside it, the same with the control name in the first segment is
the baseline. zapret calls such a segment a "fake"; here it is the trigger.

Needs CAP_NET_RAW twice: a raw socket that reads the SYN-ACK (the sequence
numbers the segment must carry), and one that sends the segment. The TTLs
tried stop short of the server's hop, where the segment would arrive.
"""

import asyncio
import os
import socket
import struct
from collections.abc import Callable, Sequence

from probe.measure.clienthello import RANDOM_SIZE, SESSION_ID_SIZE, client_hello_record
from probe.measure.pacing import Pacer
from probe.measure.replay_session import ReplaySession, ReplaySettings, replay
from probe.measure.timing import Clock
from probe.records import Direction, ReplayRecord, SessionStep, SessionTrial, Variant

SESSION_BYTES = 8 * 1024 * 1024  # more than a few seconds can bring through a throttle
_SYN_ACK = 0x12


def raw_sockets_allowed() -> bool:
    """Whether this process may open raw sockets (CAP_NET_RAW)."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW).close()
    except PermissionError:
        return False
    return True


class Trigger:
    """Sends one TTL-limited segment with a ClientHello for ``sni`` on a connection about
    to be made; open before the connect, so that its SYN-ACK is read."""

    def __init__(self, sni: str, ttl: int) -> None:
        self.sni, self.ttl = sni, ttl
        self._listen = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        self._listen.setblocking(False)

    async def send(self, sock: socket.socket) -> None:
        """On the connected ``sock``: the segment, with the sequence numbers its data and
        acknowledgement would carry next."""
        local, local_port = sock.getsockname()[:2]
        server, port = sock.getpeername()[:2]
        try:
            numbers = await self._sequence_numbers(server, port, local_port)
        finally:
            self._listen.close()
        if numbers is None:
            raise OSError("the connection's SYN-ACK was not seen: no sequence numbers")
        hello = client_hello_record(self.sni, os.urandom(RANDOM_SIZE), os.urandom(SESSION_ID_SIZE))
        packet = segment(local, server, local_port, port, self.ttl, *numbers, hello)
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
            raw.sendto(packet, (server, 0))

    def close(self) -> None:
        self._listen.close()

    async def _sequence_numbers(
        self, server: str, port: int, local_port: int
    ) -> tuple[int, int] | None:
        loop = asyncio.get_running_loop()
        for _ in range(1000):  # the SYN-ACK is queued already; other packets may be first
            try:
                packet = await asyncio.wait_for(loop.sock_recv(self._listen, 65535), 1.0)
            except TimeoutError:
                return None
            numbers = syn_ack_numbers(packet, server, port, local_port)
            if numbers is not None:
                return numbers
        return None


def syn_ack_numbers(
    packet: bytes, server: str, port: int, local_port: int
) -> tuple[int, int] | None:
    """(our next sequence number, our acknowledgement) from ``packet`` when it is the
    SYN-ACK of ``server:port`` to ``local_port``, else None."""
    header = (packet[0] & 0x0F) * 4 if packet else 0
    if len(packet) < header + 20 or socket.inet_ntoa(packet[12:16]) != server:
        return None
    source, destination, seq, ack = struct.unpack_from("!HHII", packet, header)
    flags = packet[header + 13]
    if (source, destination) != (port, local_port) or flags & 0x3F != _SYN_ACK:
        return None
    return ack, (seq + 1) % 2**32


def segment(
    source: str, destination: str, sport: int, dport: int, ttl: int, seq: int, ack: int, data: bytes
) -> bytes:
    """An IPv4 packet holding one TCP segment (PSH, ACK) with ``data``; checksums set."""
    from scapy.layers.inet import IP, TCP

    tcp = TCP(sport=sport, dport=dport, flags="PA", seq=seq, ack=ack, window=65535)
    return bytes(IP(src=source, dst=destination, ttl=ttl) / tcp / data)


async def session_trial(
    server: str,
    port: int,
    secret: bytes,
    trigger_sni: str,
    sni: str,
    ttl: int,
    seconds: float,
    pacer: Pacer | None = None,
) -> SessionTrial:
    """The trigger for ``trigger_sni`` with TTL ``ttl``, then a replay download of up to
    ``seconds`` with the authenticated ClientHello for ``sni``, at ``pacer``'s turn."""
    session = ReplaySession(server, port, sni, Variant.PLAIN, Direction.DOWNLOAD, SESSION_BYTES)
    settings = ReplaySettings(
        connect_timeout=5.0, stall_timeout=seconds, transfer_timeout=seconds, stop_at_plateau=False
    )

    async def once() -> ReplayRecord:
        trigger = Trigger(trigger_sni, ttl)
        try:
            return await replay(session, secret, settings, Clock(), before_hello=trigger.send)
        finally:
            trigger.close()

    record = await (pacer or Pacer(0.0)).session(once)
    return SessionTrial(ttl, record.goodput_bytes_per_second, record.bytes, record.failure)


async def session_walk(
    name: str,
    control: str,
    server: tuple[str, int],
    secret: bytes,
    ttls: range,
    seconds: float,
    done: Callable[[Sequence[SessionStep]], bool],
    on_step: Callable[[SessionStep], None] | None = None,
) -> list[SessionStep]:
    """At each TTL of ``ttls``, a session triggered by ``name`` and one by ``control``, at
    once as the replay server admits them (``measure.pacing``), until ``done`` says the
    steps so far decide."""
    host, port = server
    steps: list[SessionStep] = []
    pacer = Pacer()
    for ttl in ttls:
        name_trial, control_trial = await asyncio.gather(
            session_trial(host, port, secret, name, control, ttl, seconds, pacer),
            session_trial(host, port, secret, control, control, ttl, seconds, pacer),
        )
        steps.append(SessionStep(ttl, name_trial, control_trial))
        if on_step is not None:
            on_step(steps[-1])
        if done(steps):
            break
    return steps
