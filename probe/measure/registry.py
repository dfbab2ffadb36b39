"""The kinds of measurement a round runs: the one place that lists them.

Each kind is its own module under ``measure/`` (``measure.kind`` says what a
kind is); a new kind is added here, in the order it should run within its
turn, and its judge in ``analysis.registry``.
"""

from probe.config import Config
from probe.measure.address_check import AddressChecks
from probe.measure.ech import EchCheck
from probe.measure.freeze_followup import FreezeFollowUps
from probe.measure.greyzone import GreyZone
from probe.measure.http3_offers import Http3Offers
from probe.measure.kind import MeasurementKind
from probe.measure.over_quic import QuicDownloads
from probe.measure.replay_test import ReplayTest
from probe.measure.sniswap import SniSwap
from probe.measure.taint import TaintCheck


def round_kinds(
    config: Config, offers: Http3Offers | None = None, replay_secret: bytes | None = None
) -> list[MeasurementKind]:
    """What a round of ``config`` measures beside its targets and controls.

    ``offers``: the HTTP/3 offers learnt so far (the runner keeps them across
    rounds). The replay test runs when ``config.replay`` is set and
    ``replay_secret`` is given.
    """
    kinds: list[MeasurementKind] = [
        SniSwap(),
        AddressChecks(),
        TaintCheck(),
        GreyZone(),
        FreezeFollowUps(),
        EchCheck(),
        QuicDownloads(offers),
    ]
    if config.replay is not None and replay_secret is not None:
        kinds.append(ReplayTest(replay_secret))
    return kinds
