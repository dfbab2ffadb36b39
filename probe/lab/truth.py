"""What each lab scenario does to each target: the ground truth verdicts are judged against.

Written out by hand from the scenarios' definitions (their default
parameters), so that a change to either shows up as a disagreement in the
lab tests and the accuracy benchmark.
"""

from dataclasses import dataclass

from probe.analysis.target_verdict import label_of
from probe.records import Mechanism, Stage, Transport, VerdictKind
from probe.schema import ArchiveEntry, RoundDocument

TARGETS = ("pbs-twimg-com", "abs-twimg-com", "twitter-com", "x-com", "tiktok-com")


def label(kind: VerdictKind, detail: Mechanism | Stage | None = None) -> str:
    """``throttled/policing``, ``blocked/tls``, ``ok``: a verdict as the tables below name it."""
    return label_of(kind, detail)


OK, DEGRADED = label(VerdictKind.OK), label(VerdictKind.DEGRADED)
POLICING = label(VerdictKind.THROTTLED, Mechanism.POLICING)
SHAPING = label(VerdictKind.THROTTLED, Mechanism.SHAPING)
# The 2021 patterns (twitter.com, twimg.com, t.co) match these; x.com holds none.
_POLICED = {"pbs-twimg-com": POLICING, "abs-twimg-com": POLICING, "twitter-com": POLICING}
_SHAPED = {"pbs-twimg-com": SHAPING, "abs-twimg-com": SHAPING}


def _blocked(stage: Stage) -> str:
    return label(VerdictKind.BLOCKED, stage)


def _expect(default: str, **special: str) -> dict[str, str]:
    return {name: special.get(name, default) for name in TARGETS}


# A 3 Mbit/s link shared by the round's eight downloads (controls ~500 kbit/s
# each): a slow network, where the 2021 throttling was felt most.
SLOW_LINK_POLICING = "sni-police+congested:rate=3mbit"
# The July 2024 YouTube pattern on a 100 Mbit/s link with a 50 ms path: the 2021
# patterns' flows lose 5% of their packets at random, 2-5x slower in the lab.
# Now and then one such flow is not slowed at all (5% loss is a chance, not a
# rate): tests/test_detection_lab.py counts, the accuracy bench prints.
SNI_LOSS = "delay:rtt=50ms+congested:rate=100mbit+sni-loss"
LOSS = label(VerdictKind.THROTTLED, Mechanism.LOSS)
# Compositions whose downloads need settings of their own (longer than
# ``--timeout 10``, or a count over rounds): not in test_lab's table run.
OWN_TESTS = (SLOW_LINK_POLICING, SNI_LOSS)
WHITE_LIST = "white-list"
ECH_BLOCK = "ech-block"
TAINT = "taint"
CDN_RESET = "cdn+sni-reset:pattern=twimg.com"
CDN_BLACKHOLE = "cdn+blackhole:server=twitter"  # the ISP resolver's address for twimg's names
CDN_CONGESTED = "cdn+congested"
_TWIMG = ("pbs-twimg-com", "abs-twimg-com")
_ON_TWITTERS_SERVER = (*_TWIMG, "twitter-com", "x-com")
FREEZE_CONTROL = "freeze"  # its default server: speed.cloudflare.com, a control
FREEZE_EXEMPT = "freeze:server=twimg,exempt=abs.twimg.com"

EXPECTED = {
    "clean": _expect(OK),
    "sni-police": _expect(OK, **_POLICED),
    "shape": _expect(OK, **_SHAPED),  # shape's default server is twimg
    "congested": _expect(DEGRADED),
    "loss": _expect(OK),
    "sni-reset": _expect(OK, **{"tiktok-com": _blocked(Stage.TLS)}),
    "blackhole": _expect(OK, **{"tiktok-com": _blocked(Stage.TCP)}),
    "lying-resolver": _expect(_blocked(Stage.DNS)),
    # 20 KB from the server and silence: a freeze, however the router made it.
    "stall": _expect(OK, **{"tiktok-com": _blocked(Stage.FREEZE)}),
    "sni-police+congested:rate=20mbit": _expect(OK, **_POLICED),
    "sni-police+stall": _expect(OK, **_POLICED, **{"tiktok-com": _blocked(Stage.FREEZE)}),
    # The 2025 freeze on the Cloudflare control: the targets stay ok (the control's
    # own state says it froze); on twimg's server, with abs.twimg.com exempt.
    FREEZE_CONTROL: _expect(OK),
    FREEZE_EXEMPT: _expect(OK, **{"pbs-twimg-com": _blocked(Stage.FREEZE)}),
    # twimg's names answered by the ISP resolver with twitter's server (which serves
    # them too), the public resolver with their own: resolvers that disagree, and
    # no DNS block, whatever else happens (the address check tries the other's).
    # Only the domestic control (yandex) answers: every target blocked by the shutdown.
    WHITE_LIST: _expect(_blocked(Stage.TLS)),
    ECH_BLOCK: _expect(OK),  # the targets send no ECH: the round's `ech` says blocked
    # The SNI swap's server tainted by the platform names it was sent: only the
    # connections opened after are policed (the round's `taint_check` says so).
    TAINT: _expect(OK),
    "cdn": _expect(OK),
    CDN_RESET: _expect(OK, **dict.fromkeys(_TWIMG, _blocked(Stage.TLS))),
    CDN_BLACKHOLE: _expect(OK, **dict.fromkeys(_ON_TWITTERS_SERVER, _blocked(Stage.TCP))),
    CDN_CONGESTED: _expect(DEGRADED),
    SLOW_LINK_POLICING: _expect(DEGRADED, **_POLICED),
    SNI_LOSS: _expect(OK, **dict.fromkeys(_POLICED, LOSS)),
}

# Over QUIC. Every TCP scenario leaves QUIC alone, but what acts on a server's
# address (a shaped server, a blackhole, a congested link) acts on both, and a
# server whose TCP answer never came offered no HTTP/3 to learn in a one-off
# check: it is not measured over QUIC (NOT_MEASURED), never "blocked on QUIC".
NOT_MEASURED = "-"
QUIC_POLICED = label(VerdictKind.THROTTLED, Mechanism.UNKNOWN)  # no QUIC loss signal yet
_QUIC_BLOCKED = _blocked(Stage.QUIC)
_TWITTER_SERVERS = ("pbs-twimg-com", "abs-twimg-com", "twitter-com", "x-com")
QUIC_DROP = "quic-drop"
QUIC_POLICE = "quic-police"
QUIC_SNI = "quic-sni"

EXPECTED_QUIC = {
    "clean": _expect(OK),
    "sni-police": _expect(OK),
    "shape": _expect(OK, **_SHAPED),
    "congested": _expect(DEGRADED),
    "loss": _expect(OK),
    "sni-reset": _expect(OK, **{"tiktok-com": NOT_MEASURED}),
    "blackhole": _expect(OK, **{"tiktok-com": NOT_MEASURED}),
    "lying-resolver": _expect(NOT_MEASURED),
    "stall": _expect(OK),
    "sni-police+congested:rate=20mbit": _expect(OK),
    "sni-police+stall": _expect(OK),
    FREEZE_CONTROL: _expect(OK),
    FREEZE_EXEMPT: _expect(OK),
    WHITE_LIST: _expect(NOT_MEASURED),
    ECH_BLOCK: _expect(OK),
    TAINT: _expect(OK),
    "cdn": _expect(OK),
    # No TCP answer, no offer of HTTP/3 learnt in a one-off check: not over QUIC.
    CDN_RESET: _expect(OK, **dict.fromkeys(_TWIMG, NOT_MEASURED)),
    CDN_BLACKHOLE: _expect(OK, **dict.fromkeys(_ON_TWITTERS_SERVER, NOT_MEASURED)),
    CDN_CONGESTED: _expect(DEGRADED),
    SLOW_LINK_POLICING: _expect(DEGRADED),
    SNI_LOSS: _expect(OK),
    # Russia 2022: every foreign server's QUIC dropped, the domestic control passes.
    QUIC_DROP: _expect(_QUIC_BLOCKED),
    QUIC_POLICE: _expect(OK, **dict.fromkeys(_TWITTER_SERVERS, QUIC_POLICED)),
    # The 2021 patterns in the Initial's SNI: x.com holds none (no residual block by default).
    QUIC_SNI: _expect(OK, **dict.fromkeys(_POLICED, _QUIC_BLOCKED)),
}
# Over TCP the QUIC scenarios change nothing.
EXPECTED.update({name: _expect(OK) for name in (QUIC_DROP, QUIC_POLICE, QUIC_SNI)})

# Under OONI's 10x: twimg's server shaped to 8 Mbit/s on a 100 Mbit/s link
# where the controls get ~15 each. No single round may call it throttled; the
# daemon must, against the target's own history, within a few rounds of the
# change (tests/test_detection_lab.py, bench/lab_accuracy.py --history).
HISTORY_CLEAN = "congested:rate=100mbit"
HISTORY_SHAPED = "congested:rate=100mbit+shape:server=twimg,rate=8mbit"
HISTORY_TARGETS = ("pbs-twimg-com", "abs-twimg-com")
# 2 MiB a download: with 512 KiB the rates of 40 ms downloads wander so much
# that the shaped server's two names sometimes read 10x below a control.
HISTORY_MAX_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class LongRun:
    """A network without a throttle, run for many rounds: never ``throttled``."""

    composition: str
    usual: str  # what most verdicts must be
    max_bytes: int  # per download: congested rounds last long enough to reach a plateau
    suite_rounds: int  # rounds in the full suite's test (bench/lab_accuracy.py --long sets its own)


LONG_RUNS = (
    LongRun("clean", OK, 512 * 1024, 50),
    LongRun("loss", OK, 512 * 1024, 50),
    # Six downloads share 2 Mbit/s, ~330 kbit/s each: 448 KiB lasts ~11 s, long
    # enough to reach a plateau, so the slow-network rule is exercised. Its rounds
    # take ~23 s, the longest of the three, so 50 of them were ~19 of the suite's
    # minutes: the suite runs 20 (120 round verdicts and as many windows), the
    # bench's --long 50 the rest.
    LongRun("congested:rate=2mbit", DEGRADED, 448 * 1024, 20),
)
# One target per platform server, and the controls: fewer downloads, shorter rounds.
LONG_RUN_TARGETS = (
    "pbs-twimg-com",
    "twitter-com",
    "tiktok-com",
    "mirror-yandex-ru",
    "deb-debian-org",
    "speed-cloudflare-com",
)

# Verdicts that are right too, for any target of a scenario. Under random loss
# a 2 MiB download on the lab's fast links takes 20 ms, or 2 s when a
# retransmission time-out or two strike. Some rounds (bench/lab_accuracy.py
# counts them) have a target 10x slower than every control, and then
# "degraded" (the controls lose packets too) is the right answer.
ALSO_RIGHT = {"loss": {DEGRADED}}
# The lab's QUIC is bound by the CPU (aioquic, client and servers, on two cores):
# with every download of a round over QUIC at once, the controls' own in-band
# probes are sometimes late too, and a shaper's queue is then not the target's
# alone: its mechanism reads unknown.
# On the congested link a target's TCP download may fail before its answer came,
# and with it the offer of HTTP/3: not measured over QUIC in that round.
ALSO_RIGHT_QUIC = {
    "loss": {DEGRADED},
    "shape": {QUIC_POLICED},
    "congested": {NOT_MEASURED},
    CDN_CONGESTED: {NOT_MEASURED},
}


def is_right(
    composition: str, target: str, label: str, transport: Transport = Transport.TCP
) -> bool:
    """Whether ``label`` (NOT_MEASURED: none) is right for ``target`` under ``composition``."""
    expected = EXPECTED_QUIC if transport == Transport.QUIC else EXPECTED
    also = ALSO_RIGHT_QUIC if transport == Transport.QUIC else ALSO_RIGHT
    return label == expected[composition][target] or label in also.get(composition, set())


def labels_over(document: RoundDocument, transport: Transport) -> dict[str, str]:
    """Each target's verdict label over ``transport`` in a round's document,
    NOT_MEASURED for a target that was not measured over it."""
    judged = document.verdicts(transport)
    return {name: judged[name].label if name in judged else NOT_MEASURED for name in TARGETS}


def archived_labels(entry: ArchiveEntry, scope: str) -> dict[str, str]:
    """Each target's verdict label in an archived round: the round's, or its window's."""
    judged = entry.verdicts() if scope == "round" else entry.window_over()
    return {name: verdict.label for name, verdict in judged.items()}
