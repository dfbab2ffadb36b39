"""Running ip, iptables and tc for the lab, with errors a person can act on."""

import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence

REQUIRED_TOOLS = {"ip": "iproute2", "iptables": "iptables", "tc": "iproute2"}


class LabError(Exception):
    """The lab cannot do what was asked; ``str()`` is one sentence."""


def require_privileges() -> None:
    """Refuse early, with the reason, where the lab cannot work."""
    if os.geteuid() != 0:
        raise LabError(
            "The lab needs root: it creates network namespaces, firewall rules and "
            "traffic shapers (run it with sudo)."
        )
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        packages = " ".join(sorted({REQUIRED_TOOLS[tool] for tool in missing}))
        raise LabError(
            f"The lab needs {', '.join(missing)}, which is not installed "
            f"(on Debian or Ubuntu: apt-get install {packages})."
        )


def run(
    args: Sequence[str], namespace: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command (inside ``namespace`` when given); LabError when it fails and ``check``."""
    argv = [*(("ip", "netns", "exec", namespace) if namespace else ()), *args]
    done = subprocess.run(argv, capture_output=True, text=True)
    if check and done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        detail = reason[-1] if reason else f"exit code {done.returncode}"
        raise LabError(f"`{shlex.join(argv)}` failed: {detail}")
    return done


def namespaces() -> list[str]:
    """The network namespaces that exist now."""
    listing = run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in listing.splitlines() if line.strip()]


def pids_in(namespace: str) -> list[int]:
    listing = run(["ip", "netns", "pids", namespace], check=False).stdout
    return [int(pid) for pid in listing.split()]
