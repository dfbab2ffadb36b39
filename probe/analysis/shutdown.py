"""Only domestic services answer: the round's network state, and the shutdown rule.

Russia's mobile networks have run white lists since May 2025: default deny by
destination, domestic services (Yandex, VK, Gosuslugi, ...) allowed, the TCP
handshake completing everywhere and the ClientHello dropped. Every foreign
target then fails like every foreign control, and the controls' rule alone
would call the network failing (``degraded``): true, and nothing about what
happens to those users. When every foreign target and control fails at the
connect or TLS stage while a control marked ``domestic`` works, the round's
network is ``domestic_only`` and each foreign target is ``blocked`` at its
stage by rule ``shutdown``. An outage of the country's international links
looks the same from inside, and the reason says so.
"""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from probe.analysis.stages import stage_of
from probe.records import Failure, NetworkState, Role, Stage, TargetResult
from probe.units import format_rate

if TYPE_CHECKING:  # the controls' summary judges with this module: imported for its type
    from probe.analysis.target_verdict import Controls

_SHUTDOWN_STAGES = (Stage.TCP, Stage.TLS)


@dataclass(frozen=True)
class DomesticOnly:
    """The evidence of a shutdown: the domestic controls that worked, the foreign that failed."""

    domestic: dict[str, float]  # domestic control -> its goodput
    foreign_failed: int  # foreign targets and controls, all failed at connect or TLS

    def reason(self, target: TargetResult) -> str:
        names = ", ".join(sorted(self.domestic))
        median = format_rate(statistics.median(self.domestic.values()))
        return (
            "only domestic services answer: a shutdown or a white list (or the country's "
            f"international links are down); {target.failure} at the {stage_of(target)} stage, "
            f"as all {self.foreign_failed} foreign targets and controls, while the domestic "
            f"{names} worked ({median})"
        )


def domestic_only(entries: Sequence[TargetResult]) -> DomesticOnly | None:
    """The shutdown's evidence in one transport's entries of a round, or None."""
    judged = [
        e
        for e in entries
        if e.role in (Role.TARGET, Role.CONTROL) and e.failure != Failure.INTERRUPTED
    ]
    domestic = {
        e.name: e.goodput_bytes_per_second
        for e in judged
        if e.domestic and e.role == Role.CONTROL and e.failure is None
    }
    working = {name: rate for name, rate in domestic.items() if rate}
    foreign = [e for e in judged if not e.domestic]
    if not working or not any(e.role == Role.CONTROL for e in foreign):
        return None
    if not all(stage_of(e) in _SHUTDOWN_STAGES for e in foreign):
        return None
    return DomesticOnly(working, len(foreign))


def network_state(entries: Sequence[TargetResult], controls: "Controls") -> NetworkState | None:
    """The round's network as its controls saw it; None when no control was measured."""
    if not controls.rates and not controls.failures:
        return None
    if domestic_only(entries) is not None:
        return NetworkState.DOMESTIC_ONLY
    if controls.mostly_failed:
        return NetworkState.FAILING
    if controls.slow:
        return NetworkState.SLOW
    return NetworkState.LOSSY if controls.lossy else NetworkState.HEALTHY
