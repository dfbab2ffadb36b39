"""Every target and control again over QUIC (HTTP/3), where its server offers it.

After the TCP downloads (``Turn.AFTER_TARGETS``), as a browser goes: their
answers' Alt-Svc, and their names' HTTPS records, say which servers offer
HTTP/3. Writes ``RoundResult.quic``
and ``quic_not_offered``; ``analysis.quic_verdict`` judges them.
"""

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from probe.measure.http3_offers import Http3Offers
from probe.measure.jobs import (
    Job,
    Labelled,
    RoundContext,
    look_up,
    started,
    transfer_settings,
)
from probe.measure.kind import MeasurementKind, RoundInProgress, Turn
from probe.measure.timing import Clock
from probe.records import Role, TargetResult, Transport


class QuicDownloads(MeasurementKind):
    """``offers``: what earlier rounds learnt of HTTP/3 (kept by the runner); this
    round's TCP answers are added to it."""

    name = "quic"
    turn = Turn.AFTER_TARGETS

    def __init__(self, offers: Http3Offers | None = None) -> None:
        self.offers = Http3Offers() if offers is None else offers

    async def measure(self, progress: RoundInProgress) -> None:
        quic = await measure_over_quic(
            progress.targets, progress.measured, progress.shared, self.offers
        )
        progress.result.quic, progress.result.quic_not_offered = quic.entries, quic.not_offered


@dataclass(frozen=True)
class QuicRound:
    """The round's downloads over QUIC, and the names whose servers offered no HTTP/3."""

    entries: list[TargetResult]
    not_offered: list[str]


async def measure_over_quic(
    jobs: Sequence[Job],
    measured: Sequence[tuple[Job, TargetResult]],
    shared: RoundContext,
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
        if result.https is not None:
            origin_port = urlsplit(result.url).port or 443
            offers.learn_records(result.https.hostname, result.https, origin_port)
    planned, not_offered = [], []
    for job in (job for job in jobs if job.over_quic):
        port = offers.port(job.hostname) if job.over_tcp else urlsplit(job.url).port or 443
        if port is None:
            not_offered.append(job.name)
        else:
            planned.append((job, over_tcp.get(job.name), port))
    labelled = dataclasses.replace(shared, listener=Labelled(shared.listener, " quic"))

    async def one(job: Job, tcp: TargetResult | None, port: int) -> TargetResult:
        async with shared.slots:
            return await measure_quic_job(job, tcp, port, labelled)

    entries = await asyncio.gather(*(one(*plan) for plan in planned))
    return QuicRound(list(entries), not_offered)


async def measure_quic_job(
    job: Job, tcp: TargetResult | None, port: int, shared: RoundContext
) -> TargetResult:
    """One download over HTTP/3: to the address ``tcp`` used, or looked up here."""
    # aioquic takes ~0.1 s to import: not before the first round's TCP downloads.
    from probe.measure.quic import QuicTrust, download_quic

    result = started(job, shared, Transport.QUIC)
    if result.failure is not None:
        return result
    clock = Clock()
    if tcp is not None:
        result.dns, result.address_from, result.https = tcp.dns, tcp.address_from, tcp.https
        address = tcp.transfer.address if tcp.transfer is not None else None
    else:
        address = await look_up(job, result, clock, shared)
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
