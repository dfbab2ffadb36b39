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
from probe.measure.http3_offers import Http3Offers
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
    Transport,
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
    offers: Http3Offers | None = None,
) -> RoundResult:
    """Measure every target of ``config`` (and the SNI swap, if configured) concurrently.

    Then, over QUIC, every target and control whose server offers HTTP/3
    (``offers``: what earlier rounds learnt, kept by the caller; this round's
    TCP answers are added to it). The replay test follows when
    ``config.replay`` is set and ``replay_secret`` is given. ``interrupt``
    stops the round early, keeping what was measured.
    """
    started_at = _now_iso()
    specs = config.resolver_specs()
    async with ResolverSet(specs, config.settings.timeouts.dns) as resolvers:
        shared = _RoundContext(
            config,
            resolvers,
            make_ssl_context(config.settings.ca_bundle),
            make_unverified_ssl_context(),
            listener or _Silent(),
            interrupt or Interrupt(),
            asyncio.Semaphore(config.settings.concurrency),
        )

        async def one(job: Job) -> TargetResult:
            async with shared.slots:
                return await measure_job(job, shared)

        targets = target_jobs(config)
        jobs = [job for job in [*targets, *swap_jobs(config)] if job.over_tcp]
        results = await asyncio.gather(*(one(job) for job in jobs))
        measured = list(zip(jobs, results, strict=True))
        remeasured = await remeasure_grey_zone(measured, shared)
        quic = await measure_over_quic(targets, measured, shared, offers)
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
        quic=quic.entries,
        quic_not_offered=quic.not_offered,
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
    shared = dataclasses.replace(shared, listener=_Labelled(shared.listener, " alone"))
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
    transports: tuple[Transport, ...] = (Transport.TCP,)

    @property
    def hostname(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def over_tcp(self) -> bool:
        return Transport.TCP in self.transports

    @property
    def over_quic(self) -> bool:
        return Transport.QUIC in self.transports


def target_jobs(config: Config) -> list[Job]:
    return [
        Job(
            target.name,
            group_name,
            Role(group.role),
            target.url,
            target.min_bytes,
            transports=tuple(map(Transport, config.transports_of(group, target))),
        )
        for group_name, group, target in config.targets()
    ]


@dataclass(frozen=True)
class QuicRound:
    """The round's downloads over QUIC, and the names whose servers offered no HTTP/3."""

    entries: list[TargetResult]
    not_offered: list[str]


async def measure_over_quic(
    jobs: Sequence[Job],
    measured: Sequence[tuple[Job, TargetResult]],
    shared: "_RoundContext",
    offers: Http3Offers | None,
) -> QuicRound:
    """Every job that may take QUIC, over HTTP/3, where its server offers it; concurrently.

    After the TCP downloads, as a browser goes: their answers' Alt-Svc tell
    which servers offer HTTP/3, and the address the TCP download used is the
    one QUIC goes to (the lookups are shared). A job narrowed to QUIC alone
    looks its name up itself and takes the URL's port as offered: its file
    said so.
    """
    offers = Http3Offers() if offers is None else offers
    over_tcp = {job.name: result for job, result in measured if job.role != Role.SNI_SWAP}
    for result in over_tcp.values():
        if result.transfer is not None:
            offers.learn(result.transfer.hostname, result.transfer.alt_svc)
    planned, not_offered = [], []
    for job in (job for job in jobs if job.over_quic):
        port = offers.port(job.hostname) if job.over_tcp else urlsplit(job.url).port or 443
        if port is None:
            not_offered.append(job.name)
        else:
            planned.append((job, over_tcp.get(job.name), port))
    labelled = dataclasses.replace(shared, listener=_Labelled(shared.listener, " quic"))

    async def one(job: Job, tcp: TargetResult | None, port: int) -> TargetResult:
        async with shared.slots:
            return await measure_quic_job(job, tcp, port, labelled)

    entries = await asyncio.gather(*(one(*plan) for plan in planned))
    return QuicRound(list(entries), not_offered)


async def measure_quic_job(
    job: Job, tcp: TargetResult | None, port: int, shared: "_RoundContext"
) -> TargetResult:
    """One download over HTTP/3: to the address ``tcp`` used, or looked up here."""
    # aioquic takes ~0.1 s to import: not before the first round's TCP downloads.
    from probe.measure.quic import QuicTrust, download_quic

    result = _started(job, shared, Transport.QUIC)
    if result.failure is not None:
        return result
    clock = Clock()
    if tcp is not None:
        result.dns, result.address_from = tcp.dns, tcp.address_from
        address = tcp.transfer.address if tcp.transfer is not None else None
    else:
        address = await _look_up(job, result, clock, shared)
    if address is None:
        result.failure = tcp.failure if tcp is not None else result.failure
    else:
        trust = QuicTrust(shared.config.settings.ca_bundle, verify=job.verify)
        result.transfer = await download_quic(
            job.url,
            address,
            transfer_settings(shared.config, job.min_bytes),
            trust,
            clock,
            shared.interrupt,
            on_bytes=lambda total: shared.listener.bytes_received(job.name, total),
            port=port,
        )
        result.failure = result.transfer.failure
    shared.listener.target_finished(result)
    return result


async def _look_up(
    job: Job, result: TargetResult, clock: Clock, shared: "_RoundContext"
) -> str | None:
    """DNS with every resolver into ``result``; the address to use, or None (and the failure)."""
    resolvers = shared.resolvers
    family = shared.config.settings.address_family
    result.dns = await resolve(job.hostname, resolvers, family, clock, shared.interrupt)
    chosen = choose_address(result.dns, resolvers.specs)
    if chosen is None:
        result.failure = _dns_failure(result.dns, resolvers.specs)
        return None
    result.address_from, address = chosen
    return address


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


class _Labelled:
    """A listener that hears some downloads apart: the grey zone's as ``NAME alone``,
    QUIC's as ``NAME quic``."""

    def __init__(self, listener: ProgressListener, suffix: str) -> None:
        self._listener = listener
        self._suffix = suffix

    def target_started(self, name: str, url: str) -> None:
        self._listener.target_started(name + self._suffix, url)

    def bytes_received(self, name: str, total: int) -> None:
        self._listener.bytes_received(name + self._suffix, total)

    def target_finished(self, result: TargetResult) -> None:
        labelled = dataclasses.replace(result, name=result.name + self._suffix)
        self._listener.target_finished(labelled)

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
    slots: asyncio.Semaphore  # the round's downloads at once (settings.concurrency)


async def measure_job(job: Job, shared: _RoundContext) -> TargetResult:
    """DNS with every resolver, then one download from the chosen address."""
    result = _started(job, shared, Transport.TCP)
    if result.failure is not None:
        return result
    clock = Clock()
    address = await _look_up(job, result, clock, shared)
    if address is not None:
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


def _started(job: Job, shared: _RoundContext, transport: Transport) -> TargetResult:
    """The entry of ``job`` over ``transport``, started (the front end hears of it), or
    already ``interrupted`` when the user stopped the round before its turn."""
    result = TargetResult(job.name, job.group, job.role, job.url, _now_iso())
    result.transport = transport
    if shared.interrupt.requested:
        result.failure = Failure.INTERRUPTED
    else:
        shared.listener.target_started(job.name, job.url)
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
