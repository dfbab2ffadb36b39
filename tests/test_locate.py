"""The judge of a TTL walk, the ICMP parser and the locate output, without a network."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from probe.analysis.locate import decided, judge, sentence, sessions_decided, slowed
from probe.measure.locate import time_exceeded_source_port
from probe.measure.locate_session import segment, syn_ack_numbers
from probe.records import (
    LocateFinding,
    SessionStep,
    SessionTrial,
    TtlOutcome,
    TtlStep,
    TtlTrial,
    TtlWalk,
)
from probe.sinks import locate as view

E, R, A, C, S, X = (
    TtlOutcome.EXPIRED,
    TtlOutcome.RESET,
    TtlOutcome.ANSWERED,
    TtlOutcome.CLOSED,
    TtlOutcome.SILENT,
    TtlOutcome.NO_CONNECTION,
)


def trial(ttl: int, outcome: TtlOutcome, router: str | None = None) -> TtlTrial:
    seconds = None if outcome == S else 0.01
    address = router if outcome == E else None
    return TtlTrial(ttl, outcome, seconds, address, retried=outcome == S)


def walk_of(name: str, control: str, routers: bool = True) -> TtlWalk:
    """A walk from one letter per TTL for the name and the control (see E, R, A...)."""
    letters = {"e": E, "r": R, "a": A, "c": C, "s": S, "x": X}
    steps = []
    for ttl, (n, c) in enumerate(zip(name.split(), control.split(), strict=True), start=1):
        router = f"192.0.2.{4 * ttl - 2}" if routers else None
        steps.append(TtlStep(ttl, trial(ttl, letters[n], router), trial(ttl, letters[c], router)))
    return TtlWalk("www.tiktok.com", "mirror.yandex.ru", "203.0.113.20", 443, steps, routers)


@pytest.mark.parametrize(
    ("name", "control", "finding", "hop", "earliest"),
    [
        ("e e r", "e e a", LocateFinding.RESET, 3, 3),
        ("r", "a", LocateFinding.RESET, 1, 1),
        ("e e s", "e e a", LocateFinding.DROP, 3, 3),
        ("e e s s", "e e e a", LocateFinding.DROP, 3, 3),
        # A router that sends no ICMP at hop 2: the drop may be there or at hop 3.
        ("e s s", "e s a", LocateFinding.DROP, 3, 2),
        ("e s s s", "e s s a", LocateFinding.DROP, 4, 2),
        ("e e a", "e e a", LocateFinding.NOTHING, None, None),
        ("e c", "e c", LocateFinding.NOTHING, None, None),
        ("e r", "e r", LocateFinding.WHOLE_PATH, None, None),
        ("x", "x", LocateFinding.UNREACHABLE, None, None),
        ("e s s", "e s s", LocateFinding.NOT_REACHED, None, None),
    ],
)
def test_the_first_ttl_where_the_name_fares_worse_than_the_control_is_the_hop(
    name: str, control: str, finding: LocateFinding, hop: int | None, earliest: int | None
) -> None:
    location = judge(walk_of(name, control))

    assert (location.finding, location.hop, location.earliest_hop) == (finding, hop, earliest)


def test_the_walk_stops_at_the_first_step_that_decides() -> None:
    steps = walk_of("e e r e", "e e a e").steps

    assert [decided(steps[:n]) for n in range(1, 5)] == [False, False, True, True]
    assert not decided([])


def test_a_silence_not_yet_sent_twice_decides_nothing() -> None:
    once = TtlTrial(1, S, None, None, retried=False)
    step = TtlStep(1, once, trial(1, A))

    assert not decided([step])


def test_the_routers_are_the_last_that_answered_before_the_hop_and_the_one_at_it() -> None:
    location = judge(walk_of("e e s", "e e e"))

    assert location.hop_address == "192.0.2.10"  # the control's time-exceeded at TTL 3
    assert location.previous_address == "192.0.2.6"
    assert location.server_hop is None


def test_the_server_hop_is_where_the_control_got_an_answer() -> None:
    assert judge(walk_of("e e r", "e e a")).server_hop == 3


def test_time_exceeded_quotes_the_source_port_of_the_expired_segment() -> None:
    from scapy.layers.inet import ICMP, IP, TCP

    expired = IP(src="198.51.100.2", dst="203.0.113.20", ttl=1) / TCP(sport=40123, dport=443)
    reply = IP(src="192.0.2.2", dst="198.51.100.2") / ICMP(type=11, code=0) / bytes(expired)[:28]
    unreachable = IP(src="192.0.2.2") / ICMP(type=3, code=1) / bytes(expired)[:28]
    udp = IP(src="192.0.2.2") / ICMP(type=11) / bytes(IP(proto=17) / b"\x9c\xbb\x01\xbb")

    assert time_exceeded_source_port(bytes(reply)) == 40123
    assert time_exceeded_source_port(bytes(unreachable)) is None
    assert time_exceeded_source_port(bytes(udp)) is None
    assert time_exceeded_source_port(bytes(reply)[:30]) is None
    assert time_exceeded_source_port(b"") is None


def test_the_document_holds_each_finding_with_every_trial_and_the_raw_socket_note() -> None:
    located = [judge(walk_of("e s s", "e s a", routers=False)), judge(walk_of("e a", "e a"))]

    document = json.loads(view.document(located))

    first, second = document["locate"]
    assert (first["finding"], first["hop"], first["earliest_hop"]) == ("drop", 3, 2)
    assert first["ttls"] == [1, 2, 3]
    assert [s["name"]["outcome"] for s in first["steps"]] == ["expired", "silent", "silent"]
    assert first["sentence"].startswith("drops the name's ClientHello at hop 2-3")
    assert second["finding"] == "nothing" and second["server_hop"] == 2
    assert document["hop_addresses"] is False
    assert "CAP_NET_RAW" in document["note"]


def test_the_terminal_shows_the_table_the_legend_and_one_sentence_per_name() -> None:
    console = Console(record=True, width=120)

    view.render([judge(walk_of("e e r", "e e a"))], console)

    text = console.export_text()
    assert "www.tiktok.com" in text and "e e R" in text and "e e a" in text
    assert "resets the name's connections at hop 3 (after 192.0.2.6)" in text
    assert "By TTL from 1" in text
    assert "CAP_NET_RAW" not in text


def session(ttl: int, name_kbit: float | None, control_kbit: float | None) -> SessionStep:
    def trial(kbit: float | None) -> SessionTrial:
        rate = None if kbit is None else kbit * 1000 / 8
        return SessionTrial(ttl, rate, 0 if rate is None else int(rate * 6), None)

    return SessionStep(ttl, trial(name_kbit), trial(control_kbit))


def with_sessions(*steps: SessionStep) -> TtlWalk:
    walk = walk_of("e e e a", "e e e a")
    walk.sessions, walk.session_server = list(steps), "203.0.113.40:443"
    return walk


def test_a_throttle_is_the_first_ttl_from_which_on_every_session_the_name_triggered_is_slow() -> (
    None
):
    path = walk_of("e e e a", "e e e a")
    policed = with_sessions(
        session(1, 900_000, 950_000), session(2, 150, 940_000), session(3, 140, 900_000)
    )
    unlucky = with_sessions(
        session(1, 90_000, 950_000), session(2, 900_000, 940_000), session(3, 910_000, 900_000)
    )
    frozen = with_sessions(
        session(1, 900_000, 950_000), session(2, None, 900_000), session(3, None, 910_000)
    )

    located = judge(policed, path)
    assert (located.finding, located.hop) == (LocateFinding.THROTTLE, 2)
    assert (located.hop_address, located.previous_address) == ("192.0.2.6", "192.0.2.2")
    assert judge(unlucky, path).finding == LocateFinding.NOTHING
    assert (judge(frozen, path).finding, judge(frozen, path).hop) == (LocateFinding.THROTTLE, 2)
    assert "from hop 2 (192.0.2.6) on: 150 kbit/s" in sentence(located)
    assert "were not held 10x below" in sentence(judge(unlucky, path))


def test_a_session_walk_stops_after_two_slowed_ttls_in_a_row() -> None:
    steps = [
        session(1, 150, 9000),
        session(2, 9000, 9000),
        session(3, 150, 9000),
        session(4, 140, 9000),
    ]

    assert [sessions_decided(steps[:n]) for n in range(1, 5)] == [False, False, False, True]


def test_slowed_means_ten_times_slower_or_failed_where_the_control_did_not() -> None:
    assert slowed(session(1, 99, 1000).name, session(1, 99, 1000).control)
    assert not slowed(session(1, 101, 1000).name, session(1, 101, 1000).control)
    assert slowed(session(1, None, 1000).name, session(1, None, 1000).control)
    assert not slowed(session(1, None, None).name, session(1, None, None).control)


def test_the_syn_ack_gives_the_next_sequence_number_and_the_acknowledgement() -> None:
    from scapy.layers.inet import IP, TCP

    syn_ack = bytes(
        IP(src="203.0.113.40", dst="198.51.100.2")
        / TCP(sport=443, dport=40123, flags="SA", seq=2**32 - 1, ack=1000)
    )
    data = bytes(IP(src="203.0.113.40") / TCP(sport=443, dport=40123, flags="A", seq=5, ack=1000))

    assert syn_ack_numbers(syn_ack, "203.0.113.40", 443, 40123) == (1000, 0)  # wraps
    assert syn_ack_numbers(syn_ack, "203.0.113.40", 443, 40124) is None
    assert syn_ack_numbers(syn_ack, "203.0.113.41", 443, 40123) is None
    assert syn_ack_numbers(data, "203.0.113.40", 443, 40123) is None


def test_the_trigger_segment_carries_the_ttl_the_numbers_and_the_client_hello() -> None:
    from scapy.layers.inet import IP, TCP

    packet = IP(segment("198.51.100.2", "203.0.113.40", 40123, 443, 3, 1000, 77, b"\x16hello"))

    assert (packet.ttl, packet[TCP].seq, packet[TCP].ack, packet[TCP].flags) == (3, 1000, 77, "PA")
    assert bytes(packet[TCP].payload) == b"\x16hello"
    checked = IP(bytes(packet))
    del checked.chksum, checked[TCP].chksum
    assert IP(bytes(checked)).chksum == packet.chksum  # the checksums were computed


def run_locate(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "probe", "locate", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def loopback_targets(tmp_path: Path) -> Path:
    """A target on a loopback port where nothing listens: no connection to walk on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free now, and nothing will listen on it
    path = tmp_path / "targets.yaml"
    path.write_text(
        "groups:\n  t: {role: target, targets: [{name: closed, url: 'https://127.0.0.1:"
        f"{port}/'}}]}}\n  c: {{role: control, targets: [{{name: c, url: 'https://c.test/'}}]}}\n"
    )
    return path


def test_locate_says_when_an_archive_has_no_round_and_walks_every_target(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()

    done = run_locate(
        "--targets", str(loopback_targets(tmp_path)), "--archive", str(archive), "--json"
    )

    assert done.returncode == 0, done.stderr
    assert "holds no round: locating every target" in done.stderr
    (entry,) = json.loads(done.stdout)["locate"]
    assert (entry["name"], entry["finding"], entry["hop"]) == ("127.0.0.1", "unreachable", None)
    assert entry["ttls"] == [1] and entry["sessions"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "no-port"], "--server: 'no-port' is not HOST:PORT."),
        (["--max-hops", "0"], "Invalid value for '--max-hops'"),
        (["--targets", "/nonexistent/targets.yaml"], "/nonexistent/targets.yaml"),
        (["--archive", "/nonexistent"], "Invalid value for '--archive'"),
    ],
)
def test_locate_refuses_bad_input_in_one_sentence(args: list[str], message: str) -> None:
    done = run_locate(*args)

    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
