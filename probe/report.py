"""The JSON document of a round (``check --json``): stable, versioned, self-describing."""

from typing import Any

from probe import __version__
from probe.config import Config
from probe.records import RoundResult, to_jsonable

FORMAT = "throttle-probe.check/1"


def round_document(result: RoundResult, config: Config, source: str) -> dict[str, Any]:
    """Everything needed to re-analyse the round later: settings, resolvers, records."""
    return {
        "format": FORMAT,
        "probe_version": __version__,
        "config": source,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "interrupted": result.interrupted,
        "settings": config.settings.model_dump(mode="json"),
        "resolvers": dict(config.resolvers),
        "targets": to_jsonable(result.targets),
    }
