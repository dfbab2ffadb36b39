"""``throttle-probe lab`` as a user drives it, and the refusals it gives."""

import os
import shutil
import signal
from pathlib import Path

import pytest

from probe.lab import system
from probe.lab.control import Lab
from probe.lab.system import LabError, namespaces
from probe.lab.topology import Names
from tests.lab_support import require_lab, run_probe

pytestmark = pytest.mark.lab

NAME = "tpc"


def lab(*args: str) -> tuple[int, str]:
    done = run_probe("lab", "--name", NAME, *args)
    return done.returncode, done.stdout + done.stderr


def our_namespaces() -> list[str]:
    return [ns for ns in namespaces() if ns.startswith(f"{NAME}-")]


def test_lifecycle_from_up_to_down() -> None:
    require_lab()
    lab("down")
    try:
        code, output = lab("up")
        assert code == 0 and "The lab is up" in output
        assert sorted(our_namespaces()) == [f"{NAME}-client", f"{NAME}-router", f"{NAME}-server"]

        code, output = lab("up")
        assert code == 1
        assert output.strip() == (
            f"The lab {NAME!r} is already up: `throttle-probe lab --name {NAME} down` removes it."
        )

        code, output = lab("scenario", "sni-police", "--rate", "300kbit")
        assert code == 0 and "Applied: sni-police:rate=300kbit" in output
        code, output = lab("status")
        assert "origin           running" in output and "sni-police:rate=300kbit" in output

        code, output = lab("exec", "--", "ip", "-br", "addr")
        assert code == 0 and "198.51.100.2/24" in output

        code, output = lab("check", "--group", "control", "--max-bytes", "100000")
        assert code == 0 and "deb-debian-org" in output and "max_bytes" in output

        code, output = lab("scenario", "no-such-thing")
        assert code == 2 and "no scenario named 'no-such-thing'" in output
    finally:
        assert lab("down")[0] == 0
    assert our_namespaces() == []
    assert not Path(f"/etc/netns/{NAME}-client").exists()
    assert lab("down")[0] == 0  # idempotent
    assert lab("status")[1].strip() == "The lab is down."


def test_down_cleans_up_after_a_crash() -> None:
    require_lab()
    crashed = Lab(Names(NAME))
    crashed.down()
    crashed.up()
    server_pids = system.pids_in(crashed.names.server)
    assert server_pids
    shutil.rmtree(crashed.state_dir)  # the state a crash would lose

    assert lab("down")[0] == 0

    assert our_namespaces() == []
    for pid in server_pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, signal.SIG_DFL)


def test_commands_on_a_lab_that_is_down_say_so() -> None:
    require_lab()
    lab("down")

    code, output = lab("check")

    assert code == 1
    assert output.strip() == f"The lab is not up: run `throttle-probe lab --name {NAME} up` first."


def test_without_root_the_lab_refuses_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)

    with pytest.raises(LabError) as refused:
        system.require_privileges()

    assert str(refused.value).startswith("The lab needs root")


def test_without_iptables_the_lab_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda tool: None if tool == "iptables" else f"/x/{tool}")

    with pytest.raises(LabError) as refused:
        system.require_privileges()

    assert str(refused.value) == (
        "The lab needs iptables, which is not installed "
        "(on Debian or Ubuntu: apt-get install iptables)."
    )
