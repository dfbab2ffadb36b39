"""The lab's reassembling SNI matcher on crafted segments."""

import os

from scapy.layers.inet import IP, TCP

from probe.lab.tcpsni import StreamSniMatcher
from probe.measure.clienthello import client_hello_record

CLIENT, SERVER = "198.51.100.2", "203.0.113.10"


def packet(seq: int, data: bytes = b"", flags: str = "PA", sport: int = 40000) -> bytes:
    return bytes(
        IP(src=CLIENT, dst=SERVER) / TCP(sport=sport, dport=443, flags=flags, seq=seq) / data
    )


def hello(name: str) -> bytes:
    return client_hello_record(name, os.urandom(32), os.urandom(32))


def test_a_client_hello_in_segments_out_of_order_is_read_once_whole() -> None:
    matcher = StreamSniMatcher(("twimg.com",))
    record = hello("pbs.twimg.com")
    cut = record.find(b"twimg")

    assert not matcher.matches(packet(999, flags="S"))
    assert not matcher.matches(packet(1000 + cut, record[cut:]))  # the second half first
    assert matcher.matches(packet(1000, record[:cut]))  # completes it: this packet is marked
    assert not matcher.matches(packet(1000 + len(record), b"\x17\x03\x03\x00\x01x"))


def test_the_first_client_hello_decides_and_the_case_is_exact_unless_told() -> None:
    exact, any_case = StreamSniMatcher(("twimg.com",)), StreamSniMatcher(("twimg.com",), True)
    fake, real, upper = hello("mirror.yandex.ru"), hello("pbs.twimg.com"), hello("PBS.TWIMG.COM")

    for matcher in (exact, any_case):
        matcher.matches(packet(2**32 - 1, flags="S", sport=1))  # the sequence numbers wrap
        assert not matcher.matches(packet(0, fake, sport=1))
        assert not matcher.matches(packet(0, real, sport=1))  # the same range again: not read
    exact.matches(packet(99, flags="S", sport=2))
    any_case.matches(packet(99, flags="S", sport=2))
    assert not exact.matches(packet(100, upper, sport=2))
    assert any_case.matches(packet(100, upper, sport=2))


def test_a_stream_that_is_no_client_hello_is_never_matched() -> None:
    matcher = StreamSniMatcher(("twimg.com",))
    matcher.matches(packet(0, flags="S"))

    assert not matcher.matches(packet(1, b"GET / HTTP/1.1\r\nHost: pbs.twimg.com\r\n\r\n"))
    assert not matcher._streams  # decided at its first byte: not read on
    assert not matcher.matches(bytes(IP(src=CLIENT, dst=SERVER, proto=17) / (b"\x00" * 40)))
