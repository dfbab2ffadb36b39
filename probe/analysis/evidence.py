"""What a verdict rests on: the figures it was computed from, typed.

One record for every rule, because a reader (a person, ``jq``, the window
verdict) looks the same figure up in the same place whatever decided: a
figure that did not enter the verdict is None (or empty), never a zero.
Every field has a default, so that a document written before a figure
existed still reads. The JSON document and the archive write it as it is
here (``probe.schema``): the field names below are the document's keys.
"""

from dataclasses import dataclass, field

from probe.analysis.address_check import AddressCheckFigures
from probe.analysis.history import Drop
from probe.analysis.locate import LocateOutcome
from probe.analysis.replay_findings import ReplayOutcome
from probe.analysis.sniswap import SwapOutcome
from probe.analysis.stats import WeheResult
from probe.analysis.taint import TaintOutcome
from probe.measure.freeze import FreezePoint
from probe.records import Failure, FreezeFollowUp, QuicClose, Redirect, VerdictKind

ROUND_METHOD = "controls in the same round; OONI 10x; Wehe area+KS; Flach loss/RTT"
HISTORY_METHOD = "against its own history: ratio to the controls' median, against its baseline"


@dataclass
class TargetFigures:
    """The judged download itself."""

    goodput_bytes_per_second: float | None = None
    failure: Failure | None = None
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class ControlFigures:
    """What the round's controls said of the network."""

    goodput_bytes_per_second: dict[str, float] = field(default_factory=dict)  # healthy, by name
    failures: dict[str, str] = field(default_factory=dict)  # the failed ones: name -> failure
    median_bytes_per_second: float | None = None
    rtt_inflated: bool = False  # their in-band RTT was inflated: the network queues
    out_of_order_share: float | None = None  # out-of-order segments per segment, pooled
    random_loss: bool = False  # they lose packets with no queue to explain it
    unanswered_lookups: int = 0
    slowest_setup_seconds: float | None = None  # their longest TCP connect or TLS handshake


@dataclass
class AloneFigures:
    """A grey-zone target and the slowest control, each measured again alone."""

    control: str
    goodput_bytes_per_second: float | None = None
    control_goodput_bytes_per_second: float | None = None
    failure: Failure | None = None
    control_failure: Failure | None = None


@dataclass
class Evidence:
    """The figures behind one verdict (of a round or of a window)."""

    method: str = ROUND_METHOD
    # A round's verdict: the target against the controls of the same round.
    target: TargetFigures | None = None
    controls: ControlFigures | None = None
    http_status: int | None = None  # the platform's own answer (platform_refused)
    # A freeze (blocked at stage freeze): the body's offset when it froze, the
    # connection's figures then, and what the follow-up found of the budget.
    froze_after_bytes: int | None = None
    freeze: FreezePoint | None = None
    freeze_followup: FreezeFollowUp | None = None
    ratio_to_slowest_control: float | None = None
    ratio_to_controls_median: float | None = None  # on a slow network
    wehe: WeheResult | None = None
    # How a slowed download was slowed (Flach et al.).
    loss_events: int | None = None
    out_of_order_share: float | None = None  # its own loss: out-of-order segments per segment
    loss_ratio_to_controls: float | None = None  # that share over the controls' (pooled)
    rtt_inflated_share: float | None = None
    plateau_cv: float | None = None  # the spread of its throughput bins: low when held flat
    slow_network: bool = False  # judged by the slow network's rule (the solo downloads agree)
    # What the round's other measurements of the same name said.
    sni_swap: SwapOutcome | None = None
    address_check: AddressCheckFigures | None = None  # another resolver's address, tried
    taint: TaintOutcome | None = None  # the swap's server stayed slowed after this name
    alone: AloneFigures | None = None
    replay: list[ReplayOutcome] = field(default_factory=list)
    located: LocateOutcome | None = None  # where the equipment acts on it (daemon.locate)
    # Over QUIC, failing where TCP to the same name worked.
    tcp_goodput_bytes_per_second: float | None = None
    controls_failed_over_quic: list[str] | None = None
    controls_passed_over_quic: list[str] | None = None
    quic_close: QuicClose | None = None
    # A window's verdict: each round's verdict, the pooled figures, the history.
    rounds: list[VerdictKind] | None = None
    goodput_bytes_per_second: float | None = None  # the target's median over the window
    slowest_control_bytes_per_second: float | None = None  # median of each round's slowest
    history: Drop | None = None  # rule ``history``: the drop against its baseline
