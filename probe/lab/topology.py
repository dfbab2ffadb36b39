"""The lab's fixed picture: three namespaces, their links, addresses and hosts.

    client ──(veth)── router ──(veth)── server
    probe runs here   the ISP: censorship,  TLS origins for every lab host,
                      its resolver and      a public resolver
                      a sinkhole

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
        return (self.client, self.router, self.server)

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
