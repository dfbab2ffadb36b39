"""Transfer step: an HTTPS GET to a chosen address, timed phase by phase.

The connection goes to ``address`` while the SNI, the Host header and the
certificate check use the URL's host name (httpx's ``sni_hostname``
extension), so that the probe measures the address each resolver gave. Phase
times come from httpx's ``trace`` extension. The body is streamed and counted,
never held; the download ends at ``max_bytes``, at the transfer time-out, or
when the body is complete, and the record says which.
"""

import errno
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from probe import __version__
from probe.measure.body import BodyEnd, finish_record, read_body
from probe.measure.fast_body import fast_body_length, read_fast_body
from probe.measure.rttprobe import ConnectRttProbe
from probe.measure.sampler import ByteCounter, Sampler
from probe.measure.timing import Clock, Deadline, Interrupt, PhaseLog, how_it_ended
from probe.measure.tls_socket import SocketTransport
from probe.records import (
    REDIRECT_STATUSES,
    Failure,
    Pause,
    Redirect,
    StopReason,
    TransferRecord,
)
from probe.wording import bracketed, host_port

USER_AGENT = f"throttle-probe/{__version__} (+https://pypi.org/project/throttle-probe/)"
MAX_REDIRECTS = 5  # browsers allow 20; a measurement that needs more is measuring the wrong URL
MAX_REDIRECT_BODY = 64 * 1024  # read to reuse the connection; past it, a new one is opened

# httpcore trace steps -> our phase names; the request phase ends when the wait begins.
_PHASE_OF_STEP = {
    "connect_tcp": "connect",
    "start_tls": "tls",
    "send_request_headers": "request",
    "receive_response_headers": "wait",
}
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL}


@dataclass(frozen=True)
class TransferSettings:
    connect_timeout: float = 10.0
    tls_timeout: float = 10.0
    stall_timeout: float = 10.0
    transfer_timeout: float = 30.0
    max_bytes: int = 2 * 1024 * 1024
    min_bytes: int | None = None
    rtt_probes: bool = True
    stop_at_plateau: bool = True
    repeat_seconds: float = 15.0  # ask again for an object that ended early, this long at most


def make_unverified_ssl_context() -> ssl.SSLContext:
    """For the SNI swap only: it measures the network, so any certificate will do."""
    return httpx.create_ssl_context(verify=False)


def make_ssl_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """The trust store for every transfer of a round (built once: it is slow to load)."""
    if ca_bundle is not None:
        return ssl.create_default_context(cafile=str(ca_bundle))
    return httpx.create_ssl_context(trust_env=False)


async def download(
    url: str,
    address: str,
    settings: TransferSettings,
    ssl_context: ssl.SSLContext,
    clock: Clock,
    interrupt: Interrupt | None = None,
    on_bytes: Callable[[int], None] | None = None,
    sni: str | None = None,
) -> TransferRecord:
    """GET ``url`` from ``address``; always returns a record, failures included.

    ``sni`` sends another name in the ClientHello than the URL's host (the SNI
    swap); the Host header keeps the URL's host.
    """
    # Built before t0: setting up the client is the probe's time, not the network's.
    # trust_env=False: a proxy from the environment would measure the proxy's path.
    client = httpx.AsyncClient(
        transport=SocketTransport(ssl_context),
        timeout=httpx.Timeout(None, read=settings.stall_timeout),
        trust_env=False,
    )
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    port = parts.port or 443
    sni = sni or hostname
    record = TransferRecord(url, hostname, address, port, sni=sni, t0=clock.now(), t=0.0)
    deadline = Deadline(settings.transfer_timeout, interrupt)
    tracer = _Tracer(record, clock, deadline, settings)
    counter = ByteCounter(clock)
    sampler: Sampler | None = None
    try:
        async with client, deadline:
            response = await _get(client, url, address, sni, tracer)
            response = await _follow_redirects(client, response, record, address, sni, tracer)
            sampler = _start_body(record, response, tracer, counter)
            rtt_probe = ConnectRttProbe(address, port, clock) if settings.rtt_probes else None
            if rtt_probe is not None:
                rtt_probe.start()
            body = _Body(client, record, address, sni, counter, settings, on_bytes, sampler)
            try:
                record.stop_reason = await body.read(response, clock)
            finally:
                sampler.stop()  # while the socket is open, for a last TCP_INFO sample
                if rtt_probe is not None:
                    rtt_probe.stop()
                    record.rtt_probes = rtt_probe.samples
                await body.response.aclose()
    except Exception as error:  # httpx, ssl and OS errors, and our own deadline
        _record_failure(record, tracer, deadline, error)
    finally:
        finish_record(record, tracer, clock, sampler, counter)
    judge_response(record, settings)
    return record


# httpx's ``trace`` extension: called with each httpcore event and its details.
Trace = Callable[[str, dict[str, Any]], Awaitable[None]]


async def _get(
    client: httpx.AsyncClient, url: str, address: str, sni: str, trace: Trace
) -> httpx.Response:
    """GET ``url`` from ``address`` with ``sni`` in the ClientHello; the body is not read yet."""
    request = client.build_request(
        "GET",
        _url_at_address(url, address),
        headers=_headers(urlsplit(url).netloc.rpartition("@")[2]),
        extensions={"sni_hostname": sni, "trace": trace},
    )
    return await client.send(request, stream=True)


async def _follow_redirects(
    client: httpx.AsyncClient,
    response: httpx.Response,
    record: TransferRecord,
    address: str,
    sni: str,
    tracer: "_Tracer",
) -> httpx.Response:
    """Follow up to ``MAX_REDIRECTS`` redirects to the same origin, recording each hop.

    The same origin is the same server, address and name: the download still
    measures how the network treats this name. A redirect elsewhere is not
    followed; its status and location stay as the answer, which the verdict
    reads as the platform's own (see analysis.target_verdict).
    """
    current = record.url
    while response.status_code in REDIRECT_STATUSES:
        location = urljoin(current, response.headers.get("location", ""))
        record.redirects.append(Redirect(response.status_code, location))
        if not may_follow(record, current, location):
            break  # the last hop recorded is the answer, not followed
        await _drain(response)
        current = location
        response = await _get(client, location, address, sni, tracer)
    return response


def may_follow(record: TransferRecord, current: str, location: str) -> bool:
    """Whether the redirect just recorded is followed: within the limit, to the same origin."""
    return len(record.redirects) <= MAX_REDIRECTS and _same_origin(current, location)


def _same_origin(url: str, other: str) -> bool:
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.hostname, a.port or 443) == (b.scheme, b.hostname, b.port or 443)


async def _drain(response: httpx.Response) -> None:
    """Read a redirect's small body, so that its connection carries the next request.

    A body past ``MAX_REDIRECT_BODY`` is not worth reading: the connection is
    closed instead, and the next request opens another.
    """
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > MAX_REDIRECT_BODY:
            break
    await response.aclose()


def _url_at_address(url: str, address: str) -> str:
    parts = urlsplit(url)
    netloc = bracketed(address) if parts.port is None else host_port(address, parts.port)
    return urlunsplit(parts._replace(netloc=netloc))


def _headers(host_header: str) -> dict[str, str]:
    return {
        "Host": host_header,
        "User-Agent": USER_AGENT,
        # Count the bytes as they cross the network: no transparent decompression.
        "Accept-Encoding": "identity",
    }


def _start_body(
    record: TransferRecord,
    response: httpx.Response,
    tracer: "_Tracer",
    counter: ByteCounter,
) -> Sampler:
    record.status = response.status_code
    record.http_version = response.http_version
    record.alt_svc = response.headers.get("alt-svc")
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    record.tls_version = ssl_object.version() if ssl_object is not None else None
    sock = stream.get_extra_info("socket") if stream is not None else None
    tracer.open("body")
    sampler = Sampler(counter, sock)
    sampler.start()
    return sampler


@dataclass
class _Body:
    """The body of the object, and of its repeats on the same connection.

    A platform's object is small (a home page, a banner: 50-300 KB) and ends
    inside TCP slow start on a real path, so its goodput would say more about
    the round trip and the object's size than about how the network treats
    the name. While the body ends before ``max_bytes``, the object is asked
    for again on the same connection, for ``repeat_seconds`` at most: the
    count, the samples and TCP_INFO run on across the requests, as they would
    over one big object. Same connection, because the 2021 throttle acted per
    connection, and because a new one would start slow again. A repeat that
    answers anything but 200, or a server that closes the connection, ends it.
    """

    client: httpx.AsyncClient
    record: TransferRecord
    address: str
    sni: str
    counter: ByteCounter
    settings: TransferSettings
    on_bytes: Callable[[int], None] | None
    sampler: Sampler
    response: httpx.Response = field(init=False)

    async def read(self, response: httpx.Response, clock: Clock) -> StopReason:
        self.response = response
        body_started = clock.now()
        while True:
            fast_length = fast_body_length(self.response)
            end = await self._read_one(fast_length)
            if (
                end != BodyEnd.END
                or fast_length is not None  # its connection cannot carry a repeat
                or not self._may_repeat(clock.now() - body_started)
            ):
                return _STOP_OF_END[end]
            await self.response.aclose()
            pause_start = clock.now()
            repeat = await self._request_again()
            if repeat is None:
                return StopReason.COMPLETE
            self.record.pauses.append(Pause(pause_start, clock.now()))
            self.response = repeat
            self.record.requests += 1

    async def _read_one(self, fast_length: int | None) -> BodyEnd:
        """The current response's body: by the fast reader when it may, else through httpx."""
        settings = self.settings
        if fast_length is not None:
            return await read_fast_body(
                self.response,
                fast_length,
                self.counter,
                self.sampler,
                settings.max_bytes,
                settings.stop_at_plateau,
                settings.stall_timeout,
                self.on_bytes,
            )
        return await read_body(
            self.response.aiter_raw(),
            self.counter,
            self.sampler,
            settings.max_bytes,
            settings.stop_at_plateau,
            self.on_bytes,
        )

    def _may_repeat(self, elapsed: float) -> bool:
        keep_alive = self.response.headers.get("connection", "").lower() != "close"
        ok = self.response.status_code == 200  # a refusal or a redirect is the answer
        # An object smaller than expected is a finding (a block page?), not to be padded out.
        minimum = self.settings.min_bytes
        big_enough = minimum is None or self.counter.bytes >= minimum
        return ok and big_enough and keep_alive and elapsed < self.settings.repeat_seconds

    async def _request_again(self) -> httpx.Response | None:
        """The same URL on the same connection, untraced: the phases were the first request's."""
        url = self.record.redirects[-1].location if self.record.redirects else self.record.url
        new_connection = _NewConnectionWatch()
        response = await _get(self.client, url, self.address, self.sni, new_connection)
        if response.status_code != 200 or new_connection.seen:
            await response.aclose()  # not what was measured: its bytes are not counted
            return None
        return response


class _NewConnectionWatch:
    """A trace callback that notes whether httpx opened a new connection."""

    def __init__(self) -> None:
        self.seen = False

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith("connect_tcp.started"):
            self.seen = True


_STOP_OF_END = {
    BodyEnd.LIMIT: StopReason.MAX_BYTES,
    BodyEnd.PLATEAU: StopReason.PLATEAU,
    BodyEnd.END: StopReason.COMPLETE,
}


def judge_response(record: TransferRecord, settings: TransferSettings) -> None:
    """Failures visible only once the body is read: the status, and a short answer."""
    if record.failure is not None or record.status is None:
        return
    if record.status >= 300:
        record.failure = Failure.HTTP_STATUS
    elif (
        record.stop_reason == StopReason.COMPLETE
        and settings.min_bytes is not None
        and record.bytes < settings.min_bytes
    ):
        record.failure = Failure.HTTP_TOO_SMALL


def _record_failure(
    record: TransferRecord, tracer: "_Tracer", deadline: Deadline, error: Exception
) -> None:
    record.stop_reason, record.failure = how_it_ended(deadline, error, tracer.current, classify)
    if record.failure is not None:
        tracer.fail(record.failure)


def classify(error: BaseException, phase: str | None) -> Failure:
    """Name an exception from the transfer, given the phase it interrupted."""
    causes = list(_chain(error))
    if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes):
        return Failure.TLS_CERT_INVALID
    if any(isinstance(c, TimeoutError | httpx.TimeoutException) for c in causes):
        return _TIMEOUT_FAILURES.get(phase or "connect", Failure.READ_TIMEOUT)
    if any(isinstance(c, OSError) and c.errno in _UNREACHABLE for c in causes):
        return Failure.NETWORK_UNREACHABLE
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return Failure.TCP_REFUSED
    if phase in (None, "connect"):
        return Failure.TCP_ERROR
    if phase == "tls":
        resets = (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError)
        is_reset = any(isinstance(c, resets) for c in causes) or _is_eof(causes)
        return Failure.TLS_RESET if is_reset else Failure.TLS_ERROR
    if any(isinstance(c, ConnectionResetError) for c in causes):
        return Failure.TCP_RESET
    if isinstance(error, httpx.RemoteProtocolError) and phase == "body":
        return Failure.HTTP_TRUNCATED
    if any(type(c).__module__.startswith("h11") for c in causes):
        return Failure.HTTP_ERROR  # the server answered, but not in HTTP
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError):
        # Closed after the request without a response: a quiet way to block.
        return Failure.TCP_RESET if phase in ("request", "wait") else Failure.HTTP_ERROR
    return Failure.HTTP_ERROR


_TIMEOUT_FAILURES = {
    "connect": Failure.TCP_TIMEOUT,
    "tls": Failure.TLS_TIMEOUT,
    "request": Failure.READ_TIMEOUT,
    "wait": Failure.READ_TIMEOUT,
    "body": Failure.STALL,
}


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_eof(causes: list[BaseException]) -> bool:
    # anyio reports a peer that closes mid-handshake as EndOfStream / BrokenResourceError.
    return any(type(c).__name__ in ("EndOfStream", "BrokenResourceError") for c in causes)


class _Tracer(PhaseLog):
    """httpx trace callback: turns httpcore's events into phases and moves the deadline."""

    def __init__(
        self, record: TransferRecord, clock: Clock, deadline: Deadline, settings: TransferSettings
    ) -> None:
        super().__init__(record.phases, clock)
        self._clock = clock
        self._deadline = deadline
        self._limits = {
            "connect": settings.connect_timeout,
            "tls": settings.tls_timeout,
        }

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        _, step, state = event.rsplit(".", 2) if event.count(".") >= 2 else ("", "", "")
        name = _PHASE_OF_STEP.get(step)
        if name is None:
            return
        if state == "started" and name != "wait":
            self.open(name)
        elif state == "complete" and name == "request":
            self.open("wait")  # request sent: now waiting for the first byte
        elif state == "complete":
            self.close(self._clock.now())

    def open(self, name: str) -> None:
        super().open(name)
        self._deadline.phase(self._limits.get(name))
