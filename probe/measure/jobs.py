"""One download of a round: what it is (``Job``), what the round's downloads
share (``RoundContext``), and measuring it over TCP (``measure_job``).

Every kind of measurement that downloads (the targets and controls, the SNI
swap, the grey zone, QUIC) measures its downloads with these.
"""

import asyncio
import contextlib
import dataclasses
import datetime
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from probe.config import Config, ResolverSpec
from probe.measure.dns import ResolverSet, resolve
from probe.measure.timing import Clock, Interrupt
from probe.measure.transfer import (
    TransferSettings,
    download,
    make_ssl_context,
    make_unverified_ssl_context,
)
from probe.records import (
    DnsRecord,
    Failure,
    ReplayRecord,
    Role,
    TargetResult,
    Transport,
)


class ProgressListener(Protocol):
    """What a front end (the terminal, a daemon log) hears while a round runs."""

    def target_started(self, name: str, url: str) -> None: ...

    def bytes_received(self, name: str, total: int) -> None: ...

    def target_finished(self, result: TargetResult) -> None: ...

    def replay_started(self, label: str, total: int) -> None: ...

    def replay_finished(self, label: str, record: ReplayRecord) -> None: ...


class Silent:
    """A listener that hears nothing: a round measured without a front end."""

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


class Labelled:
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
    domestic: bool = False  # served from inside the probe's country

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
    """The configured targets and controls, each with the transports it goes over."""
    return [
        Job(
            target.name,
            group_name,
            Role(group.role),
            target.url,
            target.min_bytes,
            transports=tuple(map(Transport, config.transports_of(group, target))),
            domestic=config.is_domestic(group, target),
        )
        for group_name, group, target in config.targets()
    ]


@dataclass(frozen=True)
class RoundContext:
    """What every download of a round shares."""

    config: Config
    resolvers: ResolverSet
    ssl_context: ssl.SSLContext
    unverified_ssl_context: ssl.SSLContext
    listener: ProgressListener
    interrupt: Interrupt
    slots: asyncio.Semaphore  # the round's downloads at once (settings.concurrency)


@contextlib.asynccontextmanager
async def round_context(
    config: Config, listener: ProgressListener, interrupt: Interrupt
) -> AsyncIterator[RoundContext]:
    """What a round's downloads share, its resolvers open for as long as it lasts."""
    async with ResolverSet(config.resolver_specs(), config.settings.timeouts.dns) as resolvers:
        yield RoundContext(
            config,
            resolvers,
            make_ssl_context(config.settings.ca_bundle),
            make_unverified_ssl_context(),
            listener,
            interrupt,
            asyncio.Semaphore(config.settings.concurrency),
        )


async def measure_job(job: Job, shared: RoundContext) -> TargetResult:
    """DNS with every resolver, then one download from the chosen address."""
    result = started(job, shared, Transport.TCP)
    if result.failure is not None:
        return result
    clock = Clock()
    address = await look_up(job, result, clock, shared)
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


def started(job: Job, shared: RoundContext, transport: Transport) -> TargetResult:
    """The entry of ``job`` over ``transport``, started (the front end hears of it), or
    already ``interrupted`` when the user stopped the round before its turn."""
    result = TargetResult(job.name, job.group, job.role, job.url, now_iso())
    result.transport, result.domestic = transport, job.domestic
    if shared.interrupt.requested:
        result.failure = Failure.INTERRUPTED
    else:
        shared.listener.target_started(job.name, job.url)
    return result


async def look_up(job: Job, result: TargetResult, clock: Clock, shared: RoundContext) -> str | None:
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


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
