"""The engine inside the lab: it measures what the emulated ISP does.

These tests build real network namespaces and impair real traffic with
iptables and tc, so they need root; they skip elsewhere with the reason, and
fail in CI, which must run them.
"""

import datetime
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from probe.lab import topology
from probe.lab.control import Lab, fresh_lab
from probe.lab.topology import Names
from probe.lab.truth import (
    EXPECTED,
    EXPECTED_QUIC,
    OWN_TESTS,
    is_right,
    labels_over,
)
from probe.records import Transport
from probe.schema import decode_round
from tests.documents import tcp_entries
from tests.lab_support import (
    TEST_LAB,
    apply,
    kbit,
    lab_check,
    lab_document,
    only_targets,
    require_lab,
)

pytestmark = pytest.mark.lab

TWITTER_POLICED = ["pbs-twimg-com", "abs-twimg-com", "twitter-com"]  # x.com holds no pattern
CONTROLS = ["mirror-yandex-ru", "deb-debian-org", "speed-cloudflare-com"]


def without_swap(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Targets and controls only: the SNI swap's downloads run in a later wave."""
    return {name: e for name, e in entries.items() if e["role"] != "sni_swap"}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    require_lab()
    with fresh_lab(Names(TEST_LAB)) as the_lab:
        yield the_lab


@pytest.fixture
def clean(lab: Lab) -> Lab:
    apply(lab, "clean")
    return lab


def test_clean_lab_every_target_downloads(clean: Lab) -> None:
    entries = lab_check(clean, "--timeout", "10")

    measured = [e for e in entries.values() if e["role"] != "sni_swap"]
    assert len(measured) == sum(len(s.hosts) for s in topology.SERVERS)
    for entry in entries.values():
        name = entry["name"]
        assert entry["failure"] is None, name
        assert entry["transfer"]["stop_reason"] == "max_bytes", name
        # Both resolvers agree, and the ISP resolver is the client's system one.
        answers = {r["resolver"]: r["answers"] for r in entry["dns"]}
        assert answers["system"] == answers["public"], name


@pytest.mark.parametrize("rate_kbit", [150, 1_000, 10_000, 100_000])
def test_shaped_rate_is_measured_within_10_percent(
    clean: Lab, tmp_path: Path, rate_kbit: int
) -> None:
    apply(clean, f"shape:rate={rate_kbit}kbit,server=yandex")
    targets = only_targets(clean, ["mirror-yandex-ru"], tmp_path)
    config = yaml.safe_load(targets.read_text())
    settings = config.setdefault("settings", {})
    settings["transports"] = ["tcp"]  # the QUIC repeat measures the same link again
    # At 150 kbit/s the body arrives one 16 KB TLS record every ~0.9 s: 8 s hold
    # ~7 records, and one more or less in the steady part moves the figure by
    # 10% or more (a CI run read 171; bench/lab_fidelity.py --repeat); 16 s
    # hold twice as many, so the slow rate is measured to the time-out, not to
    # the plateau (which a verdict needs, not this test's 10%).
    seconds = "16" if rate_kbit < 1_000 else "8"
    if rate_kbit < 1_000:
        settings["stop_at_plateau"] = False
    targets.write_text(yaml.safe_dump(config))

    def measured() -> tuple[float, float]:
        """(the engine's rate, the kernel's count of the same steady part), in kbit/s."""
        entry = lab_check(clean, "--timeout", seconds, "--max-bytes", str(10**9), targets=targets)
        download = entry["mirror-yandex-ru"]
        assert download["failure"] is None
        return kbit(download), kernel_kbit(download)

    engine, kernel = measured()
    # The engine must always agree with what its own socket received.
    assert engine == pytest.approx(kernel, rel=0.05)
    if kernel < 0.9 * rate_kbit:
        # The link itself carried less, by the kernel's count (a CI run: 69 of 100
        # Mbit/s, where 15 runs here read 95): the machine was busy, and the
        # engine measured that truly. Once more, for the configured rate.
        engine, kernel = measured()
        assert engine == pytest.approx(kernel, rel=0.05)
    assert engine == pytest.approx(rate_kbit, rel=0.10)


def kernel_kbit(entry: dict[str, Any]) -> float:
    """The rate TCP_INFO's received-bytes count shows over the download's second half."""
    samples = [s for s in entry["transfer"]["tcp_info"] if s["bytes_received"] is not None]
    middle = samples[len(samples) // 2]
    last = samples[-1]
    received = last["bytes_received"] - middle["bytes_received"]
    return float(received) * 8 / 1000 / float(last["t"] - middle["t"])


def test_sni_policing_at_150_kbits_shows_the_rate_and_the_loss(clean: Lab) -> None:
    apply(clean, "sni-police:rate=150kbit")

    entries = lab_check(clean, "--timeout", "12", "--group", "twitter", "--group", "control")

    for name in TWITTER_POLICED:
        entry = entries[name]
        assert entry["failure"] is None, name
        assert kbit(entry) == pytest.approx(150, rel=0.20), name
        # Policing drops: the client receives segments out of order (the holes the
        # server later fills). This is what tells policing from shaping's queue.
        last = entry["transfer"]["tcp_info"][-1]
        assert last["reordered_received"] > 0, name
    # The same ISP, the same moment: names without a pattern are not slowed.
    for name in ["x-com", *CONTROLS]:
        assert kbit(entries[name]) > 10 * 150, name


@pytest.mark.parametrize(
    ("composition", "expected"),
    [
        ("sni-reset", {"tiktok-com": "tls_reset"}),
        ("blackhole", {"tiktok-com": "tcp_timeout"}),
        ("stall", {"tiktok-com": "stall"}),
        (
            "lying-resolver",
            {name: "tcp_refused" for name in ["pbs-twimg-com", "x-com", "tiktok-com"]},
        ),
    ],
)
def test_failure_scenarios_hit_the_affected_targets_only(
    clean: Lab, composition: str, expected: dict[str, str]
) -> None:
    apply(clean, composition)

    entries = lab_check(clean, "--timeout", "10")

    for name, entry in without_swap(entries).items():
        if composition == "lying-resolver" and entry["group"] != "control":
            expected.setdefault(name, "tcp_refused")
        assert entry["failure"] == expected.get(name), name


def test_lying_resolver_shows_in_the_dns_records(clean: Lab) -> None:
    apply(clean, "lying-resolver")

    entries = lab_check(clean, "--timeout", "5", "--group", "twitter", "--group", "control")

    image = {r["resolver"]: r["answers"] for r in entries["pbs-twimg-com"]["dns"]}
    assert image == {"system": [topology.SINKHOLE], "public": [topology.server("twimg").address]}
    assert entries["pbs-twimg-com"]["transfer"]["address"] == topology.SINKHOLE
    control = {r["resolver"]: r["answers"] for r in entries["deb-debian-org"]["dns"]}
    assert control["system"] == control["public"]


@pytest.mark.parametrize("composition", ["loss:loss=0.02", "congested:rate=4mbit"])
def test_slow_or_lossy_network_fails_nothing(clean: Lab, composition: str) -> None:
    apply(clean, composition)

    entries = without_swap(lab_check(clean, "--timeout", "8"))

    assert {name: e["failure"] for name, e in entries.items()} == dict.fromkeys(entries)
    if composition.startswith("congested"):
        # Everyone shares the congested link: together no faster than it. (Not the sum of
        # each one's goodput, which leaves out each one's own start and can pass the
        # link's rate: a CI run summed 5069 kbit/s.)
        assert aggregate_kbit(entries.values()) <= 4_000 * 1.10


def aggregate_kbit(entries: Iterable[dict[str, Any]]) -> float:
    """The downloads' bytes together over the wall-clock span from the first one's first
    byte to the last one's last, in kbit/s."""
    spans, total = [], 0
    for entry in entries:
        samples = entry["transfer"]["samples"]
        origin = datetime.datetime.fromisoformat(entry["started_at"]).timestamp()
        spans.append((origin + samples[0]["t"], origin + samples[-1]["t"]))
        total += samples[-1]["bytes"] - samples[0]["bytes"]
    span = max(end for _, end in spans) - min(start for start, _ in spans)
    return float(total) * 8 / 1000 / float(span)


def test_policing_composes_with_a_congested_link(clean: Lab) -> None:
    apply(clean, "sni-police:rate=150kbit+congested:rate=20mbit")

    entries = lab_check(clean, "--timeout", "10", "--group", "twitter", "--group", "control")

    assert kbit(entries["pbs-twimg-com"]) == pytest.approx(150, rel=0.20)
    assert all(1_000 < kbit(entries[name]) < 20_000 for name in CONTROLS)


# The slow link needs downloads of 10 s and more to show a plateau, which
# --timeout 10 cuts short: tests/test_detection_lab.py runs it with its own settings.
@pytest.mark.parametrize("composition", [c for c in EXPECTED if c not in OWN_TESTS])
def test_verdict_for_every_target_in_every_scenario(clean: Lab, composition: str) -> None:
    apply(clean, composition)

    document = decode_round(lab_document(clean, "--no-replay", "--timeout", "10"))

    # Every verdict over each transport: TCP scenarios leave QUIC alone, and the
    # other way round.
    for transport, expected in ((Transport.TCP, EXPECTED), (Transport.QUIC, EXPECTED_QUIC)):
        got = labels_over(document, transport)
        wrong = {
            n: label for n, label in got.items() if not is_right(composition, n, label, transport)
        }
        assert not wrong, f"over {transport} said {got}, expected {expected[composition]}"


def test_the_ech_check_sees_the_rule_of_november_2024(clean: Lab, tmp_path: Path) -> None:
    """The outer name cloudflare-ech.com with an ECH extension is dropped; either alone
    passes. On the clean network all three are answered."""
    light = only_targets(clean, CONTROLS, tmp_path)  # the lab's file asks for the check

    clean_round = lab_document(clean, "--timeout", "10", targets=light)
    apply(clean, "ech-block")
    blocked_round = lab_document(clean, "--timeout", "10", targets=light)

    assert clean_round["ech"]["verdict"] == "ok", clean_round["ech"]
    ech = blocked_round["ech"]
    assert ech["verdict"] == "blocked", ech
    answered = {o["variant"]: o["answered"] for o in ech["outcomes"]}
    assert answered == {"ech": False, "no_ech": True, "other_name": True}
    failed = next(o for o in ech["outcomes"] if o["variant"] == "ech")
    assert (failed["stage"], failed["failure"]) == ("tls", "tls_timeout")
    assert "the pair is blocked" in ech["reason"]


def test_the_taint_check_sees_an_address_slowed_for_any_name_after_a_platforms(
    clean: Lab,
) -> None:
    """Türkiye 2022: after the platform names went to the swap's server, new connections
    to it are policed whatever their name; the swap itself, opened before, is not."""
    apply(clean, "taint")

    document = lab_document(clean, "--no-replay", "--timeout", "10")

    taint = document["taint_check"]
    assert taint["state"] == "slowed" and taint["ratio"] > 10, taint
    assert 100 < taint["goodput_bytes_per_second"] * 8 / 1000 < 200  # the 150 kbit/s policer
    entries = {e["name"]: e for e in tcp_entries(document)}
    banner = entries["pbs-twimg-com"]
    assert banner["verdict"]["verdict"] == "ok"  # its own server is not tainted
    assert banner["evidence"]["taint"]["state"] == "slowed"
    assert "the address is tainted, whatever the name" in banner["verdict"]["reason"]
    assert "taint" not in (entries["deb-debian-org"].get("evidence") or {})


def test_the_quic_sni_filter_blocks_the_triple_for_a_while_after_a_match(
    clean: Lab, tmp_path: Path
) -> None:
    """China 2024: after one matching Initial, the client, server and port stay blocked."""
    apply(clean, "quic-sni:residual=180")
    (tmp_path / "first").mkdir()
    (tmp_path / "then").mkdir()
    offending = only_targets(clean, ["twitter-com", *CONTROLS], tmp_path / "first")
    innocent = only_targets(clean, ["x-com", *CONTROLS], tmp_path / "then")

    first = lab_document(clean, "--timeout", "10", targets=offending)
    then = decode_round(lab_document(clean, "--timeout", "10", targets=innocent))

    assert labels_over(decode_round(first), Transport.QUIC)["twitter-com"] == "blocked/quic"
    # x.com holds no pattern, but shares twitter.com's server: blocked without its SNI.
    assert labels_over(then, Transport.QUIC)["x-com"] == "blocked/quic"
    assert labels_over(then, Transport.TCP)["x-com"] == "ok"


def test_sni_swap_shows_the_name_is_the_trigger_and_the_matching_is_loose(clean: Lab) -> None:
    apply(clean, "sni-police")
    document = lab_document(clean, "--no-replay", "--group", "control")

    swap = {sni: outcome["state"] for sni, outcome in document["sni_swap"].items()}
    canary = next(sni for sni in swap if sni.endswith(".twimg.com") and sni != "pbs.twimg.com")
    assert swap == {
        "pbs.twimg.com": "slowed",
        "twitter.com": "slowed",
        "x.com": "same",
        "www.tiktok.com": "same",
        canary: "slowed",  # any subdomain of twimg.com, as in 2021
        "microsoft.com": "slowed",  # the substring t.co, as in 2021
    }
    # Every swap download went to the same server; only the SNI differed.
    swap_entries = [e for e in document["targets"] if e["role"] == "sni_swap"]
    assert len({e["transfer"]["address"] for e in swap_entries}) == 1
    assert {e["transfer"]["sni"] for e in swap_entries} == {*swap, "speed.cloudflare.com"}


def replay_states(document: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    return {
        (o["direction"], o["variant"], o["sni"]): o["state"] for o in document["replay"]["outcomes"]
    }


def test_replay_shows_the_name_triggers_policing_both_ways_and_split_or_padded_evade(
    clean: Lab,
) -> None:
    """The 2021 findings, against the lab's own `throttle-probe serve`."""
    apply(clean, "sni-police")
    document = lab_document(clean, "--group", "control")

    states = replay_states(document)
    for direction in ("download", "upload"):
        assert states[(direction, "plain", "pbs.twimg.com")] == "slowed"
        assert states[(direction, "plain", "example.org")] == "same"  # the control name
        assert states[(direction, "scrambled", "pbs.twimg.com")] == "baseline"
        assert states[(direction, "split", "pbs.twimg.com")] == "same"  # no reassembly
        assert states[(direction, "padded", "pbs.twimg.com")] == "same"
    slowed = [o for o in document["replay"]["outcomes"] if o["state"] == "slowed"]
    for outcome in slowed:
        assert 100 < outcome["goodput_bytes_per_second"] * 8 / 1000 < 180  # kbit/s
    assert all("the name triggers it" in line for line in document["replay"]["findings"])
    # Policed sessions stop early instead of spending the whole megabyte: at the
    # plateau as a rule, at the time-out when the rate settles late.
    policed = [
        r for r in document["replays"] if (r["sni"], r["variant"]) == ("pbs.twimg.com", "plain")
    ]
    assert {r["stop_reason"] for r in policed} <= {"plateau", "deadline"}
    assert all(r["bytes"] <= 512 * 1024 for r in policed)  # the promised data cost


def test_replay_on_a_clean_network_finds_no_difference(clean: Lab) -> None:
    document = lab_document(clean, "--group", "control")

    states = set(replay_states(document).values())
    assert "slowed" not in states and "blocked" not in states
    assert all("no difference" in line for line in document["replay"]["findings"])
