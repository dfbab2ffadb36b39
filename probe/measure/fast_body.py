"""A big body read by a thread of its own, straight from the TLS socket.

Through httpx, each TLS record of the body (16 KB) passes through httpcore,
h11 and the event loop: some forty Python calls and two copies a record,
which made the probe the bottleneck of a fast link (bench/engine_vs_curl.py).
Here a thread reads the ``ssl.SSLSocket`` with blocking ``recv_into`` into one
preallocated buffer and only counts: OpenSSL decrypts with the interpreter
lock released, so the loop's sampler and RTT probes run on time beside it,
and four downloads use more than one core.

httpx has already read the response's headers and, with them, the body's
first bytes (``ResponseHead.body_start``): those are counted first. The
reader then takes exactly what is left of ``Content-Length``, up to the
download's limit, so httpx's parser is never handed bytes it did not expect;
its state is left behind, though, so the connection is closed afterwards
rather than reused, and a fast body is never asked for again (the repeats are
for small objects, which httpx reads).

The event loop watches the thread every ``TICK`` seconds: it passes the
count on to the progress callback, judges the samples for a plateau and
watches for a stall; when one of them, or a cancellation (deadline,
interrupt), ends the body, it stops the thread.
"""

import asyncio
import contextlib
import os
import socket
import ssl
import threading
from collections.abc import Callable

import httpx

from probe.measure.body import BodyEnd
from probe.measure.plateau import plateau_reached
from probe.measure.sampler import ByteCounter, Sampler
from probe.measure.tls_socket import SocketStream, reset_behind

# Smaller bodies go through httpx: their connection stays usable for the repeats.
FAST_BODY_MIN = 4 * 1024 * 1024
BUFFER_SIZE = 1024 * 1024
TICK = 0.05  # how often the loop looks at the count (progress, plateau, stall)


def fast_body_length(response: httpx.Response) -> int | None:
    """The length still to read, when the thread may read the body; None for httpx to read it.

    Only a plain HTTP/1.1 body of a stated length qualifies: a chunked one
    needs a parser, and a small one may be asked for again on the connection.
    """
    stream = response.extensions.get("network_stream")
    length = response.headers.get("content-length")
    if (
        not isinstance(stream, SocketStream)
        or response.http_version != "HTTP/1.1"
        or "transfer-encoding" in response.headers
        or length is None
        or not length.isdigit()
        or int(length) < FAST_BODY_MIN
    ):
        return None
    return int(length)


async def read_fast_body(
    response: httpx.Response,
    length: int,
    counter: ByteCounter,
    sampler: Sampler,
    limit: int,
    stop_at_plateau: bool,
    stall_timeout: float,
    on_chunk: Callable[[int], None] | None = None,
) -> BodyEnd:
    """Count the body of ``response`` (``length`` bytes) until ``limit``, a plateau or its end.

    Raises what the socket raised (a reset, a TLS error), ``TimeoutError``
    after ``stall_timeout`` without a byte, and httpx's ``RemoteProtocolError``
    for a body cut short, as httpx would have.
    """
    stream = response.extensions["network_stream"]
    assert isinstance(stream, SocketStream)
    already = len(stream.head.body_start)  # read by httpx with the headers
    to_count = min(length, limit - counter.bytes)
    counter.add(already)
    reader = _Reader(stream.sock, counter, to_count - already)
    done = reader.start()
    try:
        end = await _watch(done, reader, sampler, stop_at_plateau, stall_timeout, on_chunk)
    except BaseException:  # a stall, a cancellation (deadline, interrupt)
        reader.stop()
        # The socket must outlive the thread's last read; what that read raised is
        # the stop's doing, and the error that stopped it is the one to raise.
        with contextlib.suppress(Exception):
            await asyncio.shield(done)
        raise
    if end is not None:
        return end
    return BodyEnd.LIMIT if to_count < length else BodyEnd.END


async def _watch(
    done: "asyncio.Future[None]",
    reader: "_Reader",
    sampler: Sampler,
    stop_at_plateau: bool,
    stall_timeout: float,
    on_chunk: Callable[[int], None] | None,
) -> BodyEnd | None:
    """Wait for the thread, judging a plateau as samples come; ``PLATEAU`` if one stopped it.

    ``TimeoutError`` once nothing has arrived for ``stall_timeout`` seconds.
    """
    counter, judged = reader.counter, 0
    quiet_since, count = counter.clock.now(), counter.bytes
    while not done.done():
        await asyncio.wait({done}, timeout=TICK)
        if on_chunk is not None:
            on_chunk(counter.bytes)
        now = counter.clock.now()
        if counter.bytes != count:
            quiet_since, count = now, counter.bytes
        elif now - quiet_since >= stall_timeout and not done.done():
            raise TimeoutError(f"no body byte for {stall_timeout:g} s")
        if stop_at_plateau and len(sampler.samples) > judged and not done.done():
            judged = len(sampler.samples)
            if plateau_reached(sampler.samples):
                reader.stop()
                await done
                return BodyEnd.PLATEAU
    done.result()  # the thread's error, if it had one
    return None


class _Reader:
    """The thread that reads ``left`` bytes from ``sock`` into ``counter``.

    Its reads block (a time-out would make the socket non-blocking, and each
    record would cost a failed read and a poll more); ``stop`` wakes a read
    by shutting the socket's receiving side, which the connection does not
    outlive anyway.
    """

    def __init__(self, sock: socket.socket, counter: ByteCounter, left: int) -> None:
        self.counter = counter
        self._sock = sock
        self._left = left
        self._stopping = threading.Event()

    def start(self) -> "asyncio.Future[None]":
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def run() -> None:
            try:
                self._read()
            except BaseException as error:  # handed to the loop, raised there
                loop.call_soon_threadsafe(_settle, done, error)
            else:
                loop.call_soon_threadsafe(_settle, done, None)

        threading.Thread(target=run, name="body-reader", daemon=True).start()
        return done

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        # Through a duplicate of the descriptor: the SSLSocket's own shutdown()
        # would drop its TLS state under the thread's feet.
        with (
            contextlib.suppress(OSError),
            socket.socket(fileno=os.dup(self._sock.fileno())) as twin,
        ):
            twin.shutdown(socket.SHUT_RD)

    def _read(self) -> None:
        # The hot loop of a fast download: one pass per TLS record, names bound locally.
        sock, counter, stopping = self._sock, self.counter, self._stopping
        view = memoryview(bytearray(BUFFER_SIZE))
        left = self._left
        sock.setblocking(True)
        try:
            while left > 0:
                try:
                    received = sock.recv_into(view, min(left, BUFFER_SIZE))
                except OSError as error:  # ssl.SSLError is one
                    if stopping.is_set():
                        return  # whatever the shut socket says, it is the stop
                    if isinstance(error, ssl.SSLEOFError):
                        raise reset_behind(error, sock) or _cut_short() from error
                    raise
                if received == 0:
                    if stopping.is_set():
                        return
                    raise _cut_short()
                counter.add(received)
                left -= received
        finally:
            sock.setblocking(False)


def _cut_short() -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def _settle(done: "asyncio.Future[None]", error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
