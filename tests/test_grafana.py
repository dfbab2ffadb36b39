"""grafana/ and docker-compose.yml, checked without Grafana or Docker (neither runs here).

The dashboards are regenerated and compared with the checked-in JSON; every
reference to a variable or a datasource must resolve; the Compose file, the
Prometheus config it mounts and Grafana's provisioning must agree on ports,
paths, rule files and dashboards. The panels' queries run against a real
Prometheus in tests/test_daemon_lab.py.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.grafana_support import (
    BUILT_IN,
    DASHBOARDS,
    GRAFANA,
    load,
    panels,
    queries,
    referenced,
    variable_names,
)
from tests.prometheus_support import require_prometheus

REPOSITORY = GRAFANA.parent
COMPOSE = yaml.safe_load((REPOSITORY / "docker-compose.yml").read_text())
# The probe service runs the image's default command.
COMPOSE_PROBE_COMMAND = (REPOSITORY / "Dockerfile").read_text().split("\nCMD ", 1)[1]


def test_regenerating_the_dashboards_gives_the_checked_in_files(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(GRAFANA / "generate.py"), "--output", str(tmp_path)],
        capture_output=True,
        text=True,
    )

    assert done.returncode == 0, done.stderr
    generated = sorted(tmp_path.glob("*.json"))
    assert [path.name for path in generated] == [path.name for path in DASHBOARDS]
    for fresh, checked_in in zip(generated, DASHBOARDS, strict=True):
        assert fresh.read_text() == checked_in.read_text(), f"run grafana/generate.py: {fresh.name}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_every_reference_resolves(path: Path) -> None:
    board = load(path)
    names = variable_names(board)

    assert "__inputs" not in board  # placeholders that break file provisioning
    assert {"datasource", "probe", "group"} <= names
    (source,) = [v for v in board["templating"]["list"] if v["name"] == "datasource"]
    assert source["type"] == "datasource" and source["query"] == "prometheus"
    text = path.read_text()
    assert referenced(text) - BUILT_IN <= names, referenced(text) - BUILT_IN - names
    for panel in panels(board):
        refs = [panel["datasource"], *(target["datasource"] for target in panel["targets"])]
        assert all(ref == {"type": "prometheus", "uid": "${datasource}"} for ref in refs), panel
        assert panel["targets"], panel["title"]
    for variable in board["templating"]["list"][1:]:
        assert variable["datasource"]["uid"] == "${datasource}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_panels_have_ids_and_do_not_overlap(path: Path) -> None:
    board = load(path)
    cells: dict[tuple[int, int], str] = {}
    ids = [panel["id"] for panel in board["panels"]]

    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, (panel["title"], cells[(x, y)])
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_every_query_filters_by_the_probe(path: Path) -> None:
    """A fleet's central store holds every probe: no panel may mix them unasked."""
    for title, expr in queries(load(path)):
        selectors = expr.count("throttle_probe_")
        assert expr.count('probe=~"$probe"') == selectors, (title, expr)


def mounts(service: str) -> dict[str, Path]:
    """A Compose service's bind mounts: the path inside the container -> the repository's file."""
    found = {}
    for volume in COMPOSE["services"][service].get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            found[target] = REPOSITORY / source
    return found


def resolve(service: str, inside: str) -> Path:
    """The repository file that appears at ``inside`` in ``service``'s container."""
    for target, source in sorted(mounts(service).items(), key=lambda item: -len(item[0])):
        if inside == target or inside.startswith(target + "/"):
            return source / Path(inside).relative_to(target)
    raise AssertionError(f"{inside} is not mounted into {service}")


def test_every_bind_mount_exists_in_the_repository() -> None:
    for service in COMPOSE["services"]:
        for source in mounts(service).values():
            assert source.exists(), source


def published(service: str) -> int:
    (port,) = COMPOSE["services"][service]["ports"]
    host, host_port, container_port = port.split(":")
    assert host == "127.0.0.1"  # nothing on the host's public addresses
    assert host_port == container_port
    return int(container_port)


@pytest.mark.prometheus
def test_prometheus_scrapes_the_probe_and_loads_the_rules(tmp_path: Path) -> None:
    require_prometheus()
    command = COMPOSE["services"]["prometheus"]["command"]
    (config_flag,) = [flag for flag in command if flag.startswith("--config.file=")]
    config_file = resolve("prometheus", config_flag.split("=", 1)[1])
    config: dict[str, Any] = yaml.safe_load(config_file.read_text())
    (job,) = config["scrape_configs"]
    (static,) = job["static_configs"]

    dockerfile = (REPOSITORY / "Dockerfile").read_text()
    assert static["targets"] == [f"probe:{published('probe')}"]
    assert f"EXPOSE {published('probe')}" in dockerfile
    assert static["labels"]["probe"]  # the dashboards' probe variable reads it
    assert "--enable-feature=exemplar-storage" in command
    # The config as Prometheus sees it, rule files at their host paths: promtool checks both.
    rules = [str(resolve("prometheus", rule)) for rule in config["rule_files"]]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({**config, "rule_files": rules}))
    checked = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 11 rules found" in checked.stdout


def test_grafana_provisions_the_datasource_and_the_dashboards() -> None:
    provisioning = resolve("grafana", "/etc/grafana/provisioning")
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "throttle-probe.yml").read_text())[
        "providers"
    ]
    environment = COMPOSE["services"]["grafana"]["environment"]
    home = resolve("grafana", environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])

    assert source["type"] == "prometheus"
    assert source["url"] == f"http://prometheus:{published('prometheus')}"
    (link,) = source["jsonData"]["exemplarTraceIdDestinations"]
    probe_url = f"http://localhost:{published('probe')}/rounds/"
    assert link == {**link, "name": "round_id", "url": probe_url + "$${__value.raw}"}
    assert "--archive" in COMPOSE_PROBE_COMMAND  # the rounds the link leads to are kept
    provided = sorted(resolve("grafana", provider["options"]["path"]).glob("*.json"))
    assert provided == DASHBOARDS
    assert home in DASHBOARDS
    assert published("grafana") == 3000
