"""The evasion matrix in the lab: each evasion works exactly where the equipment cannot see.

The lab's policer of 2021 (`sni-police`) matches a packet that starts a whole
ClientHello of up to 1400 bytes holding the name, in its exact case: a split
or padded ClientHello, or the name in capitals, gets past it; the name with a
trailing dot does not, and neither does a fake ClientHello sent first, since
it inspects each ClientHello. Told to inspect only the first TLS record of a
connection and to match in any case, the fake gets past it and capitals do
not. Equipment that reassembles the stream sees through splits and padding,
not through a ClientHello in two TLS records.
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

POLICED = "pbs.twimg.com"
SPLITS_AND_PADDING = {"split_in_header", "split_before_name", "split_in_name", "padded"}
# One packet, but the name cut by a record header, or a record before the ClientHello.
TWO_RECORDS = {"two_records", "record_first"}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    require_lab()
    with fresh_lab(Names("tpe"), Hops(2, beyond=1)) as the_lab:
        yield the_lab


def matrix(lab: Lab) -> dict[str, Any]:
    argv = [sys.executable, "-m", "probe", "locate", "--targets", str(lab.targets_file)]
    argv += ["--name", POLICED, "--evasions", "--json"]
    done = subprocess.run(lab.client_command(argv), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    (located,) = document["locate"]
    assert (located["finding"], located["hop"]) == ("throttle", 2), located["sentence"]
    (evasions,) = document["evasions"]
    return dict(evasions)


def states(evasions: dict[str, Any]) -> dict[str, set[str]]:
    """Each state: the evasions in it, in both directions alike (else 'evasion/direction')."""
    found: dict[str, set[str]] = {}
    by_evasion: dict[str, set[str]] = {}
    for cell in evasions["cells"]:
        by_evasion.setdefault(cell["evasion"], set()).add(cell["state"])
    for evasion, seen in by_evasion.items():
        assert len(seen) == 1, f"{evasion} differs by direction: {seen}"
        found.setdefault(seen.pop(), set()).add(evasion)
    return found


def test_what_gets_past_the_2021_policer_that_inspects_each_client_hello(lab: Lab) -> None:
    apply(lab, "sni-police")

    evasions = matrix(lab)

    assert evasions["held_down"] == {"download": True, "upload": True}
    assert evasions["fake_ttl"] == 2  # one short of the replay server, beyond the censor
    assert states(evasions) == {
        "restored": SPLITS_AND_PADDING | TWO_RECORDS | {"upper_case"},
        "not_restored": {"trailing_dot", "fake"},
    }
    assert set(evasions["restoring"]) == SPLITS_AND_PADDING | TWO_RECORDS | {"upper_case"}


def test_what_gets_past_equipment_that_inspects_the_first_record_in_any_case(lab: Lab) -> None:
    apply(lab, "sni-police:inspect=first,case=any")

    evasions = matrix(lab)

    assert states(evasions) == {
        "restored": SPLITS_AND_PADDING | TWO_RECORDS | {"fake"},
        "not_restored": {"trailing_dot", "upper_case"},
    }


def test_what_gets_past_equipment_that_reassembles_the_stream(lab: Lab) -> None:
    apply(lab, "sni-police:inspect=stream")

    evasions = matrix(lab)

    assert states(evasions) == {
        # Exact case; the first ClientHello decides; TLS records are not put together.
        "restored": TWO_RECORDS | {"upper_case", "fake"},
        "not_restored": SPLITS_AND_PADDING | {"trailing_dot"},
    }


def test_nothing_to_evade_where_the_name_is_not_held(lab: Lab) -> None:
    apply(lab, "sni-police:pattern=tiktok.com")  # pbs.twimg.com goes free
    argv = [sys.executable, "-m", "probe", "locate", "--targets", str(lab.targets_file)]
    argv += ["--name", POLICED, "--evasions", "--json"]
    done = subprocess.run(lab.client_command(argv), capture_output=True, text=True, timeout=600)

    document = json.loads(done.stdout)
    assert document["locate"][0]["finding"] == "nothing"
    assert document["evasions"] == []  # the matrix runs for a name found held only
