"""ClientHellos built with scapy, and the replay protocol's proof of the shared secret."""

import os
from pathlib import Path

import pytest
from scapy.layers.tls.handshake import TLSClientHello
from scapy.layers.tls.record import TLS

from probe.measure.clienthello import build_client_hello, fields_of, invert
from probe.measure.replaywire import (
    CLOCK_SKEW,
    NonceCache,
    Request,
    SecretError,
    authenticate,
    hello_header,
    load_secret,
    seal,
)
from probe.records import Direction, Variant

SECRET = b"a shared secret of some length"


def parsed_hello(data: bytes) -> TLSClientHello:
    record = TLS(data)  # type: ignore[no-untyped-call]
    hello = record.msg[0]
    assert isinstance(hello, TLSClientHello)
    return hello


def server_name(hello: TLSClientHello) -> bytes:
    extension = next(e for e in hello.ext if e.type == 0)  # server_name
    name: bytes = extension.servernames[0].servername
    return name


def sample_hello(variant: Variant, sni: str = "pbs.twimg.com") -> bytes:
    return build_client_hello(sni, variant, os.urandom(32), os.urandom(32)).data


def test_a_plain_client_hello_parses_back_with_the_name_and_our_fields() -> None:
    random, session_id = os.urandom(32), os.urandom(32)
    hello = build_client_hello("pbs.twimg.com", Variant.PLAIN, random, session_id)

    assert len(hello.segments) == 1
    parsed = parsed_hello(hello.data)
    assert server_name(parsed) == b"pbs.twimg.com"
    assert parsed.sid == session_id
    assert fields_of(hello.data) == (random, session_id)
    assert len(hello.data) < 600  # one segment, like a browser's


def test_a_padded_client_hello_is_past_one_mtu_and_still_parses() -> None:
    data = sample_hello(Variant.PADDED)

    assert len(data) > 1500
    assert server_name(parsed_hello(data)) == b"pbs.twimg.com"


def test_a_split_client_hello_cuts_the_name_between_two_segments() -> None:
    hello = build_client_hello("twitter.com", Variant.SPLIT, os.urandom(32), os.urandom(32))

    first, second = hello.segments
    assert b"twitter.com" not in first and b"twitter.com" not in second
    assert server_name(parsed_hello(first + second)) == b"twitter.com"


def test_a_scrambled_client_hello_is_every_byte_inverted() -> None:
    hello = build_client_hello("twitter.com", Variant.SCRAMBLED, os.urandom(32), os.urandom(32))

    assert b"twitter.com" not in hello.data
    assert hello.data[0] == 0x16 ^ 0xFF
    assert server_name(parsed_hello(invert(hello.data))) == b"twitter.com"
    assert hello_header(hello.data[:5]) == (True, len(hello.data) - 5)


@pytest.mark.parametrize("direction", list(Direction))
@pytest.mark.parametrize("variant", list(Variant))
def test_every_shape_proves_the_secret_and_carries_the_request(
    variant: Variant, direction: Direction
) -> None:
    random, session_id = seal(SECRET, Request(direction, 123_456))
    data = build_client_hello("x.com", variant, random, session_id).data
    scrambled, _ = hello_header(data[:5]) or (None, 0)
    record = invert(data) if scrambled else data

    assert scrambled == (variant == Variant.SCRAMBLED)
    assert authenticate(SECRET, record, NonceCache()) == Request(direction, 123_456)


def test_a_wrong_secret_a_changed_byte_an_old_or_a_reused_hello_are_refused() -> None:
    random, session_id = seal(SECRET, Request(Direction.DOWNLOAD, 1000))
    record = build_client_hello("x.com", Variant.PLAIN, random, session_id).data
    changed = bytearray(record)
    changed[20] ^= 0x01  # inside the random field: the request or the nonce
    nonces = NonceCache()

    assert authenticate(b"another secret, just as long", record, nonces) is None
    assert authenticate(SECRET, bytes(changed), nonces) is None
    assert authenticate(SECRET, record, nonces) is not None
    assert authenticate(SECRET, record, nonces) is None  # the same ClientHello again

    old_random, old_id = seal(SECRET, Request(Direction.UPLOAD, 1), now=1_000_000.0)
    old = build_client_hello("x.com", Variant.PLAIN, old_random, old_id).data
    assert authenticate(SECRET, old, NonceCache(), now=1_000_000.0 + CLOCK_SKEW + 1) is None
    assert authenticate(SECRET, old, NonceCache(), now=1_000_000.0 + CLOCK_SKEW - 1) is not None


def test_only_handshake_records_of_a_sane_size_look_like_a_client_hello() -> None:
    assert hello_header(b"GET /") is None
    assert hello_header(bytes([0x16, 0x03, 0x01, 0xFF, 0xFF])) is None  # 64 KiB: not ours
    assert hello_header(bytes([0x16, 0x03, 0x01, 0x02, 0x00])) == (False, 512)


def test_secrets_must_exist_and_be_long_enough(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("tiny\n")
    good = tmp_path / "good"
    good.write_text("  0123456789abcdef-and-more  \n")

    assert load_secret(good) == b"0123456789abcdef-and-more"
    with pytest.raises(SecretError, match="at least 16 bytes"):
        load_secret(short)
    with pytest.raises(SecretError, match=r"cannot read the replay secret file .*no such file"):
        load_secret(tmp_path / "missing")
