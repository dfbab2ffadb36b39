"""Linux TCP_INFO of a connected socket, read without any extra dependency.

The layout is ``struct tcp_info`` from <linux/tcp.h>. Older kernels return a
shorter struct; fields they lack come back as None. On other platforms
``read_tcp_info`` returns None and records simply carry no TCP_INFO samples.
"""

import socket
import struct

from probe.records import TcpInfoSample

_TCP_INFO = getattr(socket, "TCP_INFO", None)
_BUFFER_SIZE = 232  # up to tcpi_rcv_ooopack and tcpi_snd_wnd (Linux 5.4+)

# (name, byte offset, struct format); microseconds are converted to seconds below.
_FIELDS = (
    ("lost", 32, "I"),
    ("rtt", 68, "I"),
    ("rtt_var", 72, "I"),
    ("cwnd", 80, "I"),
    ("receiver_rtt", 92, "I"),
    ("retransmits", 100, "I"),
    ("bytes_acked", 120, "Q"),
    ("bytes_received", 128, "Q"),
    ("segments_out", 136, "I"),
    ("segments_in", 140, "I"),
    ("min_rtt", 148, "I"),
    ("delivery_rate", 160, "Q"),
    ("reordered_received", 224, "I"),
)
_MICROSECONDS = {"rtt", "rtt_var", "receiver_rtt", "min_rtt"}


def read_tcp_info(sock: socket.socket, t: float) -> TcpInfoSample | None:
    """Sample TCP_INFO now; None where the platform or the socket cannot say."""
    if _TCP_INFO is None:
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _BUFFER_SIZE)
    except OSError:
        return None
    values: dict[str, float | int | None] = {}
    for name, offset, fmt in _FIELDS:
        size = struct.calcsize(fmt)
        if offset + size > len(raw):
            values[name] = None
            continue
        (value,) = struct.unpack_from("=" + fmt, raw, offset)
        values[name] = value / 1e6 if name in _MICROSECONDS else value
    if values["rtt"] is None:
        return None
    return TcpInfoSample(
        t=t,
        rtt=float(values["rtt"] or 0.0),
        rtt_var=float(values["rtt_var"] or 0.0),
        min_rtt=_optional_float(values["min_rtt"]),
        receiver_rtt=_optional_float(values["receiver_rtt"]),
        retransmits=int(values["retransmits"] or 0),
        lost=int(values["lost"] or 0),
        reordered_received=_optional_int(values["reordered_received"]),
        delivery_rate=_optional_int(values["delivery_rate"]),
        cwnd=int(values["cwnd"] or 0),
        bytes_received=_optional_int(values["bytes_received"]),
        segments_in=_optional_int(values["segments_in"]),
        bytes_acked=_optional_int(values["bytes_acked"]),
        segments_out=_optional_int(values["segments_out"]),
    )


def _optional_float(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def _optional_int(value: float | int | None) -> int | None:
    return None if value is None else int(value)


_TCP_CLOSE = 7  # tcpi_state (the struct's first byte) of a connection that is gone


def was_reset(sock: socket.socket) -> bool:
    """Whether the connection is gone (TCP state CLOSE): a reset came.

    A peer's FIN leaves the socket in CLOSE_WAIT until we close it, a RST in
    CLOSE. Over TLS the state alone does not settle it: OpenSSL answers a FIN
    without close_notify with an alert, which the peer's kernel may answer
    with a RST (see ``tls_socket.reset_behind``).
    """
    if _TCP_INFO is None:
        return False
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 1)
    except OSError:
        return False
    return len(raw) >= 1 and raw[0] == _TCP_CLOSE
