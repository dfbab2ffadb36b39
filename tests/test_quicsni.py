"""The lab's QUIC SNI filter on real QUIC Initials (built by aioquic's client), without root."""

import os

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import QuicProtocolVersion

from probe.lab.quicsni import QuicSniFilter, client_hello_sni, initial_sni

CLIENT, SERVER = "198.51.100.2", "203.0.113.10"


def first_initial(name: str, version: int = QuicProtocolVersion.VERSION_1) -> bytes:
    configuration = QuicConfiguration(
        is_client=True, alpn_protocols=["h3"], server_name=name, supported_versions=[version]
    )
    connection = QuicConnection(configuration=configuration)
    connection.connect((SERVER, 443), now=0.0)
    datagram, _ = connection.datagrams_to_send(now=0.0)[0]
    return datagram


def flow(port: int, towards_server: bool = True) -> tuple[str, int, str, int]:
    return (CLIENT, port, SERVER, 443) if towards_server else (SERVER, 443, CLIENT, port)


def test_the_name_is_read_from_a_version_1_initial_and_not_from_version_2() -> None:
    assert initial_sni(first_initial("rr3.googlevideo.com")) == "rr3.googlevideo.com"
    assert initial_sni(first_initial("pbs.twimg.com", QuicProtocolVersion.VERSION_2)) is None
    assert initial_sni(os.urandom(1200)) is None
    assert initial_sni(b"\x40" + os.urandom(30)) is None  # a short-header packet
    assert client_hello_sni(b"\x02\x00\x00\x00") is None  # not a ClientHello


def test_a_matching_flow_is_dropped_both_ways_and_others_pass() -> None:
    decide = QuicSniFilter(["twimg.com"], clock=lambda: 0.0)

    assert not decide.passes(flow(5000), first_initial("pbs.twimg.com"))
    assert not decide.passes(flow(5000, towards_server=False), b"x" * 1200)
    assert decide.passes(flow(5001), first_initial("x.com"))
    assert decide.passes(flow(5001, towards_server=False), b"x" * 1200)


def test_only_the_first_packet_of_a_flow_is_read() -> None:
    decide = QuicSniFilter(["twimg.com"], clock=lambda: 0.0)

    assert decide.passes(flow(5000), b"x" * 1200)  # not an Initial the filter can read
    assert decide.passes(flow(5000), first_initial("pbs.twimg.com"))  # too late: not read


def test_a_matching_flow_is_policed_to_its_rate_each_way() -> None:
    now = [0.0]
    decide = QuicSniFilter(["twimg.com"], rate=10_000, clock=lambda: now[0])
    assert decide.passes(flow(5000), first_initial("pbs.twimg.com"))  # the bucket starts full

    down = [decide.passes(flow(5000, towards_server=False), b"x" * 1000) for _ in range(20)]
    now[0] += 1.0
    later = [decide.passes(flow(5000, towards_server=False), b"x" * 1000) for _ in range(20)]

    assert down.count(True) == 10 and later.count(True) == 10  # 10 kB a second
    assert decide.passes(flow(5000), b"x" * 1000)  # the other direction has its own bucket


def test_the_residual_block_holds_the_triple_for_its_seconds() -> None:
    now = [0.0]
    decide = QuicSniFilter(["twitter.com"], residual=180, clock=lambda: now[0])

    assert not decide.passes(flow(5000), first_initial("twitter.com"))
    now[0] = 179.0
    assert not decide.passes(flow(5001), first_initial("x.com"))  # no pattern, same server
    now[0] = 181.0
    assert decide.passes(flow(5002), first_initial("x.com"))
