"""targets.yaml: the shipped defaults, and one clear error per malformed file."""

from pathlib import Path

import pytest
import trustme

from probe.config import ConfigError, load_config, parse_config, with_overrides

REPO = Path(__file__).resolve().parent.parent

VALID = """\
groups:
  t:
    role: target
    targets:
      - name: a
        url: https://a.test/
"""


def test_top_level_targets_file_is_the_packaged_default() -> None:
    assert (REPO / "targets.yaml").read_bytes() == (REPO / "probe" / "targets.yaml").read_bytes()


def test_default_targets_have_platforms_controls_and_resolvers() -> None:
    config = load_config()

    roles = {name: group.role for name, group in config.groups.items()}
    assert roles == {
        "twitter": "target",
        "tiktok": "target",
        "control": "control",
        "hosting": "target",
    }
    assert len(config.groups["control"].targets) >= 3
    control_hosts = {t.hostname.split(".")[-2] for t in config.groups["control"].targets}
    assert len(control_hosts) >= 3, "controls must come from unrelated providers"
    assert config.resolvers["system"] == "system" and len(config.resolvers) >= 4
    assert all(t.url.startswith("https://") for _, _, t in config.targets())
    # Under a white list, the domestic control is what still answers.
    domestic = [t.name for g, group, t in config.targets() if config.is_domestic(group, t)]
    assert domestic == ["yandex-mirror"]


def test_default_hosting_group_covers_the_frozen_providers_over_tcp() -> None:
    """One object each on the hosting and CDN space frozen in Russia from June 2025."""
    hosting = load_config().groups["hosting"]

    hosts = " ".join(t.hostname for t in hosting.targets)
    for provider in ("cloudflare", "hetzner", "digitalocean", "ovh", "akamai", "amazon", "google"):
        assert provider in hosts
    assert hosting.transports == ["tcp"] and not hosting.domestic


def test_valid_minimal_file_gets_defaults() -> None:
    config = parse_config(VALID, "f.yaml")

    assert config.settings.max_bytes == 2 * 1024 * 1024
    assert config.settings.address_family == "ipv4"
    assert [s.address for s in config.resolver_specs()] == ["system"]


def test_transports_default_to_both_and_a_group_or_target_narrows_them() -> None:
    text = VALID.replace("role: target", "role: target\n    transports: [quic]")
    text += "      - {name: b, url: 'https://b.test/', transports: [tcp]}\n"
    config = parse_config(text, "f.yaml")

    assert config.settings.transports == ["tcp", "quic"]
    (_, group, a), (_, _, b) = config.targets()
    assert config.transports_of(group, a) == ["quic"]
    assert config.transports_of(group, b) == ["tcp"]


def test_relative_ca_bundle_is_taken_from_the_files_folder(tmp_path: Path) -> None:
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    path = tmp_path / "targets.yaml"
    path.write_text(VALID + "settings:\n  ca_bundle: ca.pem\n")

    assert load_config(path).settings.ca_bundle == tmp_path / "ca.pem"


MALFORMED = {
    "empty file": ("", "f.yaml: the file must hold a mapping with a 'groups' key."),
    "a list, not a mapping": ("- a\n", "f.yaml: the file must hold a mapping"),
    "YAML syntax": ("groups: [\n", "f.yaml:2: not valid YAML: expected the node content"),
    "tab indentation": ("groups:\n\t- x\n", "f.yaml:2: not valid YAML: found character '\\t'"),
    "duplicate key": (VALID + "groups: {}\n", "f.yaml:7: not valid YAML: duplicate key 'groups'"),
    "unknown top-level key": (
        VALID + "extra: 1\n",
        "f.yaml:7: extra: unknown key 'extra' (allowed here: settings, daemon, identity, sni_swap,",
    ),
    "misspelt setting": (
        VALID + "settings:\n  max_byte: 10\n",
        "f.yaml:8: settings.max_byte: unknown key 'max_byte' (allowed here: timeouts, max_bytes",
    ),
    "misspelt timeout": (
        VALID + "settings:\n  timeouts:\n    conect: 1\n",
        "f.yaml:9: settings.timeouts.conect: unknown key 'conect'",
    ),
    "unknown target key": (
        VALID.replace("        url", "        urll: x\n        url"),
        "f.yaml:6: groups.t.targets[0].urll: unknown key 'urll' (allowed here: name, url,",
    ),
    "no groups": ("settings: {}\n", "f.yaml:1: groups: is required but missing."),
    "empty groups": ("groups: {}\n", "f.yaml:1: groups: must not be empty."),
    "groups as a list": ("groups:\n  - a\n", "f.yaml:1: groups: must be a mapping (key: value)."),
    "bad role": (
        VALID.replace("role: target", "role: victim"),
        "f.yaml:3: groups.t.role: should be 'target' or 'control' (got 'victim').",
    ),
    "group without targets": (
        "groups:\n  t:\n    role: target\n    targets: []\n",
        "f.yaml:4: groups.t.targets: must not be empty.",
    ),
    "plain http URL": (
        VALID.replace("https://a.test/", "http://a.test/"),
        "f.yaml:6: groups.t.targets[0].url: must be an https:// URL with a host name",
    ),
    "URL without host": (
        VALID.replace("https://a.test/", "https:///x"),
        "f.yaml:6: groups.t.targets[0].url: must be an https:// URL with a host name",
    ),
    "URL with a bad port": (
        VALID.replace("https://a.test/", "https://a.test:99999/"),
        "f.yaml:6: groups.t.targets[0].url: has a malformed port",
    ),
    "negative timeout": (
        VALID + "settings:\n  timeouts:\n    dns: -1\n",
        "f.yaml:9: settings.timeouts.dns: should be greater than 0 (got -1).",
    ),
    "timeout in words": (
        VALID + "settings:\n  timeouts:\n    dns: soon\n",
        "f.yaml:9: settings.timeouts.dns: should be a valid number",
    ),
    "tiny max_bytes": (
        VALID + "settings:\n  max_bytes: 10\n",
        "f.yaml:8: settings.max_bytes: should be greater than or equal to 1024 (got 10).",
    ),
    "unknown address family": (
        VALID + "settings:\n  address_family: ipv5\n",
        "f.yaml:8: settings.address_family: should be 'ipv4', 'ipv6' or 'any' (got 'ipv5').",
    ),
    "resolver that is not an IP": (
        VALID + "resolvers:\n  bad: 1.2.3\n",
        "f.yaml:8: resolvers.bad: '1.2.3' does not hold a valid IP address.",
    ),
    "resolver port out of range": (
        VALID + "resolvers:\n  bad: 1.2.3.4:70000\n",
        "f.yaml:8: resolvers.bad: '1.2.3.4:70000' has a port outside 1-65535.",
    ),
    "resolver name with spaces": (
        VALID + "resolvers:\n  Bad Name: 1.1.1.1\n",
        "f.yaml:8: resolvers.Bad Name: must be 1-63 lowercase letters",
    ),
    "target name used twice": (
        VALID
        + "  u:\n    role: control\n    targets:\n      - name: a\n        url: https://b.test/\n",
        "f.yaml:10: groups.u.targets[0].name: 'a' is already a target of group 't'.",
    ),
    "missing CA bundle": (
        VALID + "settings:\n  ca_bundle: /nonexistent.pem\n",
        "f.yaml:8: settings.ca_bundle: no such file: /nonexistent.pem.",
    ),
    "zero min_bytes": (
        VALID.replace("https://a.test/\n", "https://a.test/\n        min_bytes: 0\n"),
        "f.yaml:7: groups.t.targets[0].min_bytes: should be greater than or equal to 1 (got 0).",
    ),
    "SNI swap over plain http": (
        VALID + "sni_swap:\n  url: http://neutral.test/\n",
        "f.yaml:8: sni_swap.url: must be an https:// URL with a host name",
    ),
    "zero concurrency": (
        VALID + "settings:\n  concurrency: 0\n",
        "f.yaml:8: settings.concurrency: should be greater than or equal to 1 (got 0).",
    ),
    "replay server without a port": (
        VALID + "replay:\n  server: replay.test\n  secret_file: /dev/null\n",
        "f.yaml:8: replay.server: 'replay.test' is not HOST:PORT",
    ),
    "replay without a secret": (
        VALID + "replay:\n  server: replay.test:443\n",
        "f.yaml:7: replay.secret_file: is required but missing.",
    ),
    "replay secret file missing": (
        VALID + "replay:\n  server: replay.test:443\n  secret_file: /nonexistent/secret\n",
        "f.yaml:9: replay.secret_file: no such file: /nonexistent/secret.",
    ),
    "replay bytes beyond the server's cap": (
        VALID + "replay:\n  server: r.test:443\n  secret_file: s\n  bytes: 99999999\n",
        "f.yaml:10: replay.bytes: should be less than or equal to 16777216 (got 99999999).",
    ),
    "a list as a key": (
        "? [a, b]\n: 1\n" + VALID,
        "f.yaml:1: not valid YAML: a key must be a plain word or number.",
    ),
    "lists nested 1000 deep": (
        "groups: " + "[" * 1000 + "]" * 1000 + "\n",
        "f.yaml: not a targets file: it is nested too deeply.",
    ),
    "port 0": (
        VALID.replace("https://a.test/", "https://localhost:0/"),
        "f.yaml:6: groups.t.targets[0].url: has port 0, which nothing can be reached on",
    ),
    "a space in the host": (
        VALID.replace("https://a.test/", '"https://a b.test/"'),
        "f.yaml:6: groups.t.targets[0].url: holds a space or a control character.",
    ),
    "a control character": (
        VALID.replace("https://a.test/", '"https://a.test/\\x01"'),
        "f.yaml:6: groups.t.targets[0].url: holds a space or a control character.",
    ),
    "a user and password": (
        VALID.replace("https://a.test/", "https://me:hunter2@a.test/"),
        "f.yaml:6: groups.t.targets[0].url: must not hold a user name or password.",
    ),
    "a host that is no name": (
        VALID.replace("https://a.test/", "https://a..test/"),
        "f.yaml:6: groups.t.targets[0].url: has a host that is neither a name nor an IP address",
    ),
    "an IPv6 address with the IPv4 family": (
        VALID.replace("https://a.test/", "https://[2001:db8::1]/"),
        "f.yaml:6: groups.t.targets[0].url: 'https://[2001:db8::1]/' is an IPv6 address, "
        "but address_family is ipv4.",
    ),
    "daemon budget in words": (
        VALID + "daemon:\n  daily_budget: plenty\n",
        "f.yaml:8: daemon.daily_budget: could not parse value and unit from byte string",
    ),
    "negative daemon interval": (
        VALID + "daemon:\n  interval: -5\n",
        "f.yaml:8: daemon.interval: should be greater than or equal to 0 (got -5).",
    ),
    "country in lowercase": (
        VALID + "identity:\n  country: ru\n",
        "f.yaml:8: identity.country: must be a two-letter code in capitals, e.g. RU (got 'ru').",
    ),
    "an unknown transport": (
        VALID + "settings:\n  transports: [udp]\n",
        "f.yaml:8: settings.transports[0]: should be 'tcp' or 'quic' (got 'udp').",
    ),
    "no transport at all": (
        VALID.replace("role: target", "role: target\n    transports: []"),
        "f.yaml:4: groups.t.transports: must not be empty.",
    ),
    "a transport twice": (
        VALID.replace(
            "url: https://a.test/", "url: https://a.test/\n        transports: [quic, quic]"
        ),
        "f.yaml:7: groups.t.targets[0].transports: names a transport twice.",
    ),
    "replay direction unknown": (
        VALID + "replay:\n  server: r.test:443\n  secret_file: s\n  directions: [sideways]\n",
        "f.yaml:10: replay.directions[0]: should be 'download' or 'upload'",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_file_gets_one_clear_sentence(case: str) -> None:
    text, expected = MALFORMED[case]

    with pytest.raises(ConfigError) as raised:
        parse_config(text, "f.yaml")

    message = str(raised.value)
    assert message.startswith(expected), message
    assert "\n" not in message and message.endswith(".")
    assert "Traceback" not in message


def test_every_error_of_a_file_is_reported() -> None:
    text = VALID + "settings:\n  max_bytes: 10\n  concurrency: 0\n"

    with pytest.raises(ConfigError) as raised:
        parse_config(text, "f.yaml")

    lines = str(raised.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["settings.max_bytes", "settings.concurrency"]


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read the file: no such file"):
        load_config(tmp_path / "missing.yaml")


def test_overrides_select_groups_and_replace_resolvers() -> None:
    config = with_overrides(
        load_config(), groups=["control"], resolvers=["127.0.0.1:5353", "system"], max_bytes=4096
    )

    assert list(config.groups) == ["control"]
    assert [s.address for s in config.resolver_specs()] == ["127.0.0.1:5353", "system"]
    assert config.settings.max_bytes == 4096


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"groups": ["facebook"]}, "--group: no group named 'facebook' (known: twitter, tiktok"),
        ({"resolvers": ["dns.google"]}, "--resolver: 'dns.google' is not 'system', an IP"),
    ],
)
def test_bad_overrides_are_config_errors(overrides: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        with_overrides(load_config(), **overrides)  # type: ignore[arg-type]

    assert str(raised.value).startswith(message)


def test_sni_swap_names_default_to_the_target_hosts() -> None:
    text = (
        VALID
        + "  c:\n    role: control\n    targets:\n      - name: c\n        url: https://c.test/\n"
    )
    config = parse_config(text + "sni_swap:\n  url: https://neutral.test/x\n", "f.yaml")

    assert config.sni_swap is not None and config.sni_swap.canaries
    assert config.swap_names() == ["a.test"]  # targets only, not controls


def test_replay_section_defaults_and_its_secret_file_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "replay.secret").write_text("0123456789abcdef0123\n")
    path = tmp_path / "targets.yaml"
    path.write_text(
        VALID + "replay:\n  server: '[2001:db8::1]:8443'\n  secret_file: replay.secret\n"
    )

    config = load_config(path)

    assert config.replay is not None
    assert (config.replay.host, config.replay.port) == ("2001:db8::1", 8443)
    assert config.replay.secret_file == tmp_path / "replay.secret"
    assert config.replay.directions == ["download", "upload"] and config.replay.evasion
    assert config.replay_names() == ["a.test"]  # the targets' hosts, as for the SNI swap


def test_the_commented_replay_example_in_the_default_file_is_valid(tmp_path: Path) -> None:
    text = (REPO / "targets.yaml").read_text()
    start = text.index("# replay:")
    block = text[start:].split("\n\n")[0]
    uncommented = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    (tmp_path / "replay.secret").write_text("0123456789abcdef0123\n")
    path = tmp_path / "targets.yaml"
    path.write_text(text + "\n" + uncommented + "\n")

    config = load_config(path)

    assert config.replay is not None and config.replay.server == "replay.example.net:443"
    assert config.replay.secret_file == tmp_path / "replay.secret"


def test_the_commented_identity_example_in_the_default_file_is_valid(tmp_path: Path) -> None:
    text = (REPO / "targets.yaml").read_text()
    block = text[text.index("# identity:") :].split("\n\n")[0]
    uncommented = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    path = tmp_path / "targets.yaml"
    path.write_text(text + "\n" + uncommented + "\n")

    config = load_config(path)

    assert (config.identity.id, config.identity.asn, config.identity.country) == (
        "msk-vps-1",
        12389,
        "RU",
    )
    assert int(config.daemon.daily_budget) == 1 << 30


def test_a_password_in_a_url_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(VALID.replace("https://a.test/", "https://me:hunter2@a.test/"), "f.yaml")

    assert "hunter2" not in str(raised.value)


def test_an_oversized_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * (2 * 1024 * 1024))

    with pytest.raises(ConfigError, match=r"big\.yaml: the file is larger than 1 MiB"):
        load_config(big)
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_config(Path("/dev/zero"))


@pytest.mark.parametrize("where", ["file", "option"])
def test_a_ca_bundle_that_is_not_pem_is_refused_before_measuring(
    tmp_path: Path, where: str
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("this is not a certificate\n")
    path = tmp_path / "targets.yaml"
    settings = f"settings:\n  ca_bundle: {bundle}\n" if where == "file" else ""
    path.write_text(VALID + settings)

    with pytest.raises(ConfigError, match="holds no PEM certificate"):
        with_overrides(load_config(path), ca_bundle=bundle if where == "option" else None)
