"""Named impairments of the lab's router, composable with ``+``.

Each scenario adds to a ``RouterPlan``: iptables rules, traffic-shaping
classes, lies for the ISP resolver. The plan is applied in one go, so that
scenarios combine (policing on a congested link, say) without knowing each
other. Everything uses the kernel's own tools; on the kernels this project is
tested on netem, fq and tc police actions are missing, so loss comes from
iptables ``statistic`` and policing from ``hashlimit``.

A composition is written ``NAME[:key=value,...][+NAME...]``, for example
``sni-police:rate=150kbit+congested:rate=5mbit``.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from probe.lab import topology

UNLIMITED = 10_000_000_000  # bit/s: the lab link when nothing limits it


class ScenarioError(ValueError):
    """A composition that cannot be applied; ``str()`` is one sentence."""


@dataclass(frozen=True)
class QuicSniPlan:
    """What the router's QUIC SNI filter (``probe.lab.quicsni``) matches and does."""

    patterns: tuple[str, ...]
    rate: int | None  # bit/s to police a matching flow to; None drops it
    residual: float  # seconds the (client, server, port) triple stays blocked after a match


@dataclass(frozen=True)
class TcpSniPlan:
    """What the router's reassembling SNI matcher (``probe.lab.tcpsni``) matches."""

    patterns: tuple[str, ...]
    icase: bool


@dataclass
class RouterPlan:
    """Everything the router does to traffic, built up by the scenarios."""

    iptables: list[list[str]] = field(default_factory=list)  # argv after `iptables`
    link_rate: int | None = None  # bit/s for all traffic, both directions
    server_rates: dict[str, int] = field(default_factory=dict)  # server address -> bit/s
    dns_lies: dict[str, list[str]] = field(default_factory=dict)  # host -> answers
    needs_conntrack_accounting: bool = False
    added_rtt: float = 0.0  # seconds added to every round trip through the router
    quic_sni: QuicSniPlan | None = None  # the QUIC SNI filter's settings, if it runs
    tcp_sni: TcpSniPlan | None = None  # the reassembling SNI matcher's, if it runs


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    defaults: Mapping[str, str]
    build: Callable[[RouterPlan, Mapping[str, str]], None]


def parse_rate(text: str) -> int:
    """'150kbit', '1.5mbit', '10Mbit', '1gbit' or plain bits per second -> bit/s."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmg]?)(?:bit)?(?:/s|ps)?", text.strip().lower())
    if match is None:
        raise ScenarioError(f"{text!r} is not a rate such as 150kbit, 10mbit or 1gbit")
    value = float(match.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[match.group(2)]
    if not 8_000 <= value <= UNLIMITED:
        raise ScenarioError(f"rate {text!r} is outside 8kbit-10gbit")
    return int(value)


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ScenarioError(f"{text!r} is not a probability such as 0.02") from None
    if not 0 < value < 1:
        raise ScenarioError(f"loss {text!r} must be between 0 and 1")
    return value


def _patterns(params: Mapping[str, str]) -> list[str]:
    patterns = [p for p in params["pattern"].split("|") if p]
    if not patterns:
        raise ScenarioError("pattern: give at least one, as pattern=twimg.com|t.co")
    for pattern in patterns:
        if not re.fullmatch(r"[A-Za-z0-9.*-]+", pattern):
            raise ScenarioError(f"pattern {pattern!r} may hold only letters, digits, '.' and '-'")
    return patterns


def _server_address(params: Mapping[str, str]) -> str:
    try:
        return topology.server(params["server"]).address
    except KeyError as error:
        raise ScenarioError(str(error.args[0])) from None


# A packet whose TCP payload starts a TLS handshake record (0x16) holding a
# ClientHello (type 1) of at most 1400 bytes: the whole ClientHello in one
# segment. The 2021 equipment parsed ClientHellos properly but did not
# reassemble them, so a split or padded one, or a scrambled one, went unmatched.
# (u32: skip the IP header, then the TCP header; read at the payload.)
_PAYLOAD = "0>>22&0x3C@12>>26&0x3C@"
_WHOLE_CLIENT_HELLO = f"{_PAYLOAD}0>>24=0x16&&{_PAYLOAD}1&0xFFFF=0:1400&&{_PAYLOAD}2&0xFF=0x01"


def _sni_police(plan: RouterPlan, params: Mapping[str, str]) -> None:
    """Mark connections whose ClientHello holds a pattern, then drop what exceeds the rate.

    ``inspect``: ``each`` packet that starts a ClientHello is matched, or only
    the ``first`` that starts a TLS record (the 2021 equipment, by the fake
    ClientHellos that got past it), or the ``stream``, reassembled by the
    router's ``probe.lab.tcpsni``; ``case``: the name matched ``exact``, or in
    ``any`` letter case.
    """
    rate = parse_rate(params["rate"])
    inspect = _choice(params, "inspect", ("each", "first", "stream"))
    case = _choice(params, "case", ("exact", "any"))
    if inspect == "stream":
        plan.tcp_sni = TcpSniPlan(tuple(_patterns(params)), case == "any")
        plan.needs_conntrack_accounting = True  # the first packets only go to it (connbytes)
        # The matcher marks the packet that completes a matching ClientHello (tcpsni's
        # MATCH_MARK); the connection then carries the policing mark.
        marked = ["-A", "FORWARD", "-m", "mark", "--mark", "0x10/0x10"]
        plan.iptables.append([*marked, "-j", "CONNMARK", "--set-mark", "0x1/0x1"])
        _police_marked(plan, rate)
        return
    # The first packet that starts a TLS record marks the connection inspected.
    unseen = "-m connmark ! --mark 0x8/0x8 " if inspect == "first" else ""
    icase = " --icase" if case == "any" else ""
    for pattern in _patterns(params):
        plan.iptables.append(
            f"-t mangle -A PREROUTING -p tcp --dport 443 {unseen}-m u32 --u32 "
            f"{_WHOLE_CLIENT_HELLO} -m string --algo bm --string {pattern}{icase} "
            "-j CONNMARK --set-mark 0x1/0x1".split()
        )
    if inspect == "first":
        plan.iptables.append(
            f"-t mangle -A PREROUTING -p tcp --dport 443 -m u32 --u32 {_PAYLOAD}0>>24=0x16 "
            "-j CONNMARK --set-mark 0x8/0x8".split()
        )
    _police_marked(plan, rate)


def _police_marked(plan: RouterPlan, rate: int) -> None:
    """Drop what a marked connection sends beyond ``rate`` (bit/s), each way.

    One token bucket per flow and direction (srcip,srcport,dstip,dstport), as the
    2021 equipment policed upload and download separately. hashlimit wants a
    bucket of at least one second at the rate (it rounds the rate a little, hence
    the margin); beyond that the policer drops, it never queues.
    """
    burst = rate // 8 + 256
    plan.iptables.append(
        f"-A FORWARD -m connmark --mark 0x1/0x1 -m hashlimit --hashlimit-above {rate // 8}b/s "
        f"--hashlimit-burst {burst}b --hashlimit-mode srcip,srcport,dstip,dstport "
        "--hashlimit-name tpl_police -j DROP".split()
    )


def _choice(params: Mapping[str, str], key: str, choices: tuple[str, ...]) -> str:
    if params[key] not in choices:
        raise ScenarioError(f"{key}: {params[key]!r} is not one of {', '.join(choices)}")
    return params[key]


def _sni_loss(plan: RouterPlan, params: Mapping[str, str]) -> None:
    """Drop packets at random on connections whose ClientHello holds a pattern, both ways.

    Russia's first move on YouTube (July 2024): flows whose SNI matched lost
    packets at random, 2-15x slower, no fixed rate; every other flow untouched.
    """
    probability = _probability(params["loss"])
    for pattern in _patterns(params):
        plan.iptables.append(
            f"-t mangle -A PREROUTING -p tcp --dport 443 -m u32 --u32 {_WHOLE_CLIENT_HELLO} "
            f"-m string --algo bm --string {pattern} -j CONNMARK --set-mark 0x8/0x8".split()
        )
    plan.iptables.append(
        f"-A FORWARD -m connmark --mark 0x8/0x8 -m statistic --mode random "
        f"--probability {probability} -j DROP".split()
    )


# The start of the ECH extension as the probe's ECH check sends it: its type
# (0xfe0d), its length (202) and the outer form (0): the field matches any ECH
# extension; the lab matches the probe's, so no random bytes of another
# ClientHello can match by chance.
_ECH_EXTENSION = "|fe0d00ca00|"


def _ech_block(plan: RouterPlan, params: Mapping[str, str]) -> None:
    """Russia from 5 November 2024: the outer name and an ECH extension together freeze
    the connection after the ClientHello; either alone passes."""
    plan.iptables += [
        f"-t mangle -A PREROUTING -p tcp --dport 443 -m string --algo bm --string "
        f"{_patterns({'pattern': params['name']})[0]} -m string --algo bm --hex-string "
        f"{_ECH_EXTENSION} -j CONNMARK --set-mark 0x10/0x10".split(),
        ["-A", "FORWARD", "-m", "connmark", "--mark", "0x10/0x10", "-j", "DROP"],
    ]


def _taint(plan: RouterPlan, params: Mapping[str, str]) -> None:
    """A server address tainted by a ClientHello holding a pattern (Türkiye 2022, Russia 2025).

    For ``seconds`` after such a ClientHello to ``server``, every new TCP
    connection to that address is policed to ``rate``, whatever its name;
    connections opened before go on untouched.
    """
    if not params["seconds"].isdigit():
        raise ScenarioError(f"seconds={params['seconds']!r} must be whole seconds, as 600")
    rate = parse_rate(params["rate"])
    address = _server_address(params)
    for pattern in _patterns(params):
        plan.iptables.append(
            f"-t mangle -A PREROUTING -p tcp -d {address} --dport 443 -m u32 --u32 "
            f"{_WHOLE_CLIENT_HELLO} -m string --algo bm --string {pattern} "
            "-m recent --set --name tpl_taint --rdest".split()
        )
    plan.iptables += [
        f"-t mangle -A PREROUTING -p tcp -d {address} --dport 443 -m conntrack --ctstate NEW "
        f"-m recent --rcheck --seconds {params['seconds']} --name tpl_taint --rdest "
        "-j CONNMARK --set-mark 0x20/0x20".split(),
        f"-A FORWARD -m connmark --mark 0x20/0x20 -m hashlimit --hashlimit-above {rate // 8}b/s "
        f"--hashlimit-burst {rate // 8 + 256}b --hashlimit-mode srcip,srcport,dstip,dstport "
        "--hashlimit-name tpl_taint -j DROP".split(),
    ]


def _shape(plan: RouterPlan, params: Mapping[str, str]) -> None:
    for key in params["server"].split("|"):
        plan.server_rates[_server_address({"server": key})] = parse_rate(params["rate"])


def _congested(plan: RouterPlan, params: Mapping[str, str]) -> None:
    plan.link_rate = parse_rate(params["rate"])


def _loss(plan: RouterPlan, params: Mapping[str, str]) -> None:
    probability = _probability(params["loss"])
    plan.iptables.append(
        f"-A FORWARD -m statistic --mode random --probability {probability} -j DROP".split()
    )


def _delay(plan: RouterPlan, params: Mapping[str, str]) -> None:
    match = re.fullmatch(r"(\d+)\s*ms", params["rtt"].strip().lower())
    if match is None or not 1 <= int(match.group(1)) <= 1000:
        raise ScenarioError(f"rtt={params['rtt']!r} must be 1ms-1000ms, as rtt=50ms")
    plan.added_rtt = int(match.group(1)) / 1000


def _sni_reset(plan: RouterPlan, params: Mapping[str, str]) -> None:
    for pattern in _patterns(params):
        plan.iptables.append(
            f"-A FORWARD -p tcp --dport 443 -m string --algo bm --string {pattern} "
            "-j REJECT --reject-with tcp-reset".split()
        )


def _sni_drop(plan: RouterPlan, params: Mapping[str, str]) -> None:
    """Drop every packet that holds a pattern: the ClientHello never arrives, and the
    client waits for an answer that does not come (no reset to see)."""
    for pattern in _patterns(params):
        plan.iptables.append(
            f"-A FORWARD -p tcp --dport 443 -m string --algo bm --string {pattern} -j DROP".split()
        )


def _blackhole(plan: RouterPlan, params: Mapping[str, str]) -> None:
    plan.iptables.append(["-A", "FORWARD", "-d", _server_address(params), "-j", "DROP"])


def _lying_resolver(plan: RouterPlan, params: Mapping[str, str]) -> None:
    for key in params["server"].split("|"):
        address = _server_address({"server": key})
        for lab_server in topology.SERVERS:
            if lab_server.address == address:
                for host in lab_server.hosts:
                    plan.dns_lies[host] = [params["sinkhole"]]


def _cdn(plan: RouterPlan, params: Mapping[str, str]) -> None:
    """The ISP resolver answers a server's names with another server's address, which
    serves them too: a CDN choosing its answer by resolver, no lie at all."""
    at = _server_address({"server": params["at"]})
    for key in params["server"].split("|"):
        if _server_address({"server": key}) == at:
            raise ScenarioError(f"cdn: server={key} and at={params['at']} are the same server")
        for host in topology.server(key).hosts:
            plan.dns_lies[host] = [at]


def _white_list(plan: RouterPlan, params: Mapping[str, str]) -> None:
    """Russia's mobile networks from May 2025: default deny by destination.

    Connections to the ``allow`` servers pass; to every other server the TCP
    handshake completes, and each packet that starts a TLS record (the
    ClientHello, and its retransmissions) is dropped, as is QUIC. DNS answers.
    """
    for key in params["allow"].split("|"):
        plan.iptables.append(
            f"-t mangle -A PREROUTING -d {_server_address({'server': key})} "
            "-j MARK --set-mark 0x4/0x4".split()
        )
    plan.iptables += [
        f"-A FORWARD -p tcp --dport 443 -m mark ! --mark 0x4/0x4 -m u32 --u32 {_PAYLOAD}0>>24=0x16 "
        "-j DROP".split(),
        [
            "-A",
            "FORWARD",
            "-p",
            "udp",
            "--dport",
            "443",
            "-m",
            "mark",
            "!",
            "--mark",
            "0x4/0x4",
            "-j",
            "DROP",
        ],
    ]


def _stall(plan: RouterPlan, params: Mapping[str, str]) -> None:
    """Freeze a server's connections once it has sent ``after`` bytes (reports from 2025)."""
    if not params["after"].isdigit():
        raise ScenarioError(f"after={params['after']!r} must be a number of bytes")
    after = int(params["after"])
    plan.needs_conntrack_accounting = True
    plan.iptables.append(
        f"-A FORWARD -s {_server_address(params)} -p tcp -m connbytes --connbytes {after}: "
        "--connbytes-dir reply --connbytes-mode bytes -j DROP".split()
    )


def _freeze(plan: RouterPlan, params: Mapping[str, str]) -> None:
    """Russia from June 2025: connections to foreign hosting freeze after ~16 KB.

    The budget is per connection and counts both directions (``after`` bytes,
    IP headers included, as conntrack counts them); a connection whose
    ClientHello holds an ``exempt`` name is let through (``exempt=none``: no
    exemption). Nothing is reset: the packets past the budget are dropped.
    """
    if not params["after"].isdigit():
        raise ScenarioError(f"after={params['after']!r} must be a number of bytes")
    exempt = [] if params["exempt"] == "none" else _patterns({"pattern": params["exempt"]})
    plan.needs_conntrack_accounting = True
    for key in params["server"].split("|"):
        address = _server_address({"server": key})
        for name in exempt:
            plan.iptables.append(
                f"-t mangle -A PREROUTING -p tcp -d {address} --dport 443 -m string --algo bm "
                f"--string {name} -j CONNMARK --set-mark 0x2/0x2".split()
            )
        plan.iptables.append(
            f"-A FORWARD -p tcp -m conntrack --ctorigdst {address} --ctorigdstport 443 "
            f"-m connmark ! --mark 0x2/0x2 -m connbytes --connbytes {params['after']}: "
            "--connbytes-dir both --connbytes-mode bytes -j DROP".split()
        )


def _quic_drop(plan: RouterPlan, params: Mapping[str, str]) -> None:
    """Russia from March 2022: QUIC Initials to foreign servers dropped, a domestic one passes.

    The rule matched UDP to port 443 in datagrams of 1001 bytes or more (a QUIC
    Initial is padded to 1200) that open a flow; ``length`` counts the IP and
    UDP headers too (28 bytes). ``domestic=none`` drops QUIC to every server.
    """
    rule = "-A FORWARD -p udp --dport 443 -m conntrack --ctstate NEW -m length --length 1029:65535"
    if params["domestic"] != "none":
        rule += f" ! -d {_server_address({'server': params['domestic']})}"
    plan.iptables.append(f"{rule} -j DROP".split())


def _quic_police(plan: RouterPlan, params: Mapping[str, str]) -> None:
    """QUIC from a platform's servers policed (YouTube, 2024: ~512 kbit/s), TCP untouched."""
    rate = parse_rate(params["rate"])
    burst = rate // 8 + 1500
    for key in params["server"].split("|"):
        plan.iptables.append(
            f"-A FORWARD -p udp --sport 443 -s {_server_address({'server': key})} "
            f"-m hashlimit --hashlimit-above {rate // 8}b/s --hashlimit-burst {burst}b "
            f"--hashlimit-mode srcip,srcport,dstip,dstport --hashlimit-name tpl_qpol_{key} "
            "-j DROP".split()
        )


def _quic_sni(plan: RouterPlan, params: Mapping[str, str]) -> None:
    """China from April 2024: QUIC Initials decrypted and the flow blocked by its SNI."""
    action = params["action"]
    if action not in ("drop", "police"):
        raise ScenarioError(f"action={action!r} must be drop or police")
    if not params["residual"].isdigit():
        raise ScenarioError(f"residual={params['residual']!r} must be whole seconds, as 180")
    rate = parse_rate(params["rate"]) if action == "police" else None
    patterns = tuple(_patterns(params))
    plan.quic_sni = QuicSniPlan(patterns, rate, float(params["residual"]))


_TWITTER = "|".join(topology.TWITTER_PATTERNS)
_TIKTOK = "|".join(topology.TIKTOK_PATTERNS)

SCENARIOS = {
    s.name: s
    for s in (
        Scenario("clean", "no impairment", {}, lambda plan, params: None),
        Scenario(
            "sni-police",
            "police connections whose ClientHello matches a pattern (2021 Twitter throttling)",
            {"rate": "150kbit", "pattern": _TWITTER, "inspect": "each", "case": "exact"},
            _sni_police,
        ),
        Scenario(
            "sni-loss",
            "drop packets at random on connections whose ClientHello matches a pattern "
            "(YouTube in Russia, July 2024)",
            {"loss": "0.05", "pattern": _TWITTER},
            _sni_loss,
        ),
        Scenario(
            "ech-block",
            "drop connections whose ClientHello holds both the name and an ECH extension "
            "(Russia, November 2024)",
            {"name": topology.ECH_HOST},
            _ech_block,
        ),
        Scenario(
            "taint",
            "after a ClientHello holding a pattern, police every new connection to that "
            "server for a while, whatever its name (Türkiye 2022)",
            {"server": "speedtest", "pattern": _TWITTER, "rate": "150kbit", "seconds": "600"},
            _taint,
        ),
        Scenario(
            "shape",
            "shape one server's traffic (queue, no drops) to a rate",
            {"rate": "1mbit", "server": "twimg"},
            _shape,
        ),
        Scenario("congested", "shape the whole link to a rate", {"rate": "2mbit"}, _congested),
        Scenario("loss", "drop packets at random on all traffic", {"loss": "0.02"}, _loss),
        Scenario(
            "delay",
            "add to every round trip through the router (a path to a real server)",
            {"rtt": "50ms"},
            _delay,
        ),
        Scenario(
            "sni-reset",
            "reset connections whose ClientHello matches a pattern",
            {"pattern": _TIKTOK},
            _sni_reset,
        ),
        Scenario(
            "sni-drop",
            "drop the packets of a ClientHello that matches a pattern, silently",
            {"pattern": _TIKTOK},
            _sni_drop,
        ),
        Scenario("blackhole", "drop everything to one server", {"server": "tiktok"}, _blackhole),
        Scenario(
            "lying-resolver",
            "the ISP resolver answers a sinkhole for a server's names",
            {"server": "twimg|twitter|tiktok", "sinkhole": topology.SINKHOLE},
            _lying_resolver,
        ),
        Scenario(
            "cdn",
            "the ISP resolver answers a server's names with another working server's address "
            "(a CDN choosing by resolver)",
            {"server": "twimg", "at": "twitter"},
            _cdn,
        ),
        Scenario(
            "white-list",
            "let only the allowed (domestic) servers through: to the others the TCP handshake "
            "completes and the ClientHello is dropped (Russia's mobile networks, 2025)",
            {"allow": "yandex"},
            _white_list,
        ),
        Scenario(
            "stall",
            "freeze a server's connections after a few KB",
            {"server": "tiktok", "after": "20000"},
            _stall,
        ),
        Scenario(
            "freeze",
            "freeze connections to a server (foreign hosting) once they have carried a few KB "
            "both ways, per connection, except for exempt names (Russia, 2025)",
            {"server": "speedtest", "after": "16000", "exempt": "none"},
            _freeze,
        ),
        Scenario(
            "quic-drop",
            "drop QUIC Initials (UDP 443, 1001 bytes or more) to every server but the domestic "
            "ones (Russia, 2022)",
            {"domestic": "yandex"},
            _quic_drop,
        ),
        Scenario(
            "quic-police",
            "police QUIC from a platform's servers to a rate, TCP untouched (YouTube, 2024)",
            {"rate": "512kbit", "server": "twimg|twitter"},
            _quic_police,
        ),
        Scenario(
            "quic-sni",
            "decrypt QUIC Initials and drop or police flows whose SNI matches, with a "
            "residual block of the triple (China, 2024)",
            {"pattern": _TWITTER, "action": "drop", "rate": "512kbit", "residual": "0"},
            _quic_sni,
        ),
    )
}


@dataclass(frozen=True)
class Impairment:
    """One scenario of a composition, with its parameters filled in."""

    name: str
    params: dict[str, str]

    def describe(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}:" + ",".join(f"{k}={v}" for k, v in self.params.items())


def parse_composition(text: str, overrides: Mapping[str, str] | None = None) -> list[Impairment]:
    """``NAME[:k=v,...][+NAME...]``; ``overrides`` (from --rate and friends) fill the rest."""
    impairments = []
    for part in text.split("+"):
        name, _, inline = part.strip().partition(":")
        scenario = SCENARIOS.get(name)
        if scenario is None:
            known = ", ".join(SCENARIOS)
            raise ScenarioError(f"no scenario named {name!r} (known: {known})")
        params = dict(scenario.defaults)
        for key, value in (overrides or {}).items():
            if key in params:
                params[key] = value
        for item in filter(None, inline.split(",")):
            key, sep, value = item.partition("=")
            if not sep or key not in scenario.defaults:
                allowed = ", ".join(scenario.defaults) or "none"
                raise ScenarioError(f"{name}: unknown parameter {item!r} (allowed: {allowed})")
            params[key] = value
        impairments.append(Impairment(name, params))
    build_plan(impairments)  # validates every parameter before anything is applied
    return impairments


def build_plan(impairments: Sequence[Impairment]) -> RouterPlan:
    plan = RouterPlan()
    for impairment in impairments:
        SCENARIOS[impairment.name].build(plan, impairment.params)
    return plan
