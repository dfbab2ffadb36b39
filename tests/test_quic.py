"""The QUIC (HTTP/3) step against real aioquic servers on loopback, and servers that misbehave."""

import asyncio
import contextlib
import itertools
import os
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aioquic.asyncio.server import serve
from aioquic.quic.configuration import QuicConfiguration

from probe.lab.origin3 import Http3Origin
from probe.measure.quic import QuicTrust, download_quic
from probe.measure.timing import Clock, Interrupt
from probe.measure.transfer import TransferSettings
from probe.records import (
    Failure,
    Role,
    StopReason,
    TargetResult,
    TransferRecord,
    Transport,
)
from probe.schema import ROUND_FORMAT, RoundDocument, decode_round, encode, judged_entries
from tests.conftest import WRONG_NAME, Lab

FAST = TransferSettings(
    connect_timeout=1,
    tls_timeout=1,
    stall_timeout=1.5,
    transfer_timeout=10,
    max_bytes=10**8,
    repeat_seconds=0,
)


def fetch(
    lab: Lab,
    url: str,
    settings: TransferSettings = FAST,
    port: int | None = None,
    interrupt_after: float | None = None,
) -> TransferRecord:
    async def run() -> TransferRecord:
        interrupt = Interrupt()
        if interrupt_after is not None:
            asyncio.get_running_loop().call_later(interrupt_after, interrupt.request)
        trust = QuicTrust(lab.pki.ca_file)
        return await download_quic(url, "127.0.0.1", settings, trust, Clock(), interrupt, port=port)

    return asyncio.run(run())


def h3_url(lab: Lab, host: str, path: str) -> str:
    return f"https://{host}:{lab.h3.port}{path}"


def phase_names(record: TransferRecord) -> list[str]:
    return [p.name for p in record.phases]


def test_a_download_over_http3_has_its_phases_bytes_and_samples(lab: Lab) -> None:
    size = 3_000_000
    record = fetch(lab, h3_url(lab, "twitter.test", f"/bytes/{size}"))

    assert record.failure is None and record.stop_reason == StopReason.COMPLETE
    assert record.bytes == size
    assert (record.transport, record.http_version, record.tls_version) == (
        Transport.QUIC,
        "HTTP/3",
        "TLSv1.3",
    )
    assert (record.status, record.sni, record.port) == (200, "twitter.test", lab.h3.port)
    assert phase_names(record) == ["handshake", "request", "wait", "body"]
    assert all(p.t is not None and p.failure is None for p in record.phases)
    assert record.round_trip() == record.duration("handshake") and record.round_trip()
    samples = record.samples
    assert samples[0].bytes == 0 and samples[-1].bytes == size
    assert all(a.t <= b.t and a.bytes <= b.bytes for a, b in itertools.pairwise(samples))
    assert record.goodput_bytes_per_second and record.goodput_bytes_per_second > 0
    assert record.quic_close is None


def test_max_bytes_ends_a_big_download_and_a_small_object_is_asked_for_again(lab: Lab) -> None:
    capped = fetch(
        lab,
        h3_url(lab, "twitter.test", "/bytes/50000000"),
        FAST.__class__(**{**FAST.__dict__, "max_bytes": 1_000_000}),
    )
    before = lab.h3.connections
    repeated = fetch(
        lab,
        h3_url(lab, "twitter.test", "/bytes/100000"),
        FAST.__class__(**{**FAST.__dict__, "max_bytes": 1_000_000, "repeat_seconds": 10}),
    )

    assert capped.stop_reason == StopReason.MAX_BYTES and 1_000_000 <= capped.bytes < 1_200_000
    assert repeated.failure is None and repeated.stop_reason == StopReason.MAX_BYTES
    assert repeated.requests == 10 and len(repeated.pauses) == 9
    assert lab.h3.connections == before + 1  # every request on the one connection


def test_statuses_and_same_origin_redirects_as_on_tcp(lab: Lab) -> None:
    refused = fetch(lab, h3_url(lab, "twitter.test", "/status/451"))
    moved = fetch(lab, h3_url(lab, "twitter.test", "/redirect/302/bytes/5000"))

    assert (refused.failure, refused.status) == (Failure.HTTP_STATUS, 451)
    assert moved.failure is None and moved.status == 200 and moved.bytes == 5000
    assert [(r.status, r.location) for r in moved.redirects] == [
        (302, h3_url(lab, "twitter.test", "/bytes/5000"))
    ]


def test_a_reset_stream_a_stall_and_a_silent_server_are_named(lab: Lab) -> None:
    reset = fetch(lab, h3_url(lab, "twitter.test", "/reset/20000"))
    stalled = fetch(lab, h3_url(lab, "twitter.test", "/stall/30000"))
    hung = fetch(lab, h3_url(lab, "twitter.test", "/hang"))

    assert reset.failure == Failure.HTTP3_ERROR and reset.stop_reason == StopReason.FAILURE
    assert (stalled.failure, stalled.bytes) == (Failure.STALL, 30000)
    body = stalled.phase("body")
    assert body is not None and body.failure == Failure.STALL
    assert hung.failure == Failure.READ_TIMEOUT and phase_names(hung)[-1] == "wait"


def test_a_certificate_for_another_name_is_refused_with_its_alert_kept(lab: Lab) -> None:
    record = fetch(lab, h3_url(lab, WRONG_NAME, "/bytes/1000"))

    assert record.failure == Failure.TLS_CERT_INVALID
    assert record.quic_close is not None and record.quic_close.code == 0x100 + 42
    assert WRONG_NAME in record.quic_close.reason
    handshake = record.phase("handshake")
    assert handshake is not None and handshake.failure == Failure.TLS_CERT_INVALID


def test_an_unverified_trust_accepts_any_certificate(lab: Lab) -> None:
    async def run() -> TransferRecord:
        url = h3_url(lab, WRONG_NAME, "/bytes/1000")
        return await download_quic(url, "127.0.0.1", FAST, QuicTrust(verify=False), Clock())

    assert asyncio.run(run()).failure is None


@contextlib.contextmanager
def udp_server(answer: bytes | None = None, reply: str = "") -> Iterator[int]:
    """A UDP port that swallows datagrams, or answers each with ``answer`` (or a VN packet)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stopping = threading.Event()

    def serve_forever() -> None:
        while not stopping.is_set():
            try:
                data, peer = sock.recvfrom(65535)
            except TimeoutError:
                continue
            if reply == "version":
                sock.sendto(version_negotiation(data), peer)
            elif answer is not None:
                sock.sendto(answer, peer)

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stopping.set()
        thread.join()
        sock.close()


def version_negotiation(initial: bytes) -> bytes:
    """RFC 9000 17.2.1: the client's connection ids swapped, and one version it cannot speak."""
    dcid_length = initial[5]
    dcid = initial[6 : 6 + dcid_length]
    scid_length = initial[6 + dcid_length]
    scid = initial[7 + dcid_length : 7 + dcid_length + scid_length]
    header = bytes([0x80 | (os.urandom(1)[0] & 0x7F)]) + struct.pack("!I", 0)
    ids = bytes([len(scid)]) + scid + bytes([len(dcid)]) + dcid
    return header + ids + struct.pack("!I", 0x1A2A3A4A)


def test_no_answer_a_handshake_that_never_completes_and_no_common_version(lab: Lab) -> None:
    url = "https://twitter.test/bytes/1000"
    with udp_server() as silent:
        unanswered = fetch(lab, url, port=silent)
    with udp_server(answer=os.urandom(1200)) as babbling:
        unfinished = fetch(lab, url, port=babbling)
    with udp_server(reply="version") as old:
        negotiated = fetch(lab, url, port=old)

    assert unanswered.failure == Failure.QUIC_NO_ANSWER
    assert 1.9 <= unanswered.t - unanswered.t0 < 3  # connect + tls time-outs
    assert unfinished.failure == Failure.QUIC_HANDSHAKE_TIMEOUT
    assert negotiated.failure == Failure.QUIC_VERSION_NEGOTIATION
    for record in (unanswered, unfinished, negotiated):
        assert phase_names(record) == ["handshake"] and record.bytes == 0


def test_nothing_listening_on_udp_is_refused(lab: Lab) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
    record = fetch(lab, "https://twitter.test/bytes/1000", port=port)

    assert record.failure == Failure.QUIC_REFUSED
    assert record.t - record.t0 < 1  # an ICMP answer, not a time-out


def test_a_server_that_speaks_no_http3_closes_with_a_tls_alert(lab: Lab, tmp_path: Path) -> None:
    configuration = QuicConfiguration(is_client=False, alpn_protocols=["hq-interop"])
    configuration.load_cert_chain(str(lab.pki.cert_chain_file), str(lab.pki.key_file))

    async def run() -> TransferRecord:
        server = await serve("127.0.0.1", 0, configuration=configuration)
        port = server._transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
        try:
            trust = QuicTrust(lab.pki.ca_file)
            url = "https://twitter.test/bytes/1000"
            return await download_quic(url, "127.0.0.1", FAST, trust, Clock(), port=port)
        finally:
            server.close()

    record = asyncio.run(run())

    assert record.failure == Failure.QUIC_TLS_ALERT
    assert record.quic_close is not None
    assert record.quic_close.code == 0x100 + 120  # no_application_protocol


def test_an_interrupt_ends_a_quic_download_keeping_what_it_measured(lab: Lab) -> None:
    record = fetch(lab, h3_url(lab, "twitter.test", "/stall/10000"), interrupt_after=0.5)

    assert (record.failure, record.stop_reason) == (Failure.INTERRUPTED, StopReason.INTERRUPTED)
    assert record.bytes == 10000


def test_a_quic_record_reads_back_from_its_json(lab: Lab) -> None:
    record = fetch(lab, h3_url(lab, WRONG_NAME, "/bytes/1000"))
    target = TargetResult("tw", "twitter", Role.TARGET, record.url, "2026-12-01T00:00:00Z")
    target.transfer, target.failure = record, record.failure
    document = RoundDocument(ROUND_FORMAT, "test", "s", "f", False, judged_entries([target], {}))

    again = decode_round(encode(document)).result().targets[0].transfer

    assert again == record
    assert again is not None and again.transport == Transport.QUIC


def test_the_http3_origin_counts_its_connections_and_stops(lab: Lab) -> None:
    with Http3Origin(lab.pki.cert_chain_file, lab.pki.key_file) as origin:
        record = fetch(lab, f"https://control.test:{origin.port}/bytes/1000")
        assert record.failure is None and origin.connections == 1
    after = fetch(lab, f"https://control.test:{origin.port}/bytes/1000")
    assert after.failure == Failure.QUIC_REFUSED


@pytest.mark.parametrize("size", [0, 1, 65536, 65537])
def test_bodies_of_edge_sizes_arrive_whole(lab: Lab, size: int) -> None:
    record = fetch(lab, h3_url(lab, "control.test", f"/bytes/{size}"))

    assert record.failure is None and record.bytes == size
