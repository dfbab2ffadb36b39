"""What each lab scenario does to each target: the ground truth verdicts are judged against.

Written out by hand from the scenarios' definitions (their default
parameters), so that a change to either shows up as a disagreement in the
lab tests and the accuracy benchmark.
"""

TARGETS = ("pbs-twimg-com", "abs-twimg-com", "twitter-com", "x-com", "tiktok-com")

# The 2021 patterns (twitter.com, twimg.com, t.co) match these; x.com holds none.
_POLICED = {"pbs-twimg-com": "throttled/policing", "abs-twimg-com": "throttled/policing"}
_POLICED["twitter-com"] = "throttled/policing"
_SHAPED = {"pbs-twimg-com": "throttled/shaping", "abs-twimg-com": "throttled/shaping"}


def _expect(default: str, **special: str) -> dict[str, str]:
    return {name: special.get(name, default) for name in TARGETS}


EXPECTED = {
    "clean": _expect("ok"),
    "sni-police": _expect("ok", **_POLICED),
    "shape": _expect("ok", **_SHAPED),  # shape's default server is twimg
    "congested": _expect("degraded"),
    "loss": _expect("ok"),
    "sni-reset": _expect("ok", **{"tiktok-com": "blocked/tls"}),
    "blackhole": _expect("ok", **{"tiktok-com": "blocked/tcp"}),
    "lying-resolver": _expect("blocked/dns"),
    "stall": _expect("ok", **{"tiktok-com": "blocked/stall"}),
    "sni-police+congested:rate=20mbit": _expect("ok", **_POLICED),
    "sni-police+stall": _expect("ok", **_POLICED, **{"tiktok-com": "blocked/stall"}),
}

# Verdicts that are right too, for any target of a scenario. Under random loss
# a 2 MiB download on the lab's fast links takes 20 ms, or 2 s when a
# retransmission time-out or two strike. Some rounds (bench/lab_accuracy.py
# counts them) have a target 10x slower than every control, and then
# "degraded" (the controls lose packets too) is the right answer.
ALSO_RIGHT = {"loss": {"degraded"}}


def is_right(composition: str, target: str, label: str) -> bool:
    """Whether ``label`` is a right verdict for ``target`` under ``composition``."""
    return label == EXPECTED[composition][target] or label in ALSO_RIGHT.get(composition, set())


def verdict_label(verdict: dict[str, str | None]) -> str:
    """``throttled/policing``, ``blocked/tls``, ``ok``: a verdict as the tables above name it."""
    detail = verdict.get("mechanism") or verdict.get("stage")
    return str(verdict["verdict"]) + (f"/{detail}" if detail else "")
