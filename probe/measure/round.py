"""A round: every target and control measured once, concurrently.

Targets and controls run side by side (bounded by ``settings.concurrency``)
so that they share the network conditions of the moment: a comparison between
them is only fair if they were measured together.
"""

import asyncio
import dataclasses
import datetime
import re
import secrets
import ssl
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from probe.config import Config, ResolverSpec
from probe.measure.dns import ResolverSet, resolve
from probe.measure.replay_session import ReplaySession, ReplaySettings, replay
from probe.measure.replaywire import framed_size
from probe.measure.timing import Clock, Interrupt
from probe.measure.transfer import (
    TransferSettings,
    download,
    make_ssl_context,
    make_unverified_ssl_context,
)
from probe.records import (
    SWAP_BASELINE,
    SWAP_GROUP,
    Direction,
    DnsRecord,
    Failure,
    Remeasured,
    ReplayRecord,
    Role,
    RoundResult,
    TargetResult,
    Variant,
)


class ProgressListener(Protocol):
    """What a front end (the terminal, a daemon log) hears while a round runs."""

    def target_started(self, name: str, url: str) -> None: ...

    def bytes_received(self, name: str, total: int) -> None: ...

    def target_finished(self, result: TargetResult) -> None: ...

    def replay_started(self, label: str, total: int) -> None: ...

    def replay_finished(self, label: str, record: ReplayRecord) -> None: ...


class _Silent:
    def target_started(self, name: str, url: str) -> None:
        pass

    def bytes_received(self, name: str, total: int) -> None:
        pass

    def target_finished(self, result: TargetResult) -> None:
        pass

    def replay_started(self, label: str, total: int) -> None:
        pass

    def replay_finished(self, label: str, record: ReplayRecord) -> None:
        pass


async def measure_round(
    config: Config,
    listener: ProgressListener | None = None,
    interrupt: Interrupt | None = None,
    replay_secret: bytes | None = None,
) -> RoundResult:
    """Measure every target of ``config`` (and the SNI swap, if configured) concurrently.

    The replay test follows when ``config.replay`` is set and
    ``replay_secret`` is given. ``interrupt`` stops the round early, keeping
    what was measured.
    """
    started_at = _now_iso()
    slots = asyncio.Semaphore(config.settings.concurrency)
    specs = config.resolver_specs()
    async with ResolverSet(specs, config.settings.timeouts.dns) as resolvers:
        shared = _RoundContext(
            config,
            resolvers,
            make_ssl_context(config.settings.ca_bundle),
            make_unverified_ssl_context(),
            listener or _Silent(),
            interrupt or Interrupt(),
        )

        async def one(job: Job) -> TargetResult:
            async with slots:
                return await measure_job(job, shared)

        jobs = [*target_jobs(config), *swap_jobs(config)]
        results = await asyncio.gather(*(one(job) for job in jobs))
        remeasured = await remeasure_grey_zone(list(zip(jobs, results, strict=True)), shared)
        # One after the other, as Wehe replays: the sessions compare with each other
        # only, so each gets the path to itself rather than sharing it.
        replays = []
        if replay_secret is not None:
            for label, session in replay_sessions(config):
                if shared.interrupt.requested:
                    break
                replays.append(await measure_replay(label, session, replay_secret, shared))
    return RoundResult(
        started_at=started_at,
        finished_at=_now_iso(),
        interrupted=shared.interrupt.requested,
        targets=list(results),
        replays=list(replays),
        round_id=secrets.token_hex(8),
        remeasured=remeasured,
    )


# A target this many times slower than the controls (their median), or more,
# is measured again alone: unrelated servers differ by that much, and so do
# flows that share a busy link unfairly. On a healthy network only while it is
# under OONI's 10x below the slowest control (beyond, the round's own rule is
# sure enough); on a slow one (the controls' median under 1 Mbit/s,
# analysis.target_verdict.SLOW_NETWORK) always, since congestion alone can hold
# one flow far below the others.
GREY_ZONE = (2.5, 10.0)
SLOW_CONTROLS = 1e6 / 8  # bytes/s: the same line as analysis.target_verdict.SLOW_NETWORK


async def remeasure_grey_zone(
    measured: list[tuple["Job", TargetResult]], shared: "_RoundContext"
) -> Remeasured | None:
    """Each target in the grey zone again, one download at a time, then the slowest control.

    One at a time, as Wehe's replays, so that each has the path to itself:
    fair sharing of a busy link then neither makes a throttle nor hides one
    (the verdicts and analysis.history read the solo pair). The control is
    measured once, after the targets, and stands beside each of them.
    """
    controls = [
        (job, result)
        for job, result in measured
        if job.role == Role.CONTROL and result.failure is None and result.goodput_bytes_per_second
    ]
    if not controls:
        return None
    # The front end shows these downloads apart from the round's: "NAME alone".
    shared = dataclasses.replace(shared, listener=_Alone(shared.listener))
    slowest_job, slowest = min(controls, key=lambda pair: pair[1].goodput_bytes_per_second or 0)
    median = statistics.median(result.goodput_bytes_per_second or 0 for _, result in controls)
    alone = []
    for job, result in measured:
        if job.role != Role.TARGET or not _in_grey_zone(result, median, slowest):
            continue
        if shared.interrupt.requested:
            return None
        alone.append(await measure_job(job, shared))
    if not alone or shared.interrupt.requested:
        return None
    return Remeasured(alone, await measure_job(slowest_job, shared))


def _in_grey_zone(target: TargetResult, median: float, slowest_control: TargetResult) -> bool:
    """2.5x or more below the controls' median, and on a healthy network under 10x
    below the slowest control."""
    rate, slowest = target.goodput_bytes_per_second, slowest_control.goodput_bytes_per_second
    if target.failure is not None or not rate or not slowest:
        return False
    low, high = GREY_ZONE
    return median / rate >= low and (median < SLOW_CONTROLS or slowest / rate < high)


@dataclass(frozen=True)
class Job:
    """One download of a round: a configured target, or one name of the SNI swap."""

    name: str
    group: str
    role: Role
    url: str
    min_bytes: int | None = None
    sni: str | None = None  # None: the URL's host
    verify: bool = True  # the SNI swap measures the network, not the certificate

    @property
    def hostname(self) -> str:
        return urlsplit(self.url).hostname or ""


def target_jobs(config: Config) -> list[Job]:
    return [
        Job(target.name, group_name, Role(group.role), target.url, target.min_bytes)
        for group_name, group, target in config.targets()
    ]


def swap_jobs(config: Config) -> list[Job]:
    """The neutral server once with its own (innocuous) name, then once per suspect name.

    The canaries reveal loose matching, as in 2021: any subdomain of twimg.com
    was throttled, and the substring `t.co` caught microsoft.com.
    """
    swap = config.sni_swap
    if swap is None:
        return []
    names = config.swap_names()
    if swap.canaries:
        names += [f"{secrets.token_hex(4)}.twimg.com", "microsoft.com"]
    jobs = [Job(SWAP_BASELINE, SWAP_GROUP, Role.SNI_SWAP, swap.url, verify=False)]
    for sni in dict.fromkeys(names):
        label = "swap-" + re.sub(r"[^a-z0-9-]", "-", sni.lower())[:56]
        jobs.append(Job(label, SWAP_GROUP, Role.SNI_SWAP, swap.url, sni=sni, verify=False))
    return jobs


def replay_sessions(config: Config) -> list[tuple[str, ReplaySession]]:
    """(label, session) for each direction: every platform name, the control name,
    the scrambled baseline, and the split and padded shapes of the first name."""
    replay = config.replay
    if replay is None:
        return []
    names = config.replay_names()
    first = names[0] if names else replay.control_name
    plan = [(name, Variant.PLAIN) for name in names]
    plan += [(replay.control_name, Variant.PLAIN), (first, Variant.SCRAMBLED)]
    if replay.evasion:
        plan += [(first, Variant.SPLIT), (first, Variant.PADDED)]
    sessions = []
    for direction in map(Direction, replay.directions):
        for sni, variant in dict.fromkeys(plan):
            session = ReplaySession(replay.host, replay.port, sni, variant, direction, replay.bytes)
            sessions.append((f"{direction.value} {variant.value} {sni}", session))
    return sessions


async def measure_replay(
    label: str, session: ReplaySession, secret: bytes, shared: "_RoundContext"
) -> ReplayRecord:
    clock = Clock()
    shared.listener.replay_started(label, framed_size(session.payload_bytes))
    record = await replay(
        session,
        secret,
        replay_settings(shared.config),
        clock,
        shared.interrupt,
        on_bytes=lambda total: shared.listener.bytes_received(label, total),
    )
    shared.listener.replay_finished(label, record)
    return record


def replay_settings(config: Config) -> ReplaySettings:
    timeouts = config.settings.timeouts
    return ReplaySettings(
        connect_timeout=timeouts.connect,
        stall_timeout=timeouts.stall,
        transfer_timeout=timeouts.transfer,
        stop_at_plateau=config.settings.stop_at_plateau,
    )


class _Alone:
    """A listener that hears the grey zone's solo downloads as ``NAME alone``."""

    def __init__(self, listener: ProgressListener) -> None:
        self._listener = listener

    def target_started(self, name: str, url: str) -> None:
        self._listener.target_started(f"{name} alone", url)

    def bytes_received(self, name: str, total: int) -> None:
        self._listener.bytes_received(f"{name} alone", total)

    def target_finished(self, result: TargetResult) -> None:
        self._listener.target_finished(dataclasses.replace(result, name=f"{result.name} alone"))

    def replay_started(self, label: str, total: int) -> None:
        self._listener.replay_started(label, total)

    def replay_finished(self, label: str, record: ReplayRecord) -> None:
        self._listener.replay_finished(label, record)


@dataclass(frozen=True)
class _RoundContext:
    """What every download of a round shares."""

    config: Config
    resolvers: ResolverSet
    ssl_context: ssl.SSLContext
    unverified_ssl_context: ssl.SSLContext
    listener: ProgressListener
    interrupt: Interrupt


async def measure_job(job: Job, shared: _RoundContext) -> TargetResult:
    """DNS with every resolver, then one download from the chosen address."""
    result = TargetResult(job.name, job.group, job.role, job.url, _now_iso())
    if shared.interrupt.requested:
        result.failure = Failure.INTERRUPTED
        return result
    shared.listener.target_started(job.name, job.url)
    clock = Clock()
    family = shared.config.settings.address_family
    resolvers = shared.resolvers
    result.dns = await resolve(job.hostname, resolvers, family, clock, shared.interrupt)
    chosen = choose_address(result.dns, resolvers.specs)
    if chosen is None:
        result.failure = _dns_failure(result.dns, resolvers.specs)
    else:
        result.address_from, address = chosen
        result.transfer = await download(
            job.url,
            address,
            transfer_settings(shared.config, job.min_bytes),
            shared.ssl_context if job.verify else shared.unverified_ssl_context,
            clock,
            shared.interrupt,
            on_bytes=lambda total: shared.listener.bytes_received(job.name, total),
            sni=job.sni,
        )
        result.failure = result.transfer.failure
    shared.listener.target_finished(result)
    return result


def transfer_settings(config: Config, min_bytes: int | None = None) -> TransferSettings:
    timeouts = config.settings.timeouts
    return TransferSettings(
        connect_timeout=timeouts.connect,
        tls_timeout=timeouts.tls,
        stall_timeout=timeouts.stall,
        transfer_timeout=timeouts.transfer,
        max_bytes=config.settings.max_bytes,
        min_bytes=min_bytes,
        rtt_probes=config.settings.rtt_probes,
        stop_at_plateau=config.settings.stop_at_plateau,
        repeat_seconds=config.settings.repeat_seconds,
    )


def choose_address(
    records: Sequence[DnsRecord], specs: Sequence[ResolverSpec]
) -> tuple[str, str] | None:
    """(resolver name, address): the first answer of the first resolver, in config order."""
    for spec in specs:
        for record in records:
            if record.resolver == spec.name and record.answers:
                return spec.name, record.answers[0]
    return None


def _dns_failure(records: Sequence[DnsRecord], specs: Sequence[ResolverSpec]) -> Failure:
    """The failure of the first resolver: the one whose answer would have been used."""
    first = specs[0].name if specs else None
    for record in records:
        if record.resolver == first and record.failure is not None:
            return record.failure
    return next((r.failure for r in records if r.failure is not None), Failure.DNS_ERROR)


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
