"""deploy/: Prometheus's configs and rules pass promtool and their unit tests; the systemd
unit passes `systemd-analyze verify` and keeps its low exposure score."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from probe.lab.pki import LabPKI
from tests.prometheus_support import require_prometheus

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
UNIT = DEPLOY.parent / "systemd" / "throttle-probe.service"
IN_CI = os.environ.get("CI") == "true"
RULES = DEPLOY / "rules" / "throttle-probe.rules.yml"


def promtool(*args: str, cwd: Path = DEPLOY) -> subprocess.CompletedProcess[str]:
    require_prometheus()
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.prometheus
def test_the_rules_are_valid() -> None:
    checked = promtool("check", "rules", str(RULES))

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 11 rules found" in checked.stdout


@pytest.mark.prometheus
def test_the_rules_unit_tests_pass() -> None:
    tested = promtool("test", "rules", "throttle-probe.test.yml", cwd=RULES.parent)

    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


@pytest.mark.prometheus
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


def systemd_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        if IN_CI:
            pytest.fail("CI must check the systemd unit, but systemd-analyze is missing")
        pytest.skip("needs systemd-analyze (Debian package systemd)")
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True)


def installed_unit(directory: Path) -> Path:
    """The unit as shipped, but for the program's path: this checkout's, not /opt's."""
    program = Path(sys.executable).with_name("throttle-probe")
    assert program.exists(), program
    text = UNIT.read_text()
    assert "ExecStart=/opt/throttle-probe/bin/throttle-probe run" in text
    path = directory / UNIT.name
    path.write_text(text.replace("/opt/throttle-probe/bin/throttle-probe", str(program)))
    return path


def test_the_systemd_unit_verifies_without_a_warning(tmp_path: Path) -> None:
    verified = systemd_analyze("verify", str(installed_unit(tmp_path)))

    # A setting systemd cannot parse is a warning on stderr, with exit status 0.
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr


def test_a_mistake_in_the_unit_is_caught(tmp_path: Path) -> None:
    unit = installed_unit(tmp_path)
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=sternly"))

    verified = systemd_analyze("verify", str(unit))

    assert "Failed to parse protect system value" in verified.stderr, verified.stderr


def test_the_systemd_unit_exposes_little(tmp_path: Path) -> None:
    """systemd's own score, 0 (locked down) to 10 (exposed); the unit as shipped gets 1.3."""
    scored = systemd_analyze("security", "--offline=yes", str(installed_unit(tmp_path)))

    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", scored.stdout)
    assert found is not None, scored.stdout + scored.stderr
    assert float(found.group(1)) <= 2.0, scored.stdout
