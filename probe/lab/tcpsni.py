"""The lab's reassembling SNI matcher: equipment that reads the TCP stream, not one packet.

The 2021 equipment read a ClientHello only when one packet held all of it,
which a split or padded ClientHello got past. Later equipment reassembles:
this element, on the router, sees the first packets of each connection to
port 443 (an NFQUEUE), puts the client's bytes back in order from the
sequence numbers, reads the server name once the stream holds it, and marks
the packet that completed it when the name matches (the router's rules then
mark the connection, and police it as ``sni-police`` does). The first
ClientHello decides: bytes sent again over the same sequence range (a fake
first, then the real one) are not read twice, as a stream reader does not.

``python -m probe.lab.tcpsni --queue 3 --pattern twimg.com [--icase]`` prints
a line once bound.
"""

import sys
from dataclasses import dataclass, field
from typing import Protocol

from probe.lab.nfqueue import serve_queue
from probe.lab.quicsni import client_hello_sni

MATCH_MARK = 0x10  # the router's rules turn it into the connection's policing mark
_RECORD_HEADER = 5
_HANDSHAKE_RECORD = 0x16
_STREAM_LIMIT = 16384  # a ClientHello is read within the first 16 KiB, or never
_SYN, _RST, _FIN = 0x02, 0x04, 0x01

Flow = tuple[str, int, str, int]


@dataclass
class _Stream:
    """The client's bytes of one connection, by their offset from its first byte."""

    first_seq: int
    pieces: dict[int, bytes] = field(default_factory=dict)

    def add(self, seq: int, data: bytes) -> None:
        offset = (seq - self.first_seq) % 2**32
        if offset < _STREAM_LIMIT and offset not in self.pieces:
            self.pieces[offset] = data  # the first bytes at an offset stand

    def contiguous(self) -> bytes:
        stream, at = b"", 0
        while at in self.pieces:
            piece = self.pieces[at]
            stream += piece
            at += len(piece)
        return stream


@dataclass
class StreamSniMatcher:
    """Whether each queued packet completes a ClientHello whose name matches."""

    patterns: tuple[str, ...]
    icase: bool = False
    _streams: dict[Flow, _Stream] = field(default_factory=dict)

    def matches(self, packet: bytes) -> bool:
        parsed = _segment(packet)
        if parsed is None:
            return False
        flow, seq, flags, data = parsed
        if flags & _SYN:
            self._streams[flow] = _Stream((seq + 1) % 2**32)
            return False
        stream = self._streams.get(flow)
        if stream is None or not data:
            if flags & (_RST | _FIN):
                self._streams.pop(flow, None)
            return False
        stream.add(seq, data)
        contiguous = stream.contiguous()
        if contiguous and contiguous[0] != _HANDSHAKE_RECORD:
            del self._streams[flow]  # no ClientHello: nothing to read on
            return False
        name = _server_name(contiguous)
        if name is None:
            return False
        del self._streams[flow]  # decided: the rest of the connection is not read
        return self._matched(name)

    def _matched(self, name: str) -> bool:
        if self.icase:
            return any(p.lower() in name.lower() for p in self.patterns)
        return any(p in name for p in self.patterns)


def _server_name(stream: bytes) -> str | None:
    """The name in the stream's first ClientHello record, once the stream holds it."""
    if len(stream) < _RECORD_HEADER:
        return None
    return client_hello_sni(stream[_RECORD_HEADER:])


def _segment(packet: bytes) -> tuple[Flow, int, int, bytes] | None:
    """(flow, sequence number, flags, payload) of an IPv4 TCP packet."""
    if len(packet) < 40 or packet[0] >> 4 != 4 or packet[9] != 6:
        return None
    header = (packet[0] & 0x0F) * 4
    total = int.from_bytes(packet[2:4], "big")
    tcp = packet[header:total]
    source = ".".join(map(str, packet[12:16]))
    destination = ".".join(map(str, packet[16:20]))
    flow = (source, int.from_bytes(tcp[0:2]), destination, int.from_bytes(tcp[2:4]))
    seq = int.from_bytes(tcp[4:8])
    data_offset = (tcp[12] >> 4) * 4
    return flow, seq, tcp[13], tcp[data_offset:]


class _Packet(Protocol):
    def get_payload(self) -> bytes: ...

    def set_mark(self, mark: int) -> None: ...

    def accept(self) -> None: ...


def run(queue_number: int, matcher: StreamSniMatcher) -> None:
    """Serve the queue until SIGTERM or SIGINT."""

    def on_packet(packet: _Packet) -> None:
        if matcher.matches(packet.get_payload()):
            packet.set_mark(MATCH_MARK)
        packet.accept()

    serve_queue(queue_number, on_packet, f"reassembling ClientHellos on queue {queue_number}")


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="the lab's reassembling SNI matcher (NFQUEUE)")
    parser.add_argument("--queue", type=int, required=True, help="NFQUEUE number")
    parser.add_argument("--pattern", action="append", required=True, help="a name to match")
    parser.add_argument("--icase", action="store_true", help="match in any letter case")
    args = parser.parse_args(argv)
    run(args.queue, StreamSniMatcher(tuple(args.pattern), args.icase))
    sys.exit(0)


if __name__ == "__main__":
    main()
