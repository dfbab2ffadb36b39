"""The judges of the kinds of measurement a round runs: the one place that lists them.

One per kind of ``measure.registry``, each in its own module (``analysis.kind``
says what a judge is). The order is the order their notes join a target's
reason.
"""

from probe.analysis.address_check import AddressCheckJudge
from probe.analysis.ech import EchJudge
from probe.analysis.freeze import FreezeJudge
from probe.analysis.greyzone import GreyZoneJudge
from probe.analysis.kind import KindJudge
from probe.analysis.locate import LocateJudge
from probe.analysis.replay_findings import ReplayJudge
from probe.analysis.sniswap import SwapJudge
from probe.analysis.taint import TaintJudge


def round_judges(replay_control_name: str = "") -> list[KindJudge]:
    """``replay_control_name``: the replay test's innocuous name, if it ran."""
    return [
        SwapJudge(),
        TaintJudge(),
        AddressCheckJudge(),
        GreyZoneJudge(),
        FreezeJudge(),
        EchJudge(),
        ReplayJudge(replay_control_name),
        LocateJudge(),
    ]
