"""The address check: a target that failed where the resolvers disagree, tried at another's address.

After the round's downloads (``Turn.AFTER_TARGETS``), each target whose
download failed at an address that another resolver did not give is
downloaded again (a few KB, the certificate verified) from that other
resolver's first address. Its outcome is the entry's ``address_check``;
``analysis.target_verdict`` reads it to tell DNS tampering (the system
resolver's address fails its certificate while the other's serves the name)
from a block at the TLS or TCP stage that any address meets, and a CDN that
answers each resolver with its own working address from both.
"""

import asyncio
import dataclasses

from probe.measure.freeze import FREEZE_BUDGET
from probe.measure.jobs import Job, RoundContext, transfer_settings
from probe.measure.kind import MeasurementKind, RoundInProgress, Turn
from probe.measure.timing import Clock
from probe.measure.transfer import download
from probe.records import AddressCheck, Role, Stage, TargetResult


class AddressChecks(MeasurementKind):
    name = "address_check"
    turn = Turn.AFTER_TARGETS

    async def measure(self, progress: RoundInProgress) -> None:
        checks = [
            (job, result, other)
            for job, result in progress.measured
            if job.role == Role.TARGET and (other := other_address(result)) is not None
        ]
        if not checks or progress.interrupted:
            return
        await asyncio.gather(
            *(_check(job, result, other, progress.shared) for job, result, other in checks)
        )


def other_address(entry: TargetResult) -> tuple[str, str] | None:
    """(resolver, address): the first answer of a resolver that did not give the address
    ``entry`` failed at; None when it did not fail there, or every resolver agreed."""
    transfer = entry.transfer
    if entry.failure is None or transfer is None or transfer.address is None:
        return None
    if entry.failure.value.startswith(str(Stage.DNS)):
        return None
    for record in entry.dns:
        if record.answers and transfer.address not in record.answers:
            return record.resolver, record.answers[0]
    return None


async def _check(
    job: Job, result: TargetResult, other: tuple[str, str], shared: RoundContext
) -> None:
    resolver, address = other
    # Enough to pass a freeze's budget, and no more: the question is whether it works.
    settings = dataclasses.replace(
        transfer_settings(shared.config, job.min_bytes),
        max_bytes=FREEZE_BUDGET,
        rtt_probes=False,
        stop_at_plateau=False,
        repeat_seconds=0.0,
    )
    async with shared.slots:
        transfer = await download(
            job.url, address, settings, shared.ssl_context, Clock(), shared.interrupt
        )
    result.address_check = AddressCheck(resolver, transfer)
