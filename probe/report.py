"""The JSON document of a round (``check --json``): stable, versioned, self-describing."""

import dataclasses
from collections.abc import Sequence
from typing import Any

from probe import __version__
from probe.analysis.replay import ReplayOutcome, findings
from probe.analysis.sniswap import SwapOutcome
from probe.analysis.verdict import Verdict
from probe.config import Config
from probe.records import RoundResult, to_jsonable

FORMAT = "throttle-probe.check/1"


def round_document(
    result: RoundResult,
    config: Config,
    source: str,
    verdicts: dict[str, Verdict],
    swap: dict[str, SwapOutcome],
    replays: Sequence[ReplayOutcome] = (),
) -> dict[str, Any]:
    """Everything needed to re-analyse the round later: settings, resolvers, records.

    Each target entry gets ``verdict`` and ``evidence`` (both null for controls).
    """
    entries = to_jsonable(result.targets)
    for entry in entries:
        verdict = verdicts.get(entry["name"])
        entry["verdict"] = None if verdict is None else _verdict_json(verdict)
        entry["evidence"] = None if verdict is None else to_jsonable(verdict.evidence)
    return {
        "format": FORMAT,
        "probe_version": __version__,
        "config": source,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "interrupted": result.interrupted,
        "settings": config.settings.model_dump(mode="json"),
        "resolvers": dict(config.resolvers),
        "targets": entries,
        "sni_swap": {sni: dataclasses.asdict(outcome) for sni, outcome in swap.items()},
        "replays": to_jsonable(result.replays),
        "replay": {
            "outcomes": [dataclasses.asdict(outcome) for outcome in replays],
            "findings": findings(replays),
        },
    }


def _verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "verdict": verdict.verdict,
        "reason": verdict.reason,
        "mechanism": verdict.mechanism,
        "rate_bytes_per_second": verdict.rate_bytes_per_second,
        "stage": verdict.stage,
    }
