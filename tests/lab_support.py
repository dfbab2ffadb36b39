"""Helpers for tests that run the probe inside the network-namespace lab."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from probe.lab.control import Lab
from probe.lab.scenarios import parse_composition
from tests.documents import tcp_entries

IN_CI = os.environ.get("CI") == "true"
TEST_LAB = "tpt"  # not the default "tpl": a developer's own lab may be up


def lab_unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, iptables, tc)"
    missing = [tool for tool in ("ip", "iptables", "tc") if shutil.which(tool) is None]
    if missing:
        return f"the lab needs {', '.join(missing)}"
    return None


def require_lab() -> None:
    """Skip with the reason where the lab cannot run; in CI that is a failure instead."""
    reason = lab_unavailable_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI must run the lab tests, but {reason}")
        pytest.skip(reason)


def run_probe(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "probe", *args], capture_output=True, text=True, timeout=timeout
    )


def lab_check(lab: Lab, *args: str, targets: Path | None = None) -> dict[str, dict[str, Any]]:
    """Run ``check --json --no-replay`` in the lab's client; the entries by target name."""
    document = lab_document(lab, "--no-replay", *args, targets=targets)
    return {entry["name"]: entry for entry in tcp_entries(document)}


def lab_document(lab: Lab, *args: str, targets: Path | None = None) -> dict[str, Any]:
    """Run ``check --json`` in the lab's client; the whole document."""
    return lab.check_document(args, targets)


def only_targets(lab: Lab, names: list[str], directory: Path) -> Path:
    """A copy of the lab's targets file that keeps only ``names`` (no SNI swap, no replay)."""
    config = yaml.safe_load(lab.targets_file.read_text())
    config.pop("sni_swap", None)
    config.pop("replay", None)
    for group in list(config["groups"]):
        kept = [t for t in config["groups"][group]["targets"] if t["name"] in names]
        if kept:
            config["groups"][group]["targets"] = kept
        else:
            del config["groups"][group]
    path = directory / "targets.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def apply(lab: Lab, composition: str) -> None:
    lab.apply(parse_composition(composition))


def kbit(entry: dict[str, Any]) -> float:
    goodput = entry["goodput_bytes_per_second"]
    assert goodput is not None, entry["failure"]
    return float(goodput) * 8 / 1000
