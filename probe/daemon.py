"""``throttle-probe run``: the runner forever, its metrics served over HTTP, SIGHUP reloads.

This module only wires the pieces together: the runner (schedule, budget,
signals), the metrics sink, and the HTTP endpoint in its own threads.
"""

import asyncio
import datetime
import json
import logging
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder

from probe import __version__
from probe.budget import DataBudget
from probe.config import Config, ConfigError, load_config
from probe.evidence.archive import find_round
from probe.measure.replaywire import SecretError, load_secret
from probe.restore import restore_history
from probe.runner import Runner, Schedule
from probe.sinks import Sink
from probe.sinks.metrics import MetricsSink
from probe.webconfig import WebConfig
from probe.webserver import MetricsServer, Status
from probe.wording import host_port

log = logging.getLogger("throttle-probe")
DEFAULT_PORT = 10130  # outside 9100-9999, which Prometheus's port list has filled


@dataclass(frozen=True)
class DaemonOptions:
    targets_file: Path | None  # None: the built-in targets
    host: str
    port: int
    web: WebConfig | None
    archive: Sink | None = None  # --archive
    archive_dir: Path | None = None  # where /rounds/ID looks for a round


def load_targets(path: Path | None) -> tuple[Config, bytes | None]:
    """The config and its replay secret; ConfigError with one sentence if unusable."""
    config = load_config(path)
    if config.replay is None:
        return config, None
    try:
        return config, load_secret(config.replay.secret_file)
    except SecretError as error:
        raise ConfigError(f"{str(error).capitalize()}.") from None


def schedule_of(config: Config) -> Schedule:
    daemon = config.daemon
    return Schedule(
        rounds=None, interval=daemon.interval, jitter=daemon.jitter, window=daemon.window
    )


def run_daemon(options: DaemonOptions, config: Config, secret: bytes | None) -> None:
    """Measure until SIGTERM or SIGINT; OSError if the HTTP port cannot be opened."""
    # One series per counter, not two: `_created` doubles what Prometheus stores for
    # nothing a probe's panels use (it restarts rarely; resets show in rate()).
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    budget = DataBudget(int(config.daemon.daily_budget))
    metrics = MetricsSink(registry, config.identity, budget)

    def render(accept: str) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept)
        return encoder(registry), content_type

    def status() -> Status:
        return Status(__version__, metrics.identity.id, metrics.last_round, budget.paused)

    address = (options.host, options.port)
    archived = options.archive_dir
    finder = None if archived is None else lambda round_id: find_round(archived, round_id)
    server = MetricsServer(address, render, lambda: metrics.generation, status, options.web, finder)
    sinks: list[Sink] = [metrics] if options.archive is None else [metrics, options.archive]
    runner = Runner(config, secret, schedule_of(config), sinks, budget=budget)

    def reload() -> None:
        try:
            new_config, new_secret = load_targets(options.targets_file)
        except ConfigError as error:
            reason = str(error).replace("\n", "; ")  # a file with several errors: one line
            log.warning("reload refused, the previous targets stay: %s", reason)
            metrics.reloaded(False)
            return
        runner.replace(new_config, new_secret, schedule_of(new_config))
        budget.daily_bytes = int(new_config.daemon.daily_budget)
        metrics.reloaded(True, new_config.identity)
        log.info("reloaded %s", options.targets_file or "the built-in targets")

    runner.on_hangup = reload
    server.start()
    log.info(
        "throttle-probe %s: metrics on %s, a round every %g s",
        __version__,
        _address(server.socket),
        config.daemon.interval,
    )
    if archived is not None:
        _restore(runner, archived)
    try:
        asyncio.run(runner.run())
    finally:
        server.shutdown()
        server.server_close()
        log.info("stopped")


def _restore(runner: Runner, archived: Path) -> None:
    """Each target's history read back from the archive, so a restart keeps its baselines."""
    now = datetime.datetime.now(datetime.UTC)
    taken = restore_history(runner.history, archived, now, runner.quic_history)
    names = [t.name for _, group, t in runner.config.targets() if group.role == "target"]
    with_baseline = sum(runner.history.baseline(name) is not None for name in names)
    log.info(
        "history: %d archived rounds read back, %d of %d targets have a baseline",
        taken,
        with_baseline,
        len(names),
    )


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return host_port(host, port)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message (for log collectors)."""

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry = {
            "time": f"{when}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        return json.dumps(entry)


def configure_logging(log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # httpx logs every request at INFO: the round's own lines say what was measured.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
