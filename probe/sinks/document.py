"""The JSON document of a round (``check --json``): stable, versioned, self-describing."""

import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any

from probe import __version__
from probe.analysis.round_judgement import RoundJudgement
from probe.analysis.target_verdict import Verdict
from probe.config import Config
from probe.records import RoundResult, TargetResult, to_jsonable
from probe.schema import FinishedRound
from probe.sinks import OutputError
from probe.wording import os_reason

FORMAT = "throttle-probe.check/1"
WINDOW_FORMAT = "throttle-probe.window/1"


class JsonSink:
    """``check --json``: one document on standard output once the run is over."""

    def __init__(self, config: Config, source: str) -> None:
        self._config = config
        self._source = source
        self._finished: list[FinishedRound] = []

    def round_finished(self, finished: FinishedRound) -> None:
        self._finished.append(finished)

    def close(self) -> None:
        rounds = self._finished
        if not rounds:
            return
        if len(rounds) == 1:
            only = rounds[0]
            document = round_document(only.result, self._config, self._source, only.judgement)
        else:
            document = window_document(
                [f.result for f in rounds],
                self._config,
                self._source,
                [f.judgement for f in rounds],
                rounds[-1].window,
                rounds[-1].quic_window,
            )
        try:
            sys.stdout.write(json.dumps(document, indent=2) + "\n")
            sys.stdout.flush()
        except OSError as error:
            raise OutputError(f"Cannot write the JSON document: {os_reason(error)}.") from None


def round_document(
    result: RoundResult, config: Config, source: str, judgement: RoundJudgement
) -> dict[str, Any]:
    """Everything needed to re-analyse the round later: settings, resolvers, records.

    Each target entry gets ``verdict`` and ``evidence`` (both null for controls);
    a target appears once per transport it was measured over (``transport``).
    """
    entries = [
        *_judged_entries(result.targets, judgement.verdicts),
        *_judged_entries(result.quic, judgement.quic),
    ]
    swap = judgement.swap
    return {
        "format": FORMAT,
        "probe_version": __version__,
        "round_id": result.round_id,
        "config": source,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "interrupted": result.interrupted,
        "settings": config.settings.model_dump(mode="json"),
        "resolvers": dict(config.resolvers),
        "targets": entries,
        "sni_swap": {sni: dataclasses.asdict(outcome) for sni, outcome in swap.items()},
        "replays": to_jsonable(result.replays),
        "remeasured": to_jsonable(result.remeasured),
        "quic_not_offered": result.quic_not_offered,
        "replay": {
            "outcomes": [dataclasses.asdict(outcome) for outcome in judgement.replays],
            "findings": judgement.replay_findings,
        },
    }


def _judged_entries(
    targets: Sequence[TargetResult], verdicts: dict[str, Verdict]
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = to_jsonable(targets)
    for entry in entries:
        verdict = verdicts.get(entry["name"])
        entry["verdict"] = None if verdict is None else verdict_json(verdict)
        entry["evidence"] = None if verdict is None else to_jsonable(verdict.evidence)
    return entries


def window_document(
    results: Sequence[RoundResult],
    config: Config,
    source: str,
    judgements: Sequence[RoundJudgement],
    window: dict[str, Verdict],
    quic_window: dict[str, Verdict] | None = None,
) -> dict[str, Any]:
    """``check --rounds N``: each round as its own document, and the window's verdicts."""
    return {
        "format": WINDOW_FORMAT,
        "probe_version": __version__,
        "rounds": [
            round_document(result, config, source, judgement)
            for result, judgement in zip(results, judgements, strict=True)
        ],
        "window": window_json(window),
        "quic_window": window_json(quic_window or {}),
    }


def window_json(window: dict[str, Verdict]) -> dict[str, Any]:
    """The window's verdicts with their evidence, by target name."""
    return {
        name: {**verdict_json(verdict), "evidence": to_jsonable(verdict.evidence)}
        for name, verdict in window.items()
    }


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "verdict": verdict.verdict,
        "reason": verdict.reason,
        "mechanism": verdict.mechanism,
        "rate_bytes_per_second": verdict.rate_bytes_per_second,
        "stage": verdict.stage,
        "rule": verdict.rule,
    }
