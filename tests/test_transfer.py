"""The transfer step against real TLS servers on loopback."""

import asyncio
import dataclasses
import socket

import httpx
import pytest

from probe.lab.origin import OriginServer
from probe.measure.fast_body import FAST_BODY_MIN, fast_body_length
from probe.measure.timing import Clock, Interrupt
from probe.measure.tls_socket import SocketStream
from probe.measure.transfer import TransferSettings, download, make_ssl_context
from probe.records import Failure, StopReason, TransferRecord
from tests.conftest import WRONG_NAME, Lab

# One GET per download (no repeats): most tests here look at one object.
FAST = TransferSettings(
    connect_timeout=2,
    tls_timeout=2,
    stall_timeout=2,
    transfer_timeout=10,
    max_bytes=10**8,
    repeat_seconds=0,
)


def fetch(
    lab: Lab,
    url: str,
    settings: TransferSettings = FAST,
    interrupt_after: float | None = None,
) -> TransferRecord:
    async def run() -> TransferRecord:
        interrupt = Interrupt()
        if interrupt_after is not None:
            asyncio.get_running_loop().call_later(interrupt_after, interrupt.request)
        context = make_ssl_context(lab.pki.ca_file)
        return await download(url, "127.0.0.1", settings, context, Clock(), interrupt)

    return asyncio.run(run())


def phase_names(record: TransferRecord) -> list[str]:
    return [p.name for p in record.phases]


def test_complete_download_has_every_phase_in_order_and_exact_bytes(lab: Lab) -> None:
    size = 3_000_000
    record = fetch(lab, lab.url("twitter.test", f"/bytes/{size}"))

    assert record.failure is None
    assert record.stop_reason == StopReason.COMPLETE
    assert record.bytes == size
    assert (record.status, record.http_version, record.tls_version) == (200, "HTTP/1.1", "TLSv1.3")
    assert (record.address, record.sni, record.hostname) == (
        "127.0.0.1",
        "twitter.test",
        "twitter.test",
    )
    assert phase_names(record) == ["connect", "tls", "request", "wait", "body"]
    times = [record.t0] + [t for p in record.phases for t in (p.t0, p.t)] + [record.t]
    assert all(t is not None for t in times)
    assert times == sorted(times)  # type: ignore[type-var]
    assert record.goodput_bytes_per_second is not None and record.goodput_bytes_per_second > 0


def test_samples_are_cumulative_and_end_at_the_byte_count(lab: Lab) -> None:
    record = fetch(lab, lab.url("twitter.test", "/bytes/5000000"))

    assert len(record.samples) >= 2
    assert [s.t for s in record.samples] == sorted(s.t for s in record.samples)
    assert [s.bytes for s in record.samples] == sorted(s.bytes for s in record.samples)
    assert record.samples[-1].bytes == record.bytes
    body = record.phase("body")
    assert body is not None and body.t is not None
    assert body.t0 <= record.samples[0].t and record.samples[-1].t <= record.t


def test_tcp_info_is_sampled_alongside(lab: Lab) -> None:
    record = fetch(lab, lab.url("twitter.test", "/bytes/2000000"))

    assert record.tcp_info, "Linux exposes TCP_INFO on every connected socket"
    info = record.tcp_info[-1]
    assert 0 < info.rtt < 1.0
    assert info.bytes_received is not None and info.bytes_received >= record.bytes


def test_download_stops_at_max_bytes(lab: Lab) -> None:
    settings = TransferSettings(**{**FAST.__dict__, "max_bytes": 1_000_000})
    record = fetch(lab, lab.url("control.test", "/bytes/50000000"), settings)

    assert record.failure is None
    assert record.stop_reason == StopReason.MAX_BYTES
    # The loop stops after the read that crosses the budget: at most one read more.
    assert 1_000_000 <= record.bytes < 1_000_000 + 65536 + 1


def test_transfer_deadline_ends_a_flowing_download_without_failure(lab: Lab) -> None:
    settings = TransferSettings(**{**FAST.__dict__, "transfer_timeout": 0.5, "max_bytes": 10**12})
    record = fetch(lab, lab.url("control.test", f"/bytes/{10**12}"), settings)

    assert record.failure is None
    assert record.stop_reason == StopReason.DEADLINE
    assert record.bytes > 0 and record.goodput_bytes_per_second is not None
    assert record.t < 1.5


# Bodies of both sizes: a small one is read through httpx, a big one by the body
# thread (measure.fast_body); each must end the same way.
BODY_SIZES = pytest.mark.parametrize("size", [200_000, 2 * FAST_BODY_MIN])


@BODY_SIZES
def test_reset_mid_body_is_tcp_reset(lab: Lab, size: int) -> None:
    record = fetch(lab, lab.url("twitter.test", f"/reset/{size}"))

    assert record.failure == Failure.TCP_RESET
    assert record.stop_reason == StopReason.FAILURE
    assert record.status == 200
    body = record.phase("body")
    assert body is not None and body.failure == Failure.TCP_RESET
    # A reset discards what the kernel had not yet handed over: at most N arrive.
    assert record.bytes <= size


@BODY_SIZES
def test_early_close_is_http_truncated_with_exact_bytes(lab: Lab, size: int) -> None:
    record = fetch(lab, lab.url("twitter.test", f"/truncate/{size}"))

    assert record.failure == Failure.HTTP_TRUNCATED
    assert record.bytes == size


@BODY_SIZES
def test_stall_after_the_first_bytes(lab: Lab, size: int) -> None:
    record = fetch(lab, lab.url("tiktok.test", f"/stall/{size}"))

    assert record.failure == Failure.STALL
    assert record.bytes == size
    body = record.phase("body")
    assert body is not None and body.failure == Failure.STALL
    assert body.t is not None and body.t - body.t0 >= 2.0  # the stall time-out
    # The samples show the flat line after the body's first bytes.
    assert record.samples[-1].bytes == size and len(record.samples) >= 3


@pytest.mark.parametrize("status", [404, 500])
def test_error_status_is_http_status(lab: Lab, status: int) -> None:
    record = fetch(lab, lab.url("twitter.test", f"/status/{status}"))

    assert record.failure == Failure.HTTP_STATUS
    assert record.status == status
    assert record.stop_reason == StopReason.COMPLETE


def test_redirects_to_the_same_origin_are_followed_on_the_same_connection(lab: Lab) -> None:
    url = lab.url("twitter.test", "/redirect/301/redirect/308/bytes/200000")

    record = fetch(lab, url)

    assert record.failure is None and record.status == 200 and record.bytes == 200000
    base = lab.url("twitter.test", "")
    assert [(hop.status, hop.location) for hop in record.redirects] == [
        (301, base + "/redirect/308/bytes/200000"),
        (308, base + "/bytes/200000"),
    ]
    # One TCP and TLS handshake: the redirects' bodies were read, the connection kept.
    assert [p.name for p in record.phases].count("connect") == 1
    assert [p.name for p in record.phases].count("wait") == 3


REPEATING = dataclasses.replace(FAST, max_bytes=2_000_000, repeat_seconds=5)


def test_a_small_object_is_asked_for_again_on_the_same_connection_until_max_bytes(
    lab: Lab,
) -> None:
    with OriginServer(lab.pki.server_context()) as server:
        record = fetch(lab, lab.url("twitter.test", "/bytes/150000", server), REPEATING)
        connections = server.connections

    assert record.failure is None and record.stop_reason == StopReason.MAX_BYTES
    assert record.requests == 14 and 13 * 150000 < record.bytes <= 14 * 150000
    assert connections == 1 and [p.name for p in record.phases].count("connect") == 1
    # One pause per repeat, in order, each after the body before it and inside the download.
    assert len(record.pauses) == 13
    ends = [0.0, *(p.t for p in record.pauses)]
    assert all(a <= p.t0 < p.t for a, p in zip(ends, record.pauses, strict=False))
    # The rate is read with the pauses cut out: faster than over the wall-clock time.
    assert record.goodput_bytes_per_second is not None
    wall_clock = record.bytes / (record.samples[-1].t - record.samples[0].t)
    assert record.goodput_bytes_per_second > wall_clock


def test_repeats_stop_after_repeat_seconds_of_body(lab: Lab) -> None:
    brief = dataclasses.replace(FAST, max_bytes=10**9, repeat_seconds=0.3)

    record = fetch(lab, lab.url("twitter.test", "/bytes/1000000"), brief)

    assert record.failure is None and record.stop_reason == StopReason.COMPLETE
    assert record.requests > 1 and record.bytes == record.requests * 1000000
    body = next(p for p in record.phases if p.name == "body")
    # The last repeat began within the budget, and the download ended after it.
    assert record.pauses[-1].t0 - body.t0 < 0.35 and record.t - body.t0 >= 0.3


def test_a_short_answer_or_a_refusal_is_not_asked_for_again(lab: Lab) -> None:
    short = dataclasses.replace(REPEATING, min_bytes=100000)

    too_small = fetch(lab, lab.url("twitter.test", "/bytes/5000"), short)
    refused = fetch(lab, lab.url("twitter.test", "/status/451"), REPEATING)

    assert too_small.failure == Failure.HTTP_TOO_SMALL and too_small.bytes == 5000
    assert refused.failure == Failure.HTTP_STATUS and refused.status == 451
    assert too_small.requests == refused.requests == 1 and not too_small.pauses


def test_a_redirect_to_another_host_is_recorded_not_followed(lab: Lab) -> None:
    record = fetch(lab, lab.url("twitter.test", "/moved"))

    assert record.failure == Failure.HTTP_STATUS and record.status == 301
    assert [(hop.status, hop.location) for hop in record.redirects] == [
        (301, "https://elsewhere.test/")
    ]


def test_redirects_stop_after_five(lab: Lab) -> None:
    url = lab.url("twitter.test", "/redirect/302" * 7 + "/bytes/10")

    record = fetch(lab, url)

    # Five followed; the sixth is recorded as the answer.
    assert len(record.redirects) == 6
    assert record.redirects[-1].location.endswith("/redirect/302/bytes/10")
    assert record.failure == Failure.HTTP_STATUS and record.status == 302


def test_server_that_never_answers_is_read_timeout(lab: Lab) -> None:
    record = fetch(lab, lab.url("twitter.test", "/hang"))

    assert record.failure == Failure.READ_TIMEOUT
    assert phase_names(record) == ["connect", "tls", "request", "wait"]
    assert (
        record.status is None and record.samples == [] and record.goodput_bytes_per_second is None
    )


def test_silent_handshake_is_tls_timeout(lab: Lab) -> None:
    record = fetch(lab, lab.url("twitter.test", "/bytes/10", lab.silent_tls))

    assert record.failure == Failure.TLS_TIMEOUT
    assert phase_names(record) == ["connect", "tls"]
    connect, tls = record.phases
    assert connect.failure is None and tls.failure == Failure.TLS_TIMEOUT
    assert tls.t is not None and 1.9 <= tls.t - tls.t0 < 3.0


def test_closed_port_is_tcp_refused_and_nothing_else_is_invented(lab: Lab) -> None:
    record = fetch(lab, f"https://twitter.test:{lab.closed_port}/bytes/10")

    assert record.failure == Failure.TCP_REFUSED
    assert phase_names(record) == ["connect"]
    assert record.status is None and record.tls_version is None
    assert record.bytes == 0 and record.samples == [] and record.tcp_info == []
    assert record.goodput_bytes_per_second is None


def test_port_that_never_accepts_is_tcp_timeout(lab: Lab) -> None:
    record = fetch(lab, f"https://twitter.test:{lab.unaccepting_port}/bytes/10")

    assert record.failure == Failure.TCP_TIMEOUT
    assert phase_names(record) == ["connect"]


def test_certificate_for_another_name_is_tls_cert_invalid(lab: Lab) -> None:
    record = fetch(lab, lab.url(WRONG_NAME, "/bytes/10", lab.wrong_cert))

    assert record.failure == Failure.TLS_CERT_INVALID
    assert phase_names(record) == ["connect", "tls"]


def test_untrusted_ca_is_tls_cert_invalid(lab: Lab) -> None:
    async def run() -> TransferRecord:
        context = make_ssl_context()  # the public trust store does not know the test CA
        url = lab.url("twitter.test", "/bytes/10")
        return await download(url, "127.0.0.1", FAST, context, Clock())

    assert asyncio.run(run()).failure == Failure.TLS_CERT_INVALID


def test_complete_but_smaller_than_expected_is_http_too_small(lab: Lab) -> None:
    settings = TransferSettings(**{**FAST.__dict__, "min_bytes": 100_000})
    record = fetch(lab, lab.url("twitter.test", "/bytes/5000"), settings)

    assert record.failure == Failure.HTTP_TOO_SMALL
    assert record.bytes == 5000


@BODY_SIZES
def test_interrupt_keeps_what_was_measured(lab: Lab, size: int) -> None:
    record = fetch(lab, lab.url("tiktok.test", f"/stall/{size}"), interrupt_after=0.5)

    assert record.failure == Failure.INTERRUPTED
    assert record.stop_reason == StopReason.INTERRUPTED
    assert record.bytes == size
    assert record.t < 1.5  # a body thread is stopped at once: its socket stops receiving


def test_a_big_body_stops_at_exactly_max_bytes_and_reports_progress(lab: Lab) -> None:
    settings = dataclasses.replace(FAST, max_bytes=3 * FAST_BODY_MIN + 12345)
    progress: list[int] = []

    async def run() -> TransferRecord:
        context = make_ssl_context(lab.pki.ca_file)
        url = lab.url("control.test", f"/bytes/{10 * FAST_BODY_MIN}")
        return await download(url, "127.0.0.1", settings, context, Clock(), None, progress.append)

    record = asyncio.run(run())

    assert record.failure is None and record.stop_reason == StopReason.MAX_BYTES
    # The body thread reads no further than the limit (httpx reads on to its chunk's end).
    assert record.bytes == settings.max_bytes
    assert progress and progress == sorted(progress) and progress[-1] <= settings.max_bytes
    assert record.tcp_info and record.samples[-1].bytes == settings.max_bytes


def test_ipv6_address_is_bracketed_and_sni_keeps_the_name(lab: Lab) -> None:
    with OriginServer(lab.pki.server_context(), host="::1") as server:

        async def run() -> TransferRecord:
            context = make_ssl_context(lab.pki.ca_file)
            url = f"https://twitter.test:{server.port}/bytes/100000"
            return await download(url, "::1", FAST, context, Clock())

        record = asyncio.run(run())

    assert record.failure is None and record.bytes == 100000
    assert (record.address, record.sni) == ("::1", "twitter.test")


@pytest.mark.parametrize(
    ("headers", "version", "thread_reads"),
    [
        ({"content-length": str(FAST_BODY_MIN)}, b"HTTP/1.1", True),
        ({"content-length": str(FAST_BODY_MIN - 1)}, b"HTTP/1.1", False),  # may be repeated
        ({"transfer-encoding": "chunked"}, b"HTTP/1.1", False),  # needs h11's parser
        ({"content-length": str(FAST_BODY_MIN)}, b"HTTP/1.0", False),
        ({"content-length": "nonsense"}, b"HTTP/1.1", False),
        ({}, b"HTTP/1.1", False),  # read to the close: h11's to judge
    ],
)
def test_which_bodies_the_thread_reads(
    headers: dict[str, str], version: bytes, thread_reads: bool
) -> None:
    with socket.socket() as sock:
        extensions = {"network_stream": SocketStream(sock), "http_version": version}
        response = httpx.Response(200, headers=headers, extensions=extensions)
        assert (fast_body_length(response) is not None) == thread_reads
