"""The lab's HTTP/3 origin: the paths of ``origin.py`` (``answer_for``) over QUIC, with aioquic.

It runs its own event loop in a thread of its own, so that the tests' plain
fixtures and the lab's server process start it alike. A body is written as
the connection drains it, never buffered whole: aioquic has no writability
callback, so a response's writer tops the stream up to ``_QUEUED`` unsent
bytes whenever datagrams (acknowledgements) come in.

Endings on QUIC: ``reset`` resets the request's stream (RESET_STREAM with
H3_REQUEST_CANCELLED), ``truncate`` ends the stream short of its announced
length, ``stall`` and ``hang`` keep the connection open and silent.
"""

import asyncio
import contextlib
import threading
from pathlib import Path

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer, serve
from aioquic.h3.connection import H3_ALPN, ErrorCode, H3Connection
from aioquic.h3.events import H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import NetworkAddress
from aioquic.quic.events import ProtocolNegotiated, QuicEvent

from probe.lab.origin import BLOCK, Answer, Ending, answer_for

_CHUNK = 64 * 1024
_QUEUED = 512 * 1024  # unsent bytes a stream may hold: enough to keep a fast path busy


class Http3Origin:
    """Serve the origin's paths over HTTP/3 on UDP ``host:port`` (port 0 picks a free one)."""

    def __init__(self, cert_file: Path, key_file: Path, host: str = "127.0.0.1", port: int = 0):
        self._configuration = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
        self._configuration.load_cert_chain(str(cert_file), str(key_file))
        self.host = host
        self.port = port
        self.connections = 0  # handshakes begun: tests count the connections a download used
        self._loop = asyncio.new_event_loop()
        self._server: QuicServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> "Http3Origin":
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        future.result(timeout=10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await asyncio.sleep(0)  # the socket closes on the loop's next turn

    def __enter__(self) -> "Http3Origin":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _listen(self) -> None:
        self._server = await serve(
            self.host,
            self.port,
            configuration=self._configuration,
            create_protocol=lambda *args, **kwargs: _Connection(self, *args, **kwargs),
        )
        transport = self._server._transport  # aioquic keeps the socket's transport private
        assert transport is not None
        self.port = transport.get_extra_info("sockname")[1]


class _Connection(QuicConnectionProtocol):
    """One client's connection: HTTP/3 requests answered as ``answer_for`` says."""

    def __init__(self, origin: Http3Origin, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        origin.connections += 1
        self._h3: H3Connection | None = None
        self._drained = asyncio.Event()
        self._writers: set[asyncio.Task[None]] = set()

    def datagram_received(self, data: bytes | str, addr: NetworkAddress) -> None:
        super().datagram_received(data, addr)
        self._drained.set()  # acknowledgements may have freed room in the streams

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated):
            self._h3 = H3Connection(self._quic)
        if self._h3 is None:
            return
        for h3_event in self._h3.handle_event(event):
            self._request(h3_event)

    def _request(self, event: H3Event) -> None:
        if not isinstance(event, HeadersReceived):
            return
        path = dict(event.headers).get(b":path", b"/").decode("ascii", "replace")
        answer = answer_for(path)
        if answer.ending == Ending.HANG:
            return
        writer = asyncio.get_running_loop().create_task(self._answer(event.stream_id, answer))
        self._writers.add(writer)
        writer.add_done_callback(self._writers.discard)

    async def _answer(self, stream_id: int, answer: Answer) -> None:
        h3 = self._h3
        assert h3 is not None
        headers = [
            (b":status", str(answer.status).encode()),
            (b"content-length", str(answer.announced).encode()),
            (b"content-type", b"application/octet-stream"),
        ]
        if answer.location is not None:
            headers.append((b"location", answer.location.encode()))
        ends_here = answer.ending in (Ending.KEEP, Ending.CLOSE)
        h3.send_headers(stream_id, headers, end_stream=ends_here and answer.sent == 0)
        if answer.body is not None:
            h3.send_data(stream_id, answer.body, end_stream=ends_here)
        else:
            await self._send_pattern(h3, stream_id, answer.sent, ends_here)
        if answer.ending == Ending.RESET:
            self._quic.reset_stream(stream_id, ErrorCode.H3_REQUEST_CANCELLED)
        self.transmit()

    async def _send_pattern(self, h3: H3Connection, stream_id: int, size: int, end: bool) -> None:
        view = memoryview(BLOCK)
        remaining = size
        while remaining > 0:
            if self._unsent(stream_id) >= _QUEUED:
                self._drained.clear()
                await self._drained.wait()
                continue
            count = min(remaining, _CHUNK)
            remaining -= count
            h3.send_data(stream_id, bytes(view[:count]), end_stream=end and remaining == 0)
            self.transmit()

    def _unsent(self, stream_id: int) -> int:
        # aioquic keeps a stream's unsent bytes between what was sent and what was
        # written; it has no public count of them.
        stream = self._quic._streams.get(stream_id)
        if stream is None:
            return 0
        return stream.sender._buffer_stop - stream.sender.highest_offset


def main(argv: list[str] | None = None) -> None:
    """``python -m probe.lab.origin3 --cert C --key K [--host H]... [--port P]``, in the foreground.

    ``--host`` may be given several times: one listener per address, all on the
    same port. Prints the port as the first line of standard output, as
    ``origin`` does.
    """
    import argparse

    parser = argparse.ArgumentParser(description="the lab's HTTP/3 origin server")
    parser.add_argument("--host", action="append", help="address to listen on (repeatable)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", required=True, help="PEM certificate chain")
    parser.add_argument("--key", required=True, help="PEM private key")
    args = parser.parse_args(argv)
    cert, key = Path(args.cert), Path(args.key)
    first, *others = args.host or ["127.0.0.1"]
    origin = Http3Origin(cert, key, first, args.port).start()
    for host in others:
        Http3Origin(cert, key, host, origin.port).start()
    print(origin.port, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()


if __name__ == "__main__":
    main()
