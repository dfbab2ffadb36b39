"""TLS ClientHellos built byte by byte with scapy, and the ways to send them.

The replay test needs a ClientHello whose every byte the probe chooses: the
SNI, the random and session-id fields (which carry the replay server's
authentication), and the shapes that evaded the 2021 throttler, which parsed
a ClientHello properly but did not reassemble one spread over TCP segments:

* ``plain``: one ordinary ClientHello in one segment;
* ``scrambled``: every byte inverted (Censored Planet's and Wehe's control:
  the same sizes and timing, nothing a classifier can recognise);
* ``split``: the same bytes in two TCP segments, cut in the middle of the name;
* ``padded``: a padding extension grows it past 1500 bytes, so no single
  segment holds the whole ClientHello.

scapy is heavy to import (most of a second), so it is imported only when a
ClientHello is built.
"""

import os
from dataclasses import dataclass

from probe.records import Variant

RANDOM_SIZE = 32
SESSION_ID_SIZE = 32
# Offsets in the record: 5 bytes of record header, 4 of handshake header, 2 of version.
RANDOM_OFFSET = 5 + 4 + 2
SESSION_ID_OFFSET = RANDOM_OFFSET + RANDOM_SIZE + 1  # after the session-id length byte
PADDED_SIZE = 1600  # past a 1500-byte MTU whatever the headers
HANDSHAKE_RECORD = 0x16
_INVERTED = bytes(255 - value for value in range(256))  # a translate table: fast on megabytes


@dataclass(frozen=True)
class ClientHello:
    """The record as sent (``segments`` concatenated) and how it is cut into writes."""

    sni: str
    variant: Variant
    segments: tuple[bytes, ...]

    @property
    def data(self) -> bytes:
        return b"".join(self.segments)


def build_client_hello(sni: str, variant: Variant, random: bytes, session_id: bytes) -> ClientHello:
    """The ClientHello for ``sni`` in the shape ``variant`` asks for."""
    if len(random) != RANDOM_SIZE or len(session_id) != SESSION_ID_SIZE:
        raise ValueError("random and session_id must be 32 bytes each")
    record = client_hello_record(
        sni, random, session_id, pad_to=PADDED_SIZE if variant == Variant.PADDED else None
    )
    if variant == Variant.SCRAMBLED:
        return ClientHello(sni, variant, (invert(record),))
    if variant == Variant.SPLIT:
        cut = split_point(record, sni)
        return ClientHello(sni, variant, (record[:cut], record[cut:]))
    return ClientHello(sni, variant, (record,))


def client_hello_record(
    sni: str, random: bytes, session_id: bytes, pad_to: int | None = None, ech: bool = False
) -> bytes:
    """A TLS 1.3 ClientHello record, as a browser would send it, for ``sni``; ``ech`` adds
    a GREASE ECH extension, as browsers send when a name offers no ECH config."""
    extra = [grease_ech()] if ech else []
    record = _scapy_record(sni, random, session_id, padding=0, extra=extra)
    if pad_to is not None and len(record) < pad_to:
        # The padding extension's own 4-byte header counts towards the size.
        padding = max(0, pad_to - len(record) - 4)
        record = _scapy_record(sni, random, session_id, padding=padding, extra=extra)
    return record


ECH_EXTENSION = 0xFE0D  # encrypted_client_hello (draft-ietf-tls-esni-22, section 5)
_ECH_OUTER = 0  # ECHClientHelloType outer
_HKDF_SHA256, _AES_128_GCM = 0x0001, 0x0001
_ECH_PAYLOAD = 144 + 16  # an encrypted inner ClientHello's usual size, and its tag


def grease_ech() -> bytes:
    """A GREASE ``encrypted_client_hello`` extension body: the outer form, random values.

    ECHClientHello: type outer, a cipher suite (HKDF-SHA256, AES-128-GCM), a
    config id, an X25519 ``enc`` and a ``payload``, each as the draft lays
    them out; random, as a client without the server's ECH config sends them.
    """
    enc, payload = os.urandom(32), os.urandom(_ECH_PAYLOAD)
    return (
        bytes([_ECH_OUTER])
        + _HKDF_SHA256.to_bytes(2, "big")
        + _AES_128_GCM.to_bytes(2, "big")
        + os.urandom(1)
        + len(enc).to_bytes(2, "big")
        + enc
        + len(payload).to_bytes(2, "big")
        + payload
    )


def _scapy_record(
    sni: str, random: bytes, session_id: bytes, padding: int, extra: list[bytes] | None = None
) -> bytes:
    from scapy.layers.tls.extensions import (
        ProtocolName,
        ServerName,
        TLS_Ext_ALPN,
        TLS_Ext_Padding,
        TLS_Ext_ServerName,
        TLS_Ext_SignatureAlgorithms,
        TLS_Ext_SupportedGroups,
        TLS_Ext_SupportedVersion_CH,
        TLS_Ext_Unknown,
    )
    from scapy.layers.tls.handshake import TLSClientHello
    from scapy.layers.tls.keyexchange_tls13 import KeyShareEntry, TLS_Ext_KeyShare_CH
    from scapy.layers.tls.record import TLS

    extensions = [
        TLS_Ext_ServerName(servernames=[ServerName(servername=sni.encode("idna"))]),
        TLS_Ext_SupportedGroups(groups=["x25519", "secp256r1", "secp384r1"]),
        TLS_Ext_SignatureAlgorithms(
            sig_algs=["sha256+ecdsa", "sha256+rsapss", "sha256+rsa", "sha384+ecdsa"]
        ),
        TLS_Ext_SupportedVersion_CH(versions=["TLS 1.3", "TLS 1.2"]),
        TLS_Ext_KeyShare_CH(
            client_shares=[KeyShareEntry(group="x25519", key_exchange=os.urandom(32))]
        ),
        TLS_Ext_ALPN(protocols=[ProtocolName(protocol=b"h2"), ProtocolName(protocol=b"http/1.1")]),
    ]
    extensions += [TLS_Ext_Unknown(type=ECH_EXTENSION, val=body) for body in extra or []]
    if padding:
        extensions.append(TLS_Ext_Padding(padding=b"\x00" * padding))
    hello = TLSClientHello(
        version=0x0303,
        gmt_unix_time=int.from_bytes(random[:4], "big"),
        random_bytes=random[4:],
        sid=session_id,
        # TLS 1.3 suites, then the common ECDHE-GCM ones of TLS 1.2.
        ciphers=[0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030],
        comp=[0],
        ext=extensions,
    )
    return bytes(TLS(type=HANDSHAKE_RECORD, version=0x0301, msg=[hello]))


def split_point(record: bytes, sni: str) -> int:
    """Where to cut: in the middle of the name, so neither segment holds all of it."""
    name = sni.encode("idna")
    start = record.find(name)
    if start < 0 or len(name) < 2:
        return len(record) // 2
    return start + len(name) // 2


def invert(data: bytes) -> bytes:
    """Every bit flipped: the scrambled control (its own inverse)."""
    return data.translate(_INVERTED)


def fields_of(record: bytes) -> tuple[bytes, bytes]:
    """(random, session_id) of a ClientHello record, by their fixed offsets."""
    random = record[RANDOM_OFFSET : RANDOM_OFFSET + RANDOM_SIZE]
    session_id = record[SESSION_ID_OFFSET : SESSION_ID_OFFSET + SESSION_ID_SIZE]
    return random, session_id
