"""deploy/fleet: probes feeding one central store, with real Prometheus processes on loopback.

Two daemons, each with its identity, each scraped by a Prometheus in agent
mode (deploy/fleet/agent.yml as shipped, but for addresses and file paths)
that remote-writes over TLS with basic auth to a central Prometheus
(deploy/fleet/central.yml). The central one must hold both probes' series
with their identities as labels, evaluate the rules per probe, and answer
the overview dashboard's queries for one probe of the fleet.
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from probe.lab.pki import LabPKI
from tests.conftest import Lab
from tests.grafana_support import DASHBOARDS, load, queries, substitute
from tests.prometheus_support import Daemon, Prometheus, free_port, require_prometheus
from tests.test_daemon import targets_yaml

pytestmark = pytest.mark.prometheus

FLEET = Path(__file__).resolve().parent.parent / "deploy" / "fleet"
PROBES = {"msk-1": ("12389", "RU"), "spb-2": ("8359", "RU")}  # as identity: has them
PASSWORD = "a password for the agents"
# Loopback targets cannot be throttled: the one panel that stays empty.
# Panels with nothing to show on the fleet's loopback probes: no throttling, no
# server offering HTTP/3 (so no QUIC handshake to time), and a targets file without
# the ECH check or the SNI swap (so no taint check).
EMPTY_WITHOUT_THROTTLING = {
    "Throttled rate, by mechanism",
    "QUIC handshake",
    "ECH check (outer name cloudflare-ech.com with an ECH extension)",
    "Tainted address (the SNI swap's server, after the platform names)",
}


def shipped(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((FLEET / name).read_text())
    return loaded


def central_config() -> dict[str, Any]:
    config = shipped("central.yml")
    config["rule_files"] = [str((FLEET / rule).resolve()) for rule in config["rule_files"]]
    config["global"]["evaluation_interval"] = "1s"
    return config


def agent_config(probe_port: int, central: Prometheus, pki: LabPKI, secret: Path) -> dict[str, Any]:
    """agent.yml with this test's addresses and files; every other setting as shipped."""
    config = shipped("agent.yml")
    config["global"]["scrape_interval"] = "1s"
    config["scrape_configs"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{probe_port}"]}]
    (write,) = config["remote_write"]
    write["url"] = f"https://127.0.0.1:{central.port}/api/v1/write"
    write["basic_auth"] = {"username": "agent", "password_file": str(secret)}
    write["tls_config"]["ca_file"] = str(pki.ca_file)
    # Lab rounds come every second: send at once rather than in 5 s batches.
    write["queue_config"] = {"batch_send_deadline": "1s"}
    return config


@pytest.fixture
def fleet(lab: Lab, tmp_path: Path) -> Iterator[Prometheus]:
    """The central Prometheus, fed by two probes through their agents."""
    require_prometheus()
    pki = LabPKI(tmp_path / "pki", ["127.0.0.1"])
    secret = tmp_path / "central.pass"
    secret.write_text(PASSWORD + "\n")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    web = tmp_path / "web.yml"
    tls = {"cert_file": str(pki.cert_chain_file), "key_file": str(pki.key_file)}
    users = {"agent": hashed}
    web.write_text(yaml.safe_dump({"tls_server_config": tls, "basic_auth_users": users}))
    central = Prometheus(
        tmp_path / "central",
        {},
        flags=[
            "--web.enable-remote-write-receiver",
            "--enable-feature=exemplar-storage",
            f"--web.config.file={web}",
        ],
        config=central_config(),
        scheme="https",
        curl_args=["--cacert", str(pki.ca_file), "--user", f"agent:{PASSWORD}"],
    )
    with contextlib.ExitStack() as stack:
        stack.enter_context(central)
        for probe_id, (asn, country) in PROBES.items():
            port = stack.enter_context(probe(lab, tmp_path / probe_id, probe_id, asn, country))
            agent = Prometheus(
                tmp_path / probe_id / "agent",
                {},
                flags=["--enable-feature=agent,expand-external-labels,exemplar-storage"],
                config=agent_config(port, central, pki, secret),
                env={"PROBE_ID": probe_id, "PROBE_ASN": asn, "PROBE_COUNTRY": country},
            )
            stack.enter_context(agent)
        yield central


@contextlib.contextmanager
def probe(lab: Lab, directory: Path, probe_id: str, asn: str, country: str) -> Iterator[int]:
    """A daemon on loopback with its identity in the targets file; yields its port."""
    directory.mkdir()
    text = targets_yaml(lab, daemon="{interval: 1, jitter: 0, window: 2, daily_budget: 1TB}")
    identity = f"identity: {{id: {probe_id}, asn: {asn}, country: {country}}}"
    text = text.replace("identity: {id: loopback-probe, country: NL}", identity)
    assert identity in text
    targets = directory / "targets.yaml"
    targets.write_text(text)
    port = free_port()
    argv = ["--targets", str(targets), "--listen", f"127.0.0.1:{port}"]
    with Daemon(argv, directory / "daemon.log") as daemon:
        yield port
    assert "Traceback" not in daemon.log(), daemon.log()


def wait_for_rounds(fleet: Prometheus) -> None:
    """Three samples from each probe, three rounds apart: enough for increase() and friends."""
    counted = "count_over_time(throttle_probe_rounds_total[1h]) >= 3"
    fleet.wait_for(f"count({counted} and changes(throttle_probe_rounds_total[1h]) >= 3) == 2", 60)


def test_the_central_store_holds_every_probe_with_its_identity(fleet: Prometheus) -> None:
    wait_for_rounds(fleet)
    fleet.wait_for("count(throttle_probe:throttled_share:1d) >= 2", timeout=30)
    rounds = fleet.query("throttle_probe_rounds_total")
    info = fleet.query("throttle_probe_info")
    shares = fleet.query("throttle_probe:throttled_share:1d")
    exemplars = fleet.exemplars("throttle_probe_rounds_total", seconds=300)

    labels = {r["metric"]["probe"]: (r["metric"]["asn"], r["metric"]["country"]) for r in rounds}
    assert labels == PROBES
    # The external labels agree with the identity each probe reports itself.
    assert {r["metric"]["probe"]: r["metric"]["probe_id"] for r in info} == {p: p for p in PROBES}
    # The rules run per probe: each probe's targets keep their own share.
    assert {(r["metric"]["probe"], r["metric"]["target"]) for r in shares} == {
        (p, t) for p in PROBES for t in ("tw-image", "tw-missing", "tw-closed")
    }
    # Round ids travel with the samples, for the dashboards' exemplars.
    assert {series["seriesLabels"]["probe"] for series in exemplars} == set(PROBES)


def test_the_dashboards_work_unchanged_on_the_central_store(fleet: Prometheus) -> None:
    wait_for_rounds(fleet)
    overview = next(path for path in DASHBOARDS if path.stem.endswith("overview"))
    values = {"probe": "msk-1", "group": ".*", "transport": ".*"}

    found = {
        title: fleet.query_range(substitute(expr, values), seconds=120)
        for title, expr in queries(load(overview))
    }

    assert {title for title, series in found.items() if not series} == EMPTY_WITHOUT_THROTTLING
    probes = {r["metric"].get("probe") for series in found.values() for r in series}
    assert probes <= {"msk-1", None}  # None: aggregates like count(...) or vector(0)
