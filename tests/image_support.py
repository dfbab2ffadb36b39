"""The project's container image, built and run without a Docker engine.

No Docker engine runs on the project's machines, and no image registry is
reachable. So the base the Dockerfile names, ``debian:bookworm-slim``, is made
here with debootstrap and ``podman import``, the image is built from the real
Dockerfile with ``buildah bud --isolation chroot``, and commands run in it
with ``buildah run --isolation chroot``, which shares the host's network: a
test server on loopback is reachable from inside. Needs root and Debian's
podman, buildah and debootstrap; skipped elsewhere, failing in CI.
"""

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI") == "true"
REPOSITORY = Path(__file__).resolve().parent.parent
BASE = "docker.io/library/debian:bookworm-slim"  # what `FROM debian:bookworm-slim` resolves to
IMAGE = "localhost/throttle-probe:test"
TOOLS = ("podman", "buildah", "debootstrap")
# What the official slim image leaves out of a minimal Debian.
SLIMMED = ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info")
APT_CACHES = ("var/cache/apt", "var/lib/apt/lists")


def require_image_tools() -> None:
    if os.geteuid() != 0:
        reason = "building the image needs root (buildah with chroot isolation)"
    elif missing := [tool for tool in TOOLS if shutil.which(tool) is None]:
        reason = f"building the image needs {', '.join(missing)} (Debian packages)"
    else:
        return
    if IN_CI:
        pytest.fail(f"CI must build the image, but {reason}")
    pytest.skip(reason)


def run(argv: Sequence[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout[-3000:]}{done.stderr}"
    return done


def has_image(name: str) -> bool:
    exists = subprocess.run(["podman", "image", "exists", name], capture_output=True)
    return exists.returncode == 0


def make_base(mirror: str = "http://deb.debian.org/debian") -> None:
    """``debian:bookworm-slim`` in local storage, from Debian's mirror (kept between runs)."""
    if has_image(BASE):
        return
    with tempfile.TemporaryDirectory(prefix="bookworm-") as directory:
        root = Path(directory) / "root"
        run(["debootstrap", "--variant=minbase", "bookworm", str(root), mirror])
        for folder in (*SLIMMED, *APT_CACHES):
            for entry in (root / folder).glob("*"):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        tarball = Path(directory) / "root.tar"
        run(["tar", "-C", str(root), "-cf", str(tarball), "."])
        run(["podman", "import", "--change", 'CMD ["bash"]', str(tarball), BASE])


def build_image() -> None:
    """The image from the repository's Dockerfile, as `docker build .` would make it.

    The host's trust store goes in for pip only (a mounted file and PIP_CERT,
    a build argument the Dockerfile declares): where a proxy inspects TLS, as
    on the project's machines, PyPI's certificate is signed by that proxy.
    The previous test image goes first, so that runs do not pile up images.
    """
    if has_image(IMAGE):
        run(["buildah", "rmi", "--force", IMAGE])
    run(
        [
            "buildah", "bud", "--isolation", "chroot", "--format", "docker", "--pull-never",
            "--volume", "/etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro",
            "--build-arg", "PIP_CERT=/run/host-ca.crt",
            "--tag", IMAGE, str(REPOSITORY),
        ],
        timeout=900,
    )  # fmt: skip


def image_config() -> dict[str, Any]:
    """The image's Docker config: User, Cmd, Entrypoint, Healthcheck, ExposedPorts, ..."""
    inspected = json.loads(run(["buildah", "inspect", "--type", "image", IMAGE]).stdout)
    config: dict[str, Any] = inspected["Docker"]["config"]
    return config


class Container:
    """A working container of the image; ``command`` runs in it as the image's user."""

    def __init__(self, mounts: Sequence[tuple[Path, str]] = ()) -> None:
        self.name = run(["buildah", "from", "--pull-never", IMAGE]).stdout.strip()
        self.volumes = [arg for host, inside in mounts for arg in ("-v", f"{host}:{inside}:ro")]

    def argv(self, command: Sequence[str]) -> list[str]:
        return ["buildah", "run", "--isolation", "chroot", *self.volumes, self.name, "--", *command]

    def run(self, command: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(command), capture_output=True, text=True, timeout=timeout)

    def remove(self) -> None:
        subprocess.run(["buildah", "rm", self.name], capture_output=True)
