"""``throttle-probe serve`` and ``check``'s replay test, as real processes on loopback."""

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Lab
from tests.test_cli import run_cli

SECRET = "a-secret-only-these-tests-know"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "replay.secret"
    path.write_text(SECRET + "\n")
    return path


@pytest.fixture
def server(secret_file: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A running `serve` on a free loopback port, and that port."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "probe", "serve", "--listen", "127.0.0.1"),
            *("--port", str(port), "--secret-file", str(secret_file)),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    first_line = process.stderr.readline()
    assert f"listening on 127.0.0.1:{port}" in first_line, first_line
    yield process, port
    if process.poll() is None:
        process.kill()
        process.wait()


def test_serve_refuses_a_missing_or_weak_secret(tmp_path: Path) -> None:
    missing = run_cli("serve", "--port", "8443", "--secret-file", str(tmp_path / "nope"))
    (tmp_path / "weak").write_text("short")
    weak = run_cli("serve", "--port", "8443", "--secret-file", str(tmp_path / "weak"))

    assert missing.returncode == 2
    assert missing.stderr.strip().startswith("Cannot read the replay secret file")
    assert weak.returncode == 2
    assert weak.stderr.strip().endswith("must be at least 16 bytes long.")


def test_serve_on_a_busy_port_says_so(secret_file: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = run_cli(
            "serve", "--listen", "127.0.0.1", "--port", str(port), "--secret-file", str(secret_file)
        )

    assert done.returncode == 1
    assert done.stderr.strip() == f"Cannot listen on 127.0.0.1:{port}: the port is already in use."


def replay_targets(lab: Lab, path: Path, port: int, secret_file: Path) -> Path:
    text = lab.config_text(
        {
            "twitter": [("tw-image", lab.url("pbs.twimg.test", "/bytes/500000"))],
            "control": [("ctl", lab.url("control.test", "/bytes/500000"))],
        }
    )
    text += f"replay:\n  server: 127.0.0.1:{port}\n  secret_file: {secret_file}\n  bytes: 300000\n"
    path.write_text(text)
    return path


def test_check_runs_the_replay_test_in_both_directions_against_serve(
    lab: Lab, tmp_path: Path, secret_file: Path, server: tuple[subprocess.Popen[str], int]
) -> None:
    process, port = server
    targets = replay_targets(lab, tmp_path / "targets.yaml", port, secret_file)

    done = run_cli("check", "--targets", str(targets), "--json")
    process.send_signal(signal.SIGTERM)
    _, log = process.communicate(timeout=10)

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    records = document["replays"]
    shapes = {(r["direction"], r["variant"], r["sni"]) for r in records}
    for direction in ("download", "upload"):
        assert (direction, "plain", "pbs.twimg.test") in shapes
        assert (direction, "plain", "example.org") in shapes  # the control name
        for variant in ("scrambled", "split", "padded"):
            assert (direction, variant, "pbs.twimg.test") in shapes
    assert len(records) == 10
    assert all(r["failure"] is None and r["bytes"] == r["requested_bytes"] for r in records)
    outcomes = document["replay"]["outcomes"]
    # Every session worked, so nothing reads blocked. A loopback has no throttle,
    # but it shares two cores with the quick tier's other workers: a variant
    # starved of CPU for a moment can read 10x slow (seen: "slowed" twice in six
    # runs of the tier), so that one outcome is not held against the wiring.
    states = {o["state"] for o in outcomes}
    assert states <= {"baseline", "same", "inconclusive", "slowed"} and "baseline" in states
    assert len(document["replay"]["findings"]) == 2
    evidence = next(t for t in document["targets"] if t["name"] == "tw-image")["evidence"]
    assert {r["direction"] for r in evidence["replay"]} == {"download", "upload"}
    assert process.returncode == 0
    assert log.count(" ok ") == 10 and "Replay server stopped." in log
    assert SECRET not in log


def test_check_without_replay_and_the_terminal_tables(
    lab: Lab, tmp_path: Path, secret_file: Path, server: tuple[subprocess.Popen[str], int]
) -> None:
    _, port = server
    targets = replay_targets(lab, tmp_path / "targets.yaml", port, secret_file)

    skipped = run_cli("check", "--targets", str(targets), "--json", "--no-replay")
    shown = run_cli("check", "--targets", str(targets))

    assert skipped.returncode == 0 and json.loads(skipped.stdout)["replays"] == []
    assert shown.returncode == 0, shown.stderr
    assert "Replay (your server, only the ClientHello differs)" in shown.stdout
    assert "Replay download: " in shown.stdout and "Replay upload: " in shown.stdout
