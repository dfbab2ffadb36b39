"""The daemon in the lab, scraped by a real Prometheus over TLS with basic auth.

Both run in the lab's client namespace (the probe's vantage point); the
tests ask Prometheus with PromQL what it scraped while the emulated ISP
polices, resets, congests or loses packets. Needs root, and Debian's
prometheus package: skipped elsewhere with the reason, failing in CI.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import yaml

from probe.evidence import report_page
from probe.evidence.archive import read_entries
from probe.evidence.report import build_report
from probe.lab.control import Lab, fresh_lab
from probe.lab.pki import LabPKI
from probe.lab.topology import Names
from probe.lab.truth import EXPECTED
from probe.records import VerdictKind
from tests.grafana_support import DASHBOARDS, load, queries, substitute
from tests.lab_support import TEST_LAB, apply, require_lab
from tests.prometheus_support import Daemon, Prometheus, require_prometheus

PASSWORD = "a password for the lab's prometheus"
RULES = (
    Path(__file__).parent.parent / "deploy" / "prometheus" / "rules" / "throttle-probe.rules.yml"
)

pytestmark = pytest.mark.lab
FIRING = 'ALERTS{alertname="ThrottleProbeTargetThrottled",alertstate="firing"}'

PORT = 10130
PROBE = "lab-probe"
POLICED = sorted(name for name, label in EXPECTED["sni-police"].items() if label != "ok")
UNTOUCHED = sorted(name for name, label in EXPECTED["sni-police"].items() if label == "ok")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require_lab()
    require_prometheus()
    with fresh_lab(Names(TEST_LAB)) as the_lab:
        yield the_lab


@pytest.fixture(scope="module")
def files(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The daemon's targets file (the lab's, lighter) and a web config with TLS and a user."""
    directory = tmp_path_factory.mktemp("daemon-lab")
    config = yaml.safe_load(lab.targets_file.read_text())
    config.pop("replay")  # it adds a wave of sessions to every round
    # One name in the swap, no canaries: a light swap, and with it the taint check.
    config["sni_swap"].update(names=["pbs.twimg.com"], canaries=False)
    # 512 KiB: a policed download (150 kbit/s) reaches its plateau before the
    # byte limit, a congested round stays near 12 s, a clean one takes milliseconds.
    config["settings"]["max_bytes"] = 512 * 1024
    config["daemon"] = {"interval": 0, "jitter": 0, "window": 3, "daily_budget": "1TB"}
    config["identity"] = {"id": "lab-probe", "country": "RU"}
    targets = directory / "targets.yaml"
    targets.write_text(yaml.safe_dump(config))
    pki = LabPKI(directory / "pki", ["probe.test"])
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    web = directory / "web.yml"
    web.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": str(pki.cert_chain_file),
                    "key_file": str(pki.key_file),
                },
                "basic_auth_users": {"prometheus": hashed},
            }
        )
    )
    return {"targets": targets, "web": web, "ca": pki.ca_file}


def lab_rules(directory: Path) -> Path:
    """deploy/prometheus's rules as they are, but for how long an alert must hold.

    Lab rounds take seconds, not the default 15 minutes: the expressions and
    the window verdict behind them are the real ones, the ``for`` is 5 s.
    """
    text = RULES.read_text()
    assert "for: 30m" in text
    path = directory / "throttle-probe.rules.yml"
    path.write_text(text.replace("for: 30m", "for: 5s"))
    return path


class Measured:
    """A daemon and a Prometheus with the alert rules in the client namespace.

    Prometheus stores exemplars and labels the probe as the Compose and fleet
    configs do (``probe``), so that the Grafana panels' queries run as they are.
    """

    def __init__(self, lab: Lab, files: dict[str, Path], directory: Path) -> None:
        prefix = lab.client_command([])
        rules = lab_rules(directory)
        scrape = {
            "scheme": "https",
            "tls_config": {"ca_file": str(files["ca"]), "server_name": "probe.test"},
            "basic_auth": {"username": "prometheus", "password": PASSWORD},
            "static_configs": [{"targets": [f"127.0.0.1:{PORT}"], "labels": {"probe": PROBE}}],
        }
        flags = ["--enable-feature=exemplar-storage"]
        self.prometheus = Prometheus(directory / "prometheus", scrape, prefix, [rules], flags)
        args = ["--targets", str(files["targets"]), "--listen", f"127.0.0.1:{PORT}"]
        args += ["--web-config", str(files["web"])]
        self.archive = directory / "archive"  # what a failing test shows of the verdicts
        args += ["--archive", str(self.archive)]
        self.daemon = Daemon(args, directory / "daemon.log", prefix)

    def throttled(self) -> list[str]:
        """Every throttled verdict the daemon archived, a line each: round, scope, reason."""
        lines = []
        for path in sorted(self.archive.glob("rounds-*")):
            for entry in read_entries(path):
                for scope, verdicts in (
                    ("round", entry.verdicts()),
                    ("window", entry.window_over()),
                ):
                    lines += [
                        f"{entry.round_id} {scope} {name}: {verdict.reason}"
                        for name, verdict in verdicts.items()
                        if verdict.verdict == VerdictKind.THROTTLED
                    ]
        return lines

    def __enter__(self) -> Prometheus:
        self.daemon.__enter__()
        return self.prometheus.__enter__()

    def __exit__(self, *exc_info: object) -> None:
        self.prometheus.__exit__(*exc_info)
        self.daemon.__exit__(*exc_info)
        assert "Traceback" not in self.daemon.log(), self.daemon.log()


def rounds_done(prometheus: Prometheus, rounds: int, timeout: float) -> None:
    prometheus.wait_for(f"throttle_probe_rounds_total >= {rounds}", timeout)


def throttled_counts(prometheus: Prometheus, scope: str) -> dict[str, float]:
    """How many rounds gave each target the verdict throttled (absent: never)."""
    query = f'throttle_probe_verdicts_total{{verdict="throttled",scope="{scope}"}} > 0'
    return prometheus.values(query)


def test_sni_policing_shows_as_throttled_targets_at_the_policed_rate(
    lab: Lab, files: dict[str, Path], tmp_path: Path
) -> None:
    apply(lab, "sni-police:rate=150kbit")
    with Measured(lab, files, tmp_path) as prometheus:
        rounds_done(prometheus, 3, timeout=150)
        # The 2021 policer acts on TCP: its series over TCP (QUIC has its own, untouched).
        window = prometheus.values(
            'throttle_probe_verdict{scope="window",verdict="throttled",transport="tcp"} == 1'
        )
        rates = prometheus.values(
            'throttle_probe_throttled_rate_bytes_per_second{scope="window",mechanism="policing",'
            'transport="tcp"} * 8'
        )
        controls = prometheus.values(
            'throttle_probe_goodput_bytes_per_second{role="control",transport="tcp"} * 8'
        )
        ratios = prometheus.values('throttle_probe_goodput_ratio_to_controls{transport="tcp"}')
        up = prometheus.values("up", by="job")
        documented = {query: prometheus.query(query) for query in documented_queries()}
        alerts = prometheus.wait_for(FIRING, timeout=60)

    assert up == {"throttle-probe": 1.0}  # over TLS, with basic auth
    assert sorted(window) == POLICED
    # deploy/prometheus's throttling alert fires, for the policed names only.
    assert sorted(a["metric"]["target"] for a in alerts) == POLICED
    assert {a["metric"]["mechanism"] for a in alerts} == {"policing"}
    for name in POLICED:
        assert 100e3 < rates[name] < 200e3, rates
        assert ratios[name] < 0.1, ratios
    assert all(ratios[name] > 0.1 for name in UNTOUCHED), ratios
    # The controls well clear of the policer (10x its 200 kbit/s ceiling): on a loaded
    # two-core machine one 512 KiB control has read 6.7 Mbit/s, so no more is asked.
    assert min(controls.values()) > 10 * 200e3, controls
    # Every query of docs/metrics.md runs; those about throttling find the policed names.
    for query in (q for q in documented if "throttled" in q or "ratio" in q):
        if "== 0" not in query:  # "since when": empty while throttled all along
            assert {r["metric"]["target"] for r in documented[query]} >= set(POLICED), query


def documented_queries() -> list[str]:
    text = (Path(__file__).parent.parent / "docs" / "metrics.md").read_text()
    return re.findall(r"```promql\n(.+?)\n```", text, flags=re.DOTALL)


def test_every_dashboard_panel_shows_series_from_the_lab(
    lab: Lab, files: dict[str, Path], tmp_path: Path
) -> None:
    """Twitter policed and TikTok reset at once: every panel of every dashboard has data."""
    apply(lab, "sni-police:rate=150kbit+sni-reset")
    with Measured(lab, files, tmp_path) as prometheus:
        rounds_done(prometheus, 3, timeout=150)
        prometheus.wait_for('throttle_probe_verdict{scope="window",verdict="throttled"} == 1', 60)
        found = {
            (path.stem, title, target): bool(prometheus.query_range(expr, seconds=600))
            for path in DASHBOARDS
            for target in (POLICED[0], "tiktok-com")
            for title, expr in dashboard_queries(path, target)
        }
        variables = {
            name: prometheus.query(f"group by ({name}) ({source})")
            for name, source in [
                ("probe", "throttle_probe_info"),
                ("group", "throttle_probe_verdict"),
            ]
        }
        exemplars = prometheus.exemplars("throttle_probe_rounds_total", seconds=600)

    # Each panel finds series for at least one of the two targets of the drill-down.
    by_panel: dict[tuple[str, str], bool] = {}
    for (board, title, _), has_series in found.items():
        by_panel[(board, title)] = by_panel.get((board, title), False) or has_series
    assert [panel for panel, has_series in by_panel.items() if not has_series] == []
    assert len(by_panel) >= 20
    assert [r["metric"]["probe"] for r in variables["probe"]] == [PROBE]
    assert {r["metric"]["group"] for r in variables["group"]} >= {"twitter", "tiktok"}
    # The rounds carry their ids as exemplars, for the panel that shows them.
    ids = {e["labels"]["round_id"] for series in exemplars for e in series["exemplars"]}
    assert len(ids) >= 3 and all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids), ids


def dashboard_queries(path: Path, target: str) -> list[tuple[str, str]]:
    """Each panel's queries as Grafana sends them with "All" probes and groups, one target."""
    values = {"probe": ".*", "group": ".*", "transport": ".*", "target": target}
    return [(title, substitute(expr, values)) for title, expr in queries(load(path))]


def test_sni_reset_blocks_at_the_tls_stage(
    lab: Lab, files: dict[str, Path], tmp_path: Path
) -> None:
    apply(lab, "sni-reset")
    with Measured(lab, files, tmp_path) as prometheus:
        rounds_done(prometheus, 3, timeout=60)
        stages = prometheus.values('throttle_probe_blocked_stage{scope="window"} == 1')
        stage = prometheus.values('throttle_probe_blocked_stage{scope="window"} == 1', by="stage")
        failures = prometheus.values(
            'throttle_probe_failures_total{stage="tls",target="tiktok-com"}', by="failure"
        )

    assert list(stages) == ["tiktok-com"]
    assert list(stage) == ["tls"]
    assert failures.get("tls_reset", 0) >= 3


def test_the_daemon_locates_a_blocked_target_once_and_exports_its_hop_and_evasions(
    lab: Lab, files: dict[str, Path], tmp_path: Path
) -> None:
    """daemon.locate and daemon.evasions: the round after tiktok-com's window turned
    blocked carries its TTL walk and its evasion matrix; the lab's equipment sits at hop 1,
    and the report shows it once."""
    apply(lab, "sni-reset")
    config = yaml.safe_load(files["targets"].read_text())
    config["daemon"].update(locate=True, evasions=True)
    # The replay server, for the evasion matrix; its own test kept light.
    replay = yaml.safe_load(lab.targets_file.read_text())["replay"]
    config["replay"] = dict(
        replay, names=["www.tiktok.com"], evasion=False, directions=["download"]
    )
    locating = dict(files, targets=tmp_path / "targets.yaml")
    locating["targets"].write_text(yaml.safe_dump(config))
    measured = Measured(lab, locating, tmp_path)
    with measured as prometheus:
        hop = prometheus.wait_for("throttle_probe_locate_hop", timeout=120)
        restored = prometheus.values("throttle_probe_evasion_restored == 1", by="evasion")
        held = prometheus.values("throttle_probe_evasion_restored == 0", by="evasion")
        rounds_done(prometheus, 4, timeout=90)

    assert [(s["metric"]["target"], s["metric"]["finding"], s["value"][1]) for s in hop] == [
        ("tiktok-com", "reset", "1")
    ]
    report = build_report([measured.archive])
    assert [(at.outcome.target, at.outcome.finding, at.outcome.hop) for at in report.locations] == [
        ("tiktok-com", "reset", 1)
    ]
    carried = [entry for entry in report.entries if entry.locate]
    assert len(carried) == 1  # once a day: the later rounds locate nothing
    verdict = carried[0].verdicts()["tiktok-com"]
    assert "located: resets the name's connections at hop 1" in verdict.reason
    assert verdict.evidence.located is not None and verdict.evidence.located.hop == 1
    assert "Where the equipment acts" in report_page.render(report)
    # The lab resets every packet to port 443 that holds "tiktok.com", whole.
    assert set(restored) == {"split_in_name", "upper_case", "two_records"}
    assert set(held) == {
        "split_in_header",
        "split_before_name",
        "padded",
        "trailing_dot",
        "record_first",
    }  # and the fake: no router between the censor and the replay server to stop it
    assert report.locations[0].getting_past == "split_in_name, two_records, upper_case"


def test_the_daemon_retests_a_tainted_address_to_say_for_how_long(
    lab: Lab, files: dict[str, Path], tmp_path: Path
) -> None:
    """The lab taints the swap's server for 20 s after the platform's ClientHello: the
    daemon's re-test 1 s after the round finds it slowed still, the one at 40 s clean,
    and the next round carries both (its metric says 1 s, at least)."""
    apply(lab, "taint:seconds=20")
    config = yaml.safe_load(files["targets"].read_text())
    config["daemon"].update(interval=70, taint_retests=[1, 40])
    retesting = dict(files, targets=tmp_path / "targets.yaml")
    retesting["targets"].write_text(yaml.safe_dump(config))
    measured = Measured(lab, retesting, tmp_path)
    with measured as prometheus:
        tainted = prometheus.wait_for("throttle_probe_address_tainted_for_seconds", 180)
        log = measured.daemon.log()

    assert [float(sample["value"][1]) for sample in tainted] == [1.0]
    said = re.findall(r"round 1's tainted address again, (\d+) s after: .* \((\w+)\)", log)
    assert said == [("1", "slowed"), ("40", "same")], log


@pytest.mark.parametrize(
    ("composition", "rounds", "timeout"),
    [("clean", 10, 60), ("loss", 10, 120), ("congested", 3, 150)],
)
def test_no_throttling_on_a_clean_congested_or_lossy_network(
    lab: Lab, files: dict[str, Path], tmp_path: Path, composition: str, rounds: int, timeout: float
) -> None:
    apply(lab, composition)
    measured = Measured(lab, files, tmp_path)
    with measured as prometheus:
        rounds_done(prometheus, rounds, timeout)
        by_round = throttled_counts(prometheus, "round")
        by_window = throttled_counts(prometheus, "window")
        verdicts = prometheus.values(
            'sum by (verdict) (throttle_probe_verdicts_total{scope="round"})', by="verdict"
        )
        # Ever pending or firing during the run, not only now.
        alerts = prometheus.query(
            'count_over_time(ALERTS{alertname="ThrottleProbeTargetThrottled"}[10m])'
        )
        rule = prometheus.rule("ThrottleProbeTargetThrottled")

    assert by_round == {} and by_window == {}, (by_round, by_window, measured.throttled())
    # The rule was evaluated, without error, and never even pended.
    assert rule["health"] == "ok" and rule["lastEvaluation"] > "2000", rule
    assert alerts == []
    judged = sum(verdicts.values())
    assert judged >= rounds * len(EXPECTED[composition])
    expected = set(EXPECTED[composition].values())  # ok, or degraded when congested
    assert verdicts.get(expected.pop(), 0) >= judged / 2, verdicts
