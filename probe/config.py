"""targets.yaml: its schema, loading, and errors a person can act on.

Validation is pydantic's (unknown keys are rejected everywhere); this module
adds what pydantic cannot know: the file name and the line each error points
at, found by walking the YAML node tree along the error's field path.
"""

import ipaddress
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from probe.wording import host_port, os_reason

# Names end up as Prometheus label values and in file names: keep them tame.
_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
Name = Annotated[str, Field(pattern=_NAME)]
_RESOLVER_ADDRESS = re.compile(
    r"\[([0-9a-fA-F:.]+)\](?::(\d+))?"  # [IPv6] with an optional port
    r"|([0-9.]+)(?::(\d+))?"  # IPv4 with an optional port
    r"|([0-9a-fA-F:]+)"  # bare IPv6
)
PositiveSeconds = Annotated[float, Field(gt=0, le=3600)]


class ConfigError(Exception):
    """The configuration is unusable; ``str()`` is one sentence per problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The transports a download can take, as records.Transport names them (config sits
# above records in the flow, so it spells them as the file does, as it does roles).
TransportName = Literal["tcp", "quic"]


def _distinct(transports: list[TransportName]) -> list[TransportName]:
    if len(set(transports)) != len(transports):
        raise ValueError("names a transport twice")
    return transports


# A group or target may narrow the transports to one; none at all measures nothing.
Transports = Annotated[list[TransportName], Field(min_length=1), AfterValidator(_distinct)]


class Timeouts(_Strict):
    dns: PositiveSeconds = 15.0
    connect: PositiveSeconds = 10.0
    tls: PositiveSeconds = 10.0
    stall: PositiveSeconds = 10.0
    transfer: PositiveSeconds = 30.0


class Settings(_Strict):
    timeouts: Timeouts = Timeouts()
    max_bytes: Annotated[int, Field(ge=1024)] = 2 * 1024 * 1024
    address_family: Literal["ipv4", "ipv6", "any"] = "ipv4"
    concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    ca_bundle: Path | None = None
    rtt_probes: bool = True
    stop_at_plateau: bool = True
    # Ask again for an object that ended before max_bytes, on the same connection,
    # for up to this many seconds of body (0: once): see measure.transfer._Body.
    repeat_seconds: Annotated[float, Field(ge=0, le=60)] = 15.0
    # What carries the downloads: TCP, and QUIC (HTTP/3) where the server offers it.
    transports: Transports = ["tcp", "quic"]


_DNS_NAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,62})\.?)+")


def _https_url(url: str) -> str:
    """A URL the probe can measure as written, or ValueError saying why not.

    Anything else would be measured, fail, and read as a blocked target.
    """
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValueError("holds a space or a control character")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"must be an https:// URL with a host name, got {url!r}")
    if "@" in parts.netloc:
        # Not echoed: it may hold a password, which must not reach any output.
        raise ValueError("must not hold a user name or password")
    try:
        port = parts.port
    except ValueError as error:
        raise ValueError(f"has a malformed port: {url!r}") from error
    if port == 0:
        raise ValueError(f"has port 0, which nothing can be reached on: {url!r}")
    if literal_address(parts.hostname) is None and not _DNS_NAME.fullmatch(parts.hostname):
        raise ValueError(f"has a host that is neither a name nor an IP address: {url!r}")
    return url


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address ``host`` is, if it is one."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


HttpsUrl = Annotated[str, AfterValidator(_https_url)]
HostName = Annotated[str, Field(pattern=r"^[A-Za-z0-9*]([A-Za-z0-9.-]{0,252})$")]


class Target(_Strict):
    name: Name
    url: HttpsUrl
    min_bytes: Annotated[int, Field(ge=1)] | None = None
    transports: Transports | None = None  # None: the group's, else the settings'
    domestic: bool | None = None  # None: the group's

    @property
    def hostname(self) -> str:
        return urlsplit(self.url).hostname or ""


class Group(_Strict):
    role: Literal["target", "control"]
    targets: Annotated[list[Target], Field(min_length=1)]
    transports: Transports | None = None  # None: the settings'
    # Served from inside the probe's country: what still answers under a white list.
    domestic: bool = False


@dataclass(frozen=True)
class ResolverSpec:
    """A resolver to query: ``host`` is None for the operating system's resolver."""

    name: str
    host: str | None
    port: int = 53

    @property
    def address(self) -> str:
        if self.host is None:
            return "system"
        return host_port(self.host, self.port)


def parse_resolver_address(name: str, text: str) -> ResolverSpec:
    """Parse ``system``, ``IP``, ``IP:PORT`` or ``[IPv6]:PORT``; ValueError if malformed."""
    if text == "system":
        return ResolverSpec(name, None)
    match = re.fullmatch(
        r"\[([0-9a-fA-F:.]+)\](?::(\d+))?|([0-9.]+)(?::(\d+))?|([0-9a-fA-F:]+)", text
    )
    if match is None:
        raise ValueError(f"{text!r} is not 'system', an IP address, IP:PORT or [IPv6]:PORT")
    host = match.group(1) or match.group(3) or match.group(5)
    port = int(match.group(2) or match.group(4) or 53)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r} does not hold a valid IP address") from None
    if not 0 < port < 65536:
        raise ValueError(f"{text!r} has a port outside 1-65535")
    return ResolverSpec(name, host, port)


def _check_resolver_address(text: str) -> str:
    parse_resolver_address("resolver", text)
    return text


ResolverAddress = Annotated[str, AfterValidator(_check_resolver_address)]


class SniSwap(_Strict):
    """The SNI swap: one neutral server, downloaded with each name as SNI."""

    # A server that answers any SNI (certificates are not checked for this test).
    url: HttpsUrl
    # Names to send as SNI; default: the host of every target of role `target`.
    names: list[HostName] = []
    # Also a random subdomain of twimg.com and an unrelated name holding `t.co`.
    canaries: bool = True

    @property
    def hostname(self) -> str:
        return urlsplit(self.url).hostname or ""


def _server_address(text: str) -> str:
    if parse_server_address(text) is None:
        raise ValueError(f"{text!r} is not HOST:PORT (a name or IP address, and a port 1-65535)")
    return text


def parse_server_address(text: str) -> tuple[str, int] | None:
    """(host, port) of 'name:port', 'IPv4:port' or '[IPv6]:port'; None if malformed."""
    match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)|([A-Za-z0-9.-]+):(\d+)", text)
    if match is None:
        return None
    host, port = match.group(1) or match.group(3), int(match.group(2) or match.group(4))
    return (host, port) if 0 < port < 65536 else None


ServerAddress = Annotated[str, AfterValidator(_server_address)]
REPLAY_MAX_BYTES = 16 * 1024 * 1024  # the replay server's default cap per session


class Replay(_Strict):
    """The replay test against your own `throttle-probe serve` outside the censored network."""

    server: ServerAddress  # host:port
    secret_file: Path  # the shared secret (relative paths: from this file's folder)
    # Names to send as SNI; default: the host of every target of role `target`.
    names: list[HostName] = []
    control_name: HostName = "example.org"  # an innocuous name, the second baseline
    bytes: Annotated[int, Field(ge=64 * 1024, le=REPLAY_MAX_BYTES)] = 1024 * 1024
    directions: Annotated[list[Literal["download", "upload"]], Field(min_length=1)] = [
        "download",
        "upload",
    ]
    evasion: bool = True  # also the first name split over two segments, and padded

    @property
    def host(self) -> str:
        return (parse_server_address(self.server) or ("", 0))[0]

    @property
    def port(self) -> int:
        return (parse_server_address(self.server) or ("", 0))[1]


class Ech(_Strict):
    """The ECH check: ClientHellos with and without an ECH extension to one server.

    Russia from 5 November 2024: the outer name ``cloudflare-ech.com`` together
    with an ECH extension freezes the connection after the ClientHello; either
    alone passes (OONI's echcheck compares the same three).
    """

    server: HostName = "cloudflare-ech.com"  # whose address the three go to (port 443)
    outer_name: HostName = "cloudflare-ech.com"  # the outer SNI of the first two
    other_outer_name: HostName = "crypto.cloudflare.com"  # the ECH extension with this one


class Daemon(_Strict):
    """How ``throttle-probe run`` schedules its rounds."""

    # Seconds from the start of one round to the start of the next. 0 runs
    # rounds back to back (benchmarks); the budget may stretch it (below).
    interval: Annotated[float, Field(ge=0, le=86400)] = 900.0
    # Up to this many seconds added at random to each wait, so that probes
    # started together do not measure in lockstep.
    jitter: Annotated[float, Field(ge=0, le=3600)] = 60.0
    # Rounds in the rolling window verdict: ~1.5 hours at the default interval.
    window: Annotated[int, Field(ge=1, le=100)] = 6
    # Bytes a UTC day may move ("1GiB", "500MB" or a number). The interval
    # stretches so that rounds of the latest size fit the day, and measuring
    # pauses until midnight UTC when the next round would overrun it.
    daily_budget: ByteSize = ByteSize(1 << 30)
    # Seconds after a round that found its SNI swap's address tainted at which
    # the daemon measures that address again with the innocuous name, to say
    # for how long it stays slowed (Türkiye 2022: a while; Russia 2025: ten
    # minutes). Stopped at the first that reads clean; those that would fall
    # after the next round's start are not run. [] turns it off.
    taint_retests: Annotated[
        list[Annotated[float, Field(gt=0, le=86400)]], Field(max_length=10)
    ] = [60.0, 300.0, 600.0]
    # After a round whose window verdict of a target is throttled or blocked, find
    # the hop at which the equipment acts (`throttle-probe locate`), at most once a
    # day per target. Off by default: it sends TTL-limited ClientHellos and, with
    # a replay server, crafted segments (docs/locate.md says what and why).
    locate: bool = False
    # With locate, and the replay server: the evasion matrix for each target located
    # as reset, dropped or throttled. Off by default, and never on by itself: it tries
    # circumvention techniques, which some countries punish (docs/locate.md).
    evasions: bool = False


class Identity(_Strict):
    """Who this probe is, as its metrics say: set by you, never guessed."""

    id: Name | None = None  # e.g. "msk-vps-1"
    asn: Annotated[int, Field(ge=1, le=4_294_967_295)] | None = None  # the network measured
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None  # ISO 3166 alpha-2


class Config(_Strict):
    settings: Settings = Settings()
    daemon: Daemon = Daemon()
    identity: Identity = Identity()
    sni_swap: SniSwap | None = None
    replay: Replay | None = None
    ech: Ech | None = None  # off unless given (the default targets file gives it)
    resolvers: Annotated[dict[Name, ResolverAddress], Field(min_length=1)] = {"system": "system"}
    groups: Annotated[dict[Name, Group], Field(min_length=1)]

    def duplicate_target(self) -> tuple[tuple[Any, ...], str] | None:
        """The field path and message of the first target name used twice, if any."""
        seen: dict[str, str] = {}
        for group_name, group in self.groups.items():
            for index, target in enumerate(group.targets):
                if target.name in seen:
                    path = ("groups", group_name, "targets", index, "name")
                    return (
                        path,
                        f"{target.name!r} is already a target of group {seen[target.name]!r}",
                    )
                seen[target.name] = group_name
        return None

    def family_mismatch(self) -> tuple[tuple[Any, ...], str] | None:
        """The field path and message of a URL whose IP address the address family excludes."""
        family = self.settings.address_family
        urls: list[tuple[tuple[Any, ...], str]] = [
            (("groups", group_name, "targets", index, "url"), target.url)
            for group_name, group in self.groups.items()
            for index, target in enumerate(group.targets)
        ]
        if self.sni_swap is not None:
            urls.append((("sni_swap", "url"), self.sni_swap.url))
        for path, url in urls:
            address = literal_address(urlsplit(url).hostname or "")
            if address is not None and family != "any" and f"ipv{address.version}" != family:
                message = (
                    f"{url!r} is an IPv{address.version} address, but address_family is {family}"
                )
                return path, message
        return None

    def swap_names(self) -> list[str]:
        """The SNI names the swap tries, besides the innocuous one (canaries not included)."""
        if self.sni_swap is None:
            return []
        return list(dict.fromkeys(self.sni_swap.names)) or self.target_hosts()

    def replay_names(self) -> list[str]:
        """The platform names the replay test sends (the control name not included)."""
        if self.replay is None:
            return []
        return list(dict.fromkeys(self.replay.names)) or self.target_hosts()

    def target_hosts(self) -> list[str]:
        hosts = [t.hostname for _, g, t in self.targets() if g.role == "target"]
        return list(dict.fromkeys(hosts))

    def resolver_specs(self) -> list[ResolverSpec]:
        return [parse_resolver_address(name, addr) for name, addr in self.resolvers.items()]

    def targets(self) -> list[tuple[str, Group, Target]]:
        """Every target with its group name and group, controls included."""
        return [(name, group, t) for name, group in self.groups.items() for t in group.targets]

    @staticmethod
    def is_domestic(group: Group, target: Target) -> bool:
        """Whether ``target`` is served from inside the probe's country: its own say, or its
        group's."""
        return group.domestic if target.domestic is None else target.domestic

    def transports_of(self, group: Group, target: Target) -> list[TransportName]:
        """What carries ``target``'s downloads: its own list, its group's, or the settings'."""
        return target.transports or group.transports or self.settings.transports


def with_overrides(
    config: Config,
    *,
    groups: Sequence[str] = (),
    resolvers: Sequence[str] = (),
    ca_bundle: Path | None = None,
    max_bytes: int | None = None,
    transfer_timeout: float | None = None,
) -> Config:
    """Apply command-line choices on top of a loaded config; ConfigError if they don't fit."""
    data = config.model_dump()
    if groups:
        unknown = [g for g in groups if g not in config.groups]
        if unknown:
            known = ", ".join(config.groups)
            raise ConfigError(f"--group: no group named {unknown[0]!r} (known: {known}).")
        data["groups"] = {name: data["groups"][name] for name in dict.fromkeys(groups)}
    if resolvers:
        for address in resolvers:
            try:
                parse_resolver_address(address, address)
            except ValueError as error:
                raise ConfigError(f"--resolver: {error}.") from None
        # The address doubles as the resolver's name in records and tables.
        data["resolvers"] = {_resolver_name(a): a for a in resolvers}
    if ca_bundle is not None:
        problem = ca_bundle_problem(ca_bundle)
        if problem is not None:
            raise ConfigError(f"--ca-bundle: {problem}.")
        data["settings"]["ca_bundle"] = ca_bundle
    if max_bytes is not None:
        data["settings"]["max_bytes"] = max_bytes
    if transfer_timeout is not None:
        data["settings"]["timeouts"]["transfer"] = transfer_timeout
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise ConfigError(f"{_dotted(tuple(first['loc']))}: {first['msg']}.") from None


def parse_size(text: str, option: str) -> int:
    """A size such as ``1GiB``, ``500MB`` or ``1048576``; ConfigError naming ``option``."""
    try:
        return int(TypeAdapter(ByteSize).validate_python(text))
    except ValidationError:
        raise ConfigError(f"{option}: {text!r} is not a size (e.g. 1GiB, 500MB).") from None


def _resolver_name(address: str) -> str:
    """A resolver name (label-safe) for an address given on the command line."""
    return re.sub(r"[^a-z0-9_.-]", "_", address.lower()).strip("_") or "resolver"


def default_targets_text() -> str:
    return resources.files("probe").joinpath("targets.yaml").read_text(encoding="utf-8")


def load_config(path: Path | None = None) -> Config:
    """Load and validate ``path`` (the packaged default when None); raise ConfigError."""
    label = str(path) if path is not None else "<built-in targets.yaml>"
    text = default_targets_text() if path is None else read_small_text(path, label)
    return parse_config(text, label, base=path.parent if path is not None else None)


MAX_FILE_BYTES = 1024 * 1024  # a targets file is a few KB: /dev/zero or a disk image is not one


def read_small_text(path: Path, label: str, what: str = "the file") -> str:
    """``path`` as UTF-8 text, reading at most ``MAX_FILE_BYTES``; ConfigError otherwise."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{label}: cannot read {what}: {os_reason(error)}.") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{label}: {what} is larger than 1 MiB: not a configuration file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: {what} is not UTF-8 text.") from None


def parse_config(text: str, label: str, base: Path | None = None) -> Config:
    """Validate ``text``; relative paths inside it are taken from ``base`` (the file's folder)."""
    try:
        root = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise ConfigError(yaml_error_message(label, error)) from None
    except RecursionError:
        raise ConfigError(f"{label}: not a targets file: it is nested too deeply.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: the file must hold a mapping with a 'groups' key.")
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        lines = [_validation_message(label, root, e) for e in error.errors()]
        raise ConfigError("\n".join(lines)) from None
    bundle = config.settings.ca_bundle
    if bundle is not None and base is not None and not bundle.is_absolute():
        settings = config.settings.model_copy(update={"ca_bundle": base / bundle})
        config = config.model_copy(update={"settings": settings})
    config = _with_replay_secret_path(config, root, label, base)
    for found in (config.duplicate_target(), config.family_mismatch()):
        if found is not None:
            path, message = found
            raise ConfigError(f"{label}{_line_of(root, path)}: {_dotted(path)}: {message}.")
    bundle = config.settings.ca_bundle
    problem = None if bundle is None else ca_bundle_problem(bundle)
    if problem is not None:
        line = _line_of(root, ("settings", "ca_bundle"))
        raise ConfigError(f"{label}{line}: settings.ca_bundle: {problem}.")
    return config


def ca_bundle_problem(path: Path) -> str | None:
    """Why ``path`` cannot serve as a CA bundle (found now, not mid-round), or None."""
    if not path.is_file():
        return f"no such file: {path}"
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError):
        return f"{path} holds no PEM certificate"
    return None


def _with_replay_secret_path(
    config: Config, root: yaml.Node | None, label: str, base: Path | None
) -> Config:
    """The secret file taken from the config's folder, and checked to exist (not read)."""
    if config.replay is None:
        return config
    path = config.replay.secret_file
    if base is not None and not path.is_absolute():
        path = base / path
        replay = config.replay.model_copy(update={"secret_file": path})
        config = config.model_copy(update={"replay": replay})
    if not path.is_file():
        line = _line_of(root, ("replay", "secret_file"))
        what = "not a file" if path.exists() else "no such file"
        raise ConfigError(f"{label}{line}: replay.secret_file: {what}: {path}.")
    return config


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain word or number", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def yaml_error_message(label: str, error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error)
    return f"{label}{where}: not valid YAML: {problem}."


def _validation_message(label: str, root: yaml.Node | None, error: Any) -> str:
    path = tuple(part for part in error["loc"] if part != "[key]")
    field_path = _dotted(path) or "(top level)"
    if error["type"] == "extra_forbidden":
        message = f"unknown key {path[-1]!r}"
        allowed = _allowed_keys(path[:-1])
        if allowed:
            message += f" (allowed here: {', '.join(allowed)})"
    else:
        message = (
            _FIELD_MESSAGES.get((path[-1] if path else "", error["type"]))
            or _MESSAGES.get(error["type"])
            or _plain(error["msg"])
        )
        if error["type"] != "value_error" and isinstance(error.get("input"), str | int | float):
            message += f" (got {error['input']!r})"
    return f"{label}{_line_of(root, path)}: {field_path}: {message}."


def _plain(pydantic_message: str) -> str:
    """pydantic's wording, fitted into 'file:line: field: message.'."""
    message = pydantic_message.removeprefix("Value error, ")
    return message.replace("Input should", "should", 1)


_MESSAGES = {
    "missing": "is required but missing",
    "string_pattern_mismatch": (
        "must be 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
    ),
    "too_short": "must not be empty",
    "dict_type": "must be a mapping (key: value)",
    "model_type": "must be a mapping (key: value)",
    "list_type": "must be a list",
}


_FIELD_MESSAGES = {
    ("country", "string_pattern_mismatch"): "must be a two-letter code in capitals, e.g. RU",
}


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _allowed_keys(path: tuple[Any, ...]) -> list[str]:
    """The keys the schema allows at ``path``, found by walking the model types."""
    kind: Any = Config
    for part in path:
        kind = _unwrap(kind)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            field = kind.model_fields.get(str(part))
            if field is None:
                return []
            kind = field.annotation
        elif get_origin(kind) is dict:
            kind = get_args(kind)[1]
        elif get_origin(kind) is list:
            kind = get_args(kind)[0]
        else:
            return []
    kind = _unwrap(kind)
    is_model = isinstance(kind, type) and issubclass(kind, BaseModel)
    return list(kind.model_fields) if is_model else []


def _unwrap(kind: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the type that holds the keys."""
    while True:
        origin = get_origin(kind)
        if origin is Annotated:
            kind = get_args(kind)[0]
        elif origin in (Union, UnionType):
            kind = next(arg for arg in get_args(kind) if arg is not type(None))
        else:
            return kind


def _line_of(root: yaml.Node | None, path: tuple[Any, ...]) -> str:
    """':LINE' of the deepest node along ``path`` that exists in the YAML tree."""
    node = root
    line = node.start_mark.line if node is not None else None
    for part in path:
        child = _child(node, part)
        if child is None:
            break
        key_node, node = child
        line = (key_node or node).start_mark.line
    return f":{line + 1}" if line is not None else ""


def _child(node: yaml.Node | None, part: Any) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == str(part):
                return key_node, value_node
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return None, node.value[part]
    return None
