"""The ECH check's ClientHellos and its verdict (no network: the lab has the real rule)."""

import pytest

from probe.analysis.ech import EchVerdict, judge_ech
from probe.analysis.stages import STAGE_OF_FAILURE
from probe.measure.clienthello import ECH_EXTENSION, client_hello_record
from probe.records import EchProbe, EchVariant, Failure


def extensions(record: bytes) -> dict[int, bytes]:
    """The ClientHello's extensions by type, read by their TLS layout."""
    at = 5 + 4 + 2 + 32  # record and handshake headers, version, random
    at += 1 + record[at]  # session id
    at += 2 + int.from_bytes(record[at : at + 2], "big")  # cipher suites
    at += 1 + record[at]  # compression methods
    end = at + 2 + int.from_bytes(record[at : at + 2], "big")
    at += 2
    found = {}
    while at < end:
        kind, size = (
            int.from_bytes(record[at : at + 2], "big"),
            int.from_bytes(record[at + 2 : at + 4], "big"),
        )
        found[kind] = record[at + 4 : at + 4 + size]
        at += 4 + size
    return found


def test_the_grease_ech_extension_has_the_drafts_outer_layout() -> None:
    record = client_hello_record("cloudflare-ech.com", bytes(32), bytes(32), ech=True)

    ech = extensions(record)[ECH_EXTENSION]
    assert ech[0] == 0  # outer
    assert ech[1:5] == bytes.fromhex("00010001")  # HKDF-SHA256, AES-128-GCM
    enc_size = int.from_bytes(ech[6:8], "big")
    payload_size = int.from_bytes(ech[8 + enc_size : 10 + enc_size], "big")
    assert enc_size == 32 and len(ech) == 10 + enc_size + payload_size
    assert b"cloudflare-ech.com" in extensions(record)[0]  # the outer SNI
    assert ECH_EXTENSION not in extensions(client_hello_record("a.test", bytes(32), bytes(32)))


def probe(variant: EchVariant, failure: Failure | None) -> EchProbe:
    name = "crypto.cloudflare.com" if variant == EchVariant.OTHER_NAME else "cloudflare-ech.com"
    return EchProbe(
        variant, "cloudflare-ech.com", "192.0.2.1", name, variant != EchVariant.NO_ECH,
        0.0, 0.1, None if failure else 22, failure,
    )  # fmt: skip


T = Failure.TLS_TIMEOUT


@pytest.mark.parametrize(
    ("ech", "no_ech", "other", "verdict", "says"),
    [
        (None, None, None, EchVerdict.OK, "passes"),
        (T, None, None, EchVerdict.BLOCKED, "the pair is blocked"),
        (T, None, T, EchVerdict.BLOCKED, "ECH itself is blocked"),
        (T, T, T, EchVerdict.INCONCLUSIVE, "does not answer even without ECH"),
    ],
)
def test_the_verdict_compares_the_ech_hello_with_the_one_without(
    ech: Failure | None,
    no_ech: Failure | None,
    other: Failure | None,
    verdict: EchVerdict,
    says: str,
) -> None:
    probes = [
        probe(EchVariant.ECH, ech),
        probe(EchVariant.NO_ECH, no_ech),
        probe(EchVariant.OTHER_NAME, other),
    ]

    section = judge_ech(probes)

    assert section is not None and section.verdict == verdict and says in section.reason
    failed = next(o for o in section.outcomes if o.variant == EchVariant.ECH)
    assert failed.answered is (ech is None)
    assert failed.stage == (None if ech is None else STAGE_OF_FAILURE[ech])


def test_no_check_no_section() -> None:
    assert judge_ech([]) is None
