"""``throttle-probe locate`` out: one table in the terminal, or one JSON document."""

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from probe.analysis.evasion import EvasionTable, judge_matrix
from probe.analysis.locate import Location, router_of, sentence
from probe.records import Evasion, EvasionMatrix, EvasionState, TtlOutcome, TtlTrial

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
    TtlOutcome.ERROR: "?",
}
LEGEND = (
    "By TTL from 1: e expired at a router, R reset, a answered, c closed, - silent (twice), "
    "x no connection, ? another error."
)


def outcomes(trials: Sequence[TtlTrial]) -> str:
    """The trials at TTL 1, 2, ... as one letter each (``LEGEND``)."""
    return " ".join(_LETTER[trial.outcome] for trial in trials)


def render(
    locations: Sequence[Location], console: Console, matrices: Sequence[EvasionMatrix] = ()
) -> None:
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
    for matrix in matrices:
        judged = judge_matrix(matrix)
        console.print(evasion_table(judged))
        console.print(evasion_sentence(matrix, judged))


_STATE_STYLE = {
    EvasionState.RESTORED: "green",
    EvasionState.NOT_RESTORED: "bold red",
    EvasionState.NOT_APPLICABLE: "dim",
}


def evasion_table(table: EvasionTable) -> Table:
    """Evasion by direction: restored, not restored or not applicable."""
    directions = list(table.held_down)
    shown = Table(title=f"Evasions for {table.name} (replay server {table.server})")
    shown.add_column("evasion")
    for direction in directions:
        held = "held down" if table.held_down[direction] else "not held down"
        shown.add_column(f"{direction.value} (plain: {held})")
    for evasion in Evasion:
        cells = []
        for direction in directions:
            state = table.state(evasion, direction)
            style = _STATE_STYLE.get(state, "") if state else ""
            cells.append(f"[{style}]{state.value}[/{style}]" if state else "")
        shown.add_row(evasion.value, *cells)
    return shown


def evasion_sentence(matrix: EvasionMatrix, table: EvasionTable) -> str:
    if not any(table.held_down.values()):
        return f"{matrix.name}: the plain session was not held down: nothing to evade."
    restoring = ", ".join(e.value for e in table.restoring) or "none"
    unsent = "" if matrix.fake_ttl is not None else " (the fake was not sent: " + FAKE_NOTE + ")"
    return (
        f"{matrix.name}: what gets past the equipment in every held direction: {restoring}{unsent}."
    )


FAKE_NOTE = "it needs CAP_NET_RAW and a replay server beyond hop 1"


def _hop_only(location: Location) -> str:
    if location.hop is None:
        return ""
    if location.earliest_hop is not None and location.earliest_hop != location.hop:
        return f"{location.earliest_hop}-{location.hop}"
    return str(location.hop)


def document(locations: Sequence[Location], matrices: Sequence[EvasionMatrix] = ()) -> str:
    """The JSON document: per name, the finding, the hops and every trial; the evasion
    matrices asked for."""
    entries = [_entry(location) for location in locations]
    addresses = all(location.walk.hop_addresses for location in locations)
    body: dict[str, Any] = {"locate": entries, "hop_addresses": addresses}
    body["evasions"] = [_matrix_entry(matrix) for matrix in matrices]
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


def _matrix_entry(matrix: EvasionMatrix) -> dict[str, Any]:
    table = judge_matrix(matrix)
    return {
        "name": matrix.name,
        "target": matrix.target,
        "server": matrix.server,
        "fake_ttl": matrix.fake_ttl,
        "held_down": {direction.value: held for direction, held in table.held_down.items()},
        "restoring": [evasion.value for evasion in table.restoring],
        "cells": [dataclasses.asdict(cell) for cell in table.cells],
        "sessions": [
            {
                "direction": session.direction.value,
                "evasion": session.evasion.value if session.evasion else None,
                "baseline": session.baseline,
                "sni": session.record.sni if session.record else None,
                "goodput_bytes_per_second": session.record.goodput_bytes_per_second
                if session.record
                else None,
                "bytes": session.record.bytes if session.record else 0,
                "failure": session.record.failure if session.record else None,
            }
            for session in matrix.sessions
        ],
    }
