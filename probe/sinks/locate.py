"""``throttle-probe locate`` out: one table in the terminal, or one JSON document."""

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from probe.analysis.locate import Location, router_of, sentence
from probe.records import TtlOutcome, TtlTrial

RAW_SOCKET_NOTE = (
    "Hop addresses need CAP_NET_RAW, to read the routers' ICMP time-exceeded replies: run "
    "as root, or grant it (setcap cap_net_raw+ep on the Python binary; Docker: cap_add: "
    "[NET_RAW]; systemd: AmbientCapabilities=CAP_NET_RAW)."
)

_LETTER = {
    TtlOutcome.EXPIRED: "e",
    TtlOutcome.RESET: "R",
    TtlOutcome.ANSWERED: "a",
    TtlOutcome.CLOSED: "c",
    TtlOutcome.SILENT: "-",
    TtlOutcome.NO_CONNECTION: "x",
}
LEGEND = (
    "By TTL from 1: e expired at a router, R reset, a answered, c closed, - silent (twice), "
    "x no connection."
)


def outcomes(trials: Sequence[TtlTrial]) -> str:
    """The trials at TTL 1, 2, ... as one letter each (``LEGEND``)."""
    return " ".join(_LETTER[trial.outcome] for trial in trials)


def render(locations: Sequence[Location], console: Console) -> None:
    table = Table(title="Where the equipment acts (ClientHellos with a rising TTL)")
    for column in ("name", "finding", "hop", "router", "name by TTL", "control by TTL"):
        table.add_column(column)
    for location in locations:
        steps = location.walk.steps
        table.add_row(
            location.walk.name,
            location.finding.value,
            _hop_only(location),
            router_of(location),
            outcomes([step.name for step in steps]),
            outcomes([step.control for step in steps]),
        )
    console.print(table)
    console.print(LEGEND)
    for location in locations:
        walk = location.walk
        console.print(f"{walk.name} ({walk.address}:{walk.port}): {sentence(location)}.")
    if locations and not all(location.walk.hop_addresses for location in locations):
        console.print(RAW_SOCKET_NOTE)


def _hop_only(location: Location) -> str:
    if location.hop is None:
        return ""
    if location.earliest_hop is not None and location.earliest_hop != location.hop:
        return f"{location.earliest_hop}-{location.hop}"
    return str(location.hop)


def document(locations: Sequence[Location]) -> str:
    """The JSON document: per name, the finding, the hops and every trial."""
    entries = [_entry(location) for location in locations]
    addresses = all(location.walk.hop_addresses for location in locations)
    body: dict[str, Any] = {"locate": entries, "hop_addresses": addresses}
    if not addresses:
        body["note"] = RAW_SOCKET_NOTE
    return json.dumps(body, indent=2)


def _entry(location: Location) -> dict[str, Any]:
    walk = location.walk
    return {
        "name": walk.name,
        "control": walk.control,
        "server": f"{walk.address}:{walk.port}",
        "finding": location.finding.value,
        "hop": location.hop,
        "earliest_hop": location.earliest_hop,
        "hop_address": location.hop_address,
        "previous_hop_address": location.previous_address,
        "server_hop": location.server_hop,
        "ttls": location.ttls,
        "sentence": sentence(location),
        "steps": [dataclasses.asdict(step) for step in walk.steps],
        "session_server": walk.session_server,
        "sessions": [dataclasses.asdict(step) for step in walk.sessions],
    }
