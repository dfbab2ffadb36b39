"""deploy/prometheus: the configs and rules pass promtool, and the rules' unit tests pass."""

import shutil
import subprocess
from pathlib import Path

import pytest

from probe.lab.pki import LabPKI
from tests.prometheus_support import require_prometheus

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
RULES = DEPLOY / "rules" / "throttle-probe.rules.yml"


def promtool(*args: str, cwd: Path = DEPLOY) -> subprocess.CompletedProcess[str]:
    require_prometheus()
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd)


def test_the_rules_are_valid() -> None:
    checked = promtool("check", "rules", str(RULES))

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout


def test_the_rules_unit_tests_pass() -> None:
    tested = promtool("test", "rules", "throttle-probe.test.yml", cwd=RULES.parent)

    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-tls.yml"])
def test_the_scrape_configs_are_valid(config: str, tmp_path: Path) -> None:
    copy = tmp_path / "prometheus"
    shutil.copytree(DEPLOY, copy)
    # The files the TLS variant names, as a user would put them beside it.
    LabPKI(tmp_path / "pki", ["probe.test"]).ca_file.rename(copy / "probe-ca.crt")
    (copy / "probe.pass").write_text("a password\n")

    checked = promtool("check", "config", config, cwd=copy)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout
