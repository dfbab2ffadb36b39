"""The lab's fixed picture: three namespaces, their links, addresses and hosts.

    client ──(veth)── router ──(veth)── server
    probe runs here   the ISP: censorship,  TLS origins for every lab host,
                      its resolver and      a public resolver
                      a sinkhole

The router is a bump in the wire: it does not decrement the TTL, as the
in-line boxes of the field do not, so a packet sent with TTL k meets the
equipment when k reaches its hop. Clean routers (``Hops``) can stand between
the client and the router, so that the equipment sits at hop 3 or 5, and
between the router and the servers, as in the field:

    client ── hop1 ── hop2 ── router ── hop3 ── server     (Hops(censor=3, beyond=1))

They decrement the TTL and answer an expired packet with ICMP time-exceeded
from their client-side address, except those named silent. Their links take
/30s of 192.0.2.0/24 (RFC 5737 too); the addresses of the one-link picture
(the client's, the router's resolver and sinkhole, the servers' gateway) stay
theirs, routed across the hops.

Addresses come from the documentation ranges (RFC 5737), which are never
routed on the Internet; they exist only inside the lab's namespaces, which
have no route out. Host names are the real platform names, resolved by the
lab's own DNS to lab servers, so that SNI matching sees what it would see in
the field.
"""

from dataclasses import dataclass

CLIENT_NET = "198.51.100"  # client <-> router
SERVER_NET = "203.0.113"  # router <-> servers
CLIENT_ADDRESS = f"{CLIENT_NET}.2"
ROUTER_CLIENT_SIDE = f"{CLIENT_NET}.1"  # also the ISP resolver, the client's "system"
ROUTER_SERVER_SIDE = f"{SERVER_NET}.1"
PUBLIC_RESOLVER = f"{SERVER_NET}.53"
# Where the lying resolver sends platform names: an ISP address with nothing on
# port 443, so connections there are refused, as at a stub that serves no HTTPS.
SINKHOLE = f"{CLIENT_NET}.250"
# `throttle-probe serve`, as a user would run it on a host outside the censored network.
REPLAY_SERVER = f"{SERVER_NET}.40"
REPLAY_PORT = 443


MAX_CENSOR_HOP = 16
MAX_BEYOND = 8
HOP_NET = "192.0.2"  # the /30 links of the clean hops


@dataclass(frozen=True)
class Hops:
    """The client's path: the equipment at hop ``censor``, behind ``censor - 1`` clean
    routers, and ``beyond`` clean routers between it and the servers (as in the field,
    where the server is further than the censor); the routers in ``silent`` drop their
    ICMP time-exceeded. The censor keeps the TTL, so the first router beyond it is hop
    ``censor`` too, and the servers are at hop ``censor + beyond``."""

    censor: int = 1
    silent: frozenset[int] = frozenset()
    beyond: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.censor <= MAX_CENSOR_HOP:
            raise ValueError(f"the censor's hop must be 1 to {MAX_CENSOR_HOP}")
        if not 0 <= self.beyond <= MAX_BEYOND:
            raise ValueError(f"the routers beyond the censor must be 0 to {MAX_BEYOND}")
        if not all(hop in self.clean for hop in self.silent):
            raise ValueError(f"a silent hop must be a clean router, 1 to {self.server - 1}")

    @property
    def before(self) -> range:
        """The hop numbers of the clean routers before the censor."""
        return range(1, self.censor)

    @property
    def after(self) -> range:
        """The hop numbers of the clean routers beyond the censor."""
        return range(self.censor, self.censor + self.beyond)

    @property
    def clean(self) -> list[int]:
        return [*self.before, *self.after]

    @property
    def server(self) -> int:
        """The hop at which a packet reaches the servers."""
        return self.censor + self.beyond

    def address(self, hop: int) -> str:
        """The address the clean router at ``hop`` answers from (its client side)."""
        if hop in self.before:
            return link_addresses(hop)[1]
        return link_addresses(hop - self.censor + 1, beyond=True)[1]


def link_addresses(link: int, beyond: bool = False) -> tuple[str, str]:
    """The client-side and server-side addresses of hop link ``link`` (1: the client's
    before the censor, the censor's beyond it)."""
    base = 4 * (link - 1) + (128 if beyond else 0)
    return f"{HOP_NET}.{base + 1}", f"{HOP_NET}.{base + 2}"


@dataclass(frozen=True)
class LabServer:
    """One server address of the lab and the host names it answers for."""

    key: str  # the name scenarios use: --server tiktok
    address: str
    group: str
    role: str
    hosts: tuple[str, ...]
    domestic: bool = False  # inside the probe's country: what a white list lets through


SERVERS = (
    LabServer("twimg", f"{SERVER_NET}.10", "twitter", "target", ("pbs.twimg.com", "abs.twimg.com")),
    LabServer("twitter", f"{SERVER_NET}.11", "twitter", "target", ("twitter.com", "x.com")),
    LabServer("tiktok", f"{SERVER_NET}.20", "tiktok", "target", ("www.tiktok.com",)),
    LabServer(
        "yandex", f"{SERVER_NET}.30", "control", "control", ("mirror.yandex.ru",), domestic=True
    ),
    LabServer("debian", f"{SERVER_NET}.31", "control", "control", ("deb.debian.org",)),
    LabServer("speedtest", f"{SERVER_NET}.32", "control", "control", ("speed.cloudflare.com",)),
)

# The names the 2021 equipment matched, as substrings: `t.co` also caught
# microsoft.com and reddit.com.
TWITTER_PATTERNS = ("twitter.com", "twimg.com", "t.co")
TIKTOK_PATTERNS = ("tiktok.com",)
# The ECH check's server: Cloudflare's ECH name, on the Cloudflare control's server.
ECH_HOST = "cloudflare-ech.com"
ECH_SERVER = "speedtest"


def server(key: str) -> LabServer:
    for candidate in SERVERS:
        if candidate.key == key:
            return candidate
    known = ", ".join(s.key for s in SERVERS)
    raise KeyError(f"no lab server {key!r} (known: {known})")


def all_hosts() -> list[str]:
    return [host for s in SERVERS for host in s.hosts]


def true_zone() -> dict[str, list[str]]:
    """What an honest resolver answers: every lab host at its server's address."""
    zone = {host: [s.address] for s in SERVERS for host in s.hosts}
    return {**zone, ECH_HOST: [server(ECH_SERVER).address]}


@dataclass(frozen=True)
class Names:
    """Namespace and interface names, all under one prefix so that cleanup finds them."""

    prefix: str = "tpl"

    @property
    def client(self) -> str:
        return f"{self.prefix}-client"

    @property
    def router(self) -> str:
        return f"{self.prefix}-router"

    @property
    def server(self) -> str:
        return f"{self.prefix}-server"

    @property
    def namespaces(self) -> tuple[str, str, str]:
        """The namespaces every lab has (clean hops come on top: ``is_hop``)."""
        return (self.client, self.router, self.server)

    def hop(self, number: int) -> str:
        return f"{self.prefix}-hop{number}"

    def is_hop(self, namespace: str) -> bool:
        suffix = namespace.removeprefix(f"{self.prefix}-hop")
        return suffix != namespace and suffix.isdigit()

    def hop_link_ifs(self, link: int, hops: Hops) -> tuple[str, str]:
        """The two ends of link ``link`` before the censor (link 1 leaves the client, link
        ``censor`` reaches the router): their usual names there, numbered between."""
        left = self.client_if if link == 1 else f"{self.prefix}-h{link}a"
        right = self.router_client_if if link == hops.censor else f"{self.prefix}-h{link}b"
        return left, right

    def beyond_link_ifs(self, link: int, hops: Hops) -> tuple[str, str]:
        """The same beyond the censor: link 1 leaves the router, link ``beyond + 1`` reaches
        the servers."""
        left = self.router_server_if if link == 1 else f"{self.prefix}-b{link}a"
        right = self.server_if if link == hops.beyond + 1 else f"{self.prefix}-b{link}b"
        return left, right

    # veth ends: c0 (client) <-> r0 (router, client side); r1 (router, server side) <-> s0
    @property
    def client_if(self) -> str:
        return f"{self.prefix}-c0"

    @property
    def router_client_if(self) -> str:
        return f"{self.prefix}-r0"

    @property
    def router_server_if(self) -> str:
        return f"{self.prefix}-r1"

    @property
    def server_if(self) -> str:
        return f"{self.prefix}-s0"
