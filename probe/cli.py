"""The command line: ``throttle-probe check`` and friends.

Heavy modules (httpx, rich, pydantic) are imported inside the commands that
use them, so ``--help`` answers at once.
"""

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from probe import __version__

if TYPE_CHECKING:
    from probe.config import Config
    from probe.measure.round import ProgressListener
    from probe.records import RoundResult

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="throttle-probe")
def main() -> None:
    """Measure whether this network throttles or blocks Twitter/X, TikTok and others."""


@main.command()
@click.option(
    "--targets",
    "targets_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="targets.yaml to use (default: the built-in one).",
)
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
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a whole download may take.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def check(
    targets_file: Path | None,
    groups: tuple[str, ...],
    resolvers: tuple[str, ...],
    ca_bundle: Path | None,
    max_bytes: int | None,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Measure every target once, now, and report what happened."""
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
    sys.exit(_run_check(config, source, as_json))


def _run_check(config: "Config", source: str, as_json: bool) -> int:
    import asyncio
    import json

    from rich.console import Console

    from probe.analysis.reachability import network_unavailable
    from probe.report import round_document
    from probe.terminal import LiveProgress, render_round, stdout_console

    stderr = Console(stderr=True)
    with LiveProgress(stderr, config.settings.max_bytes) as progress:
        result = asyncio.run(_measure_until_interrupted(config, progress))
    if as_json:
        click.echo(json.dumps(round_document(result, config, source), indent=2))
    if network_unavailable(result):
        click.echo(
            "No network: no resolver answered and no connection could be opened, "
            "so nothing was measured.",
            err=True,
        )
        return EXIT_FAILED
    if not as_json:
        render_round(stdout_console(), result)
    return EXIT_INTERRUPTED if result.interrupted else EXIT_OK


async def _measure_until_interrupted(
    config: "Config", progress: "ProgressListener"
) -> "RoundResult":
    """Run one round; the first Ctrl-C ends it early with what was measured."""
    import asyncio
    import signal

    from probe.measure.round import measure_round
    from probe.measure.timing import Interrupt

    interrupt = Interrupt()
    loop = asyncio.get_running_loop()

    def on_sigint() -> None:
        interrupt.request()
        loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C stops at once

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        return await measure_round(config, progress, interrupt)
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)
