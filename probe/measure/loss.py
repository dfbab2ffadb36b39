"""What a download's TCP_INFO says of its losses: counted per segment, pooled.

The client sees loss only as segments arriving after a hole (out of order)
and as its own retransmissions. Counted per segment received, so that a
download that lasted milliseconds still shows its share, and pooled over
downloads, because one short download's share alone swings widely.
"""

from collections.abc import Sequence

from probe.records import TcpInfoSample

LOSS_FLOOR = 0.001  # loss events per segment: what a clean download counts as, at most
# A download losing less than this many times the controls' share per segment
# has no loss of its own: it shares the network's (or has none).
OWN_LOSS_RATIO = 2.0
# Out-of-order segments per segment above which a download loses packets at
# random: clean lab links stay below 0.1%, 2% random loss gives 5-13% (one hole
# puts every segment in flight behind it out of order).
RANDOM_LOSS_SHARE = 0.02
# Random loss on a name's flows (YouTube in Russia, July 2024: 2-15x slower, no
# fixed rate): a download at least LOSS_SLOWDOWN below its reference whose share
# out of order is over RANDOM_LOSS_SHARE and DISTINCT_LOSS times the reference's.
# Ten times, because under loss that every flow shares one flow's share swings
# 3-4x by chance (3.8-12.5% within one round in tests/data/lab-loss-stalls.json);
# the lab's 5% on name-matched flows gave them 65-96% against the controls'
# 0-0.35% (bench/lab_accuracy.py prints the shares per scenario).
LOSS_SLOWDOWN = 1.5
DISTINCT_LOSS = 10.0
# ... and at least this share out of order: a shaper's queue overflowing drops
# too, and more the faster the client reads (0-32% of a shaped download's
# segments out of order in the lab, where 0.3 once called a shaper loss), and
# the lab's 5% loss on a 50 ms path put 63-97% out of order (bench/lab_accuracy.py
# prints both, the sni-loss scenario's and the shaped history's): between the
# two, nearer the shaper's, whose drops grow with the link.
DISTINCT_LOSS_SHARE = 0.45


def loss_events(tcp_info: Sequence[TcpInfoSample]) -> int:
    """Signs of loss the client can see: out-of-order arrivals, its own retransmits."""
    if not tcp_info:
        return 0
    first, last = tcp_info[0], tcp_info[-1]
    reordered = (last.reordered_received or 0) - (first.reordered_received or 0)
    return max(0, reordered) + max(0, last.retransmits - first.retransmits)


def loss_density(downloads: Sequence[Sequence[TcpInfoSample]]) -> float | None:
    """Loss events per segment received, pooled over ``downloads`` (None without TCP_INFO).

    Pooled rather than averaged per download: a short download holds few
    segments, and its share alone swings widely.
    """
    events = segments = 0
    for tcp_info in downloads:
        if len(tcp_info) < 2:
            continue
        events += loss_events(tcp_info)
        segments += max(0, (tcp_info[-1].segments_in or 0) - (tcp_info[0].segments_in or 0))
    return events / segments if segments > 0 else None


def loses_on_its_own(share: float, others: float | None) -> bool:
    """Whether a download's share of segments out of order (``share``) is random loss of
    its own, against ``others``' (pooled; None: unknown, read as clean)."""
    distinct = share / max(others or 0.0, LOSS_FLOOR) >= DISTINCT_LOSS
    return share >= DISTINCT_LOSS_SHARE and distinct


def no_loss_of_its_own(ratio: float | None) -> bool:
    """Whether a download's ``loss_ratio`` says it lost nothing beyond the network's
    share; None (no TCP_INFO: QUIC, whose client sees no loss) says nothing."""
    return ratio is not None and ratio < OWN_LOSS_RATIO


def loss_ratio(download: Sequence[TcpInfoSample], others: float | None) -> float | None:
    """``download``'s loss density over ``others``' (pooled), with a floor of one loss
    in a thousand segments under the others' so that a clean control does not divide
    by zero; None without TCP_INFO."""
    own = loss_density([download])
    if own is None:
        return None
    return own / max(others or 0.0, LOSS_FLOOR)
