"""``throttle-probe locate`` out: one table in the terminal, or one JSON document."""

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from probe.analysis.locate import Location
from probe.records import LocateFinding, TtlOutcome, TtlTrial, TtlWalk
from probe.units import format_rate

RAW_SOCKET_NOTE = (
    "Hop addresses need CAP_NET_RAW, to read the routers' ICMP time-exceeded replies: run "
    "as root, or grant it (setcap cap_net_raw+ep on the Python binary; Docker: cap_add: "
    "[NET_RAW]; systemd: AmbientCapabilities=CAP_NET_RAW)."
)

_SAID = {
    LocateFinding.RESET: "resets the name's connections at hop {hop}",
    LocateFinding.DROP: "drops the name's ClientHello at hop {hop}",
    LocateFinding.THROTTLE: "slows the sessions after the name's ClientHello from hop {hop} "
    "on: {name_rate} after the name's there, {control_rate} after the control's",
    LocateFinding.NOTHING: "its ClientHello reached the server at hop {server}: nothing on "
    "the path resets or drops it{sessions}",
    LocateFinding.WHOLE_PATH: "the control met the same at hop {last}: the path does it to "
    "every name",
    LocateFinding.UNREACHABLE: "no TCP connection to {address}:{port}: nothing to send on",
    LocateFinding.NOT_REACHED: "neither equipment nor the server within {last} hops",
}


NO_SESSIONS = (
    " (a throttle or freeze, which acts after the handshake, is looked for with the "
    "targets file's replay server and CAP_NET_RAW)"
)


def sentence(location: Location) -> str:
    """What the walk found, in one clause."""
    walk = location.walk
    at_hop = [s for s in walk.sessions if s.ttl == location.hop]
    return _SAID[location.finding].format(
        hop=_hop_text(location),
        server=location.server_hop,
        last=location.ttls[-1] if location.ttls else 0,
        address=walk.address,
        port=walk.port,
        name_rate=format_rate(at_hop[0].name.goodput_bytes_per_second) if at_hop else "",
        control_rate=format_rate(at_hop[0].control.goodput_bytes_per_second) if at_hop else "",
        sessions=_sessions_clause(walk),
    )


def _sessions_clause(walk: TtlWalk) -> str:
    if not walk.sessions:
        return NO_SESSIONS
    last = walk.sessions[-1].ttl
    return (
        f", and sessions to {walk.session_server} after its ClientHello with TTL 1 to {last} "
        "were not held 10x below those after the control's"
    )


def _hop_text(location: Location) -> str:
    hop = str(location.hop)
    if location.earliest_hop is not None and location.earliest_hop != location.hop:
        hop = f"{location.earliest_hop}-{location.hop} (a router that sends no ICMP between)"
    router = _router(location)
    return f"{hop} ({router})" if router else hop


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
            _router(location),
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


def _router(location: Location) -> str:
    """The router at the hop, or the last one before it that answered."""
    if location.hop_address:
        return location.hop_address
    return f"after {location.previous_address}" if location.previous_address else ""


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
