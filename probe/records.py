"""The records every measurement step returns: the contract between layers.

Records are plain dataclasses; ``probe.schema`` writes them to JSON and reads
them back.
Times are seconds on a monotonic clock, relative to the start of the target's
measurement (``TargetResult.started_at`` gives the wall-clock origin). A step
that fails still returns its record, with ``failure`` set to a name from
``FAILURES``; a phase that did not happen is absent, never zero.
"""

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

# The SNI swap's downloads are round entries of their own, in this group (role
# ``Role.SNI_SWAP``); the one with this name sends the neutral server's own name.
SWAP_GROUP = "sni-swap"
SWAP_BASELINE = "swap-innocuous"
# The swap's server once more with its own name, after the platform names: the taint check.
TAINT_CHECK = "swap-innocuous-after"


class Failure(enum.StrEnum):
    """What went wrong, in the fixed vocabulary that verdicts and metrics rely on."""

    DNS_NXDOMAIN = "dns_nxdomain"  # the name does not exist
    DNS_NODATA = "dns_nodata"  # the name exists but has no address of the asked family
    DNS_TIMEOUT = "dns_timeout"  # the resolver did not answer in time
    DNS_UNAVAILABLE = "dns_unavailable"  # the resolver could not be reached at all
    DNS_SERVFAIL = "dns_servfail"
    DNS_REFUSED = "dns_refused"
    DNS_ERROR = "dns_error"  # any other resolver error
    NETWORK_UNREACHABLE = "network_unreachable"  # no route to the address
    TCP_REFUSED = "tcp_refused"
    TCP_TIMEOUT = "tcp_timeout"
    TCP_ERROR = "tcp_error"  # any other failure to connect
    TCP_RESET = "tcp_reset"  # reset after the TLS handshake (mid-request or mid-body)
    TLS_RESET = "tls_reset"  # reset or close during the TLS handshake
    TLS_TIMEOUT = "tls_timeout"
    TLS_CERT_INVALID = "tls_cert_invalid"  # untrusted, expired or for another name
    TLS_ERROR = "tls_error"  # any other handshake failure
    HTTP_STATUS = "http_status"  # status 300 or above
    HTTP_TRUNCATED = "http_truncated"  # the server closed before the announced length
    HTTP_ERROR = "http_error"  # a malformed response
    HTTP_TOO_SMALL = "http_too_small"  # complete, but smaller than the target's min_bytes
    READ_TIMEOUT = "read_timeout"  # no response headers in time
    STALL = "stall"  # the body stopped arriving for the stall time-out
    # The replay server closed without a byte: wrong secret, rate limit, busy, or an
    # on-path device closing the connection after the ClientHello.
    REPLAY_REFUSED = "replay_refused"
    REPLAY_TRUNCATED = "replay_truncated"  # closed before the requested bytes
    REPLAY_ERROR = "replay_error"  # the server's answer made no sense (e.g. a bad report)
    # QUIC (HTTP/3). A QUIC download that fails where TCP to the same name works is
    # judged blocked at stage ``quic``; these say how it failed.
    QUIC_REFUSED = "quic_refused"  # an ICMP port unreachable: nothing takes UDP there
    QUIC_NO_ANSWER = "quic_no_answer"  # not one datagram came back to the Initials
    QUIC_HANDSHAKE_TIMEOUT = "quic_handshake_timeout"  # answers came, no handshake in time
    QUIC_VERSION_NEGOTIATION = "quic_version_negotiation"  # the server spoke no common version
    QUIC_TLS_ALERT = "quic_tls_alert"  # closed with a TLS alert (``quic_close`` keeps it)
    QUIC_TRANSPORT_ERROR = "quic_transport_error"  # closed with a transport error code
    QUIC_IDLE_TIMEOUT = "quic_idle_timeout"  # the connection went idle past its time-out
    HTTP3_ERROR = "http3_error"  # an HTTP/3 error: the connection or the stream closed with one
    INTERRUPTED = "interrupted"  # the user stopped the round


class StopReason(enum.StrEnum):
    """Why a download ended."""

    COMPLETE = "complete"  # the whole body arrived
    MAX_BYTES = "max_bytes"  # the byte budget was reached (the normal case for big objects)
    DEADLINE = "deadline"  # the transfer time-out ended a download that was still flowing
    PLATEAU = "plateau"  # the rate had settled: more bytes would only confirm it
    FAILURE = "failure"  # see ``failure``
    INTERRUPTED = "interrupted"


class Role(enum.StrEnum):
    """What an entry of a round is for."""

    TARGET = "target"  # a platform, judged
    CONTROL = "control"  # an unrelated site: the network as a whole
    SNI_SWAP = "sni_swap"  # a download of the SNI swap (see SWAP_GROUP)


class Variant(enum.StrEnum):
    """The shape of a replay session's ClientHello."""

    PLAIN = "plain"
    SCRAMBLED = "scrambled"  # every byte inverted: the replay's baseline
    SPLIT = "split"  # over two TCP segments, cut in the middle of the name
    PADDED = "padded"  # longer than one 1500-byte packet


class Evasion(enum.StrEnum):
    """A known way past an SNI filter, tried by the evasion matrix (``measure.evasion``)."""

    SPLIT_IN_HEADER = "split_in_header"  # two TCP segments, cut inside the record header
    SPLIT_BEFORE_NAME = "split_before_name"  # ... cut just before the name
    SPLIT_IN_NAME = "split_in_name"  # ... cut in the middle of the name
    TWO_RECORDS = "two_records"  # one segment, the handshake in two TLS records cut in the name
    RECORD_FIRST = "record_first"  # a ChangeCipherSpec record before it, in the same segment
    PADDED = "padded"  # a padding extension past one 1500-byte packet
    UPPER_CASE = "upper_case"  # the name in capitals (DNS names are case-blind)
    TRAILING_DOT = "trailing_dot"  # the name with a trailing dot (the root)
    # A ClientHello for the control name first, with a TTL that dies before the
    # server, then the real one (zapret's "fake"): needs CAP_NET_RAW.
    FAKE = "fake"


class EvasionState(enum.StrEnum):
    """What an evasion did against the plain session (``analysis.evasion``)."""

    RESTORED = "restored"  # not held down where the plain session was
    NOT_RESTORED = "not_restored"  # held down as the plain session was
    NOT_APPLICABLE = "not_applicable"  # nothing to evade, or it could not be sent


class EchVariant(enum.StrEnum):
    """One ClientHello of the ECH check."""

    ECH = "ech"  # a GREASE ECH extension, the outer name cloudflare-ech.com
    NO_ECH = "no_ech"  # the same name, no extension: the baseline
    OTHER_NAME = "other_name"  # the extension, another outer name


class Transport(enum.StrEnum):
    """What carried a download: TCP (HTTP/1.1 or 2 over TLS) or QUIC (HTTP/3)."""

    TCP = "tcp"
    QUIC = "quic"


class Direction(enum.StrEnum):
    """Which way a replay session's bytes go."""

    DOWNLOAD = "download"
    UPLOAD = "upload"


class VerdictKind(enum.StrEnum):
    """What a verdict says of a target (shared/design.md, "Verdicts")."""

    OK = "ok"
    THROTTLED = "throttled"
    BLOCKED = "blocked"
    DEGRADED = "degraded"  # the whole network is slow or lossy: controls suffer too
    INCONCLUSIVE = "inconclusive"  # not enough evidence
    # The platform itself answered with an HTTP error or a redirect elsewhere, over
    # a verified TLS session: its own decision, which no on-path device can forge.
    PLATFORM_REFUSED = "platform_refused"


class Rule(enum.StrEnum):
    """Which kind of evidence decided a verdict, so that a reader can weigh it."""

    CONTROLS = "controls"  # against the controls measured in the same round(s)
    RESOLVERS = "resolvers"  # the system resolver's answers against the other resolvers'
    PLATFORM_ANSWER = "platform_answer"  # the platform's own HTTP answer over verified TLS
    HISTORY = "history"  # a sustained drop against the target's own ratio to the controls
    SHUTDOWN = "shutdown"  # only domestic services answered: a shutdown or a white list


class NetworkState(enum.StrEnum):
    """The network of a round as its controls saw it (shared/design.md, "Verdicts")."""

    HEALTHY = "healthy"
    LOSSY = "lossy"  # the controls lose packets at random, with no queue to explain it
    SLOW = "slow"  # the controls crawl (their median below 1 Mbit/s)
    FAILING = "failing"  # most controls fail
    # Every foreign target and control failed at connect or TLS while a domestic
    # control worked: a shutdown or a white list (Russia's mobile networks, 2025).
    DOMESTIC_ONLY = "domestic_only"


class Mechanism(enum.StrEnum):
    """How a throttled target is slowed (Flach et al.)."""

    POLICING = "policing"  # drops over the rate, no queue
    SHAPING = "shaping"  # a queue: RTT inflates
    # Packets of its own lost at random, the rate not held anywhere (YouTube in
    # Russia, July 2024): slower by a factor, not down to a rate.
    LOSS = "loss"
    UNKNOWN = "unknown"


class Stage(enum.StrEnum):
    """Where a blocked target fails."""

    DNS = "dns"
    TCP = "tcp"
    TLS = "tls"
    QUIC = "quic"  # QUIC failed while TCP to the same name worked
    HTTP = "http"
    STALL = "stall"  # the body stopped arriving after the connection had carried a good deal
    # The body stopped dead within the connection's first few tens of KB and never
    # resumed: a byte budget per connection, as Russia's on foreign hosting (2025).
    FREEZE = "freeze"


class Comparison(enum.StrEnum):
    """One download against its baseline (the SNI swap, the replay test)."""

    SLOWED = "slowed"
    BLOCKED = "blocked"
    SAME = "same"
    INCONCLUSIVE = "inconclusive"
    NO_BASELINE = "no_baseline"  # the baseline itself failed: nothing to compare with
    BASELINE = "baseline"  # this download is the baseline


class TtlOutcome(enum.StrEnum):
    """What came back for a ClientHello sent with a limited TTL (``measure.locate``)."""

    EXPIRED = "expired"  # an ICMP error came back: the TTL ran out at a router
    RESET = "reset"  # a TCP reset: the server's, or equipment's on the way
    ANSWERED = "answered"  # the server answered: the ClientHello got all the way
    CLOSED = "closed"  # the connection was closed in order (a FIN): it got somewhere
    SILENT = "silent"  # nothing at all: dropped, or a router that sends no ICMP
    NO_CONNECTION = "no_connection"  # the TCP handshake itself failed: nothing to send on
    ERROR = "error"  # any other socket error: the step decides nothing


class LocateFinding(enum.StrEnum):
    """What the TTL walk of one name found (``analysis.locate``)."""

    RESET = "reset"  # equipment resets the name's connections from this hop on
    DROP = "drop"  # equipment drops the name's ClientHello from this hop on
    THROTTLE = "throttle"  # equipment slows or freezes the session after the name's
    NOTHING = "nothing"  # the name's ClientHello reached its server untouched
    WHOLE_PATH = "whole_path"  # the control met the same fate: not the name's doing
    UNREACHABLE = "unreachable"  # no TCP connection to the server: nothing to walk
    NOT_REACHED = "not_reached"  # neither the equipment nor the server within the hops tried


@dataclass(frozen=True)
class TtlTrial:
    """One ClientHello sent with TTL ``ttl`` on a new connection, and what came back."""

    ttl: int
    outcome: TtlOutcome
    seconds: float | None  # from the send to the answer; None when nothing came
    icmp_from: str | None = None  # who sent the time-exceeded (needs a raw socket)
    retried: bool = False  # sent twice: a lone silence is retried before it counts


@dataclass(frozen=True)
class TtlStep:
    """The name's and the control name's trials at one TTL, sent side by side."""

    ttl: int
    name: TtlTrial
    control: TtlTrial


@dataclass(frozen=True)
class SessionTrial:
    """A session to the replay server after a TTL-limited ClientHello (``locate_session``)."""

    ttl: int
    goodput_bytes_per_second: float | None
    bytes: int
    failure: Failure | None


@dataclass(frozen=True)
class SessionStep:
    """The session triggered by the name's ClientHello and the control's, at one TTL."""

    ttl: int
    name: SessionTrial
    control: SessionTrial


@dataclass(frozen=True)
class EvasionSession:
    """One replay session of the evasion matrix: the plain ClientHello (``evasion`` None),
    the scrambled baseline (``baseline``), or an evasion; ``record`` None when it could
    not be sent (the fake without a raw socket)."""

    direction: Direction
    evasion: Evasion | None
    record: "ReplayRecord | None"
    baseline: bool = False


@dataclass
class EvasionMatrix:
    """The evasion matrix of one name against one replay server."""

    name: str
    server: str  # host:port
    control: str  # the fake's name
    fake_ttl: int | None  # the fake's TTL: one short of the server's hop (None: not sent)
    sessions: list[EvasionSession] = field(default_factory=list)
    target: str = ""


@dataclass
class TtlWalk:
    """The TTL walk of one name to one server, with a control name on the same path."""

    name: str  # the host name sent
    control: str
    address: str
    port: int
    steps: list[TtlStep] = field(default_factory=list)
    hop_addresses: bool = False  # time-exceeded replies were read (CAP_NET_RAW)
    # Where the handshake passed: sessions to the replay server after a TTL-limited
    # ClientHello (empty when not run), and the server they went to.
    sessions: list[SessionStep] = field(default_factory=list)
    session_server: str | None = None
    target: str = ""  # the targets file's name for it, when it is one of its targets
    evasions: EvasionMatrix | None = None  # the evasion matrix, where it was asked for


@dataclass
class DnsRecord:
    """One query to one resolver: ``answers`` in the order the resolver gave them."""

    resolver: str  # the configured name, e.g. "system" or "cloudflare"
    resolver_address: str  # "system" or "host:port"
    hostname: str
    query_type: str  # "A", "AAAA", or "ANY" for the system resolver
    t0: float
    t: float
    answers: list[str] = field(default_factory=list)
    failure: Failure | None = None


@dataclass
class ServiceBinding:
    """One HTTPS record of a name (RFC 9460): a way to reach it, as its DNS offers it."""

    priority: int  # 0: an alias for ``target``; otherwise the order of preference
    target: str  # "" or ".": the name itself
    alpn: list[str] = field(default_factory=list)  # the protocols offered: "h3", "h2", ...
    port: int | None = None  # None: the origin's own port
    ttl: int = 0  # seconds the answer may be kept


@dataclass
class HttpsLookup:
    """A name's HTTPS records from one resolver: how its DNS offers HTTP/3.

    Asked beside the entry's own lookups, and timed on a clock of its own from
    when it was asked.
    """

    resolver: str
    resolver_address: str  # "host:port"
    hostname: str
    t0: float
    t: float
    bindings: list[ServiceBinding] = field(default_factory=list)
    failure: Failure | None = None  # dns_nodata: the name has no HTTPS record


@dataclass
class Phase:
    """One phase of a transfer: connect, tls, request, wait (for the first byte), body."""

    name: str
    t0: float
    t: float | None = None  # when it ended, successfully or with ``failure``
    failure: Failure | None = None


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})  # the statuses that carry a Location


@dataclass
class Redirect:
    """A redirect the server answered with: its status and where it pointed (absolute)."""

    status: int
    location: str


@dataclass
class ByteSample:
    """Cumulative body bytes at time ``t`` (taken on a memoryless timer)."""

    t: float
    bytes: int


@dataclass
class Pause:
    """The connection idle between one body's end and the next request's answer."""

    t0: float
    t: float


def without_pauses(samples: Sequence[ByteSample], pauses: Sequence[Pause]) -> list[ByteSample]:
    """``samples`` on a clock that stops during ``pauses``, as if the bodies were one.

    A repeat's request and the wait for its answer are the probe's pacing, not
    the network's: one big object would have had no such gap. A sample inside
    a pause takes the pause's start.
    """
    if not pauses:
        return list(samples)
    stitched = []
    for sample in samples:
        idle = sum(max(0.0, min(sample.t, p.t) - p.t0) for p in pauses)
        stitched.append(ByteSample(sample.t - idle, sample.bytes))
    return stitched


@dataclass
class TcpInfoSample:
    """Linux TCP_INFO of the connection at time ``t`` (times in seconds)."""

    t: float
    rtt: float
    rtt_var: float
    min_rtt: float | None
    receiver_rtt: float | None  # the receiver's own estimate: what a downloading client sees
    retransmits: int  # segments this side retransmitted (upload direction)
    lost: int
    reordered_received: int | None  # out-of-order segments received: download-side loss
    delivery_rate: int | None  # bytes per second, as the kernel estimates it
    cwnd: int
    bytes_received: int | None
    segments_in: int | None
    bytes_acked: int | None = None  # acknowledged by the peer: what an upload got through
    segments_out: int | None = None  # segments this side sent, retransmissions included


@dataclass
class RttSample:
    """A TCP connect to the transfer's server during the body: ``rtt`` None if unanswered."""

    t: float
    rtt: float | None


class PhaseTimes:
    """Phase look-ups shared by the records that have ``phases``."""

    phases: list[Phase]

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    def duration(self, name: str) -> float | None:
        """Seconds the phase took; None if it did not happen, did not end, or failed."""
        phase = self.phase(name)
        if phase is None or phase.t is None or phase.failure is not None:
            return None
        return phase.t - phase.t0


@dataclass
class QuicClose:
    """How a QUIC connection was closed: its CONNECTION_CLOSE as the client saw it.

    ``frame_type`` is None for an application's close (HTTP/3's codes); for a
    transport close it names the frame that caused it. A TLS alert is a
    transport code of 0x100 plus the alert's number.
    """

    code: int
    frame_type: int | None = None
    reason: str = ""


@dataclass
class TransferRecord(PhaseTimes):
    """An HTTPS GET of one URL, connected to one chosen address.

    Over TCP its phases are connect, tls, request, wait, body; over QUIC
    handshake (from the first Initial to the handshake's completion),
    request, wait, body.
    """

    url: str
    hostname: str
    address: str | None  # the IP connected to; None when DNS gave nothing to connect to
    port: int
    sni: str
    t0: float
    t: float
    phases: list[Phase] = field(default_factory=list)
    status: int | None = None  # of the last response: after the redirects followed
    # Each redirect answered, in order; the last is the answer when it was not followed.
    redirects: list[Redirect] = field(default_factory=list)
    http_version: str | None = None
    tls_version: str | None = None
    bytes: int = 0  # body bytes received (as sent: no decompression), repeats included
    # GETs of the object on the connection: a small object is asked for again
    # until max_bytes (see measure.transfer._Body)
    requests: int = 1
    pauses: list[Pause] = field(default_factory=list)  # between the requests
    stop_reason: StopReason = StopReason.FAILURE
    failure: Failure | None = None
    samples: list[ByteSample] = field(default_factory=list)
    tcp_info: list[TcpInfoSample] = field(default_factory=list)
    rtt_probes: list[RttSample] = field(default_factory=list)
    goodput_bytes_per_second: float | None = None
    transport: Transport = Transport.TCP
    # The answer's Alt-Svc header: how a server offers HTTP/3 (``h3=":443"``).
    alt_svc: str | None = None
    quic_close: QuicClose | None = None  # QUIC: how the connection was closed, if it was

    def round_trip(self) -> float | None:
        """The connection's set-up round trip: TCP's connect, or QUIC's handshake."""
        return self.duration("connect") or self.duration("handshake")

    def body_samples(self) -> list[ByteSample]:
        """The byte samples with the pauses between requests cut out: what rates are read from."""
        return without_pauses(self.samples, self.pauses)


@dataclass
class ReplayRecord(PhaseTimes):
    """One session with a replay server: a crafted ClientHello, then bytes one way.

    Phases: connect, hello (the ClientHello written), wait (the server's first
    byte; for an upload its go-ahead), body, report (upload: the server's
    report). ``bytes`` counts the stream after the ClientHello, record headers
    included. For an upload the ``samples`` are the server's (its clock, from
    its first received byte): only the receiver knows what got through.
    """

    server: str  # host:port
    sni: str
    variant: Variant
    direction: Direction
    requested_bytes: int  # on the wire, record headers included
    t0: float
    t: float
    phases: list[Phase] = field(default_factory=list)
    bytes: int = 0
    stop_reason: StopReason = StopReason.FAILURE
    failure: Failure | None = None
    samples: list[ByteSample] = field(default_factory=list)
    tcp_info: list[TcpInfoSample] = field(default_factory=list)
    goodput_bytes_per_second: float | None = None


@dataclass
class FreezeFollowUp:
    """What two cheap tests of a frozen flow's server say about the budget that froze it.

    Both go to the address and name that froze, on connections of their own.
    ``keepalive``: small HEAD requests one after another on one connection, until
    it has carried ``keepalive_goal`` bytes: a budget per connection freezes them
    too, at about the same offset. ``upload``: ``upload_bytes`` sent in one
    request: a budget that counts both directions freezes the upload.
    """

    address: str
    sni: str
    seconds: float = 0.0  # how long the two tests took, side by side
    keepalive_requests: int = 0  # HEAD requests sent
    keepalive_answered: int = 0  # ... answered in full
    keepalive_bytes_in: int | None = None  # bytes the connection received (TCP_INFO)
    keepalive_goal: int = 0
    keepalive_froze: bool | None = None  # None: the test could not run (see failures)
    keepalive_failure: Failure | None = None
    upload_bytes: int = 0
    upload_acked: int | None = None  # of them, acknowledged by the server
    upload_froze: bool | None = None
    # The server answered or closed before it took the whole upload: not tested.
    upload_answered_early: bool = False
    upload_failure: Failure | None = None


@dataclass
class EchProbe:
    """One ClientHello of the ECH check and whether the server's answer came back.

    Only the first TLS record back is waited for (a ServerHello, or an alert):
    the rule froze connections right after the ClientHello, so an answer is
    the whole question. Times on the check's own clock.
    """

    variant: EchVariant
    server: str  # the name the address came from
    address: str | None
    outer_name: str  # the SNI sent
    ech: bool  # the ClientHello held an ECH extension
    t0: float
    t: float
    answer: int | None = None  # the type of the first TLS record back (22 handshake, 21 alert)
    failure: Failure | None = None


@dataclass
class AddressCheck:
    """The download of a failed target again, from another resolver's address for it.

    As OONI's web connectivity test connects to its control's addresses: when
    the resolvers disagree, whether the address the others give works tells a
    lying resolver from a block that follows the name wherever it goes.
    """

    resolver: str  # whose answer this address is
    transfer: TransferRecord


@dataclass
class TargetResult:
    """Everything measured for one target in one round."""

    name: str
    group: str
    role: Role
    url: str
    started_at: str  # ISO 8601 wall-clock time of t=0
    dns: list[DnsRecord] = field(default_factory=list)
    address_from: str | None = None  # the resolver whose answer the transfer used
    transfer: TransferRecord | None = None
    failure: Failure | None = None
    # QUIC: the entry's ``dns`` is the lookups of the round's TCP entry of the same
    # name (shared, as a browser shares them), timed on that entry's clock.
    transport: Transport = Transport.TCP
    # The name's HTTPS records, asked beside its addresses when it may go over QUIC.
    https: HttpsLookup | None = None
    freeze_followup: FreezeFollowUp | None = None  # the download froze: its follow-up
    # It failed at an address one resolver gave and another did not: the other's, tried.
    address_check: AddressCheck | None = None
    domestic: bool = False  # served from inside the probe's country (config: ``domestic``)

    @property
    def goodput_bytes_per_second(self) -> float | None:
        return None if self.transfer is None else self.transfer.goodput_bytes_per_second


@dataclass
class SoloPair:
    """A target in the grey zone measured again alone, and the slowest control alone."""

    target: TargetResult
    control: TargetResult


@dataclass
class Remeasured:
    """The grey zone's targets measured again one at a time, then the slowest control.

    Each download has the path to itself, as Wehe's replays do, so their
    ratios are not bent by fair sharing of a busy link.
    """

    targets: list[TargetResult]
    control: TargetResult

    def pair(self, name: str) -> SoloPair | None:
        """The solo downloads of target ``name`` and of the control; None if it was not one."""
        target = next((t for t in self.targets if t.name == name), None)
        return None if target is None else SoloPair(target, self.control)


@dataclass
class TaintRetest:
    """The taint check once more, a while after the round that found the address tainted."""

    after_seconds: float  # since that round finished
    result: TargetResult


@dataclass
class TaintRetests:
    """The daemon's re-tests of a tainted address, between two rounds: the later round
    carries them."""

    round_id: str  # the round that found the address tainted
    baseline: TargetResult  # that round's innocuous swap download: "before"
    retests: list[TaintRetest] = field(default_factory=list)


@dataclass
class RoundResult:
    """One round: every target measured concurrently, under the same conditions."""

    started_at: str
    finished_at: str
    interrupted: bool
    targets: list[TargetResult]
    replays: list[ReplayRecord] = field(default_factory=list)  # the replay test, if configured
    # Names the round in the archive, the JSON and the metrics' exemplars (empty in
    # documents written before rounds had ids).
    round_id: str = ""
    remeasured: Remeasured | None = None  # the grey zone's solo downloads, if any
    # Every target and control again over QUIC (HTTP/3), after the TCP downloads,
    # where the server offered HTTP/3; and the names whose servers did not.
    quic: list[TargetResult] = field(default_factory=list)
    quic_not_offered: list[str] = field(default_factory=list)
    ech: list[EchProbe] = field(default_factory=list)  # the ECH check, if configured
    taint: TargetResult | None = None  # the taint check: the swap's innocuous name, after
    # The previous round's tainted address measured again since (the daemon's).
    taint_retests: TaintRetests | None = None
    # Targets located since the previous round (``daemon.locate``): their TTL walks.
    locate: list[TtlWalk] = field(default_factory=list)

    def on_transport(self, transport: Transport) -> "RoundResult":
        """The round as one transport saw it: over QUIC, its QUIC entries stand as the
        targets and controls (the SNI swap, the replay and the grey zone are TCP's)."""
        if transport == Transport.TCP:
            return self
        return dataclasses.replace(self, targets=self.quic, replays=[], remeasured=None, quic=[])

    def alone(self, name: str) -> SoloPair | None:
        """Target ``name`` and the slowest control, each measured alone after the round."""
        return None if self.remeasured is None else self.remeasured.pair(name)

    @property
    def bytes_transferred(self) -> int:
        """Body bytes this round moved: downloads, and replay sessions either way (the
        locate sessions and evasion matrices it carries among them).

        What a data budget counts. Headers, TLS and TCP overhead come on top
        (a few percent).
        """
        solo = self.remeasured
        entries = [*self.targets, *([*solo.targets, solo.control] if solo is not None else [])]
        entries += self.quic
        entries += [self.taint] if self.taint is not None else []
        retests = self.taint_retests
        entries += [r.result for r in retests.retests] if retests is not None else []
        transfers = sum(t.transfer.bytes for t in entries if t.transfer is not None)
        located = sum(
            step.name.bytes + step.control.bytes for walk in self.locate for step in walk.sessions
        )
        located += sum(
            session.record.bytes
            for walk in self.locate
            if walk.evasions is not None
            for session in walk.evasions.sessions
            if session.record is not None
        )
        return transfers + sum(r.bytes for r in self.replays) + self._follow_up_bytes() + located

    def _follow_up_bytes(self) -> int:
        """What the targets' follow-ups moved: the address checks' downloads, and the
        freeze follow-ups' keep-alive answers and uploads."""
        moved = 0
        for entry in self.targets:
            if entry.address_check is not None:
                moved += entry.address_check.transfer.bytes
            followup = entry.freeze_followup
            if followup is not None:
                moved += (followup.keepalive_bytes_in or 0) + (followup.upload_acked or 0)
        return moved
