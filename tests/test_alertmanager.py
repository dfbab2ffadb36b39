"""deploy/alertmanager: the config passes amtool, and a real Alertmanager holds back a
probe's per-target alerts while its shutdown alert fires (and only that probe's)."""

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.prometheus_support import free_port, require_tools

pytestmark = pytest.mark.prometheus

CONFIG = Path(__file__).parent.parent / "deploy" / "alertmanager" / "alertmanager.yml"
BINARY = "prometheus-alertmanager"  # Debian's name for alertmanager


def require_alertmanager() -> None:
    require_tools((BINARY, "amtool"), "package prometheus-alertmanager", "Alertmanager")


def test_the_config_is_valid() -> None:
    require_alertmanager()
    checked = subprocess.run(
        ["amtool", "check-config", str(CONFIG)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 inhibit rules" in checked.stdout


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    require_alertmanager()
    port = free_port()
    process = subprocess.Popen(
        [
            BINARY,
            f"--config.file={CONFIG}",
            f"--storage.path={tmp_path}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip: one instance
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/v2"
    try:
        _wait_ready(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_ready(base: str, process: "subprocess.Popen[bytes]") -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "alertmanager exited"
        try:
            with urllib.request.urlopen(f"{base}/status", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail("alertmanager did not start in 20 s")


def _alert(name: str, probe: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "instance": "vps:10130", "probe": probe, **labels},
        "annotations": {"summary": name},
    }


def _post(base: str, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        f"{base}/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


def _states(base: str, expected: int) -> dict[tuple[str, str], dict[str, Any]]:
    """Each alert's status by (alertname, probe), once Alertmanager holds ``expected``."""
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(f"{base}/alerts", timeout=5) as answer:
            alerts = json.load(answer)
        if len(alerts) >= expected or time.monotonic() > deadline:
            return {(a["labels"]["alertname"], a["labels"]["probe"]): a["status"] for a in alerts}
        time.sleep(0.1)


def test_a_shutdown_holds_back_the_same_probes_block_alerts(alertmanager: str) -> None:
    blocked = {"target": "x-home", "group": "twitter", "stage": "tls", "transport": "tcp"}
    _post(
        alertmanager,
        [
            _alert("ThrottleProbeShutdown", "msk-1", state="domestic_only"),
            _alert("ThrottleProbeTargetBlocked", "msk-1", **blocked),
            _alert("ThrottleProbeDnsTampering", "msk-1", **{**blocked, "stage": "dns"}),
            _alert("ThrottleProbeTargetBlocked", "spb-2", **blocked),  # another probe
            _alert("ThrottleProbeDown", "msk-1"),  # not a per-target alert
        ],
    )

    states = _states(alertmanager, 5)

    assert states[("ThrottleProbeShutdown", "msk-1")]["state"] == "active"
    for name in ("ThrottleProbeTargetBlocked", "ThrottleProbeDnsTampering"):
        held = states[(name, "msk-1")]
        assert held["state"] == "suppressed" and held["inhibitedBy"], (name, held)
    assert states[("ThrottleProbeTargetBlocked", "spb-2")]["state"] == "active"
    assert states[("ThrottleProbeDown", "msk-1")]["state"] == "active"
