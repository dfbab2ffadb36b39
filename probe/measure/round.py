"""A round: every target and control measured once, concurrently, then each kind at its turn.

Targets and controls run side by side (bounded by ``settings.concurrency``)
so that they share the network conditions of the moment: a comparison between
them is only fair if they were measured together. The kinds of measurement
(``measure.registry``) add their downloads to those, or measure after them,
at their turn (``measure.kind.Turn``); the round knows none by name.
"""

import asyncio
import secrets
from collections.abc import Sequence

from probe.config import Config
from probe.measure.dns import look_up_https
from probe.measure.http3_offers import Http3Offers
from probe.measure.jobs import (
    Job,
    ProgressListener,
    RoundContext,
    Silent,
    measure_job,
    now_iso,
    round_context,
    target_jobs,
)
from probe.measure.kind import MeasurementKind, RoundInProgress, Turn
from probe.measure.registry import round_kinds
from probe.measure.timing import Clock, Interrupt
from probe.records import RoundResult, TargetResult


async def measure_round(
    config: Config,
    listener: ProgressListener | None = None,
    interrupt: Interrupt | None = None,
    replay_secret: bytes | None = None,
    offers: Http3Offers | None = None,
    kinds: Sequence[MeasurementKind] | None = None,
) -> RoundResult:
    """Measure every target of ``config``, and each kind of measurement at its turn.

    ``kinds``: by default what ``measure.registry.round_kinds`` lists for
    ``config``, given the HTTP/3 ``offers`` learnt in earlier rounds (kept by
    the caller; this round's TCP answers are added to it) and the replay
    server's secret. ``interrupt`` stops the round early, keeping what was
    measured.
    """
    kinds = round_kinds(config, offers, replay_secret) if kinds is None else kinds
    result = RoundResult(now_iso(), "", False, [], round_id=secrets.token_hex(8))
    async with round_context(config, listener or Silent(), interrupt or Interrupt()) as shared:
        targets = target_jobs(config)
        jobs = [job for job in targets if job.over_tcp]
        jobs += [
            job for kind in kinds if kind.turn == Turn.WITH_TARGETS for job in kind.jobs(config)
        ]
        measured = await _measure_together(jobs, shared)
        result.targets = [entry for _, entry in measured]
        progress = RoundInProgress(shared, targets, measured, result)
        # Each kind sees a stop itself: what it keeps of a stopped round is its own to say.
        for kind in sorted(kinds, key=lambda kind: kind.turn):  # stable: registry order within
            if kind.turn != Turn.WITH_TARGETS:
                await kind.measure(progress)
    result.finished_at = now_iso()
    result.interrupted = shared.interrupt.requested
    return result


async def _measure_together(
    jobs: Sequence[Job], shared: RoundContext
) -> list[tuple[Job, TargetResult]]:
    """The downloads at once (``settings.concurrency`` of them at a time).

    A job that QUIC will follow has its name's HTTPS records asked beside
    (they may offer HTTP/3 where the answer's Alt-Svc cannot: its download
    blocked, say), and waited for outside its download slot, so that a
    resolver slow to answer them holds no download back.
    """

    async def one(job: Job) -> TargetResult:
        records = None
        if job.over_quic:
            lookup = look_up_https(job.hostname, shared.resolvers, Clock(), shared.interrupt)
            records = asyncio.ensure_future(lookup)
        async with shared.slots:
            entry = await measure_job(job, shared)
        if records is not None:
            entry.https = await records
        return entry

    results = await asyncio.gather(*(one(job) for job in jobs))
    return list(zip(jobs, results, strict=True))
