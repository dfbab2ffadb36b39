"""Bring the lab up and down, apply scenarios, run commands in the client namespace.

Everything the lab creates carries one prefix (namespaces, interfaces,
/etc/netns entries), and its servers run inside its namespaces, so ``down``
can find and remove all of it even after a crash: it kills every process in
the namespaces, then deletes them, which takes their interfaces, firewall
rules and shapers along.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from probe.config import default_targets_text
from probe.lab import topology
from probe.lab.pki import LabPKI
from probe.lab.scenarios import UNLIMITED, Impairment, RouterPlan, build_plan
from probe.lab.system import LabError, namespaces, pids_in, require_privileges, run
from probe.lab.topology import Hops, Names

STATE_ROOT = Path("/run/throttle-probe")
OBJECT_BYTES = 100 * 1024 * 1024  # lab objects outlast any max_bytes a check uses
_DELAY_QUEUE = 0  # the router's NFQUEUE number for the delay scenario
_QUIC_SNI_QUEUE = 2  # and for the QUIC SNI filter
_TCP_SNI_QUEUE = 3  # and for the reassembling SNI matcher
_TCP_SNI_PACKETS = 30  # the first packets of a connection it sees: a ClientHello's worth
_CHECK_TIMEOUT = 180  # seconds: a guard only; a round's own time-outs end it long before


@dataclass(frozen=True)
class LabStatus:
    up: bool
    namespaces: list[str]
    services: dict[str, bool]  # service name -> running
    scenario: list[str]  # applied impairments, described
    targets_file: Path | None


class Lab:
    """The lab under one prefix; ``state_dir`` holds its CA, zone files, logs and targets."""

    def __init__(self, names: Names | None = None, state_dir: Path | None = None) -> None:
        self.names = names or Names()
        self.state_dir = state_dir or STATE_ROOT / self.names.prefix
        self.targets_file = self.state_dir / "targets.yaml"
        # The default targets, as shipped, pointed at the lab: realistic object sizes.
        self.field_targets_file = self.state_dir / "field-targets.yaml"
        self.replay_secret_file = self.state_dir / "replay.secret"
        self._scenario_file = self.state_dir / "scenario.json"
        self._isp_zone = self.state_dir / "isp-zone.json"
        self._pid_file = self.state_dir / "pids.json"
        self._hops_file = self.state_dir / "hops.json"
        self._netns_etc = Path("/etc/netns") / self.names.client

    # -- up and down ---------------------------------------------------------------

    def up(self, hops: Hops | None = None) -> None:
        """Create namespaces, links and servers; refuse if the lab is already up.

        ``hops``: where the equipment sits on the client's path (default: the
        router is the client's first hop).
        """
        hops = hops or Hops()
        require_privileges()
        if self.is_up():
            down = self.command_line("down")
            raise LabError(f"The lab {self.names.prefix!r} is already up: `{down}` removes it.")
        self.down()  # leftovers of a crashed run
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._create_network(hops)
            pki = LabPKI(self.state_dir / "pki", topology.all_hosts())
            self._write_files(pki)
            self._start_services(pki)
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        """Remove everything the lab made; safe to call at any time, any number of times."""
        require_privileges()
        present = [ns for ns in namespaces() if self._is_ours(ns)]
        for namespace in present:
            for pid in pids_in(namespace):
                _kill(pid)
        for namespace in present:
            run(["ip", "netns", "delete", namespace], check=False)
        shutil.rmtree(self._netns_etc, ignore_errors=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def _is_ours(self, namespace: str) -> bool:
        return namespace in self.names.namespaces or self.names.is_hop(namespace)

    @property
    def hops(self) -> Hops:
        """Where the equipment sits on the client's path, as ``up`` built it."""
        if not self._hops_file.exists():
            return Hops()
        saved = json.loads(self._hops_file.read_text())
        return Hops(saved["censor"], frozenset(saved["silent"]), saved["beyond"])

    def is_up(self, present: list[str] | None = None) -> bool:
        """All namespaces exist (``present``: the namespaces, if already listed) and the files."""
        present = namespaces() if present is None else present
        return all(ns in present for ns in self.names.namespaces) and self.targets_file.exists()

    def status(self) -> LabStatus:
        require_privileges()
        listed = namespaces()
        present = [ns for ns in listed if self._is_ours(ns)]
        started = self._started_pids()
        services = {}
        for name, namespace in self._services().items():
            pid = started.get(name)
            services[name] = namespace in present and pid is not None and pid in pids_in(namespace)
        scenario = []
        if self._scenario_file.exists():
            scenario = json.loads(self._scenario_file.read_text())
        return LabStatus(
            up=self.is_up(listed),
            namespaces=present,
            services=services,
            scenario=scenario,
            targets_file=self.targets_file if self.targets_file.exists() else None,
        )

    # -- scenarios -----------------------------------------------------------------

    def apply(self, impairments: Sequence[Impairment]) -> None:
        """Replace whatever the router did with ``impairments``."""
        self.require_up()
        plan = build_plan(impairments)
        self._reset_router()
        router = self.names.router
        if plan.needs_conntrack_accounting:
            run(["sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1"], router)
        for rule in plan.iptables:
            run(["iptables", *rule], router)
        self._apply_quic_sni(plan)
        self._apply_tcp_sni(plan)
        self._apply_delay(plan)
        self._apply_shaping(plan)
        self._write_isp_zone(plan.dns_lies)
        described = [i.describe() for i in impairments if i.name != "clean"]
        self._scenario_file.write_text(json.dumps(described))

    def _reset_router(self) -> None:
        router = self.names.router
        self._stop_service("delayer")
        self._stop_service("quic-sni")
        self._stop_service("tcp-sni")
        for table in ("filter", "mangle"):
            run(["iptables", "-t", table, "-F"], router)
        for interface in (self.names.router_client_if, self.names.router_server_if):
            run(["tc", "qdisc", "del", "dev", interface, "root"], router, check=False)
        # Policing marks live in conntrack entries: forget them with the rules where
        # the conntrack tool is installed. (Checks open new connections anyway.)
        run(["conntrack", "-F"], router, check=False)
        self._make_router_transparent()

    def _make_router_transparent(self) -> None:
        """The equipment is in line: what it forwards keeps its TTL (topology's doc)."""
        rule = ["-t", "mangle", "-A", "PREROUTING", "-j", "TTL", "--ttl-inc", "1"]
        run(["iptables", *rule], self.names.router)

    def _apply_delay(self, plan: RouterPlan) -> None:
        """Hold forwarded packets in userspace for half the added round trip each way.

        The queue rule comes last, after every rule that drops or rejects:
        a packet the delayer accepts leaves the chain.
        """
        if not plan.added_rtt:
            return
        router = self.names.router
        delayer = [sys.executable, "-m", "probe.lab.delayer", "--queue", str(_DELAY_QUEUE)]
        self._spawn("delayer", router, [*delayer, "--delay", str(plan.added_rtt / 2)])
        run(
            ["iptables", "-A", "FORWARD", "-j", "NFQUEUE", "--queue-num", str(_DELAY_QUEUE)], router
        )

    def _apply_quic_sni(self, plan: RouterPlan) -> None:
        """Send UDP 443 both ways to the QUIC SNI filter, which gives each packet its verdict.

        The delay scenario's queue (the last rule) does not see what this one accepts.
        """
        quic = plan.quic_sni
        if quic is None:
            return
        router = self.names.router
        options = [] if quic.rate is None else ["--rate", str(quic.rate)]
        options += ["--residual", str(quic.residual)]
        self._spawn_matcher(
            "quic-sni", "probe.lab.quicsni", _QUIC_SNI_QUEUE, quic.patterns, options
        )
        for port in ("--dport", "--sport"):
            rule = ["-A", "FORWARD", "-p", "udp", port, "443", "-j", "NFQUEUE"]
            run(["iptables", *rule, "--queue-num", str(_QUIC_SNI_QUEUE)], router)

    def _apply_tcp_sni(self, plan: RouterPlan) -> None:
        """Send the first packets of each connection to port 443 to the reassembling SNI
        matcher, which marks the one that completes a matching ClientHello."""
        matcher = plan.tcp_sni
        if matcher is None:
            return
        router = self.names.router
        options = ["--icase"] if matcher.icase else []
        self._spawn_matcher(
            "tcp-sni", "probe.lab.tcpsni", _TCP_SNI_QUEUE, matcher.patterns, options
        )
        first = f"0:{_TCP_SNI_PACKETS}"
        rule = ["-t", "mangle", "-A", "PREROUTING", "-p", "tcp", "--dport", "443"]
        rule += ["-m", "connbytes", "--connbytes", first, "--connbytes-dir", "original"]
        rule += ["--connbytes-mode", "packets", "-j", "NFQUEUE", "--queue-num"]
        run(["iptables", *rule, str(_TCP_SNI_QUEUE), "--queue-bypass"], router)

    def _spawn_matcher(
        self, name: str, module: str, queue: int, patterns: Sequence[str], options: list[str]
    ) -> None:
        """The router's name matcher ``module`` on NFQUEUE ``queue``, as the service ``name``."""
        command = [sys.executable, "-m", module, "--queue", str(queue)]
        command += [arg for pattern in patterns for arg in ("--pattern", pattern)]
        self._spawn(name, self.names.router, [*command, *options])

    def _apply_shaping(self, plan: RouterPlan) -> None:
        if plan.link_rate is None and not plan.server_rates:
            return
        link = plan.link_rate or UNLIMITED
        # Downstream leaves the router towards the client; upstream towards the servers.
        for interface, direction in (
            (self.names.router_client_if, "src"),
            (self.names.router_server_if, "dst"),
        ):
            ns = self.names.router
            _tc(ns, f"qdisc add dev {interface} root handle 1: htb default 20")
            _htb_class(ns, interface, "1:", "1:1", link)
            _htb_class(ns, interface, "1:1", "1:20", link)
            for index, (address, rate) in enumerate(sorted(plan.server_rates.items())):
                classid = f"1:{30 + index}"
                _htb_class(ns, interface, "1:1", classid, min(rate, link))
                _tc(
                    ns,
                    f"filter add dev {interface} parent 1: protocol ip prio 1 "
                    f"u32 match ip {direction} {address}/32 flowid {classid}",
                )

    # -- running things in the client ----------------------------------------------

    def client_command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as it runs in the client namespace (with the lab's resolv.conf)."""
        return ["ip", "netns", "exec", self.names.client, *argv]

    def check_command(self, extra_args: Sequence[str], targets: Path | None = None) -> list[str]:
        """``throttle-probe check`` inside the lab, against the lab's targets (or ``targets``)."""
        targets_file = str(targets or self.targets_file)
        probe = [sys.executable, "-m", "probe", "check", "--targets", targets_file]
        return self.client_command([*probe, *extra_args])

    def check_document(
        self, extra_args: Sequence[str], targets: Path | None = None
    ) -> dict[str, Any]:
        """Run ``check --json`` in the client; its document (LabError with stderr on failure)."""
        argv = self.check_command(["--json", *extra_args], targets)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_CHECK_TIMEOUT)
        if done.returncode != 0:
            raise LabError(f"lab check failed: {done.stderr.strip()}")
        document: dict[str, Any] = json.loads(done.stdout)
        return document

    def require_up(self) -> None:
        require_privileges()
        if not self.is_up():
            raise LabError(f"The lab is not up: run `{self.command_line('up')}` first.")

    def command_line(self, subcommand: str) -> str:
        """How a person runs ``subcommand`` on this lab."""
        name = "" if self.names.prefix == Names().prefix else f" --name {self.names.prefix}"
        return f"throttle-probe lab{name} {subcommand}"

    # -- building blocks -------------------------------------------------------------

    def _create_network(self, hops: Hops) -> None:
        n = self.names
        hop_namespaces = [n.hop(number) for number in hops.clean]
        for namespace in [*n.namespaces, *hop_namespaces]:
            run(["ip", "netns", "add", namespace])
            run(["ip", "link", "set", "lo", "up"], namespace)
        layout = {"censor": hops.censor, "silent": sorted(hops.silent), "beyond": hops.beyond}
        self._hops_file.write_text(json.dumps(layout))
        if hops.censor == 1:
            self._link(n.client_if, n.client, n.router_client_if, n.router)
            self._address(n.client, n.client_if, f"{topology.CLIENT_ADDRESS}/24")
            self._address(n.router, n.router_client_if, f"{topology.ROUTER_CLIENT_SIDE}/24")
            self._address(n.router, n.router_client_if, f"{topology.SINKHOLE}/24")
            run(["ip", "route", "add", "default", "via", topology.ROUTER_CLIENT_SIDE], n.client)
        else:
            self._create_hops_before(hops)
        gateway = n.router if hops.beyond == 0 else self._create_hops_beyond(hops)
        gateway_if = (
            n.router_server_if if hops.beyond == 0 else n.beyond_link_ifs(hops.beyond + 1, hops)[0]
        )
        self._link(gateway_if, gateway, n.server_if, n.server)
        self._address(gateway, gateway_if, f"{topology.ROUTER_SERVER_SIDE}/24")
        servers = [s.address for s in topology.SERVERS]
        for address in [*servers, topology.PUBLIC_RESOLVER, topology.REPLAY_SERVER]:
            self._address(n.server, n.server_if, f"{address}/24")
        run(["ip", "route", "add", "default", "via", topology.ROUTER_SERVER_SIDE], n.server)
        for namespace in [n.router, *hop_namespaces]:
            run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], namespace)
        for number in hops.silent:
            silence = ["-A", "OUTPUT", "-p", "icmp", "--icmp-type", "time-exceeded", "-j", "DROP"]
            run(["iptables", *silence], n.hop(number))
        self._make_router_transparent()

    def _create_hops_before(self, hops: Hops) -> None:
        """Clean routers between the client and the router, one /30 per link.

        The client keeps its address, and the router its resolver's and
        sinkhole's, as /32s routed across the hops.
        """
        n = self.names
        chain = [n.client, *(n.hop(number) for number in hops.before), n.router]
        for link in range(1, hops.censor + 1):
            left_if, right_if = n.hop_link_ifs(link, hops)
            left_address, right_address = topology.link_addresses(link)
            left, right = chain[link - 1], chain[link]
            self._link(left_if, left, right_if, right)
            self._address(left, left_if, f"{left_address}/30")
            self._address(right, right_if, f"{right_address}/30")
            run(["ip", "route", "add", f"{topology.CLIENT_ADDRESS}/32", "via", left_address], right)
            if left != n.client:
                run(["ip", "route", "add", "default", "via", right_address], left)
        first_hop = topology.link_addresses(1)[1]
        self._address(n.client, n.client_if, f"{topology.CLIENT_ADDRESS}/32")
        route = ["ip", "route", "add", "default", "via", first_hop]
        run([*route, "src", topology.CLIENT_ADDRESS], n.client)
        for address in (topology.ROUTER_CLIENT_SIDE, topology.SINKHOLE):
            self._address(n.router, n.router_client_if, f"{address}/32")

    def _create_hops_beyond(self, hops: Hops) -> str:
        """Clean routers between the router and the servers; the last one, the servers'
        gateway, is returned. Traffic to the servers' /24 is routed along them; the way
        back is their default route."""
        n = self.names
        chain = [n.router, *(n.hop(number) for number in hops.after)]
        servers = f"{topology.SERVER_NET}.0/24"
        for link in range(1, hops.beyond + 1):
            left_if, right_if = n.beyond_link_ifs(link, hops)
            left_address, right_address = topology.link_addresses(link, beyond=True)
            left, right = chain[link - 1], chain[link]
            self._link(left_if, left, right_if, right)
            self._address(left, left_if, f"{left_address}/30")
            self._address(right, right_if, f"{right_address}/30")
            run(["ip", "route", "add", servers, "via", right_address], left)
            run(["ip", "route", "add", "default", "via", left_address], right)
        return chain[-1]

    def _link(self, left: str, left_ns: str, right: str, right_ns: str) -> None:
        run(["ip", "link", "add", left, "type", "veth", "peer", "name", right])
        for interface, namespace in ((left, left_ns), (right, right_ns)):
            run(["ip", "link", "set", interface, "netns", namespace])
            # One MSS per packet, as on a real wire: a policer or shaper must see
            # 1500-byte packets, not 64 KB segmentation-offload bursts.
            run(["ip", "link", "set", "dev", interface, "gso_max_segs", "1"], namespace)
            run(["ip", "link", "set", interface, "up"], namespace)

    @staticmethod
    def _address(namespace: str, interface: str, cidr: str) -> None:
        run(["ip", "addr", "add", cidr, "dev", interface], namespace)

    def _write_files(self, pki: LabPKI) -> None:
        self._netns_etc.mkdir(parents=True, exist_ok=True)
        # `ip netns exec` mounts this over /etc/resolv.conf: the ISP resolver is "system".
        (self._netns_etc / "resolv.conf").write_text(f"nameserver {topology.ROUTER_CLIENT_SIDE}\n")
        (self.state_dir / "true-zone.json").write_text(json.dumps(topology.true_zone()))
        self._write_isp_zone({})
        self.replay_secret_file.write_text(secrets.token_urlsafe(32) + "\n")
        self.replay_secret_file.chmod(0o600)
        self.targets_file.write_text(lab_targets_yaml(pki.ca_file, self.replay_secret_file))
        self.field_targets_file.write_text(field_targets_yaml(pki.ca_file))

    def _write_isp_zone(self, lies: dict[str, list[str]]) -> None:
        zone = {**topology.true_zone(), **lies}
        temporary = self._isp_zone.with_suffix(".tmp")
        temporary.write_text(json.dumps(zone))
        temporary.replace(self._isp_zone)  # the resolver never reads half a file

    def _services(self) -> dict[str, str]:
        return {
            "origin": self.names.server,
            "origin3": self.names.server,
            "public-resolver": self.names.server,
            "isp-resolver": self.names.router,
            "replay-server": self.names.server,
        }

    def _start_services(self, pki: LabPKI) -> None:
        python = [sys.executable, "-m"]
        hosts = [arg for s in topology.SERVERS for arg in ("--host", s.address)]
        certificate = ["--cert", str(pki.cert_chain_file), "--key", str(pki.key_file)]
        # Every server offers HTTP/3 on UDP 443 of its address, as the platforms do.
        origin = [*python, "probe.lab.origin", "--port", "443", *hosts, *certificate]
        origin += ["--alt-svc", 'h3=":443"; ma=86400']
        origin3 = [*python, "probe.lab.origin3", "--port", "443", *hosts, *certificate]
        zone = str(self.state_dir / "true-zone.json")
        public = [*python, "probe.lab.dnsserver", "--host", topology.PUBLIC_RESOLVER]
        public += ["--zone-file", zone]
        isp = [*python, "probe.lab.dnsserver", "--host", topology.ROUTER_CLIENT_SIDE]
        isp += ["--zone-file", str(self._isp_zone)]
        self._spawn("origin", self.names.server, origin)
        self._spawn("origin3", self.names.server, origin3)
        self._spawn("public-resolver", self.names.server, public)
        self._spawn("isp-resolver", self.names.router, isp)
        replay = [*python, "probe", "serve", "--listen", topology.REPLAY_SERVER]
        replay += [
            "--port",
            str(topology.REPLAY_PORT),
            "--secret-file",
            str(self.replay_secret_file),
        ]
        # The lab's tests and benchmarks run many rounds a minute from one client.
        replay += ["--sessions-per-minute", "6000"]
        self._spawn("replay-server", self.names.server, replay)

    def _spawn(self, name: str, namespace: str, argv: list[str]) -> None:
        """Start a server in ``namespace``; wait until it prints its port (it is ready)."""
        log = self.state_dir / f"{name}.log"
        with open(log, "w") as output:
            process = subprocess.Popen(
                ["ip", "netns", "exec", namespace, *argv],
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives `lab up`, and a Ctrl-C in its terminal
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if log.read_text().strip():
                if process.poll() is not None:
                    break
                self._record_pid(name, process.pid)  # `ip netns exec` became the server
                return
            if process.poll() is not None:
                break
            time.sleep(0.05)
        last = (log.read_text().strip().splitlines() or ["no output"])[-1]
        raise LabError(f"The lab's {name} did not start: {last}")

    def _stop_service(self, name: str) -> None:
        pids = self._started_pids()
        pid = pids.pop(name, None)
        if pid is None:
            return
        _kill(pid)
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            os.waitpid(pid, 0)  # reap it if this process started it
        self._pid_file.write_text(json.dumps(pids))

    def _record_pid(self, name: str, pid: int) -> None:
        self._pid_file.write_text(json.dumps({**self._started_pids(), name: pid}))

    def _started_pids(self) -> dict[str, int]:
        if not self._pid_file.exists():
            return {}
        return {name: int(pid) for name, pid in json.loads(self._pid_file.read_text()).items()}


@contextlib.contextmanager
def fresh_lab(names: Names, hops: Hops | None = None) -> Iterator[Lab]:
    """A lab built anew for a test run or a benchmark, removed on the way out.

    A lab of the same name left up by an interrupted run is removed first,
    rather than refused as ``up`` alone would: these names are never a
    developer's own lab.
    """
    lab = Lab(names)
    lab.down()
    lab.up(hops)
    try:
        yield lab
    finally:
        lab.down()


def _htb_class(namespace: str, interface: str, parent: str, classid: str, rate: int) -> None:
    # A burst of 10 ms at the rate lets htb keep up at high rates; two packets at
    # least, and no more, so that a slow class never runs ahead of its rate.
    burst = max(2 * 1514, rate // 8 // 100)
    _tc(
        namespace,
        f"class add dev {interface} parent {parent} classid {classid} htb "
        f"rate {rate}bit ceil {rate}bit burst {burst}b quantum 15140",
    )
    if classid != "1:1":
        # A queue of ~250 ms at the rate: a shaper queues (RTT grows) before it drops.
        limit = max(10, rate // 8 // 4 // 1514)
        _tc(namespace, f"qdisc add dev {interface} parent {classid} pfifo limit {limit}")


def _tc(namespace: str, arguments: str) -> None:
    run(["tc", *arguments.split()], namespace)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def lab_targets_yaml(ca_file: Path, replay_secret_file: Path) -> str:
    """The lab's targets file: the default file's shape, pointed at the lab's hosts."""
    lines = [
        "# Written by `throttle-probe lab up`: the lab's hosts, CA and resolvers.",
        "settings:",
        f"  ca_bundle: {ca_file}",
        "  timeouts: {dns: 2, connect: 5, tls: 5, stall: 5, transfer: 20}",
        "resolvers:",
        "  system: system            # the ISP resolver on the router",
        f"  public: {topology.PUBLIC_RESOLVER}",
        "groups:",
    ]
    groups: dict[str, list[topology.LabServer]] = {}
    for lab_server in topology.SERVERS:
        groups.setdefault(lab_server.group, []).append(lab_server)
    for group, servers in groups.items():
        lines += [f"  {group}:", f"    role: {servers[0].role}", "    targets:"]
        for lab_server in servers:
            for host in lab_server.hosts:
                name = host.replace("www.", "").replace(".", "-")
                lines.append(f"      - name: {name}")
                lines.append(f"        url: https://{host}/bytes/{OBJECT_BYTES}")
                if lab_server.domestic:
                    lines.append("        domestic: true")
    # The SNI swap against a lab server that answers any name (the speed-test one).
    lines += [
        "sni_swap:",
        f"  url: https://{topology.server('speedtest').hosts[0]}/bytes/{OBJECT_BYTES}",
        "  names: [pbs.twimg.com, twitter.com, x.com, www.tiktok.com]",
        "ech:",
        f"  server: {topology.ECH_HOST}",
        "replay:",
        f"  server: {topology.REPLAY_SERVER}:{topology.REPLAY_PORT}",
        f"  secret_file: {replay_secret_file}",
        "  names: [pbs.twimg.com]",
    ]
    return "\n".join(lines) + "\n"


def field_targets_yaml(ca_file: Path) -> str:
    """The built-in targets (their URLs, so the origin's realistic objects) with the lab's
    settings and resolvers: what a user's first `run` measures, on the lab's network."""
    shipped = yaml.safe_load(default_targets_text())
    lab = yaml.safe_load(lab_targets_yaml(ca_file, Path("unused")))
    # Only the groups the lab's servers answer for (not the hosting group's providers).
    served = set(topology.all_hosts())
    groups = {
        name: group
        for name, group in shipped["groups"].items()
        if all(urlsplit(t["url"]).hostname in served for t in group["targets"])
    }
    document = {
        "settings": {**shipped["settings"], **lab["settings"]},
        "resolvers": lab["resolvers"],
        "groups": groups,
    }
    header = "# Written by `throttle-probe lab up`: the built-in targets, on the lab's network.\n"
    return header + yaml.safe_dump(document, sort_keys=False)
