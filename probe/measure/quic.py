"""QUIC step: an HTTP/3 GET over aioquic to a chosen address, timed phase by phase.

The same measurement as ``transfer.download`` on the other transport: the
connection goes to ``address`` with the URL's name in the ClientHello of the
first Initial, the body is counted and sampled on the same
memoryless timer, stopped at ``max_bytes`` or its plateau, and a small object
is asked for again on the same connection, each request on a stream of its
own. The record says how every failure looked from here: no answer to the
Initials, a handshake that never completed, a version negotiation without a
common version, the connection closed with a TLS alert or a transport or
HTTP/3 error (its code kept in ``quic_close``), an idle or stalled connection.

Phases: handshake (from the first Initial sent to the handshake's
completion: QUIC's connect and TLS in one), request, wait (for the response's
headers), body.
"""

import asyncio
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast
from urllib.parse import urljoin, urlsplit

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import NetworkAddress, QuicConnection
from aioquic.quic.events import ConnectionTerminated, HandshakeCompleted, QuicEvent, StreamReset
from aioquic.quic.packet import QuicErrorCode, QuicFrameType

from probe.measure.body import BodyEnd, finish_record, read_body
from probe.measure.rttprobe import ConnectRttProbe
from probe.measure.sampler import ByteCounter, Sampler
from probe.measure.timing import Clock, Deadline, Interrupt, PhaseLog, how_it_ended
from probe.measure.transfer import USER_AGENT, TransferSettings, judge_response, may_follow
from probe.records import (
    REDIRECT_STATUSES,
    Failure,
    Pause,
    QuicClose,
    Redirect,
    StopReason,
    TransferRecord,
    Transport,
)

# aioquic logs every connection closed with an error; the record keeps the close.
logging.getLogger("quic").setLevel(logging.CRITICAL)

# Flow-control credit the client grants: aioquic's default of 1 MiB would cap a
# download at 1 MiB per round trip (170 Mbit/s at 50 ms), the probe's limit, not
# the network's. 16 MiB keeps the window out of the way up to ~2.7 Gbit/s there.
RECEIVE_WINDOW = 16 * 1024 * 1024
# TLS alerts (RFC 8446, 6.2) that say the certificate was not accepted: a client's
# own verdict on the server's certificate, sent as CRYPTO_ERROR (0x100 + alert).
_CERTIFICATE_ALERTS = {42, 43, 44, 45, 46, 48}


@dataclass(frozen=True)
class QuicTrust:
    """Which certificates the QUIC handshake accepts (aioquic has its own TLS)."""

    ca_file: Path | None = None  # None: the system's store (certifi's, as aioquic loads it)
    verify: bool = True  # False for the SNI swap, which measures the network only


async def download_quic(
    url: str,
    address: str,
    settings: TransferSettings,
    trust: QuicTrust,
    clock: Clock,
    interrupt: Interrupt | None = None,
    on_bytes: Callable[[int], None] | None = None,
    port: int | None = None,
) -> TransferRecord:
    """GET ``url`` over HTTP/3 from ``address``; always returns a record, failures included.

    ``port`` is the UDP port the server offered HTTP/3 on (its Alt-Svc);
    None takes the URL's.
    """
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    port = port or parts.port or 443
    record = TransferRecord(url, hostname, address, port, sni=hostname, t0=clock.now(), t=0.0)
    record.transport = Transport.QUIC
    record.http_version = "HTTP/3"
    configuration = _configuration(hostname, trust)  # before t0's first Initial: the probe's time
    deadline = Deadline(settings.transfer_timeout, interrupt)
    phases = PhaseLog(record.phases, clock)
    counter = ByteCounter(clock)
    sampler: Sampler | None = None
    client: _Http3Client | None = None
    try:
        async with deadline, _connection(address, port, configuration) as client:
            phases.open("handshake")
            deadline.phase(settings.connect_timeout + settings.tls_timeout)
            await client.handshake()
            record.tls_version = "TLSv1.3"  # QUIC carries TLS 1.3 only (RFC 9001)
            response = await _get(client, record, url, phases, deadline, settings)
            response = await _follow_redirects(client, record, response, phases, deadline, settings)
            phases.open("body")
            deadline.phase(None)
            sampler = Sampler(counter, None)
            sampler.start()
            # TCP connects to the same server, in band: a shaper's queue delays them too.
            tcp_port = parts.port or 443
            rtt_probe = ConnectRttProbe(address, tcp_port, clock) if settings.rtt_probes else None
            if rtt_probe is not None:
                rtt_probe.start()
            body = _Body(client, record, counter, sampler, settings, on_bytes)
            try:
                record.stop_reason = await body.read(response, clock)
            finally:
                sampler.stop()
                if rtt_probe is not None:
                    rtt_probe.stop()
                    record.rtt_probes = rtt_probe.samples
    except Exception as error:  # aioquic's, OS errors, and our own deadline
        answered = client is not None and client.answered
        classify = _Classifier(answered)
        record.stop_reason, record.failure = how_it_ended(deadline, error, phases.current, classify)
        record.quic_close = _close_of(error)
        if record.failure is not None:
            phases.fail(record.failure)
    finally:
        finish_record(record, phases, clock, sampler, counter)
    judge_response(record, settings)
    return record


def _configuration(sni: str, trust: QuicTrust) -> QuicConfiguration:
    configuration = QuicConfiguration(
        is_client=True,
        alpn_protocols=H3_ALPN,
        server_name=sni,
        max_data=RECEIVE_WINDOW,
        max_stream_data=RECEIVE_WINDOW,
    )
    if not trust.verify:
        configuration.verify_mode = ssl.CERT_NONE
    elif trust.ca_file is not None:
        configuration.load_verify_locations(cafile=str(trust.ca_file))
    return configuration


class _connection:
    """``async with _connection(address, port, configuration) as client``: a UDP socket
    of the address's family, closed (with a CONNECTION_CLOSE) on the way out."""

    def __init__(self, address: str, port: int, configuration: QuicConfiguration) -> None:
        self._address = address
        self._port = port
        self._configuration = configuration
        self._transport: asyncio.DatagramTransport | None = None
        self._client: _Http3Client | None = None

    async def __aenter__(self) -> "_Http3Client":
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self._address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            # Connected, so that the kernel reports an ICMP unreachable to this socket.
            sock.connect((self._address, self._port))
            # The peer as recvfrom() names it (four fields for IPv6): aioquic matches
            # each datagram's sender against the address it connected to.
            peer = sock.getpeername()
            quic = QuicConnection(configuration=self._configuration)
            transport, client = await loop.create_datagram_endpoint(
                lambda: _Http3Client(quic, peer, sock), sock=sock
            )
        except BaseException:
            sock.close()
            raise
        self._transport, self._client = transport, client
        return client

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()  # a CONNECTION_CLOSE, so the server frees its state now
        if self._transport is not None:
            self._transport.close()


class QuicClosed(Exception):
    """The connection was closed (by the server, the path, or this side's TLS)."""

    def __init__(self, event: ConnectionTerminated) -> None:
        super().__init__(f"closed: 0x{event.error_code:x} {event.reason_phrase}")
        self.event = event


class QuicUnreachable(Exception):
    """An ICMP error came back for a datagram (port or host unreachable)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class StreamWasReset(Exception):
    """The server reset the request's stream (RESET_STREAM) with ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(f"stream reset: 0x{code:x}")
        self.code = code


_BATCH = 64  # datagrams handled in one loop turn at most
_MAX_DATAGRAM = 65536


class _Http3Client(QuicConnectionProtocol):
    """aioquic's protocol with an HTTP/3 layer: each request a ``_Response`` by stream."""

    def __init__(self, quic: QuicConnection, address: NetworkAddress, sock: socket.socket) -> None:
        super().__init__(quic)
        self._address = address
        self._sock = sock  # the transport's own: read here too, to drain it in one turn
        self._h3 = H3Connection(quic)
        self._responses: dict[int, _Response] = {}
        self._failure: Exception | None = None  # what ended the connection, for every waiter
        self._handshake_done = asyncio.get_running_loop().create_future()
        self.answered = False  # a datagram came back: the path carries UDP to the server

    async def handshake(self) -> None:
        self.connect(self._address)  # the first Initial leaves now
        # Not shielded: a time-out cancels the future, so that a close coming later
        # leaves no exception behind that nobody reads.
        await self._handshake_done

    def request(self, authority: str, path: str) -> "_Response":
        stream_id = self._quic.get_next_available_stream_id()
        headers = [
            (b":method", b"GET"),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", path.encode()),
            (b"user-agent", USER_AGENT.encode()),
            # Count the bytes as they cross the network: no transparent decompression.
            (b"accept-encoding", b"identity"),
        ]
        self._h3.send_headers(stream_id, headers, end_stream=True)
        self.transmit()
        response = _Response(self)
        self._responses[stream_id] = response
        return response

    def forget(self, response: "_Response") -> None:
        """Stop reading a response (its stream is left to the connection's close)."""
        for stream_id, known in list(self._responses.items()):
            if known is response:
                del self._responses[stream_id]

    def datagram_received(self, data: bytes | str, addr: NetworkAddress) -> None:
        """This datagram and those queued behind it, then one transmit for them all.

        aioquic's protocol answers each datagram on its own: at speed, one loop
        turn, one ACK frame written and one send per 1.2 KB, the engine's
        largest cost after aioquic's decryption. The socket is drained here
        instead (at most ``_BATCH`` datagrams, so that timers still run), and
        the ACK that follows covers the lot, as kernel stacks do with GRO.
        """
        self.answered = True
        now = self._loop.time()
        self._quic.receive_datagram(cast(bytes, data), addr, now=now)
        for _ in range(_BATCH - 1):
            try:
                more, sender = self._sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:  # ICMP unreachable, as the transport would report it
                self.error_received(error)
                break
            self._quic.receive_datagram(more, sender, now=self._loop.time())
        self._process_events()
        self.transmit()

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError):  # ICMP unreachable, reported on the next send or receive
            self._fail(QuicUnreachable(exc))

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            self._fail(QuicClosed(event))
            return
        if isinstance(event, HandshakeCompleted) and not self._handshake_done.done():
            self._handshake_done.set_result(None)
        if isinstance(event, StreamReset):
            response = self._responses.get(event.stream_id)
            if response is not None:
                response.fail(StreamWasReset(event.error_code))
        for h3_event in self._h3.handle_event(event):
            self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        if not isinstance(event, HeadersReceived | DataReceived):
            return
        # An answer that breaks HTTP/3's rules (a body longer or shorter than its
        # Content-Length) is closed by aioquic with an H3 error: http3_error.
        response = self._responses.get(event.stream_id)
        if response is None:
            return
        if isinstance(event, HeadersReceived):
            response.headers_in(event.headers, event.stream_ended)
        else:
            response.data_in(event.data, event.stream_ended)

    def _fail(self, error: Exception) -> None:
        if self._failure is None:
            self._failure = error
        if not self._handshake_done.done():
            self._handshake_done.set_exception(error)
        for response in self._responses.values():
            response.fail(error)


class _Response:
    """One request's answer as it arrives: its headers, then its body in chunks."""

    def __init__(self, client: _Http3Client) -> None:
        self.client = client
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._ended = False
        self._error: Exception | None = None
        self._arrived = asyncio.Event()
        self._headed = asyncio.Event()

    def headers_in(self, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        for name, value in headers:
            if name == b":status":
                self.status = int(value)
            elif not name.startswith(b":"):
                self.headers[name.decode().lower()] = value.decode(errors="replace")
        self._ended = self._ended or ended
        self._headed.set()
        self._arrived.set()

    def data_in(self, data: bytes, ended: bool) -> None:
        if data:
            self._chunks.append(data)

        self._ended = self._ended or ended
        self._arrived.set()

    def fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        self._headed.set()
        self._arrived.set()

    async def head(self) -> None:
        """Wait for the response's headers (or what ended the request)."""
        await self._headed.wait()
        if self.status is None:
            raise self._error or QuicClosed(ConnectionTerminated(0, None, "no headers"))

    async def body(self, stall_timeout: float) -> AsyncIterator[bytes]:
        """The body as it arrives: what came since the last wake-up, joined into one chunk.

        A TimeoutError when nothing comes for ``stall_timeout`` seconds.

        aioquic hands over one packet's data at a time (about 1.2 KB); joining
        what arrived between two turns of the loop keeps the counting loop's
        steps per byte low at speed.
        """
        while True:
            if self._chunks:
                chunk = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
                self._chunks.clear()
                yield chunk
                continue
            if self._error is not None:
                raise self._error
            if self._ended:
                return
            self._arrived.clear()
            async with asyncio.timeout(stall_timeout):
                await self._arrived.wait()


async def _get(
    client: _Http3Client,
    record: TransferRecord,
    url: str,
    phases: PhaseLog,
    deadline: Deadline,
    settings: TransferSettings,
) -> _Response:
    """Send the request for ``url`` and wait for its headers (the request and wait phases)."""
    phases.open("request")
    response = client.request(*_authority_and_path(url))
    phases.open("wait")
    deadline.phase(settings.stall_timeout)
    await response.head()
    record.status = response.status
    record.alt_svc = response.headers.get("alt-svc")
    return response


async def _follow_redirects(
    client: _Http3Client,
    record: TransferRecord,
    response: _Response,
    phases: PhaseLog,
    deadline: Deadline,
    settings: TransferSettings,
) -> _Response:
    """Same-origin redirects on the same connection, as the TCP download follows them."""
    current = record.url
    while response.status in REDIRECT_STATUSES and response.status is not None:
        location = urljoin(current, response.headers.get("location", ""))
        record.redirects.append(Redirect(response.status, location))
        if not may_follow(record, current, location):
            break
        client.forget(response)
        current = location
        response = await _get(client, record, location, phases, deadline, settings)
    return response


def _authority_and_path(url: str) -> tuple[str, str]:
    """The request's :authority (the URL's host and port) and :path (with its query)."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.netloc.rpartition("@")[2], path


@dataclass
class _Body:
    """The body, and its repeats on the same connection (see ``transfer._Body`` for why)."""

    client: _Http3Client
    record: TransferRecord
    counter: ByteCounter
    sampler: Sampler
    settings: TransferSettings
    on_bytes: Callable[[int], None] | None
    started: float = field(default=0.0)

    async def read(self, response: _Response, clock: Clock) -> StopReason:
        self.started = clock.now()
        while True:
            end = await self._read_one(response)
            if end != BodyEnd.END or not self._may_repeat(response, clock.now()):
                return _STOP_OF_END[end]
            self.client.forget(response)
            pause_start = clock.now()
            repeat = self.client.request(*_authority_and_path(self._url))
            await asyncio.wait_for(repeat.head(), self.settings.stall_timeout)
            if repeat.status != 200:
                return StopReason.COMPLETE  # not what was measured: its bytes are not counted
            self.record.pauses.append(Pause(pause_start, clock.now()))
            self.record.requests += 1
            response = repeat

    @property
    def _url(self) -> str:
        return self.record.redirects[-1].location if self.record.redirects else self.record.url

    async def _read_one(self, response: _Response) -> BodyEnd:
        return await read_body(
            response.body(self.settings.stall_timeout),
            self.counter,
            self.sampler,
            self.settings.max_bytes,
            self.settings.stop_at_plateau,
            self.on_bytes,
        )

    def _may_repeat(self, response: _Response, now: float) -> bool:
        minimum = self.settings.min_bytes
        big_enough = minimum is None or self.counter.bytes >= minimum
        recent = now - self.started < self.settings.repeat_seconds
        return response.status == 200 and big_enough and recent


_STOP_OF_END = {
    BodyEnd.LIMIT: StopReason.MAX_BYTES,
    BodyEnd.PLATEAU: StopReason.PLATEAU,
    BodyEnd.END: StopReason.COMPLETE,
}


@dataclass(frozen=True)
class _Classifier:
    """Names an exception from a QUIC download, given the phase it interrupted."""

    answered: bool  # whether any datagram came back from the server

    def __call__(self, error: BaseException, phase: str | None) -> Failure:
        if isinstance(error, QuicUnreachable):
            return Failure.QUIC_REFUSED
        if isinstance(error, QuicClosed):
            return _failure_of_close(error.event, phase)
        if isinstance(error, StreamWasReset):
            return Failure.HTTP3_ERROR
        if isinstance(error, TimeoutError):
            if phase in (None, "handshake"):
                return Failure.QUIC_HANDSHAKE_TIMEOUT if self.answered else Failure.QUIC_NO_ANSWER
            return Failure.STALL if phase == "body" else Failure.READ_TIMEOUT
        if isinstance(error, OSError):
            return Failure.NETWORK_UNREACHABLE
        return Failure.HTTP3_ERROR  # aioquic's H3 layer refused what the server sent


def _failure_of_close(event: ConnectionTerminated, phase: str | None) -> Failure:
    code = event.error_code
    if event.frame_type == QuicFrameType.PADDING and "version" in event.reason_phrase:
        return Failure.QUIC_VERSION_NEGOTIATION  # aioquic's own close: no common version
    if event.reason_phrase == "Idle timeout":  # aioquic's own close: nothing came for too long
        return (
            Failure.QUIC_IDLE_TIMEOUT
            if phase not in (None, "handshake")
            else Failure.QUIC_NO_ANSWER
        )
    if event.frame_type is None:  # an application close: HTTP/3's codes
        return Failure.HTTP3_ERROR
    if QuicErrorCode.CRYPTO_ERROR <= code < QuicErrorCode.CRYPTO_ERROR + 0x100:
        alert = code - QuicErrorCode.CRYPTO_ERROR
        return Failure.TLS_CERT_INVALID if alert in _CERTIFICATE_ALERTS else Failure.QUIC_TLS_ALERT
    return Failure.QUIC_TRANSPORT_ERROR


def _close_of(error: BaseException) -> QuicClose | None:
    if not isinstance(error, QuicClosed):
        return None
    event = error.event
    return QuicClose(event.error_code, event.frame_type, event.reason_phrase)
