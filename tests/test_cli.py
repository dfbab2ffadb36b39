"""``throttle-probe check`` as a user runs it: a real subprocess against real servers."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Lab
from tests.documents import png_size, tcp_entries

IN_CI = os.environ.get("CI") == "true"


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "probe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def lab_targets(lab: Lab, tmp_path: Path) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(
        lab.config_text(
            {
                "twitter": [
                    ("tw-image", lab.url("pbs.twimg.test", "/bytes/3000000")),
                    ("tw-missing", lab.url("twitter.test", "/status/404")),
                ],
                "tiktok": [
                    ("tt-stall", lab.url("tiktok.test", "/stall/20000")),
                    ("tt-nxdomain", lab.url("gone.test", "/bytes/10")),
                ],
                "control": [("ctl", lab.url("control.test", "/bytes/2000000"))],
            },
            settings="max_bytes: 100000000",
        )
    )
    return path


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in tcp_entries(document)}


def test_redirects_are_followed_on_the_origin_and_a_move_elsewhere_is_the_platforms(
    lab: Lab, tmp_path: Path
) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        lab.config_text(
            {
                "twitter": [
                    ("tw-redirected", lab.url("twitter.test", "/redirect/302/bytes/300000")),
                    ("tw-moved", lab.url("twitter.test", "/moved")),
                ],
                "control": [("ctl", lab.url("control.test", "/bytes/300000"))],
            }
        )
    )

    done = run_cli("check", "--targets", str(targets), "--json")

    assert done.returncode == 0, done.stderr
    entries = by_name(json.loads(done.stdout))
    redirected, moved = entries["tw-redirected"], entries["tw-moved"]
    transfer = redirected["transfer"]
    assert redirected["verdict"]["verdict"] == "ok"
    # Asked for again at the redirect's end, on the connection, up to max_bytes (2 MiB).
    assert transfer["requests"] == 7 and transfer["bytes"] == 7 * 300000
    assert redirected["transfer"]["redirects"] == [
        {"status": 302, "location": lab.url("twitter.test", "/bytes/300000")}
    ]
    assert moved["verdict"]["verdict"] == "platform_refused"
    assert "HTTP 301 to https://elsewhere.test/" in moved["verdict"]["reason"]
    assert moved["evidence"]["target"]["redirects"] == [
        {"status": 301, "location": "https://elsewhere.test/"}
    ]


def test_json_reports_every_target_with_its_records(lab_targets: Path) -> None:
    done = run_cli("check", "--targets", str(lab_targets), "--json")

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)  # stdout holds the document and nothing else
    assert document["format"] == "throttle-probe.check/2" and document["interrupted"] is False
    targets = by_name(document)
    assert list(targets) == ["tw-image", "tw-missing", "tt-stall", "tt-nxdomain", "ctl"]

    image = targets["tw-image"]
    assert (image["group"], image["role"], image["failure"]) == ("twitter", "target", None)
    assert image["url"].startswith("https://pbs.twimg.test:")
    assert image["goodput_bytes_per_second"] > 0
    transfer = image["transfer"]
    # A small object is asked for again on the connection until max_bytes (--max-bytes here).
    requests = transfer["requests"]
    assert requests > 1 and (requests - 1) * 3000000 < transfer["bytes"] <= requests * 3000000
    assert transfer["stop_reason"] == "max_bytes"
    assert len(transfer["pauses"]) == transfer["requests"] - 1
    assert [p["name"] for p in image["transfer"]["phases"]] == [
        "connect",
        "tls",
        "request",
        "wait",
        "body",
    ]
    assert image["dns"][0]["answers"] == ["127.0.0.1"] and image["address_from"] == "lab"

    assert targets["ctl"]["role"] == "control" and targets["ctl"]["failure"] is None
    assert targets["tw-missing"]["failure"] == "http_status"
    assert targets["tw-missing"]["transfer"]["status"] == 404
    assert targets["tt-stall"]["failure"] == "stall"
    nxdomain = targets["tt-nxdomain"]
    assert nxdomain["failure"] == "dns_nxdomain"
    assert nxdomain["transfer"] is None and nxdomain["goodput_bytes_per_second"] is None

    # Verdicts, against the one control that ran beside them.
    assert targets["ctl"]["verdict"] is None and targets["ctl"]["evidence"] is None
    assert image["verdict"]["verdict"] == "ok"
    # A 404 over verified TLS is the platform speaking, not the network blocking.
    missing = targets["tw-missing"]
    assert missing["verdict"]["verdict"] == "platform_refused"
    assert missing["verdict"]["stage"] is None
    assert missing["evidence"]["http_status"] == 404
    # Which kind of evidence decided each verdict.
    assert (missing["verdict"]["rule"], image["verdict"]["rule"]) == ("platform_answer", "controls")
    assert nxdomain["verdict"]["rule"] == "controls"  # NXDOMAIN for all resolvers alike
    # 20 KB and silence: a freeze, with its offset in the evidence.
    assert targets["tt-stall"]["verdict"]["stage"] == "freeze"
    assert targets["tt-stall"]["evidence"]["froze_after_bytes"] == 20000
    assert nxdomain["verdict"]["stage"] == "dns"
    assert image["evidence"]["controls"]["goodput_bytes_per_second"].keys() == {"ctl"}


def test_human_output_shows_both_tables(lab_targets: Path) -> None:
    done = run_cli("check", "--targets", str(lab_targets), "--group", "tiktok")

    assert done.returncode == 0, done.stderr
    assert "DNS" in done.stdout and "Transfers" in done.stdout and "Verdicts" in done.stdout
    assert "tt-stall" in done.stdout and "stall" in done.stdout
    assert "dns_nxdomain" in done.stdout
    assert "tw-image" not in done.stdout  # --group tiktok left twitter out
    # Not a terminal: one progress line per finished target on stderr.
    assert "done tt-stall: froze at" in done.stderr


def test_plot_draws_what_happened_to_each_target(lab_targets: Path, tmp_path: Path) -> None:
    picture = tmp_path / "round.png"

    done = run_cli("check", "--targets", str(lab_targets), "--json", "--plot", str(picture))

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["targets"]  # the plot leaves stdout to the document
    assert png_size(picture.read_bytes())[0] == 1000  # a PNG, for a viewer 1000 px wide
    assert picture.stat().st_size > 10_000
    assert f"Plot written to {picture}" in done.stderr


def test_rounds_are_judged_one_by_one_and_over_the_window(lab_targets: Path) -> None:
    args = ("check", "--targets", str(lab_targets), "--group", "twitter", "--group", "control")
    started = time.monotonic()
    done = run_cli(*args, "--rounds", "2", "--interval", "3", "--json")
    elapsed = time.monotonic() - started
    shown = run_cli(*args, "--rounds", "2", "--interval", "0")

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["format"] == "throttle-probe.window/2"
    assert [r["format"] for r in document["rounds"]] == ["throttle-probe.check/2"] * 2
    assert elapsed > 3  # the second round waited for its start
    window = document["window"]
    assert window.keys() == {"tw-image", "tw-missing"}
    assert window["tw-image"]["verdict"] == "ok"
    assert window["tw-image"]["evidence"]["rounds"] == ["ok", "ok"]
    assert window["tw-missing"]["verdict"] == "platform_refused"
    assert "answered HTTP 404 in 2 of 2 rounds" in window["tw-missing"]["reason"]
    assert "Round 2 of 2 done." in done.stderr
    assert shown.returncode == 0, shown.stderr
    assert "Verdicts per round" in shown.stdout
    assert "Verdicts over the window of 2 rounds" in shown.stdout


def test_options_override_the_file(lab: Lab, lab_targets: Path) -> None:
    done = run_cli(
        "check",
        "--targets",
        str(lab_targets),
        "--group",
        "control",
        "--resolver",
        lab.dns.address,
        "--max-bytes",
        "100000",
        "--json",
    )

    assert done.returncode == 0, done.stderr
    (ctl,) = json.loads(done.stdout)["targets"]
    assert ctl["transfer"]["stop_reason"] == "max_bytes"
    assert 100000 <= ctl["transfer"]["bytes"] < 100000 + 65537
    assert ctl["dns"][0]["resolver_address"] == lab.dns.address


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--group", "facebook"], "--group: no group named 'facebook'"),
        (["--resolver", "dns.example"], "--resolver: 'dns.example' is not 'system'"),
        (["--max-bytes", "10"], "Invalid value for '--max-bytes'"),
        (["--ca-bundle", "/nonexistent.pem"], "Invalid value for '--ca-bundle'"),
        (["--ca-bundle", "/etc/hostname"], "--ca-bundle: /etc/hostname holds no PEM certificate"),
        (["--rounds", "2", "--interval", "inf"], "Invalid value for '--interval'"),
        (["--rounds", "2", "--interval", "1e308"], "Invalid value for '--interval'"),
        (["--rounds", "2", "--interval", "nan"], "--interval: must be a number, not nan"),
        (["--timeout", "1e309"], "Invalid value for '--timeout'"),
        (["--timeout", "nan"], "--timeout: must be a number, not nan"),
        (["--plot", "/dev/full"], "--plot: /dev/full must end in .png, .svg, .pdf"),
        (["--plot", "round.txt"], "--plot: round.txt must end in .png"),
        (["--plot", "/no/such/folder/round.png"], "--plot: the folder /no/such/folder does not"),
    ],
)
def test_bad_usage_exits_2(lab_targets: Path, args: list[str], message: str) -> None:
    done = run_cli("check", "--targets", str(lab_targets), *args)

    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_bad_config_exits_2_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("groups:\n  t:\n    role: victim\n    targets: []\n")

    done = run_cli("check", "--targets", str(path))

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"{path}:3: groups.t.role: should be 'target' or 'control' (got 'victim').",
        f"{path}:4: groups.t.targets: must not be empty.",
    ]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_cleanly_and_reports_what_was_measured(
    lab: Lab, tmp_path: Path, signum: signal.Signals
) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(
        lab.config_text(
            {
                "tiktok": [("stalled", lab.url("tiktok.test", "/stall/30000"))],
                "control": [("ctl", lab.url("control.test", "/bytes/100000"))],
            }
        ).replace("stall: 2, transfer: 10", "stall: 60, transfer: 120")
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "probe", "check", "--targets", str(path), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    # Wait until the control has finished, so that the stalled download is under way.
    assert "done ctl" in process.stderr.readline()
    time.sleep(0.3)
    started = time.monotonic()
    process.send_signal(signum)
    stdout, _ = process.communicate(timeout=30)

    assert process.returncode == 130
    assert time.monotonic() - started < 5
    document = json.loads(stdout)
    assert document["interrupted"] is True
    targets = by_name(document)
    control = targets["ctl"]["transfer"]
    assert targets["ctl"]["failure"] is None and control["bytes"] > 100000 * (
        control["requests"] - 1
    )
    stalled = targets["stalled"]
    assert stalled["failure"] == "interrupted"
    assert stalled["transfer"]["bytes"] == 30000


def test_help_answers_without_importing_the_engine() -> None:
    code = (
        "import sys, probe.cli; "
        "heavy = [m for m in ('httpx', 'rich', 'pydantic', 'scapy') if m in sys.modules]; "
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert done.stdout.strip() == "[]"
    assert run_cli("--help").returncode == 0 and "check" in run_cli("--help").stdout


def _can_make_namespaces() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


@pytest.mark.root
@pytest.mark.skipif(
    not _can_make_namespaces() and not IN_CI,
    reason="needs root and iproute2 for a network namespace",
)
def test_no_network_at_all_says_so_and_exits_1() -> None:
    # An empty network namespace: loopback down, no route anywhere, nothing can leave.
    namespace = f"tp-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        done = subprocess.run(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "probe", "check"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        subprocess.run(["ip", "netns", "delete", namespace], check=True)

    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "No network: no resolver answered and no connection could be opened, "
        "so nothing was measured."
    )


def test_output_that_cannot_be_written_is_one_sentence_and_exit_1(
    lab_targets: Path, tmp_path: Path
) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "probe", "check", "--targets", str(lab_targets), "--json"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    plot = run_cli("check", "--targets", str(lab_targets), "--json", "--plot", "/proc/round.png")

    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "Cannot write the JSON document: no space left on device."
    )
    assert plot.returncode == 1 and "Traceback" not in plot.stderr + done.stderr
    assert plot.stderr.splitlines()[-1].startswith("Cannot write the plot to /proc/round.png")
    assert "Plot written" not in plot.stderr


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("directory", "replay.secret_file: not a file:"),
        ("empty", "is empty: it must hold at least 16 bytes"),
    ],
)
def test_a_replay_secret_that_cannot_serve_says_why(
    lab: Lab, tmp_path: Path, secret: str, message: str
) -> None:
    path = tmp_path / "replay.secret"
    if secret == "directory":
        path.mkdir()
    else:
        path.write_text("")
    targets = tmp_path / "targets.yaml"
    config = lab.config_text({"control": [("ctl", lab.url("control.test", "/bytes/1000"))]})
    targets.write_text(config + f"replay: {{server: 127.0.0.1:9, secret_file: {path}}}\n")

    done = run_cli("check", "--targets", str(targets))

    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_the_lab_without_its_extra_says_what_to_install() -> None:
    # As in the image: the probe installed without the lab's packages.
    code = (
        "import sys; sys.modules['trustme'] = None; sys.argv = ['throttle-probe', 'lab', 'up']; "
        "from probe.cli import main; main()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert done.returncode == 1
    assert done.stderr.strip() == (
        "The lab needs the package trustme, which the probe itself does not: "
        "install the lab's extra (pip install 'throttle-probe[lab]')."
    )
