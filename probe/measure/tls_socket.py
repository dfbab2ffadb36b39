"""httpcore's network backend on a kernel socket wrapped in ``ssl.SSLSocket``.

httpx's own backend (anyio) runs TLS through an ``ssl.SSLObject`` and memory
buffers: every TLS record (16 KB) is copied in and out of Python and passes
through some forty Python calls (anyio, httpcore, h11), which held a download
on loopback to 0.29 of curl's rate. An ``SSLSocket`` decrypts straight from the kernel socket in C,
with the interpreter lock released, so the body can be read by a thread
(``measure.fast_body``) while the event loop samples and probes.

The stream also keeps what it received after the request was sent until the
end of the response's headers (``head``): the bytes past that point that
httpcore has already read are the start of the body, which ``fast_body``
counts before it reads on by itself.
"""

import asyncio
import enum
import errno
import select
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import httpcore
import httpx

from probe.measure.tcpinfo import was_reset

_T = TypeVar("_T")
_END_OF_HEAD = b"\r\n\r\n"
_INTERIM = b"HTTP/1.1 1"  # a 1xx answer's head comes before the real one


class ResponseHead:
    """What arrived after the request was sent, up to the end of the response's headers."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._complete = False
        self.body_start = b""  # the bytes that followed the headers in the same reads

    def reset(self) -> None:
        self._data.clear()
        self._complete = False
        self.body_start = b""

    def saw(self, data: bytes) -> None:
        if self._complete:
            return
        self._data += data
        while (end := self._data.find(_END_OF_HEAD)) != -1:
            head, rest = self._data[:end], self._data[end + len(_END_OF_HEAD) :]
            self._data = bytearray(rest)
            if not head.startswith(_INTERIM):
                self._complete = True
                self.body_start = bytes(rest)
                self._data.clear()
                return


class SocketStream(httpcore.AsyncNetworkStream):
    """One connection; after ``start_tls`` its socket is an ``ssl.SSLSocket``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.head = ResponseHead()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        def receive() -> bytes:
            try:
                return self.sock.recv(max_bytes)
            except ssl.SSLEOFError as error:
                reset = reset_behind(error, self.sock)
                if reset is not None:
                    raise reset from error
                return b""  # closed without close_notify: httpx judges the end

        data = await self._io(receive, _Way.IN, timeout, httpcore.ReadTimeout, httpcore.ReadError)
        self.head.saw(data)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.head.reset()  # a new request: its answer's head starts now
        unsent = memoryview(buffer)

        def send() -> int:
            return self.sock.send(unsent)

        while unsent:
            sent = await self._io(
                send, _Way.OUT, timeout, httpcore.WriteTimeout, httpcore.WriteError
            )
            unsent = unsent[sent:]

    async def aclose(self) -> None:
        self.sock.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> "SocketStream":
        tls = ssl_context.wrap_socket(
            self.sock,
            server_hostname=server_hostname,
            do_handshake_on_connect=False,
            suppress_ragged_eofs=False,  # read() tells a reset from a close itself
        )
        self.sock = tls
        try:
            await self._io(
                tls.do_handshake, _Way.IN, timeout, httpcore.ConnectTimeout, httpcore.ConnectError
            )
        except BaseException:
            tls.close()
            raise
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self.sock if isinstance(self.sock, ssl.SSLSocket) else None
        if info == "socket":
            return self.sock
        if info == "server_addr":
            return self.sock.getpeername()
        if info == "client_addr":
            return self.sock.getsockname()
        if info == "is_readable":
            return _is_readable(self.sock)
        return None

    async def _io(
        self,
        step: Callable[[], _T],
        way: "_Way",
        timeout: float | None,
        timed_out: type[Exception],
        failed: type[Exception],
    ) -> _T:
        """Run the non-blocking ``step`` until it stops asking to wait, at most ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            try:
                return step()
            except ssl.SSLWantReadError:
                await _ready(loop, self.sock, _Way.IN, deadline, timed_out)
            except ssl.SSLWantWriteError:
                await _ready(loop, self.sock, _Way.OUT, deadline, timed_out)
            except (BlockingIOError, InterruptedError):
                await _ready(loop, self.sock, way, deadline, timed_out)
            except OSError as error:
                raise failed(str(error) or type(error).__name__) from error


class _Way(enum.Enum):
    IN = "readable"
    OUT = "writable"


async def _ready(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    way: _Way,
    deadline: float | None,
    timed_out: type[Exception],
) -> None:
    """Wait until ``sock`` is readable or writable; ``timed_out`` past ``deadline``."""
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = sock.fileno()
    if way is _Way.IN:
        loop.add_reader(fd, wake)
    else:
        loop.add_writer(fd, wake)
    try:
        remaining = None if deadline is None else max(0.0, deadline - loop.time())
        async with asyncio.timeout(remaining):
            await ready
    except TimeoutError as error:
        raise timed_out(f"not {way.value} in time") from error
    finally:
        if way is _Way.IN:
            loop.remove_reader(fd)
        else:
            loop.remove_writer(fd)


def reset_behind(error: ssl.SSLEOFError, sock: socket.socket) -> ConnectionResetError | None:
    """The reset that ``error`` stands for, or None if the peer closed (FIN) without close_notify.

    Python's ``ssl`` loses the kernel's ECONNRESET: a reset and a close both
    raise ``SSLEOFError``. OpenSSL 3 names the close (UNEXPECTED_EOF_WHILE_READING)
    and gives the reset no reason; the TCP state confirms it (CLOSE, where a
    FIN leaves CLOSE_WAIT). Not the state alone: OpenSSL answers a FIN with an
    alert, and the peer's kernel answers that with a reset.
    """
    if error.reason is None and was_reset(sock):
        return ConnectionResetError(errno.ECONNRESET, "the connection was reset")
    return None


def _is_readable(sock: socket.socket) -> bool:
    """Whether a pooled connection has something to read (then the server has closed it)."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class SocketBackend(httpcore.AsyncNetworkBackend):
    """Opens ``SocketStream`` connections (TCP, then TLS through ``start_tls``)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> SocketStream:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in socket_options or ():
                sock.setsockopt(*option)
            if local_address is not None:
                sock.bind((local_address, 0))
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, (host, port))
        except TimeoutError as error:
            sock.close()
            raise httpcore.ConnectTimeout("no answer to the connect in time") from error
        except OSError as error:
            sock.close()
            raise httpcore.ConnectError(str(error)) from error
        except BaseException:  # cancelled while connecting: the socket is not handed on
            sock.close()
            raise
        return SocketStream(sock)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> SocketStream:
        raise httpcore.UnsupportedProtocol("the probe measures TCP, not Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class SocketTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, its connections opened by ``SocketBackend``.

    httpx takes no network backend, so the pool it built is replaced by one
    that has ours, with the same settings the probe uses (HTTP/1.1, one
    connection: a download is one connection and its repeats).
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, http1=True, http2=False, network_backend=SocketBackend()
        )
