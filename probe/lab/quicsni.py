"""The lab's QUIC SNI filter: the router reads the SNI of QUIC Initials, as China's firewall does.

Since April 2024 the Great Firewall decrypts the first QUIC Initial of a flow
(its keys derive from the client's destination connection id, RFC 9001
section 5.2, so anyone on the path can), reads the ClientHello's server name,
and drops the flow when the name matches; the client, server and server port
then stay blocked for 180 s (USENIX Security 2025). Only the first packet is
inspected: a ClientHello split over two Initials, or QUIC version 2, passes.

This element does the same on the lab's router: an NFQUEUE process that
sees every UDP 443 packet both ways, decrypts a flow's first client
Initial with the keys derived from its connection id (aioquic's own
derivation), and, when the name matches a pattern, drops the flow or polices
it to a rate (a token bucket per flow and direction, as the 2024 YouTube
policer held QUIC near 512 kbit/s). With ``residual`` the triple stays
blocked for that many seconds after a match, new flows included.

``python -m probe.lab.quicsni --queue 2 --pattern googlevideo.com [--rate BIT/S]
[--residual S]`` prints a line once bound.
"""

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aioquic._buffer import Buffer, BufferReadError  # aioquic.buffer re-exports them untyped
from aioquic._crypto import CryptoError
from aioquic.quic.crypto import CryptoPair
from aioquic.quic.packet import (
    QuicPacketType,
    QuicProtocolVersion,
    pull_quic_header,
)

from probe.lab.nfqueue import serve_queue

_TLS_CLIENT_HELLO = 1
_SERVER_NAME_EXTENSION = 0
_CRYPTO_FRAME = 0x06
_PADDING, _PING = 0x00, 0x01
_ACK_FRAMES = (0x02, 0x03)


def initial_sni(datagram: bytes) -> str | None:
    """The server name in a client's first QUIC Initial, if ``datagram`` is one and holds it.

    Only QUIC version 1 is read (the GFW did not read version 2), and only the
    ClientHello bytes this one packet carries: a name beyond them is not seen.
    """
    try:
        buf = Buffer(data=datagram)
        header = pull_quic_header(buf, host_cid_length=8)
        if header.packet_type != QuicPacketType.INITIAL:
            return None
        if header.version != QuicProtocolVersion.VERSION_1:
            return None
        pair = CryptoPair()
        pair.setup_initial(header.destination_cid, is_client=False, version=header.version)
        _, payload, _ = pair.decrypt_packet(datagram[: header.packet_length], buf.tell(), 0)
        return client_hello_sni(_crypto_stream(payload))
    except (BufferReadError, CryptoError, ValueError):
        return None


def _crypto_stream(payload: bytes) -> bytes:
    """The CRYPTO frames' bytes from offset 0 on, as far as they are contiguous."""
    buf = Buffer(data=payload)
    pieces: dict[int, bytes] = {}
    while not buf.eof():
        frame = buf.pull_uint_var()
        if frame in (_PADDING, _PING):
            continue
        if frame in _ACK_FRAMES:
            _skip_ack(buf, frame)
            continue
        if frame != _CRYPTO_FRAME:
            break  # nothing else belongs in a client's first Initial
        offset, length = buf.pull_uint_var(), buf.pull_uint_var()
        pieces[offset] = buf.pull_bytes(length)
    stream, at = b"", 0
    while at in pieces:
        stream += pieces[at]
        at += len(pieces[at])
    return stream


def _skip_ack(buf: Buffer, frame: int) -> None:
    buf.pull_uint_var()  # largest acknowledged
    buf.pull_uint_var()  # delay
    ranges = buf.pull_uint_var()
    buf.pull_uint_var()  # first range
    for _ in range(ranges * 2):
        buf.pull_uint_var()
    if frame == 0x03:
        for _ in range(3):  # ECN counts
            buf.pull_uint_var()


def client_hello_sni(handshake: bytes) -> str | None:
    """The server_name of a TLS ClientHello handshake message (RFC 8446, 4.1.2; RFC 6066, 3)."""
    buf = Buffer(data=handshake)
    try:
        if buf.pull_uint8() != _TLS_CLIENT_HELLO:
            return None
        buf.pull_bytes(3)  # length: the bytes may stop short of it (one packet's worth)
        buf.pull_bytes(2 + 32)  # legacy version, random
        buf.pull_bytes(buf.pull_uint8())  # legacy session id
        buf.pull_bytes(buf.pull_uint16())  # cipher suites
        buf.pull_bytes(buf.pull_uint8())  # compression methods
        end = buf.pull_uint16() + buf.tell()
        while buf.tell() < end:
            kind, length = buf.pull_uint16(), buf.pull_uint16()
            body = buf.pull_bytes(length)
            if kind == _SERVER_NAME_EXTENSION:
                return _server_name(body)
    except BufferReadError:
        return None
    return None


def _server_name(body: bytes) -> str | None:
    buf = Buffer(data=body)
    buf.pull_uint16()  # the list's length
    if buf.pull_uint8() != 0:  # host_name
        return None
    return buf.pull_bytes(buf.pull_uint16()).decode("ascii", "replace")


Flow = tuple[str, int, str, int]  # source, source port, destination, destination port


@dataclass
class _Bucket:
    """A token bucket of one flow and direction: ``rate`` bytes/s, one second deep."""

    rate: float
    tokens: float
    at: float

    def take(self, size: int, now: float) -> bool:
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < size:
            return False
        self.tokens -= size
        return True


@dataclass
class QuicSniFilter:
    """The decision for each UDP 443 packet: pass it, or drop it.

    ``rate`` None drops a matching flow; a rate polices it (bytes per second,
    each direction its own bucket). ``residual`` seconds: a match blocks the
    (client, server, server port) triple for that long, whatever the name.
    """

    patterns: Sequence[str]
    rate: float | None = None
    residual: float = 0.0
    clock: Callable[[], float] = time.monotonic
    _seen: set[Flow] = field(default_factory=set)  # flows whose first packet was read
    _matched: set[Flow] = field(default_factory=set)  # client -> server, as first seen
    _buckets: dict[Flow, _Bucket] = field(default_factory=dict)
    _blocked_until: dict[tuple[str, str, int], float] = field(default_factory=dict)

    def passes(self, flow: Flow, payload: bytes) -> bool:
        """Whether the packet of ``flow`` (UDP ``payload``) goes on."""
        source, source_port, destination, destination_port = flow
        towards_server = destination_port == 443
        client_flow = (
            flow if towards_server else (destination, destination_port, source, source_port)
        )
        client, server = client_flow[0], client_flow[2]
        now = self.clock()
        if self._blocked_until.get((client, server, 443), 0.0) > now:
            return False
        if towards_server and client_flow not in self._seen:
            self._seen.add(client_flow)  # only the first packet is inspected
            name = initial_sni(payload)
            if name is not None and any(p in name for p in self.patterns):
                self._matched.add(client_flow)
                if self.residual:
                    self._blocked_until[(client, server, 443)] = now + self.residual
        if client_flow not in self._matched:
            return True
        if self.rate is None:
            return False
        bucket = self._buckets.setdefault(flow, _Bucket(self.rate, self.rate, now))
        return bucket.take(len(payload), now)


def _flow_of(packet: bytes) -> tuple[Flow, bytes] | None:
    """(flow, UDP payload) of an IPv4 UDP packet."""
    if len(packet) < 28 or packet[0] >> 4 != 4 or packet[9] != 17:
        return None
    header = (packet[0] & 0x0F) * 4
    source = ".".join(map(str, packet[12:16]))
    destination = ".".join(map(str, packet[16:20]))
    ports = packet[header : header + 4]
    flow = (source, int.from_bytes(ports[:2]), destination, int.from_bytes(ports[2:]))
    return flow, packet[header + 8 :]


class _Packet(Protocol):
    def get_payload(self) -> bytes: ...

    def accept(self) -> None: ...

    def drop(self) -> None: ...


def run(queue_number: int, decide: QuicSniFilter) -> None:
    """Serve the queue until SIGTERM or SIGINT."""

    def on_packet(packet: _Packet) -> None:
        parsed = _flow_of(packet.get_payload())
        if parsed is None or decide.passes(*parsed):
            packet.accept()
        else:
            packet.drop()

    serve_queue(queue_number, on_packet, f"reading QUIC Initials on queue {queue_number}")


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="the lab's QUIC SNI filter (NFQUEUE)")
    parser.add_argument("--queue", type=int, required=True, help="NFQUEUE number")
    parser.add_argument("--pattern", action="append", required=True, help="a name to match")
    parser.add_argument("--rate", type=float, help="police matching flows to this many bit/s")
    parser.add_argument(
        "--residual", type=float, default=0.0, help="seconds a triple stays blocked"
    )
    args = parser.parse_args(argv)
    rate = None if args.rate is None else args.rate / 8
    run(args.queue, QuicSniFilter(args.pattern, rate, args.residual))
    sys.exit(0)


if __name__ == "__main__":
    main()
