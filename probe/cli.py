"""The command line: ``throttle-probe check`` and friends.

Heavy modules (httpx, rich, pydantic) are imported inside the commands that
use them, so ``--help`` answers at once.
"""

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from probe import __version__
from probe.wording import host_port, os_reason

if TYPE_CHECKING:
    from probe.config import Config
    from probe.lab.control import Lab
    from probe.locator import LocateRequest
    from probe.server import ServerLimits
    from probe.sinks import Sink

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
T = TypeVar("T")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="throttle-probe")
def main() -> None:
    """Measure whether this network throttles or blocks Twitter/X, TikTok and others."""


Decorator = Callable[[Callable[..., None]], Callable[..., None]]


def _archive_options(command: Callable[..., None]) -> Callable[..., None]:
    """--archive DIR and --archive-cap SIZE, shared by check and run."""
    command = click.option(
        "--archive-cap",
        default="1GiB",
        show_default=True,
        metavar="SIZE",
        help="Most the archive folder may hold; the oldest files go first.",
    )(command)
    return click.option(
        "--archive",
        "archive_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Append every round, with its records and verdicts, to the archive in DIR.",
    )(command)


def _archive_sink(archive_dir: Path | None, cap: str, source: str) -> "Sink | None":
    """The archive sink for --archive, or one sentence and exit 2."""
    if archive_dir is None:
        return None
    from probe.config import ConfigError, parse_size
    from probe.sinks import OutputError
    from probe.sinks.archive import ArchiveSink

    try:
        return ArchiveSink(archive_dir, source, parse_size(cap, "--archive-cap"))
    except (ConfigError, OutputError) as error:
        _fail(str(error), EXIT_USAGE)


def _targets_option(help_text: str) -> Decorator:
    return click.option(
        "--targets",
        "targets_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help=help_text,
    )


@main.command()
@_targets_option("targets.yaml to use (default: the built-in one).")
@click.option("--group", "groups", multiple=True, help="Measure only this group (repeatable).")
@click.option(
    "--resolver",
    "resolvers",
    multiple=True,
    metavar="ADDR",
    help="Use this resolver instead of the configured ones: 'system', IP or IP:PORT (repeatable).",
)
@click.option(
    "--ca-bundle",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trust the CAs in this PEM file instead of the default store.",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1024),
    help="Stop each download after this many body bytes.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=3600),
    callback=lambda _c, _p, value: _finite("--timeout", value),
    help="Seconds a whole download may take (at most 3600).",
)
@click.option(
    "--no-replay", is_flag=True, help="Skip the replay test even if targets.yaml names a server."
)
@click.option(
    "--rounds",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Measure this many rounds and judge them together as well (Wehe over the window).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0, max=86400),
    default=30.0,
    show_default=True,
    callback=lambda _c, _p, value: _finite("--interval", value),
    help="Seconds from the start of one round to the start of the next.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Draw throughput over time, targets against controls, to this PNG (needs [plot]).",
)
@_archive_options
def check(
    targets_file: Path | None,
    groups: tuple[str, ...],
    resolvers: tuple[str, ...],
    ca_bundle: Path | None,
    max_bytes: int | None,
    timeout: float | None,
    no_replay: bool,
    rounds: int,
    interval: float,
    as_json: bool,
    plot_file: Path | None,
    archive_dir: Path | None,
    archive_cap: str,
) -> None:
    """Measure every target once, now, and report what happened.

    With --rounds N the round is repeated N times, --interval seconds apart,
    and each target also gets a verdict over the whole window.
    """
    from probe.config import ConfigError, load_config, with_overrides

    try:
        config = with_overrides(
            load_config(targets_file),
            groups=groups,
            resolvers=resolvers,
            ca_bundle=ca_bundle,
            max_bytes=max_bytes,
            transfer_timeout=timeout,
        )
    except ConfigError as error:
        _fail(str(error), EXIT_USAGE)
    source = str(targets_file) if targets_file else "built-in"
    outputs: list[Sink] = []
    if plot_file is not None:
        _check_plot_file(plot_file)
        from probe.sinks.plot import PlotSink

        outputs.append(PlotSink(plot_file))
    archive = _archive_sink(archive_dir, archive_cap, source)
    if archive is not None:
        outputs.append(archive)
    secret = None if no_replay else _replay_secret(config)
    sys.exit(_check(config, secret, source, rounds, interval, as_json, outputs))


def _finite(option: str, value: float | None) -> float | None:
    """click's ranges let nan through (every comparison with it is false)."""
    if value is not None and value != value:
        raise click.BadParameter("must be a number, not nan", param_hint=option)
    return value


def _check_plot_file(path: Path) -> None:
    """Refuse a plot that could not be written before measuring, not after."""
    if importlib.util.find_spec("matplotlib") is None:
        _fail("--plot needs matplotlib: pip install 'throttle-probe[plot]'.", EXIT_USAGE)
    from probe.sinks.plot import plot_path_problem

    problem = plot_path_problem(path)
    if problem is not None:
        _fail(f"{problem}.", EXIT_USAGE)


def _replay_secret(config: "Config") -> bytes | None:
    return None if config.replay is None else _load_secret(config.replay.secret_file)


def _load_secret(path: Path) -> bytes:
    """The replay secret in ``path``, or one sentence and exit code 2."""
    from probe.measure.replaywire import SecretError, load_secret

    try:
        return load_secret(path)
    except SecretError as error:
        _fail(f"{str(error).capitalize()}.", EXIT_USAGE)


def _check(
    config: "Config",
    secret: bytes | None,
    source: str,
    rounds: int,
    interval: float,
    as_json: bool,
    outputs: list["Sink"],
) -> int:
    """Measure ``rounds`` rounds, report them (and to ``outputs``); the exit code."""
    import asyncio

    from rich.console import Console

    from probe.analysis.reachability import network_unavailable
    from probe.runner import Runner, Schedule
    from probe.sinks import OutputError
    from probe.sinks.document import JsonSink
    from probe.sinks.terminal import LiveProgress, RoundCounter, TerminalSink

    stderr = Console(stderr=True)
    sinks: list[Sink] = [JsonSink(source) if as_json else TerminalSink()]
    if rounds > 1:
        sinks.append(RoundCounter(rounds, stderr))
    sinks += outputs
    runner = Runner(
        config,
        secret,
        Schedule(rounds=rounds, interval=interval, window=rounds),
        sinks,
        progress=lambda c: LiveProgress(stderr, c.settings.max_bytes),
    )
    try:
        asyncio.run(runner.run())
    except OutputError as error:
        # Standard output may be the broken part: nothing more goes there at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _fail(str(error), EXIT_FAILED)
    measured = [finished.result for finished in runner.recent]
    if measured and all(network_unavailable(result) for result in measured):
        click.echo(
            "No network: no resolver answered and no connection could be opened, "
            "so nothing was measured.",
            err=True,
        )
        return EXIT_FAILED
    return EXIT_INTERRUPTED if runner.stopped_early else EXIT_OK


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


@main.command()
@_targets_option("targets.yaml to use (default: the built-in one); SIGHUP reads it again.")
@click.option(
    "--listen",
    default=":10130",
    show_default=True,
    metavar="ADDR:PORT",
    help="Where to serve /metrics (':PORT' is every IPv4 address, '[::]:PORT' IPv6).",
)
@click.option(
    "--web-config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TLS and basic auth for /metrics, in the Prometheus exporter toolkit's format.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per event on standard error, as text or as JSON.",
)
@_archive_options
def run(
    targets_file: Path | None,
    listen: str,
    web_config: Path | None,
    log_format: str,
    archive_dir: Path | None,
    archive_cap: str,
) -> None:
    """Measure on a schedule, forever, and serve Prometheus metrics.

    Rounds follow the targets file's `daemon:` settings (interval, jitter,
    window, daily_budget). SIGHUP reloads the targets file; SIGTERM or
    Ctrl-C stops within two seconds.
    """
    from probe.config import ConfigError, parse_server_address
    from probe.daemon import DaemonOptions, configure_logging, load_targets, run_daemon
    from probe.server import listen_error
    from probe.webconfig import load_web_config

    address = parse_server_address("0.0.0.0" + listen if listen.startswith(":") else listen)
    if address is None:
        _fail(f"--listen: {listen!r} is not ADDR:PORT, :PORT or [IPv6]:PORT.", EXIT_USAGE)
    try:
        config, secret = load_targets(targets_file)
        web = None if web_config is None else load_web_config(web_config)
    except ConfigError as error:
        _fail(str(error), EXIT_USAGE)
    archive = _archive_sink(archive_dir, archive_cap, str(targets_file or "built-in"))
    configure_logging(log_format)
    host, port = address
    try:
        options = DaemonOptions(targets_file, host, port, web, archive, archive_dir)
        run_daemon(options, config, secret)
    except OSError as error:
        _fail(listen_error(error, host, port), EXIT_FAILED)


@main.command()
@click.option("--listen", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=443,
    show_default=True,
    help="TCP port; 443 looks like any HTTPS server to the network.",
)
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    envvar="THROTTLE_PROBE_SECRET_FILE",
    help="File holding the secret shared with the probes (16 bytes or more).",
)
@click.option(
    "--nonce-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the ClientHellos already used are kept, so each works once across "
    "restarts (default: the secret file's path + '.nonces').",
)
@click.option(
    "--max-session-bytes",
    type=click.IntRange(min=1024),
    default=16 * 1024 * 1024,
    show_default=True,
    help="Largest session, either direction; bigger requests are refused.",
)
@click.option(
    "--max-sessions",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Authenticated sessions at once; more are closed at once.",
)
@click.option(
    "--sessions-per-minute",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Connections per source address and minute (as many in a burst).",
)
@click.option(
    "--read-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds any read or write may wait.",
)
@click.option(
    "--hello-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds a connection has to deliver its whole ClientHello.",
)
@click.option(
    "--max-pending",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Connections not yet authenticated, in all; more are closed at once.",
)
@click.option(
    "--pending-per-source",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Connections not yet authenticated from one source address.",
)
def serve(
    listen: str,
    port: int,
    secret_file: Path,
    nonce_file: Path | None,
    max_session_bytes: int,
    max_sessions: int,
    sessions_per_minute: float,
    read_timeout: float,
    hello_timeout: float,
    max_pending: int,
    pending_per_source: int,
) -> None:
    """Run the replay server, on a host outside the censored network.

    Probes whose targets.yaml names this server (replay: server, secret_file)
    send it crafted ClientHellos and download or upload through it. Nothing is
    sent to a client that does not prove the shared secret. One log line per
    session goes to standard error; Ctrl-C or SIGTERM stops the server.
    """
    from probe.server import ServerLimits

    secret = _load_secret(secret_file)
    limits = ServerLimits(
        max_session_bytes=max_session_bytes,
        max_sessions=max_sessions,
        sessions_per_minute=sessions_per_minute,
        read_timeout=read_timeout,
        hello_timeout=hello_timeout,
        max_pending=max_pending,
        pending_per_source=pending_per_source,
    )
    journal = nonce_file or secret_file.with_name(secret_file.name + ".nonces")
    sys.exit(_run_server(secret, limits, journal, listen, port))


def _run_server(secret: bytes, limits: "ServerLimits", journal: Path, host: str, port: int) -> int:
    import asyncio
    import logging
    import signal

    from probe.server import ReplayServer, listen_error

    logging.basicConfig(format="%(asctime)s %(message)s", level=logging.INFO, stream=sys.stderr)

    try:
        replay_server = ReplayServer(secret, limits, journal)
    except OSError as error:
        click.echo(
            f"Cannot keep the nonce file {journal}: {os_reason(error)} (see --nonce-file).",
            err=True,
        )
        return EXIT_USAGE

    async def run() -> int:
        try:
            server = await replay_server.start(host, port)
        except OSError as error:
            click.echo(listen_error(error, host, port), err=True)
            return EXIT_FAILED
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        address = ", ".join(host_port(*s.getsockname()[:2]) for s in server.sockets)
        click.echo(f"Replay server listening on {address}.", err=True)
        async with server:
            await stop.wait()
        click.echo("Replay server stopped.", err=True)
        return EXIT_OK

    return asyncio.run(run())


@main.command()
@_targets_option("targets.yaml whose target hosts to locate (default: the built-in one).")
@click.option("--name", "names", multiple=True, help="Locate only this host name (repeatable).")
@click.option(
    "--server",
    metavar="HOST:PORT",
    help="Send every ClientHello to this server (a replay or SNI-swap server) instead of "
    "each name's own.",
)
@click.option("--control", help="The innocuous name sent beside (default: the first control).")
@click.option(
    "--max-hops", default=30, show_default=True, type=click.IntRange(1, 64), help="Highest TTL."
)
@click.option(
    "--archive",
    "archive_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Without --name: the targets the latest round in this archive judged throttled or "
    "blocked (else every target).",
)
@click.option(
    "--evasions",
    is_flag=True,
    help="For each name found held, try the known evasions against the replay server (off "
    "unless asked: where circumvention is punished, know what it sends; docs/locate.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def locate(
    targets_file: Path | None,
    names: tuple[str, ...],
    server: str | None,
    control: str | None,
    max_hops: int,
    archive_dir: Path | None,
    evasions: bool,
    as_json: bool,
) -> None:
    """Find the hop at which equipment resets, drops or throttles a name.

    For TTL 1, 2, ... a new connection sends the name's ClientHello with that
    TTL, and a control name's beside it; the first TTL at which the name is
    reset, or meets silence where the control does not, is the equipment's
    hop. Where the handshake passes, and the targets file has a replay
    server, sessions to it after a TTL-limited ClientHello find a throttle's
    hop (needs CAP_NET_RAW). --evasions then tries the known evasions. See
    docs/locate.md for what they send.
    """
    from probe.config import ConfigError, load_config, parse_server_address
    from probe.locator import LocateRequest

    try:
        config = load_config(targets_file)
    except ConfigError as error:
        _fail(str(error), EXIT_USAGE)
    fixed = None
    if server is not None:
        fixed = parse_server_address(server)
        if fixed is None:
            _fail(f"--server: {server!r} is not HOST:PORT.", EXIT_USAGE)
    if evasions and config.replay is None:
        _fail("--evasions needs a replay server: the targets file's replay section.", EXIT_USAGE)
    options: dict[str, Any] = {"server": fixed, "max_hops": max_hops, "evasions": evasions}
    if control is not None:
        options["control"] = control
    hosts = list(names) or _judged_hosts(config, archive_dir) or config.target_hosts()
    request = LocateRequest.of(config, hosts, _replay_secret(config), **options)
    sys.exit(_locate(request, as_json))


def _judged_hosts(config: "Config", archive_dir: Path | None) -> list[str]:
    """The hosts of the targets the archive's latest round judged throttled or blocked, over
    its window; [] (and a sentence) when it has none."""
    if archive_dir is None:
        return []
    import datetime

    from probe.evidence.archive import latest_entries
    from probe.locator import to_locate

    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    latest = list(latest_entries(archive_dir, 1, epoch))
    hosts = [host for _, host in to_locate(latest[-1].window.verdicts, config)] if latest else []
    if not hosts:
        said = "holds no round" if not latest else "judged no target throttled or blocked"
        click.echo(f"The archive's latest round {said}: locating every target.", err=True)
    return list(dict.fromkeys(hosts))


def _locate(request: "LocateRequest", as_json: bool) -> int:
    import asyncio

    from rich.console import Console

    from probe.locator import locate_all
    from probe.sinks import locate as view

    stderr = Console(stderr=True)
    try:
        run = asyncio.run(locate_all(request, stderr.print))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if as_json:
        click.echo(view.document(run.locations, run.matrices))
    else:
        view.render(run.locations, Console(), run.matrices)
    return EXIT_OK if run.locations else EXIT_FAILED


@main.command()
@click.argument(
    "archives", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="ARCHIVE..."
)
@click.option("--since", metavar="TIME", help="Only rounds from this time on (ISO 8601, UTC).")
@click.option("--until", metavar="TIME", help="Only rounds up to this time (ISO 8601, UTC).")
@click.option("--target", metavar="NAME", help="Only this target's episodes.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write one self-contained page (needs [plot]).",
)
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the per-round figures to FILE and the episodes beside it "
    "(FILE with .episodes before its suffix).",
)
@click.option(
    "--reanalyse",
    is_flag=True,
    help="Judge every round again with this version and show where it differs.",
)
def report(
    archives: tuple[Path, ...],
    since: str | None,
    until: str | None,
    target: str | None,
    as_json: bool,
    html_file: Path | None,
    csv_file: Path | None,
    reanalyse: bool,
) -> None:
    """Read archives (files or folders from --archive) back as episodes per target.

    An episode is a stretch of rounds with the same window verdict:
    throttled from when to when, at what rate, what the controls got.
    """
    import json

    from probe.evidence.report import ReportError, build_report, parse_time

    if html_file is not None:
        _check_html_file(html_file)
    if csv_file is not None and not csv_file.parent.is_dir():
        _fail(f"--csv: the folder {csv_file.parent} does not exist.", EXIT_USAGE)
    try:
        start = None if since is None else parse_time(since, "--since")
        end = None if until is None else parse_time(until, "--until")
        built = build_report(list(archives), start, end, target, reanalyse)
    except ReportError as error:
        _fail(str(error), EXIT_USAGE)
    for note in built.warnings:
        click.echo(f"warning: {note}", err=True)
    if as_json:
        click.echo(json.dumps(built.document(), indent=2))
    else:
        from probe.sinks.terminal import report_tables, stdout_console

        report_tables(stdout_console(), built)
    if html_file is not None:
        from probe.evidence.report_page import render

        try:
            html_file.write_text(render(built), encoding="utf-8")
        except OSError as error:
            _fail(f"Cannot write {html_file}: {os_reason(error)}.", EXIT_FAILED)
        click.echo(f"Report written to {html_file}", err=True)
    if csv_file is not None:
        from probe.evidence.report_csv import write_csv

        try:
            written = write_csv(built, csv_file)
        except OSError as error:
            _fail(f"Cannot write {csv_file}: {os_reason(error)}.", EXIT_FAILED)
        click.echo(f"Figures written to {' and '.join(map(str, written))}", err=True)


def _check_html_file(path: Path) -> None:
    if importlib.util.find_spec("matplotlib") is None:
        _fail("--html needs matplotlib: pip install 'throttle-probe[plot]'.", EXIT_USAGE)
    if not path.parent.is_dir():
        _fail(f"--html: the folder {path.parent} does not exist.", EXIT_USAGE)


@main.group()
@click.option(
    "--name",
    default="tpl",
    show_default=True,
    help="Prefix of everything the lab creates; another name runs a second lab.",
)
@click.pass_context
def lab(context: click.Context, name: str) -> None:
    """A censoring ISP emulated in network namespaces (needs root).

    `lab up` builds a client, a router (the ISP) and servers for the platform
    and control names; `lab scenario` applies impairments on the router;
    `lab check` runs `check` from the client; `lab down` removes it all.
    """
    import re

    if not re.fullmatch(r"[a-z][a-z0-9]{0,7}", name):
        _fail("--name: use 1-8 lowercase letters and digits, starting with a letter.", EXIT_USAGE)
    context.obj = name


def _the_lab() -> "Lab":
    try:
        from probe.lab.control import Lab
    except ModuleNotFoundError as error:  # trustme or dnslib: the lab's extra
        _fail(
            f"The lab needs the package {error.name}, which the probe itself does not: "
            "install the lab's extra (pip install 'throttle-probe[lab]').",
            EXIT_FAILED,
        )
    from probe.lab.topology import Names

    return Lab(Names(click.get_current_context().obj or "tpl"))


@lab.command("up")
@click.option(
    "--censor-hop",
    default=1,
    show_default=True,
    type=click.IntRange(1, 16),
    help="The hop at which the router's equipment sits: clean routers stand before it.",
)
@click.option(
    "--beyond",
    default=0,
    show_default=True,
    type=click.IntRange(0, 8),
    help="Clean routers between the router and the servers.",
)
@click.option(
    "--silent-hop",
    "silent_hops",
    multiple=True,
    type=int,
    help="A clean router that sends no ICMP time-exceeded (repeatable).",
)
def lab_up(censor_hop: int, beyond: int, silent_hops: tuple[int, ...]) -> None:
    """Create the namespaces, links, servers and resolvers."""
    from probe.lab.topology import Hops

    try:
        hops = Hops(censor_hop, frozenset(silent_hops), beyond)
    except ValueError as error:
        _fail(f"--silent-hop: {error}.", EXIT_USAGE)
    lab_ = _the_lab()
    _lab_call(lambda: lab_.up(hops))
    click.echo(f"The lab is up. Targets file: {lab_.targets_file}")
    if hops != Hops():
        silent = f"; silent: {', '.join(map(str, sorted(hops.silent)))}" if hops.silent else ""
        click.echo(
            f"The equipment sits at hop {hops.censor}, the servers at {hops.server}{silent}."
        )
    click.echo(f"The built-in targets, on the lab's network: {lab_.field_targets_file}")
    click.echo("Next: throttle-probe lab scenario sni-police; throttle-probe lab check")


@lab.command("down")
def lab_down() -> None:
    """Remove everything the lab created (safe to run any time)."""
    _lab_call(_the_lab().down)
    click.echo("The lab is down.")


@lab.command("status")
def lab_status() -> None:
    """Show whether the lab is up, its services and the scenario applied."""
    status = _lab_call(_the_lab().status)
    if not status.up:
        leftovers = f" (leftover namespaces: {', '.join(status.namespaces)})"
        click.echo("The lab is down" + (leftovers if status.namespaces else "") + ".")
        return
    click.echo("The lab is up.")
    for name, running in status.services.items():
        click.echo(f"  {name:<16} {'running' if running else 'NOT RUNNING'}")
    click.echo(f"  scenario         {' + '.join(status.scenario) or 'clean'}")
    click.echo(f"  targets file     {status.targets_file}")


@lab.command("scenario")
@click.argument("composition", required=False)
@click.option("--rate", help="Rate for sni-police, shape, congested (e.g. 150kbit, 10mbit).")
@click.option("--loss", help="Drop probability for loss (e.g. 0.02).")
@click.option("--pattern", "patterns", multiple=True, help="SNI substring to match (repeatable).")
@click.option("--server", help="Lab server for shape, blackhole, stall (e.g. tiktok).")
def lab_scenario(
    composition: str | None,
    rate: str | None,
    loss: str | None,
    patterns: tuple[str, ...],
    server: str | None,
) -> None:
    """Apply COMPOSITION, e.g. sni-police or sni-police+congested:rate=5mbit.

    Without COMPOSITION, list the scenarios and their defaults. Each call
    replaces what was applied before; `clean` removes every impairment.
    """
    from probe.lab.scenarios import SCENARIOS, ScenarioError, parse_composition

    if composition is None:
        for scenario in SCENARIOS.values():
            defaults = ", ".join(f"{k}={v}" for k, v in scenario.defaults.items())
            click.echo(
                f"{scenario.name:<15} {scenario.summary}" + (f" [{defaults}]" * bool(defaults))
            )
        return
    overrides = {"rate": rate, "loss": loss, "server": server, "pattern": "|".join(patterns)}
    try:
        impairments = parse_composition(composition, {k: v for k, v in overrides.items() if v})
    except ScenarioError as error:
        _fail(f"Scenario: {error}.", EXIT_USAGE)
    _lab_call(lambda: _the_lab().apply(impairments))
    click.echo("Applied: " + " + ".join(i.describe() for i in impairments))


@lab.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def lab_exec(command: tuple[str, ...]) -> None:
    """Run COMMAND in the client namespace (put -- before it)."""
    lab_ = _the_lab()
    _lab_call(lab_.require_up)
    sys.exit(_run_attached(lab_.client_command(command)))


@lab.command("check", context_settings={"ignore_unknown_options": True})
@click.argument("check_args", nargs=-1, type=click.UNPROCESSED)
def lab_check(check_args: tuple[str, ...]) -> None:
    """Run `check` in the client namespace against the lab's targets.

    Extra arguments go to `check`, e.g. `lab check --json --group twitter`.
    """
    lab_ = _the_lab()
    _lab_call(lab_.require_up)
    sys.exit(_run_attached(lab_.check_command(check_args)))


def _run_attached(argv: list[str]) -> int:
    """Run a command in the foreground and return its exit code."""
    import subprocess

    process = subprocess.Popen(argv)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            # The terminal sent Ctrl-C to the child too: let it finish its report.
            continue


def _lab_call(action: Callable[[], T]) -> T:
    from probe.lab.system import LabError

    try:
        return action()
    except LabError as error:
        _fail(str(error), EXIT_FAILED)
