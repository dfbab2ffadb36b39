"""QUIC beside TCP in a round: offers learnt from Alt-Svc, verdicts per transport, the outputs.

Real servers on loopback: TCP origins that offer HTTP/3 (or a dead UDP port) in
their Alt-Svc, the lab's HTTP/3 origin, and the probe as a user runs it.
"""

import asyncio
import contextlib
import datetime
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from probe.analysis.history import TargetHistory
from probe.analysis.round_judgement import judge_all
from probe.config import Identity, parse_config
from probe.lab.dnsserver import LabDNSServer
from probe.lab.origin import OriginServer
from probe.measure.http3_offers import DEFAULT_MAX_AGE, Http3Offers, parse_alt_svc
from probe.measure.round import measure_round
from probe.records import (
    Failure,
    HttpsLookup,
    RoundResult,
    ServiceBinding,
    Stage,
    Transport,
    VerdictKind,
)
from probe.restore import restore_history
from probe.runner import Runner, Schedule
from probe.schema import (
    ROUND_FORMAT,
    RoundDocument,
    decode_round,
    encode,
    judged_entries,
    round_document,
)
from probe.sinks.archive import ArchiveSink
from probe.sinks.metrics import MetricsSink
from tests.conftest import Lab


@contextlib.contextmanager
def offering(lab: Lab, udp_port: int) -> Iterator[OriginServer]:
    """A TCP origin whose every answer offers HTTP/3 on ``udp_port``."""
    with OriginServer(lab.pki.server_context(), alt_svc=f'h3=":{udp_port}"; ma=60') as origin:
        yield origin


@pytest.fixture
def dead_udp_port() -> Iterator[int]:
    """A UDP port that swallows every datagram: QUIC Initials dropped on the path."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        yield sink.getsockname()[1]


def url(origin: OriginServer, host: str, path: str) -> str:
    return f"https://{host}:{origin.port}{path}"


def config_text(lab: Lab, groups: dict[str, list[tuple[str, str]]], extra: str = "") -> str:
    # Short time-outs: a dropped Initial is given up on after connect + tls.
    text = lab.config_text(groups, settings="repeat_seconds: 0\nmax_bytes: 3000000\n" + extra)
    return text.replace("connect: 2, tls: 2", "connect: 1, tls: 1")


def measure(text: str, offers: Http3Offers | None = None) -> RoundResult:
    config = parse_config(text, "targets.yaml")
    return asyncio.run(measure_round(config, offers=offers))


def test_alt_svc_offers_are_read_as_a_browser_reads_them() -> None:
    assert parse_alt_svc('h3=":443"; ma=86400') == parse_alt_svc('h3=":443";ma=86400')
    offer = parse_alt_svc('h3-29=":443", h3=":8443"; ma=600; persist=1')
    assert offer is not None and (offer.port, offer.max_age) == (8443, 600)
    assert parse_alt_svc('h3=":443"') is not None
    assert parse_alt_svc('h3=":443"').max_age == DEFAULT_MAX_AGE  # type: ignore[union-attr]
    # Another host is another server; h2 is no HTTP/3; "clear" withdraws.
    for header in ['h3="cdn.example:443"', 'h2=":443"', "clear", "", None, 'h3=":0"']:
        assert parse_alt_svc(header) is None, header


def test_an_offer_is_remembered_for_its_max_age_and_clear_withdraws_it() -> None:
    now = [1000.0]
    offers = Http3Offers(clock=lambda: now[0])

    offers.learn("x.com", 'h3=":443"; ma=60')
    offers.learn("y.com", None)
    assert (offers.port("x.com"), offers.port("y.com")) == (443, None)
    offers.learn("x.com", None)  # an answer without Alt-Svc: the offer still holds
    now[0] += 59
    assert offers.port("x.com") == 443
    now[0] += 2
    assert offers.port("x.com") is None
    offers.learn("x.com", 'h3=":443"')
    offers.learn("x.com", "clear")
    assert offers.port("x.com") is None


def test_every_target_and_control_is_measured_and_judged_over_both_transports(lab: Lab) -> None:
    with offering(lab, lab.h3.port) as origin:
        text = config_text(
            lab,
            {
                "twitter": [("tw", url(origin, "pbs.twimg.test", "/bytes/3000000"))],
                "control": [("ctl", url(origin, "control.test", "/bytes/3000000"))],
            },
        )
        result = measure(text)
    judgement = judge_all(result)

    assert [(e.name, e.transport) for e in result.targets] == [
        ("tw", Transport.TCP),
        ("ctl", Transport.TCP),
    ]
    assert [(e.name, e.transport) for e in result.quic] == [
        ("tw", Transport.QUIC),
        ("ctl", Transport.QUIC),
    ]
    for entry in result.quic:
        transfer = entry.transfer
        assert entry.failure is None and transfer is not None
        assert transfer.http_version == "HTTP/3" and transfer.port == lab.h3.port
        assert transfer.bytes == 3_000_000
        assert entry.dns == next(t.dns for t in result.targets if t.name == entry.name)
    assert result.quic_not_offered == []
    assert judgement.verdicts["tw"].verdict == VerdictKind.OK
    assert judgement.quic["tw"].verdict == VerdictKind.OK
    assert judgement.quic_blocked is False
    # Both transports count in the data budget.
    assert result.bytes_transferred == 4 * 3_000_000


def test_a_server_that_never_offered_http3_is_not_offered_never_blocked(lab: Lab) -> None:
    text = config_text(
        lab,
        {
            "twitter": [("tw", lab.url("pbs.twimg.test", "/bytes/300000"))],
            "control": [("ctl", lab.url("control.test", "/bytes/300000"))],
        },
    )

    result = measure(text)
    judgement = judge_all(result)

    assert result.quic == [] and result.quic_not_offered == ["tw", "ctl"]
    assert judgement.quic == {} and judgement.quic_blocked is None


def test_an_offer_in_an_https_record_holds_for_its_ttl_and_yields_to_alt_svc() -> None:
    now = [0.0]
    offers = Http3Offers(clock=lambda: now[0])
    records = HttpsLookup("lab", "127.0.0.1:53", "x.com", 0.0, 0.01)
    records.bindings = [
        ServiceBinding(0, "cdn.example", ttl=300),  # an alias: another name
        ServiceBinding(2, "", alpn=["h2", "h3"], port=8443, ttl=300),
        ServiceBinding(1, "", alpn=["h2"], ttl=300),  # preferred, but no HTTP/3
    ]

    offers.learn_records("x.com", records, origin_port=443)
    assert offers.port("x.com") == 8443
    offers.learn("x.com", 'h3=":9443"; ma=60')  # the server's own answer wins
    offers.learn_records("x.com", records, origin_port=443)
    assert offers.port("x.com") == 9443
    # Another name, h2 only, or no record at all: no offer.
    other = HttpsLookup("lab", "127.0.0.1:53", "y.com", 0.0, 0.01, [ServiceBinding(1, "y.cdn")])
    offers.learn_records("y.com", other, origin_port=443)
    offers.learn_records("z.com", None, origin_port=443)
    assert offers.port("y.com") is None and offers.port("z.com") is None
    now[0] += 301
    assert offers.port("x.com") is None


def test_an_https_record_offers_http3_where_the_answer_does_not(lab: Lab) -> None:
    """No Alt-Svc: QUIC goes where the name's DNS offers h3, and nowhere else."""
    zone = {name: ["127.0.0.1"] for name in ("pbs.twimg.test", "control.test")}
    services = {
        "pbs.twimg.test": [f"1 . alpn=h3,h2 port={lab.h3.port}"],
        "control.test": ["1 . alpn=h2"],
    }
    with LabDNSServer(zone, services=services) as dns:
        text = config_text(
            lab,
            {
                "twitter": [("tw", lab.url("pbs.twimg.test", "/bytes/300000"))],
                "control": [("ctl", lab.url("control.test", "/bytes/300000"))],
            },
        ).replace(lab.dns.address, dns.address)
        result = measure(text)

    assert [(e.name, e.failure) for e in result.quic] == [("tw", None)]
    assert result.quic_not_offered == ["ctl"]
    tw_tcp, ctl_tcp = result.targets
    assert tw_tcp.https is not None and tw_tcp.https.failure is None
    (binding,) = tw_tcp.https.bindings
    assert (binding.priority, binding.alpn, binding.port) == (1, ["h3", "h2"], lab.h3.port)
    assert ctl_tcp.https is not None and ctl_tcp.https.bindings[0].alpn == ["h2"]
    assert result.quic[0].https == tw_tcp.https  # the QUIC entry shares its lookups
    # Written and read back with the round.
    document = RoundDocument(ROUND_FORMAT, "t", "s", "f", False, judged_entries(result.targets, {}))
    assert decode_round(encode(document)).result().targets[0].https == tw_tcp.https


def test_quic_failing_where_tcp_works_is_blocked_at_the_quic_stage(
    lab: Lab, dead_udp_port: int
) -> None:
    with offering(lab, dead_udp_port) as dropped, offering(lab, lab.h3.port) as passing:
        text = config_text(
            lab,
            {
                "twitter": [("tw", url(dropped, "pbs.twimg.test", "/bytes/3000000"))],
                "control": [("ctl", url(passing, "control.test", "/bytes/3000000"))],
            },
        )
        result = measure(text)
    judgement = judge_all(result)

    quic = judgement.quic["tw"]
    assert judgement.verdicts["tw"].verdict == VerdictKind.OK
    assert (quic.verdict, quic.stage) == (VerdictKind.BLOCKED, Stage.QUIC)
    assert quic.reason.startswith("quic_no_answer over QUIC while TCP to the same name worked")
    assert "the controls' QUIC worked" in quic.reason
    assert "over QUIC it is blocked/quic" in judgement.verdicts["tw"].reason
    assert quic.evidence.controls_passed_over_quic == ["ctl"]
    assert judgement.quic_blocked is False


def test_a_network_that_drops_all_quic_blocks_quic_it_is_not_degraded(
    lab: Lab, dead_udp_port: int
) -> None:
    """Russia from March 2022: QUIC Initials to foreign servers dropped, a domestic one passes."""
    with offering(lab, dead_udp_port) as foreign, offering(lab, lab.h3.port) as domestic:
        text = config_text(
            lab,
            {
                "twitter": [("tw", url(foreign, "pbs.twimg.test", "/bytes/1000000"))],
                "control": [
                    ("ctl-foreign", url(foreign, "control.test", "/bytes/1000000")),
                    ("ctl-foreign-2", url(foreign, "twitter.test", "/bytes/1000000")),
                    ("ctl-domestic", url(domestic, "tiktok.test", "/bytes/1000000")),
                ],
            },
        )
        result = measure(text)
    judgement = judge_all(result)

    quic = judgement.quic["tw"]
    assert (quic.verdict, quic.stage) == (VerdictKind.BLOCKED, Stage.QUIC)
    assert "2 of 3 controls failed over QUIC too (passed: ctl-domestic)" in quic.reason
    assert judgement.quic_blocked is True
    assert judgement.verdicts["tw"].verdict == VerdictKind.OK  # TCP: the network is up


def test_transports_narrow_per_target_and_an_offer_outlives_its_round(lab: Lab) -> None:
    offers = Http3Offers()
    with offering(lab, lab.h3.port) as origin:
        text = config_text(
            lab,
            {
                "twitter": [("tw", url(origin, "pbs.twimg.test", "/bytes/100000"))],
                "control": [("ctl", url(origin, "control.test", "/bytes/100000"))],
            },
        )
        narrowed = text.replace('/bytes/100000"}', '/bytes/100000", transports: [tcp]}', 1)
        tcp_only = measure(narrowed, offers)
        later = measure(text.replace(f":{origin.port}/", f":{lab.origin.port}/"), offers)

    assert [e.name for e in tcp_only.quic] == ["ctl"] and tcp_only.quic_not_offered == []
    # The lab's own origin offers nothing, but the offers learnt above still hold for
    # the same names: a browser keeps them for their max age.
    assert sorted(e.name for e in later.quic) == ["ctl", "tw"]
    assert all(e.failure is None for e in later.quic)


def run_check(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "probe", "check", "--targets", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_json_lists_each_target_once_per_transport(
    lab: Lab, tmp_path: Path, dead_udp_port: int
) -> None:
    path = tmp_path / "targets.yaml"
    with offering(lab, dead_udp_port) as dropped, offering(lab, lab.h3.port) as passing:
        path.write_text(
            config_text(
                lab,
                {
                    "twitter": [("tw", url(dropped, "pbs.twimg.test", "/bytes/1000000"))],
                    "control": [("ctl", url(passing, "control.test", "/bytes/1000000"))],
                },
            )
        )
        done = run_check(path, "--json")
        shown = run_check(path)

    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    assert [(e["name"], e["transport"]) for e in document["targets"]] == [
        ("tw", "tcp"),
        ("ctl", "tcp"),
        ("tw", "quic"),
        ("ctl", "quic"),
    ]
    tw_quic, tw_tcp = document["targets"][2], document["targets"][0]
    assert tw_quic["verdict"]["verdict"] == "blocked" and tw_quic["verdict"]["stage"] == "quic"
    assert tw_quic["failure"] == Failure.QUIC_NO_ANSWER
    assert tw_tcp["verdict"]["verdict"] == "ok"
    again = decode_round(document).result()
    assert len(again.targets) == 2 and len(again.quic) == 2
    # The document read back and judged again says the same.
    assert judge_all(again).quic["tw"].label == "blocked/quic"
    assert shown.returncode == 0, shown.stderr
    assert "Transfers over QUIC (HTTP/3)" in shown.stdout
    assert "tw quic" in shown.stdout and "blocked" in shown.stdout


def test_the_document_of_a_tcp_only_round_has_no_quic_entries(lab: Lab) -> None:
    text = config_text(
        lab,
        {
            "twitter": [("tw", lab.url("pbs.twimg.test", "/bytes/100000"))],
            "control": [("ctl", lab.url("control.test", "/bytes/100000"))],
        },
        extra="transports: [tcp]\n",
    )
    config = parse_config(text, "targets.yaml")
    result = asyncio.run(measure_round(config))

    document = round_document(result, config, "targets.yaml", judge_all(result))

    assert {e.transport for e in document.targets} == {Transport.TCP}
    assert document.quic_not_offered == []  # not asked for: nothing to offer


@pytest.mark.prometheus
def test_the_window_metrics_and_promtool_follow_each_transport(
    lab: Lab, dead_udp_port: int
) -> None:
    registry = CollectorRegistry()
    sink = MetricsSink(registry, Identity(id="quic-probe"))
    with offering(lab, dead_udp_port) as foreign, offering(lab, lab.h3.port) as domestic:
        text = config_text(
            lab,
            {
                "twitter": [("tw", url(foreign, "pbs.twimg.test", "/bytes/500000"))],
                "control": [
                    ("ctl-foreign", url(foreign, "control.test", "/bytes/500000")),
                    ("ctl-domestic", url(domestic, "tiktok.test", "/bytes/500000")),
                    ("ctl-foreign-2", url(foreign, "twitter.test", "/bytes/500000")),
                ],
            },
        )
        runner = Runner(
            parse_config(text, "t"), None, Schedule(rounds=2, interval=0, window=2), [sink]
        )
        asyncio.run(runner.run())
    exposed = generate_latest(registry).decode()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposed)
        for s in family.samples
    }

    last = runner.recent[-1]
    assert last.window_on(Transport.QUIC)["tw"].label == "blocked/quic"
    assert last.window_on(Transport.TCP)["tw"].label == "ok"
    for scope in ("round", "window"):
        labels = {"group": "twitter", "target": "tw", "scope": scope}
        quic = tuple(sorted({**labels, "transport": "quic", "stage": "quic"}.items()))
        assert found[("throttle_probe_blocked_stage", quic)] == 1
        tcp = tuple(sorted({**labels, "transport": "tcp", "verdict": "ok"}.items()))
        assert found[("throttle_probe_verdict", tcp)] == 1
    assert found[("throttle_probe_quic_blocked", ())] == 1
    domestic_rate = (("group", "control"), ("role", "control"), ("target", "ctl-domestic"))
    assert found[
        ("throttle_probe_goodput_bytes_per_second", (*domestic_rate, ("transport", "quic")))
    ]
    assert ("throttle_probe_controls_goodput_bytes_per_second", (("transport", "quic"),)) in found
    if shutil.which("promtool") is not None:
        checked = subprocess.run(
            ["promtool", "check", "metrics"], input=exposed, capture_output=True, text=True
        )
        assert checked.returncode == 0 and checked.stdout + checked.stderr == ""


def test_the_archive_report_and_restore_read_both_transports_back(
    lab: Lab, dead_udp_port: int, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    with offering(lab, dead_udp_port) as dropped, offering(lab, lab.h3.port) as passing:
        text = config_text(
            lab,
            {
                "twitter": [("tw", url(dropped, "pbs.twimg.test", "/bytes/300000"))],
                "control": [("ctl", url(passing, "control.test", "/bytes/300000"))],
            },
        )
        sink = ArchiveSink(archive, "targets.yaml", 1 << 30)
        schedule = Schedule(rounds=2, interval=0, window=2)
        asyncio.run(Runner(parse_config(text, "t"), None, schedule, [sink]).run())
    done = subprocess.run(
        [sys.executable, "-m", "probe", "report", str(archive), "--json", "--reanalyse"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    tcp_history, quic_history = TargetHistory(), TargetHistory()
    now = datetime.datetime.now(datetime.UTC)
    taken = restore_history(tcp_history, archive, now, quic_history)

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    found = {(e["target"], e["transport"]): (e["verdict"], e["detail"]) for e in report["episodes"]}
    assert found == {("tw", "tcp"): ("ok", None), ("tw", "quic"): ("blocked", "quic")}
    assert report["reanalysis"] == {"rounds": 2, "differences": []}  # both transports agree
    assert taken == 2
