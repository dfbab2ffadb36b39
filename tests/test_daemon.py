"""``throttle-probe run`` as a user runs it: a real daemon against real servers on loopback.

Scrapes, reloads and signals go to the real process; one test puts a real
Prometheus in front of it, over TLS with basic auth.
"""

import json
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from probe.lab.pki import LabPKI
from tests.conftest import Lab
from tests.prometheus_support import Daemon, Prometheus, free_port, require_prometheus

PASSWORD = "correct horse battery staple"


def targets_yaml(lab: Lab, *, daemon: str, extra_targets: str = "", connect: float = 2) -> str:
    """Two targets and a control on the loopback origin, with ``daemon:`` settings."""
    return f"""
settings:
  ca_bundle: {lab.pki.ca_file}
  max_bytes: 300000
  timeouts: {{dns: 2, connect: {connect}, tls: 2, stall: 2, transfer: 10}}
daemon: {daemon}
identity: {{id: loopback-probe, country: NL}}
resolvers: {{lab: "{lab.dns.address}"}}
groups:
  twitter:
    role: target
    targets:
      - {{name: tw-image, url: "{lab.url("pbs.twimg.test", "/bytes/3000000")}"}}
      - {{name: tw-missing, url: "{lab.url("twitter.test", "/status/404")}"}}
      - {{name: tw-closed, url: "https://twitter.test:{lab.closed_port}/"}}
{extra_targets}
  control:
    role: control
    targets:
      - {{name: ctl, url: "{lab.url("control.test", "/bytes/3000000")}"}}
"""


Auth = tuple[str, str] | None


def metrics(
    port: int, auth: Auth = None, tls: ssl.SSLContext | None = None
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = get(port, "/metrics", auth, tls)
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def series(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted(labels.items())))


def get(
    port: int, path: str, auth: Auth = None, tls: ssl.SSLContext | None = None
) -> httpx.Response:
    scheme = "http" if tls is None else "https"
    url = f"{scheme}://127.0.0.1:{port}{path}"
    return httpx.get(url, auth=auth, verify=tls or True, timeout=5, trust_env=False)


def wait_for_rounds(
    port: int, rounds: int, timeout: float, auth: Auth = None, tls: ssl.SSLContext | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if metrics(port, auth, tls).get(("throttle_probe_rounds_total", ()), 0) >= rounds:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.2)
    raise AssertionError(f"fewer than {rounds} rounds within {timeout} s")


def start(tmp_path: Path, text: str, *args: str) -> tuple[Daemon, int, Path]:
    targets = tmp_path / "targets.yaml"
    targets.write_text(text)
    port = free_port()
    argv = ["--targets", str(targets), "--listen", f"127.0.0.1:{port}", *args]
    return Daemon(argv, tmp_path / "daemon.log"), port, targets


def test_rounds_on_the_schedule_become_metrics(lab: Lab, tmp_path: Path) -> None:
    text = targets_yaml(lab, daemon="{interval: 0.5, jitter: 0, window: 3, daily_budget: 1TB}")
    daemon, port, _ = start(tmp_path, text, "--log-format", "json")
    with daemon:
        wait_for_rounds(port, 3, timeout=60)
        found = metrics(port)
        landing = get(port, "/").text
        healthy = get(port, "/-/healthy")

    tcp = {"transport": "tcp"}  # the loopback origin offers no HTTP/3
    image = {"group": "twitter", "role": "target", "target": "tw-image", **tcp}
    missing = {"group": "twitter", "role": "target", "target": "tw-missing", **tcp}
    assert found[series("throttle_probe_goodput_bytes_per_second", **image)] > 0
    assert series("throttle_probe_goodput_bytes_per_second", **missing) not in found  # not 0
    assert found[series("throttle_probe_measurements_total", **image, result="success")] >= 3
    failed = series("throttle_probe_failures_total", **missing, stage="http", failure="http_status")
    assert found[failed] >= 3
    for scope in ("round", "window"):
        # The platform's own 404 is not the network blocking it; a refused port is.
        labels = {"group": "twitter", "scope": scope, "target": "tw-missing", **tcp}
        assert found[series("throttle_probe_verdict", **labels, verdict="platform_refused")] == 1
        assert found[series("throttle_probe_verdict", **labels, verdict="blocked")] == 0
        assert series("throttle_probe_blocked_stage", **labels, stage="http") not in found
        closed = {"group": "twitter", "scope": scope, "target": "tw-closed", **tcp}
        assert found[series("throttle_probe_blocked_stage", **closed, stage="tcp")] == 1
    assert found[series("throttle_probe_window_rounds")] == 3
    assert found[series("throttle_probe_budget_bytes")] == 10**12
    phases = {dict(labels).get("phase") for name, labels in found if "phase_duration" in name}
    assert phases >= {"dns", "connect", "tls", "first_byte"}
    assert "loopback-probe" in landing and "Last measured: 20" in landing
    assert '<a href="metrics">' in landing
    assert healthy.status_code == 200
    lines = [json.loads(line) for line in daemon.log().splitlines()]
    events = [e["message"].split(":")[0] + ":" + e["message"].split(":")[1][:4] for e in lines
              if e["message"].startswith("round ")]  # fmt: skip
    # Rounds never overlap: each one is done before the next starts.
    assert events[:6] == ["round 1: mea", "round 1: don", "round 2: mea", "round 2: don",
                          "round 3: mea", "round 3: don"]  # fmt: skip


def test_scrapes_are_answered_while_a_round_hangs_and_sigterm_stops_at_once(
    lab: Lab, tmp_path: Path
) -> None:
    hanging = f'      - {{name: tw-hang, url: "https://twitter.test:{lab.unaccepting_port}/"}}'
    text = targets_yaml(lab, daemon="{interval: 60, jitter: 0}", extra_targets=hanging, connect=30)
    daemon, port, _ = start(tmp_path, text)
    with daemon:
        daemon.wait_for_log("round 1: measuring", timeout=20)
        time.sleep(1)  # the others are done; tw-hang waits for its SYN-ACK for 30 s
        latencies = []
        for _ in range(20):
            begun = time.monotonic()
            response = get(port, "/metrics")
            latencies.append(time.monotonic() - begun)
            assert response.status_code == 200
        assert "not yet" in get(port, "/").text  # the first round is still under way
        assert "round 1: done" not in daemon.log()

        assert daemon.process is not None
        begun = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        code = daemon.process.wait(timeout=10)
        stopped_after = time.monotonic() - begun

    assert max(latencies) < 0.5, latencies
    assert code == 0, daemon.log()
    assert stopped_after < 2, stopped_after
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # the port is closed


def test_sighup_reloads_and_a_broken_file_keeps_the_old_one(lab: Lab, tmp_path: Path) -> None:
    text = targets_yaml(lab, daemon="{interval: 0.5, jitter: 0, daily_budget: 1TB}")
    daemon, port, targets = start(tmp_path, text)
    with daemon:
        wait_for_rounds(port, 1, timeout=30)
        assert daemon.process is not None
        targets.write_text(text.replace("loopback-probe", "renamed-probe"))
        daemon.process.send_signal(signal.SIGHUP)
        daemon.wait_for_log("reloaded", timeout=10)
        renamed = get(port, "/metrics").text
        targets.write_text(text + "  broken: [\n")
        daemon.process.send_signal(signal.SIGHUP)
        daemon.wait_for_log("reload refused", timeout=10)
        rounds_then = int(metrics(port)[("throttle_probe_rounds_total", ())])
        wait_for_rounds(port, rounds_then + 2, timeout=30)  # still measuring
        after_broken = metrics(port)

    assert 'probe_id="renamed-probe"' in renamed
    assert after_broken[("throttle_probe_config_last_reload_successful", ())] == 0
    refused = [line for line in daemon.log().splitlines() if "reload refused" in line]
    assert len(refused) == 1 and "not valid YAML" in refused[0]
    assert "Traceback" not in daemon.log()


def test_a_spent_budget_pauses_measuring_and_says_so(lab: Lab, tmp_path: Path) -> None:
    text = targets_yaml(lab, daemon="{interval: 0.2, jitter: 0, daily_budget: 100kB}")
    daemon, port, _ = start(tmp_path, text)
    with daemon:
        wait_for_rounds(port, 1, timeout=30)
        daemon.wait_for_log("budget is spent", timeout=10)
        time.sleep(2)
        found = metrics(port)
        landing = get(port, "/").text

    assert found[("throttle_probe_rounds_total", ())] == 1
    assert found[("throttle_probe_budget_paused", ())] == 1
    assert found[("throttle_probe_budget_spent_bytes", ())] >= 300_000
    assert "paused" in landing


@pytest.fixture(scope="module")
def web_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPKI:
    return LabPKI(tmp_path_factory.mktemp("web-pki"), ["probe.test", "127.0.0.1"])


def web_config(pki: LabPKI, directory: Path) -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    path = directory / "web.yml"
    path.write_text(
        "tls_server_config:\n"
        f"  cert_file: {pki.cert_chain_file}\n"
        f"  key_file: {pki.key_file}\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    )
    return path


@pytest.mark.prometheus
def test_tls_and_basic_auth_guard_the_metrics_and_prometheus_scrapes_them(
    lab: Lab, web_pki: LabPKI, tmp_path: Path
) -> None:
    require_prometheus()
    text = targets_yaml(lab, daemon="{interval: 1, jitter: 0}")
    web = web_config(web_pki, tmp_path)
    daemon, port, _ = start(tmp_path, text, "--web-config", str(web))
    tls = ssl.create_default_context(cafile=web_pki.ca_file)
    auth = ("prometheus", PASSWORD)
    scrape = {
        "scheme": "https",
        "tls_config": {"ca_file": str(web_pki.ca_file), "server_name": "probe.test"},
        "basic_auth": {"username": "prometheus", "password": PASSWORD},
        "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
    }
    with daemon, Prometheus(tmp_path / "prometheus", scrape) as prometheus:
        wait_for_rounds(port, 1, 30, auth, tls)
        wrong = get(port, "/metrics", ("prometheus", "wrong"), tls)
        anonymous = get(port, "/metrics", None, tls)
        health = get(port, "/-/healthy", None, tls)
        with pytest.raises(httpx.TransportError):
            get(port, "/metrics")  # plain HTTP to a TLS port
        prometheus.wait_for("throttle_probe_rounds_total >= 1", timeout=30)
        up = prometheus.values("up", by="job")
        goodput = prometheus.values('throttle_probe_goodput_bytes_per_second{role="control"}')

    assert (wrong.status_code, anonymous.status_code) == (401, 401)
    assert "throttle_probe" not in wrong.text + anonymous.text
    assert health.status_code == 200  # for container health checks: no secret needed
    assert up == {"throttle-probe": 1.0}
    assert goodput["ctl"] > 0


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "probe", "run", *args], capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "nowhere"], "--listen: 'nowhere' is not ADDR:PORT"),
        (["--web-config", "/nonexistent/web.yml"], "cannot read the web config"),
        (["--targets", "/nonexistent/targets.yaml"], "cannot read the file"),
    ],
)
def test_bad_usage_is_one_sentence_and_exit_2(args: list[str], message: str) -> None:
    done = run_cli(*args)

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_is_one_sentence_and_exit_1(lab: Lab, tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(targets_yaml(lab, daemon="{interval: 60}"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("--targets", str(targets), "--listen", f"127.0.0.1:{port}")

    assert done.returncode == 1
    assert "the port is already in use" in done.stderr
    assert "Traceback" not in done.stderr
