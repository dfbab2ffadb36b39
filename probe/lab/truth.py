"""What each lab scenario does to each target: the ground truth verdicts are judged against.

Written out by hand from the scenarios' definitions (their default
parameters), so that a change to either shows up as a disagreement in the
lab tests and the accuracy benchmark.
"""

from probe.analysis.episodes import document_label
from probe.analysis.target_verdict import label_of
from probe.records import Mechanism, Stage, VerdictKind

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


EXPECTED = {
    "clean": _expect(OK),
    "sni-police": _expect(OK, **_POLICED),
    "shape": _expect(OK, **_SHAPED),  # shape's default server is twimg
    "congested": _expect(DEGRADED),
    "loss": _expect(OK),
    "sni-reset": _expect(OK, **{"tiktok-com": _blocked(Stage.TLS)}),
    "blackhole": _expect(OK, **{"tiktok-com": _blocked(Stage.TCP)}),
    "lying-resolver": _expect(_blocked(Stage.DNS)),
    "stall": _expect(OK, **{"tiktok-com": _blocked(Stage.STALL)}),
    "sni-police+congested:rate=20mbit": _expect(OK, **_POLICED),
    "sni-police+stall": _expect(OK, **_POLICED, **{"tiktok-com": _blocked(Stage.STALL)}),
}

# Verdicts that are right too, for any target of a scenario. Under random loss
# a 2 MiB download on the lab's fast links takes 20 ms, or 2 s when a
# retransmission time-out or two strike. Some rounds (bench/lab_accuracy.py
# counts them) have a target 10x slower than every control, and then
# "degraded" (the controls lose packets too) is the right answer.
ALSO_RIGHT = {"loss": {DEGRADED}}


def is_right(composition: str, target: str, label: str) -> bool:
    """Whether ``label`` is a right verdict for ``target`` under ``composition``."""
    return label == EXPECTED[composition][target] or label in ALSO_RIGHT.get(composition, set())


def verdict_label(verdict: dict[str, str | None]) -> str:
    """The label of a verdict from a JSON document (``check --json``)."""
    return document_label(verdict)
