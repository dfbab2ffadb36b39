"""The Dockerfile, built for real with buildah and run with `buildah run` (see image_support).

The image must start `throttle-probe run` by default as a user that is not
root, with the default targets inside, pass its own HEALTHCHECK, keep the
archive in its volume, and measure a local test server with `check`.
"""

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import probe
from tests.conftest import Lab
from tests.documents import tcp_entries
from tests.image_support import (
    IMAGE,
    REPOSITORY,
    Container,
    build_image,
    image_config,
    make_base,
    require_image_tools,
)
from tests.test_daemon import wait_for_rounds

pytestmark = pytest.mark.image

DEFAULT_PORT = 10130


@pytest.fixture(scope="module")
def image() -> str:
    require_image_tools()
    make_base()
    build_image()
    return IMAGE


@pytest.fixture
def local_targets(lab: Lab, tmp_path: Path) -> Path:
    """A targets file on the loopback test servers: one platform target, one control."""
    text = lab.config_text(
        {
            "twitter": [("tw-image", lab.url("pbs.twimg.test", "/bytes/1000000"))],
            "control": [("ctl", lab.url("control.test", "/bytes/1000000"))],
        },
        settings="max_bytes: 500000\n",
    )
    path = tmp_path / "targets.yaml"
    path.write_text(text + "daemon: {interval: 1, jitter: 0, window: 2, daily_budget: 1TB}\n")
    path.chmod(0o644)
    tmp_path.chmod(0o755)  # the image's user reads it through the mount
    return path


@pytest.fixture
def container(lab: Lab, local_targets: Path, image: str) -> Iterator[Container]:
    """A container with the test CA and targets at their host paths, the targets also as default."""
    ca_folder = lab.pki.ca_file.parent
    ca_folder.chmod(0o755)
    mounts = [
        (ca_folder, str(ca_folder)),
        (local_targets.parent, str(local_targets.parent)),
        (local_targets, "/etc/throttle-probe/targets.yaml"),
    ]
    box = Container(mounts)
    yield box
    box.remove()


def test_the_image_runs_the_daemon_as_a_user_with_a_healthcheck(image: str) -> None:
    config = image_config()

    assert config["User"] == "probe"
    assert config["Entrypoint"] == ["throttle-probe"]
    assert config["Cmd"][0] == "run" and f":{DEFAULT_PORT}" in config["Cmd"]
    assert f"{DEFAULT_PORT}/tcp" in config["ExposedPorts"]
    assert "/-/healthy" in " ".join(config["Healthcheck"]["Test"])


def test_the_default_targets_are_inside_and_the_version_is_this_one(image: str) -> None:
    box = Container()
    try:
        version = box.run(["throttle-probe", "--version"])
        targets = box.run(["cat", "/etc/throttle-probe/targets.yaml"])
        user = box.run(["id", "-u"])
        lab_only = box.run(["python3", "-c", "import trustme"])
        lab_command = box.run(["throttle-probe", "lab", "up"])
    finally:
        box.remove()

    assert version.returncode == 0, version.stderr
    assert version.stdout.strip().endswith(probe.__version__)
    assert targets.stdout == (REPOSITORY / "targets.yaml").read_text()
    assert user.stdout.strip() != "0"
    # What only the lab and the tests need stays out of the image, and says so.
    assert lab_only.returncode != 0 and "trustme" in lab_only.stderr
    assert lab_command.returncode == 1
    assert "pip install 'throttle-probe[lab]'" in lab_command.stderr, lab_command.stderr


def test_check_in_the_image_measures_a_local_server(
    container: Container, local_targets: Path
) -> None:
    checked = container.run(["throttle-probe", "check", "--targets", str(local_targets), "--json"])

    assert checked.returncode == 0, checked.stderr
    document = json.loads(checked.stdout)
    entries = {entry["name"]: entry for entry in tcp_entries(document)}
    assert entries["ctl"]["failure"] is None and entries["ctl"]["goodput_bytes_per_second"] > 0
    assert entries["tw-image"]["verdict"]["verdict"] == "ok", entries["tw-image"]


def test_the_default_command_measures_serves_archives_and_is_healthy(
    container: Container, image: str
) -> None:
    config = image_config()
    daemon = subprocess.Popen(
        container.argv([*config["Entrypoint"], *config["Cmd"]]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_rounds(DEFAULT_PORT, 2, timeout=60)  # from the host's loopback
        health = container.run(config["Healthcheck"]["Test"][1:])  # after "CMD"
        archive = container.run(["ls", "/var/lib/throttle-probe/archive"])
    finally:
        # buildah run ends its command with SIGKILL; the daemon's own SIGTERM
        # handling is tested in test_daemon.py.
        daemon.send_signal(signal.SIGTERM)
        try:
            output, _ = daemon.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            subprocess.run(["pkill", "-KILL", "-s", str(daemon.pid)])
            output, _ = daemon.communicate()

    assert health.returncode == 0, health.stderr
    assert archive.returncode == 0 and ".jsonl" in archive.stdout, archive.stdout + archive.stderr
    assert b"Traceback" not in output, output.decode(errors="replace")
