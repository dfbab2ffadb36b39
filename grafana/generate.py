"""Build the Grafana dashboards in grafana/dashboards/ with grafana-foundation-sdk.

    python grafana/generate.py                 # rewrite grafana/dashboards/*.json
    python grafana/generate.py --output DIR    # write them elsewhere

The JSON is checked in (Grafana provisions files, not Python); the tests
regenerate it and compare, and run every panel's query against a real
Prometheus that scraped the daemon in the lab. Every query filters by the
dashboard's variables: ``datasource`` (any Prometheus, a fleet's central
store included), ``probe`` (the ``probe`` label a fleet's agents or the
scrape config set; "All" matches probes without one) and ``group``.
"""

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as board
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common, dashboard

HERE = Path(__file__).resolve().parent
DASHBOARDS = HERE / "dashboards"
DATASOURCE = dashboard.DataSourceRef(type_val="prometheus", uid="${datasource}")
OVERVIEW_UID = "throttle-probe-overview"
TARGET_UID = "throttle-probe-target"
WINDOW = 'scope="window"'
TARGET = 'role="target"'

# The verdicts in the order of their codes on the state timelines, with colours.
VERDICTS = [
    ("ok", "green"),
    ("degraded", "yellow"),
    ("throttled", "orange"),
    ("blocked", "red"),
    ("inconclusive", "text"),
    ("platform_refused", "blue"),  # the platform's own HTTP answer: not the network
]
# The round's network as its controls saw it, and each control's own state
# (ok, frozen, or failed at any other stage), in the order of their codes.
NETWORK_STATES = [
    ("healthy", "green"),
    ("lossy", "yellow"),
    ("slow", "yellow"),
    ("failing", "orange"),
    ("domestic_only", "red"),  # a shutdown or a white list
]
CONTROL_STATES = [("ok", "green"), ("freeze", "purple"), ("failed", "red")]
ECH_VERDICTS = [("ok", "green"), ("blocked", "red"), ("inconclusive", "text")]
PHASES = [
    ("dns", "DNS", "the query to the resolver whose answer was used"),
    ("connect", "TCP connect", "the TCP handshake"),
    ("tls", "TLS handshake", "the TLS handshake, from the ClientHello on"),
    ("handshake", "QUIC handshake", "the QUIC handshake, from the first Initial on"),
    ("first_byte", "First byte", "from the request to the first byte of the body"),
]


def selector(*matchers: str, group: bool = True, transport: bool = True) -> str:
    """The variables' matchers (and ``matchers``) for a PromQL selector.

    ``group`` for the per-target series, ``transport`` for the series that carry
    one (tcp, quic): the per-target series and the controls' median.
    """
    parts = ['probe=~"$probe"', *(['group=~"$group"'] if group else [])]
    parts += [*(['transport=~"$transport"'] if transport else []), *matchers]
    return "{" + ", ".join(parts) + "}"


def probe_selector() -> str:
    """The matchers for the series of a probe as a whole (rounds, budget): the probe only."""
    return selector(group=False, transport=False)


def verdict_code(scope: str, *matchers: str) -> str:
    """One series per probe and target whose value is its verdict's code (1 ok, 2 degraded, ...).

    The state set has exactly one verdict at 1, so the weighted sum is that verdict's code.
    """
    terms = []
    for code, (name, _) in enumerate(VERDICTS, start=1):
        match = selector(f'scope="{scope}"', f'verdict="{name}"', *matchers)
        by = "probe, group, target, transport"
        terms.append(f"{code} * max by ({by}) (throttle_probe_verdict{match})")
    return "\n+ ".join(terms)


def verdict_mappings(states: Sequence[tuple[str, str]] = VERDICTS) -> list[dashboard.ValueMapping]:
    options = {
        str(code): dashboard.ValueMappingResult(text=name, color=color, index=code - 1)
        for code, (name, color) in enumerate(states, start=1)
    }
    return [dashboard.ValueMap(options=options)]


def state_code(
    metric: str, matchers: str, states: Sequence[tuple[str, str]], by: str, label: str = "state"
) -> str:
    """One series per ``by`` whose value is the code of its state (1 for the first, ...).

    For a state set whose one current state is 1 (the others 0 or absent): the
    code of the state at 1. The last state stands for every other value of ``label``.
    """
    terms = []
    named = "|".join(name for name, _ in states[:-1])
    for code, (name, _) in enumerate(states, start=1):
        match = f'{label}!~"{named}"' if code == len(states) else f'{label}="{name}"'
        inner = matchers[:-1] + f", {match}}}"
        terms.append(f"{code} * max by ({by}) ({metric}{inner} == 1)")
    return "\nor ".join(terms)


def query(expr: str, legend: str = "__auto", ref: str = "A") -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref)
        .range()
        .datasource(DATASOURCE)
    )


def verdict_timeline(
    title: str,
    expr: str,
    legend: str,
    height: int,
    states: Sequence[tuple[str, str]] = VERDICTS,
    span: int = 24,
) -> statetimeline.Panel:
    return (
        statetimeline.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .with_target(query(expr, legend))
        .mappings(verdict_mappings(states))
        .color_scheme(board.FieldColor().mode(dashboard.FieldColorModeId.THRESHOLDS))
        .show_value(common.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.8)
        .legend(common_builders.VizLegendOptions().show_legend(False))
        .span(span)
        .height(height)
    )


def timeseries_panel(
    title: str, description: str, targets: Sequence[prometheus.Dataquery], unit: str, span: int = 12
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(span)
        .height(8)
        .show_points(common.VisibilityMode.ALWAYS)
        .point_size(4)
        .span_nulls(False)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .calcs(["lastNotNull", "min", "max"])
        )
    )
    for target in targets:
        panel = panel.with_target(target)
    return panel


def log_ratio_panel(expr: str, legend: str, span: int = 12) -> timeseries.Panel:
    return (
        timeseries_panel(
            "Goodput against the controls (ratio, same round)",
            "1: as fast as the controls' median in the same round. 0.1 (dashed): OONI's 10x; "
            "a round calls a target throttled when it is 10x slower than every healthy "
            "control and Wehe's tests agree (docs/check.md).",
            [query(expr, legend)],
            "none",
            span,
        )
        .scale_distribution(
            common_builders.ScaleDistributionConfig().type(common.ScaleDistribution.LOG).log(10)
        )
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common.GraphThresholdsStyleMode.DASHED
            )
        )
        .thresholds(
            board.ThresholdsConfig()
            .mode(dashboard.ThresholdsMode.ABSOLUTE)
            .steps([dashboard.Threshold(None, "red"), dashboard.Threshold(0.1, "green")])
        )
    )


def phase_expr(phase: str, *matchers: str, by: str = "probe, target, transport") -> str:
    match = selector(f'phase="{phase}"', *matchers)
    bucket = f"throttle_probe_phase_duration_seconds_bucket{match}"
    return f"histogram_quantile(0.5, sum by ({by}, le) (increase({bucket}[1h])))"


def count_stat(title: str, verdict: str, color: str) -> stat.Panel:
    match = selector(WINDOW, f'verdict="{verdict}"')
    expr = f"count(throttle_probe_verdict{match} == 1) or vector(0)"
    return (
        stat.Panel()
        .title(title)
        .description(f"Targets whose window verdict is {verdict}, on the chosen probes.")
        .datasource(DATASOURCE)
        .with_target(query(expr, verdict))
        .thresholds(
            board.ThresholdsConfig()
            .mode(dashboard.ThresholdsMode.ABSOLUTE)
            .steps([dashboard.Threshold(None, "green"), dashboard.Threshold(1, color)])
        )
        .span(8)
        .height(4)
    )


def freshness_stat() -> stat.Panel:
    expr = f"time() - throttle_probe_last_round_timestamp_seconds{probe_selector()}"
    return (
        stat.Panel()
        .title("Since the last round")
        .description("Rounds come every 15 minutes by default; past an hour the probe is stale.")
        .datasource(DATASOURCE)
        .with_target(query(expr, "{{probe}}"))
        .unit("s")
        .thresholds(
            board.ThresholdsConfig()
            .mode(dashboard.ThresholdsMode.ABSOLUTE)
            .steps(
                [
                    dashboard.Threshold(None, "green"),
                    dashboard.Threshold(1800, "yellow"),
                    dashboard.Threshold(3600, "red"),
                ]
            )
        )
        .span(8)
        .height(4)
    )


def variables(with_target: bool) -> list[board.QueryVariable | board.DatasourceVariable]:
    found: list[board.QueryVariable | board.DatasourceVariable] = [
        board.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        label_variable("probe", "Probe", "throttle_probe_info", multi=True),
        label_variable("group", "Group", 'throttle_probe_verdict{probe=~"$probe"}', multi=True),
        label_variable(
            "transport", "Transport", 'throttle_probe_verdict{probe=~"$probe"}', multi=True
        ),
    ]
    if with_target:
        source = 'throttle_probe_verdict{probe=~"$probe", group=~"$group"}'
        found.append(label_variable("target", "Target", source, multi=False))
    return found


def label_variable(name: str, label: str, source: str, multi: bool) -> board.QueryVariable:
    """A variable over a label's values; "All" is ``.*``, which also matches series without it."""
    variable = (
        board.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query({"query": f"label_values({source}, {name})", "refId": "variable"})
        .refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard.VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(multi)
    )
    return variable.all_value(".*") if multi else variable


def base(uid: str, title: str, description: str, with_target: bool) -> board.Dashboard:
    """The settings both dashboards share, and their variables."""
    return (
        board.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["throttle-probe"])
        .time("now-24h", "now")
        .refresh("1m")
        .tooltip(dashboard.DashboardCursorSync.CROSSHAIR)
        .timezone("utc")
        .readonly()
        .variables(variables(with_target))  # type: ignore[arg-type]
    )


def section(
    built: board.Dashboard, title: str, panels: Sequence[Builder[dashboard.Panel]]
) -> board.Dashboard:
    """A row titled ``title`` with ``panels``, laid out left to right, 24 columns a line."""
    built = built.with_row(board.Row(title))
    for panel in panels:
        built = built.with_panel(panel)
    return built


def overview() -> board.Dashboard:
    built = base(
        OVERVIEW_UID,
        "throttle-probe: overview",
        "Which platforms each probe finds throttled or blocked, how slow, since when.",
        with_target=False,
    ).link(
        board.DashboardLink("Per target")
        .type(dashboard.DashboardLinkType.DASHBOARDS)
        .tags(["throttle-probe"])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    )
    every_target = "{{probe}} {{target}} {{transport}}"
    built = section(
        built,
        "Verdicts",
        [
            count_stat("Throttled now", "throttled", "orange"),
            count_stat("Blocked now", "blocked", "red"),
            freshness_stat(),
            verdict_timeline(
                "Verdict of every target (window of rounds)",
                verdict_code("window"),
                every_target,
                height=10,
            ),
        ],
    )
    rates = [
        goodput_panel(
            "Target goodput against the controls",
            "Each target's goodput in the latest round, and the median of the controls "
            "measured beside it (dashed). A failed download is a gap, not a zero.",
            [query(f"throttle_probe_goodput_bytes_per_second{selector(TARGET)} * 8", every_target)],
        ),
        log_ratio_panel(f"throttle_probe_goodput_ratio_to_controls{selector()}", every_target),
        timeseries_panel(
            "Throttled rate, by mechanism",
            "The rate a throttled target is held to over the window (policing: flat with "
            "loss; shaping: flat with a queue). Absent unless throttled.",
            [
                query(
                    f"throttle_probe_throttled_rate_bytes_per_second{selector(WINDOW)} * 8",
                    "{{probe}} {{target}} {{transport}} {{mechanism}}",
                )
            ],
            "bps",
            span=24,
        ),
    ]
    built = section(built, "Rates", rates)
    built = section(built, "The network and the controls", network_panels())
    built = section(built, "Phases (median over the past hour)", phase_panels())
    return section(
        built,
        "Failures and the probe",
        [
            failures_panel(selector(), "{{probe}} {{target}} {{transport}} {{stage}}: {{failure}}"),
            budget_panel(),
            rounds_panel(),
        ],
    )


def network_panels() -> list[statetimeline.Panel | timeseries.Panel]:
    """The round's network state, each control's own, the ECH check and the taint check."""
    network = state_code("throttle_probe_network_state", probe_selector(), NETWORK_STATES, "probe")
    controls = state_code(
        "throttle_probe_control_state", selector(), CONTROL_STATES, "probe, target, transport"
    )
    ech = state_code(
        "throttle_probe_ech_verdict", probe_selector(), ECH_VERDICTS, "probe", label="verdict"
    )
    return [
        verdict_timeline(
            "Network state (as the controls saw it)",
            network,
            "{{probe}}",
            height=5,
            states=NETWORK_STATES,
            span=12,
        ),
        verdict_timeline(
            "ECH check (outer name cloudflare-ech.com with an ECH extension)",
            ech,
            "{{probe}}",
            height=5,
            states=ECH_VERDICTS,
            span=12,
        ),
        verdict_timeline(
            "Each control's own state (a frozen or failed control is left out of the figures)",
            controls,
            "{{probe}} {{target}} {{transport}}",
            height=6,
            states=CONTROL_STATES,
            span=12,
        ),
        timeseries_panel(
            "Tainted address (the SNI swap's server, after the platform names)",
            "1 while the swap's server stays slowed for its own name after the platform "
            "names went to it: the address, not the name, carries the penalty.",
            [query(f"throttle_probe_address_tainted{probe_selector()}", "{{probe}}")],
            "none",
        ),
    ]


def goodput_panel(
    title: str, description: str, targets: Sequence[prometheus.Dataquery]
) -> timeseries.Panel:
    """``targets``' goodput queries beside the controls' median, drawn dashed."""
    controls = query(
        f"throttle_probe_controls_goodput_bytes_per_second{selector(group=False)} * 8",
        "{{probe}} {{transport}} controls' median",
        ref="Z",
    )
    dashed = dashboard.DynamicConfigValue(
        id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}
    )
    return timeseries_panel(title, description, [*targets, controls], "bps").override_by_regexp(
        ".*controls' median", [dashed]
    )


def phase_panels(
    *matchers: str,
    by: str = "probe, target, transport",
    legend: str = "{{probe}} {{target}} {{transport}}",
    span: int = 6,
) -> list[timeseries.Panel]:
    return [
        timeseries_panel(
            title,
            f"The median time of {what}, over the downloads of the past hour.",
            [query(phase_expr(phase, *matchers, by=by), legend)],
            "s",
            span,
        )
        for phase, title, what in PHASES
    ]


def failures_panel(match: str, legend: str, span: int = 12) -> timeseries.Panel:
    expr = (
        "sum by (probe, target, transport, stage, failure) "
        f"(increase(throttle_probe_failures_total{match}[1h])) > 0"
    )
    return timeseries_panel(
        "Failures by stage (past hour)",
        "Failed downloads per hour, by the stage and the failure name (dns_nxdomain, "
        "tcp_timeout, tls_reset, stall, ...). The controls' failures are here too.",
        [query(expr, legend)],
        "short",
        span,
    ).draw_style(common.GraphDrawStyle.BARS)


def budget_panel() -> timeseries.Panel:
    match = probe_selector()
    spent = f"throttle_probe_budget_spent_bytes{match} / throttle_probe_budget_bytes{match}"
    return timeseries_panel(
        "Data used today, of the daily budget",
        "Body bytes moved since midnight UTC over daemon.daily_budget. At 100% measuring "
        "pauses until midnight (an alert says so).",
        [query(spent, "{{probe}}")],
        "percentunit",
        6,
    ).max(1)


def rounds_panel() -> timeseries.Panel:
    """Rounds per hour, with the round ids as exemplars: each leads to the archived round."""
    return timeseries_panel(
        "Rounds (exemplars: round ids)",
        "Rounds finished per hour. Each diamond is an exemplar carrying a round_id: its link "
        "opens that round as the probe archived it (/rounds/ID on the probe, with --archive).",
        [
            query(
                f"increase(throttle_probe_rounds_total{probe_selector()}[1h])",
                "{{probe}}",
            ).exemplar(True)
        ],
        "short",
        6,
    )


def target_drilldown() -> board.Dashboard:
    one = 'target="$target"'
    built = base(
        TARGET_UID,
        "throttle-probe: one target",
        "One target as every chosen probe sees it: verdicts, rates, phases, failures.",
        with_target=True,
    ).link(
        board.DashboardLink("Overview")
        .type(dashboard.DashboardLinkType.LINK)
        .url(f"/d/{OVERVIEW_UID}")
        .include_vars(True)
        .keep_time(True)
    )
    built = section(
        built,
        "Verdicts of $target",
        [
            verdict_timeline(
                "Window verdict", verdict_code("window", one), "{{probe}} {{transport}}", 5
            ),
            verdict_timeline(
                "Round verdict", verdict_code("round", one), "{{probe}} {{transport}}", 5
            ),
        ],
    )
    rates = [
        goodput_panel(
            "Goodput of $target and of the controls",
            "The target's goodput in each round beside the controls' median (dashed), and "
            "the rate it is held to over the window when it is throttled.",
            [
                query(
                    f"throttle_probe_goodput_bytes_per_second{selector(one)} * 8",
                    "{{probe}} {{transport}}",
                ),
                query(
                    f"throttle_probe_throttled_rate_bytes_per_second{selector(one, WINDOW)} * 8",
                    "{{probe}} {{transport}} throttled ({{mechanism}})",
                    ref="B",
                ),
            ],
        ),
        log_ratio_panel(
            f"throttle_probe_goodput_ratio_to_controls{selector(one)}", "{{probe}} {{transport}}"
        ),
    ]
    built = section(built, "Rates", rates)
    phases = phase_panels(one, by="probe, transport", legend="{{probe}} {{transport}}")
    built = section(built, "Phases (median over the past hour)", phases)
    blocked_at = timeseries_panel(
        "Blocked at",
        "1 at the stage where a blocked target fails over the window (dns, tcp, tls, "
        "quic, http, stall). Absent unless blocked.",
        [
            query(
                f"throttle_probe_blocked_stage{selector(one, WINDOW)}",
                "{{probe}} {{transport}} {{stage}}",
            )
        ],
        "short",
    ).draw_style(common.GraphDrawStyle.BARS)
    failures = failures_panel(selector(one), "{{probe}} {{transport}} {{stage}}: {{failure}}")
    return section(built, "Failures", [failures, blocked_at])


def render(built: board.Dashboard) -> str:
    model = built.build()
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number  # stable ids: Grafana keys a panel's links and state on them
    return json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, built in (("overview", overview()), ("target", target_drilldown())):
        path = directory / f"throttle-probe-{name}.json"
        path.write_text(render(built))
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DASHBOARDS, help="folder to write into")
    for path in write_all(parser.parse_args().output):
        print(path)


if __name__ == "__main__":
    main()
