"""The ECH check: three ClientHellos to one server, and whether each is answered.

Russia from 5 November 2024: the outer SNI ``cloudflare-ech.com`` together
with an ECH extension freezes the connection right after the ClientHello;
either alone passes. As OONI's echcheck, the check sends, side by side after
the round's downloads (``Turn.AFTER_TARGETS``), to the configured server:

* ``ech``: a GREASE ECH extension with the outer name ``cloudflare-ech.com``;
* ``no_ech``: the same name without the extension (the baseline);
* ``other_name``: the extension with another outer name.

Python's ssl cannot send ECH, so the ClientHellos come from the project's own
builder (``measure.clienthello``). Each waits for the first TLS record back,
a ServerHello or an alert, no more: a few KB a round. The judge is
``analysis.ech``.
"""

import asyncio
import os

from probe.config import Ech
from probe.measure.clienthello import HANDSHAKE_RECORD, client_hello_record
from probe.measure.dns import resolve
from probe.measure.jobs import RoundContext, choose_address
from probe.measure.kind import MeasurementKind, RoundInProgress, Turn
from probe.measure.timing import Clock
from probe.records import EchProbe, EchVariant, Failure, Role

TLS_PORT = 443
ALERT_RECORD = 0x15


class EchCheck(MeasurementKind):
    name = "ech"
    turn = Turn.AFTER_TARGETS

    async def measure(self, progress: RoundInProgress) -> None:
        ech = progress.shared.config.ech
        has_control = any(job.role == Role.CONTROL for job in progress.targets)
        if ech is None or not has_control or progress.interrupted:
            return
        progress.result.ech = await check_ech(ech, progress.shared)


async def check_ech(ech: Ech, shared: RoundContext) -> list[EchProbe]:
    """The three ClientHellos to ``ech.server``, each on a connection of its own."""
    clock = Clock()
    family = shared.config.settings.address_family
    records = await resolve(ech.server, shared.resolvers, family, clock, shared.interrupt)
    chosen = choose_address(records, shared.resolvers.specs)
    address = None if chosen is None else chosen[1]
    variants = (
        (EchVariant.ECH, ech.outer_name, True),
        (EchVariant.NO_ECH, ech.outer_name, False),
        (EchVariant.OTHER_NAME, ech.other_outer_name, True),
    )
    probes = [
        EchProbe(variant, ech.server, address, name, with_ech, clock.now(), clock.now())
        for variant, name, with_ech in variants
    ]
    if address is None:
        for probe in probes:
            probe.failure = next((r.failure for r in records if r.failure), Failure.DNS_ERROR)
        return probes
    await asyncio.gather(*(_send(probe, address, clock, shared) for probe in probes))
    return probes


async def _send(probe: EchProbe, address: str, clock: Clock, shared: RoundContext) -> None:
    timeouts = shared.config.settings.timeouts
    probe.t0 = clock.now()
    record = client_hello_record(probe.outer_name, os.urandom(32), os.urandom(32), ech=probe.ech)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(address, TLS_PORT), timeouts.connect
        )
    except TimeoutError:
        probe.failure, probe.t = Failure.TCP_TIMEOUT, clock.now()
        return
    except ConnectionRefusedError:
        probe.failure, probe.t = Failure.TCP_REFUSED, clock.now()
        return
    except OSError:
        probe.failure, probe.t = Failure.TCP_ERROR, clock.now()
        return
    try:
        writer.write(record)
        first = await asyncio.wait_for(reader.read(1), timeouts.tls)
        if first and first[0] in (HANDSHAKE_RECORD, ALERT_RECORD):
            probe.answer = first[0]
        else:
            probe.failure = Failure.TLS_RESET if not first else Failure.TLS_ERROR
    except TimeoutError:
        probe.failure = Failure.TLS_TIMEOUT
    except OSError:
        probe.failure = Failure.TLS_RESET
    finally:
        probe.t = clock.now()
        writer.transport.abort()
