"""Reading the checked-in Grafana dashboards as Grafana would: panels, queries, variables."""

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

GRAFANA = Path(__file__).resolve().parent.parent / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
# Variables Grafana itself defines (https://grafana.com/docs/grafana/latest/dashboards/variables/).
BUILT_IN = {"__interval", "__interval_ms", "__range", "__range_s", "__rate_interval", "__name"}
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included; rows themselves are left out."""
    for panel in board["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries(board: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL expression) for every query of every panel."""
    for panel in panels(board):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def variable_names(board: Mapping[str, Any]) -> set[str]:
    return {variable["name"] for variable in board["templating"]["list"]}


def referenced(text: str) -> set[str]:
    """The variables ``$name`` or ``${name}`` that ``text`` refers to."""
    return {braced or bare for braced, bare in VARIABLE.findall(text)}


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with its variables replaced, as Grafana sends it to Prometheus."""
    return VARIABLE.sub(lambda found: values[found.group(1) or found.group(2)], expr)
