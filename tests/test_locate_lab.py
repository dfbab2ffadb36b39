"""`locate` in the lab: the equipment at hop 1, 3 or 5, behind routers that answer or not.

Each layout is a lab of its own (a clean router per hop before the censoring
one); `locate` runs in its client as a user would, and must name the hop the
lab was built with, for a reset and for a silent drop, and never blame the
censor for what the path does to the control name too.
"""

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from probe.lab.control import Lab, fresh_lab
from probe.lab.topology import Hops, Names
from tests.lab_support import apply, require_lab

pytestmark = pytest.mark.lab

# One router beyond the censor at least: the sessions' trigger must expire before the
# replay server.
LAYOUTS = [Hops(1, beyond=1), Hops(3, beyond=1), Hops(5, frozenset({4}), beyond=2)]
TIKTOK, TWIMG = "www.tiktok.com", "pbs.twimg.com"  # sni-reset and sni-drop match only tiktok


@pytest.fixture(scope="module", params=LAYOUTS, ids=lambda h: f"censor-at-{h.censor}")
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    require_lab()
    with fresh_lab(Names("tph"), request.param) as the_lab:
        yield the_lab


def locate(lab: Lab, *names: str, prefix: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """`locate --json` in the lab's client for ``names``; the entries by name."""
    return {entry["name"]: entry for entry in locate_document(lab, *names, prefix=prefix)["locate"]}


def locate_document(lab: Lab, *names: str, prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    """`locate --json` in the lab's client for ``names``; the whole document."""
    argv = [sys.executable, "-m", "probe", "locate", "--targets", str(lab.targets_file)]
    argv += [arg for name in names for arg in ("--name", name)] + ["--max-hops", "8", "--json"]
    done = subprocess.run(
        lab.client_command([*prefix, *argv]), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def expected_previous_router(hops: Hops) -> str | None:
    """The last router before the censor that answers: it is the one the output names."""
    answering = [hop for hop in hops.before if hop not in hops.silent]
    return hops.address(answering[-1]) if answering else None


def test_a_reset_is_located_at_the_censors_hop_and_an_unmatched_name_passes(lab: Lab) -> None:
    apply(lab, "sni-reset")
    hops = lab.hops

    found = locate(lab, TIKTOK, TWIMG)

    reset = found[TIKTOK]
    assert (reset["finding"], reset["hop"], reset["earliest_hop"]) == (
        "reset",
        hops.censor,
        hops.censor,
    )
    assert reset["previous_hop_address"] == expected_previous_router(hops)
    assert reset["ttls"] == list(range(1, hops.censor + 1))
    passed = found[TWIMG]
    assert (passed["finding"], passed["hop"]) == ("nothing", None)
    assert passed["server_hop"] == hops.server  # the censor is in line: it is no hop of its own
    for step in passed["steps"][:-1]:  # every router before it answered, or is the silent one
        router = hops.address(step["ttl"])
        silent = step["ttl"] in hops.silent
        assert step["control"]["icmp_from"] == (None if silent else router), step


def test_a_silent_drop_is_located_at_the_censors_hop_or_just_behind_a_silent_router(
    lab: Lab,
) -> None:
    apply(lab, "sni-drop")
    hops = lab.hops

    dropped = locate(lab, TIKTOK)[TIKTOK]

    assert (dropped["finding"], dropped["hop"]) == ("drop", hops.censor)
    behind_silence = hops.censor - 1 in hops.silent
    assert dropped["earliest_hop"] == (hops.censor - 1 if behind_silence else hops.censor)
    last = dropped["steps"][-1]
    assert last["name"]["outcome"] == "silent" and last["name"]["retried"]
    # The control went on to the first router beyond the censor, which answered.
    assert last["control"]["outcome"] == "expired"
    assert dropped["hop_address"] == last["control"]["icmp_from"] == hops.address(hops.censor)


def test_what_the_path_does_to_the_control_too_is_not_blamed_on_a_censor(lab: Lab) -> None:
    apply(lab, "sni-reset:pattern=tiktok.com|yandex.ru")  # the control name is reset too
    reset_both = locate(lab, TIKTOK)[TIKTOK]
    apply(lab, "blackhole:server=tiktok")  # every packet to the server dropped
    dropped_both = locate(lab, TIKTOK)[TIKTOK]

    assert (reset_both["finding"], reset_both["hop"]) == ("whole_path", None)
    assert (dropped_both["finding"], dropped_both["hop"]) == ("unreachable", None)


def test_a_policer_is_located_by_the_sessions_after_a_ttl_limited_client_hello(lab: Lab) -> None:
    apply(lab, "sni-police:rate=150kbit")
    hops = lab.hops

    found = locate(lab, TWIMG, TIKTOK)

    policed = found[TWIMG]
    assert (policed["finding"], policed["hop"]) == ("throttle", hops.censor)
    assert policed["hop_address"] == hops.address(hops.censor)  # the first router beyond
    at_hop = next(s for s in policed["sessions"] if s["ttl"] == hops.censor)
    assert at_hop["name"]["goodput_bytes_per_second"] * 8 < 200_000
    before = [s for s in policed["sessions"] if s["ttl"] < hops.censor]
    assert all(s["name"]["goodput_bytes_per_second"] * 8 > 10_000_000 for s in before)
    free = found[TIKTOK]
    assert (free["finding"], free["hop"]) == ("nothing", None)
    assert [s["ttl"] for s in free["sessions"]] == list(range(1, hops.server))


def test_without_cap_net_raw_the_hop_is_found_and_the_addresses_are_left_out(lab: Lab) -> None:
    apply(lab, "sni-reset")
    no_raw = ("setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw")

    document = locate_document(lab, TIKTOK, TWIMG, prefix=no_raw)

    reset, passed = document["locate"]
    assert (reset["finding"], reset["hop"]) == ("reset", lab.hops.censor)
    assert reset["previous_hop_address"] is None
    assert document["hop_addresses"] is False
    assert "setcap cap_net_raw+ep" in document["note"]
    # The sessions that would look for a throttle need a raw socket too: not run, and said.
    assert (passed["finding"], passed["sessions"]) == ("nothing", [])
    assert "CAP_NET_RAW" in passed["sentence"]
