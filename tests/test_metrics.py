"""The metrics sink on recorded lab rounds, the data budget, and the web config."""

import datetime
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from probe.analysis.round_judgement import judge_all
from probe.analysis.window_verdict import judge_window
from probe.budget import DataBudget
from probe.config import ConfigError, Identity, parse_config
from probe.lab.pki import LabPKI
from probe.records import RoundResult
from probe.schema import FinishedRound, decode_round
from probe.sinks.metrics import MetricsSink
from probe.webconfig import load_web_config
from tests.prometheus_support import IN_CI

DATA = Path(__file__).parent / "data"
LAB_LIKE = "groups: {control: {role: control, targets: [{name: c, url: 'https://c.test/'}]}}\n"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def recorded(name: str) -> RoundResult:
    return decode_round(json.loads((DATA / name).read_text())).result()


def finished(result: RoundResult, number: int = 1) -> FinishedRound:
    judgement = judge_all(result)
    window = judge_window([result], [judgement.verdicts])
    return FinishedRound(number, result, judgement, window, 1, parse_config(LAB_LIKE, "t"))


def exposition(*rounds: RoundResult, budget: DataBudget | None = None) -> str:
    registry = CollectorRegistry()
    sink = MetricsSink(registry, Identity(id="test-probe", asn=64500, country="RU"), budget)
    for number, result in enumerate(rounds, start=1):
        sink.round_finished(finished(result, number))
    return generate_latest(registry).decode()


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


# Every per-target series carries the transport; these recorded rounds went over TCP only.
TCP = {"transport": "tcp"}


def test_a_policed_round_exports_verdicts_rates_and_ratios() -> None:
    found = samples(exposition(recorded("lab-sni-police.json")))

    verdict = "throttle_probe_verdict"
    for scope in ("round", "window"):
        pbs = {"group": "twitter", "target": "pbs-twimg-com", "scope": scope, **TCP}
        assert value(found, verdict, **pbs, verdict="throttled") == 1
        assert value(found, verdict, **pbs, verdict="ok") == 0
        xcom = {"group": "twitter", "target": "x-com", "scope": scope, **TCP}
        assert value(found, verdict, **xcom, verdict="ok") == 1
    rate = value(
        found,
        "throttle_probe_throttled_rate_bytes_per_second",
        group="twitter",
        target="pbs-twimg-com",
        scope="round",
        mechanism="policing",
        **TCP,
    )
    assert rate is not None and 100e3 < rate * 8 < 200e3
    ratio = value(
        found,
        "throttle_probe_goodput_ratio_to_controls",
        group="twitter",
        target="pbs-twimg-com",
        **TCP,
    )
    assert ratio is not None and ratio < 0.1
    assert value(found, "throttle_probe_info", version=_version(), probe_id="test-probe",
                 asn="64500", country="RU") == 1  # fmt: skip
    counted = value(found, "throttle_probe_verdicts_total", group="twitter",
                    target="pbs-twimg-com", scope="round", verdict="throttled",
                    **TCP)  # fmt: skip
    assert counted == 1


def test_every_verdict_and_result_is_counted_from_zero() -> None:
    """increase() misses the first count of a series born at 1, and "never" must read 0."""
    found = samples(exposition(recorded("lab-sni-police.json")))
    xcom = {"group": "twitter", "target": "x-com", **TCP}

    for scope in ("round", "window"):
        for verdict in ("ok", "throttled", "blocked", "degraded", "inconclusive"):
            counted = value(found, "throttle_probe_verdicts_total", **xcom, scope=scope,
                            verdict=verdict)  # fmt: skip
            assert counted == (1 if verdict == "ok" else 0), (scope, verdict)
    labels = {**xcom, "role": "target"}
    assert value(found, "throttle_probe_measurements_total", **labels, result="failure") == 0
    assert value(found, "throttle_probe_measurements_total", **labels, result="success") == 1


@pytest.mark.parametrize(
    ("recording", "target", "rule"),
    [("lab-sni-police.json", "pbs-twimg-com", "controls"),
     ("lab-lying-resolver-checked.json", "x-com", "resolvers")],
)  # fmt: skip
def test_each_verdict_says_which_kind_of_evidence_decided_it(
    recording: str, target: str, rule: str
) -> None:
    found = samples(exposition(recorded(recording)))

    for scope in ("round", "window"):
        labels = {"group": "twitter", "target": target, "scope": scope, **TCP}
        assert value(found, "throttle_probe_verdict_rule", **labels, rule=rule) == 1
    rules = [n for n, labels in found if n == "throttle_probe_verdict_rule"]
    assert len(rules) == 2 * len(
        {dict(lb)["target"] for n, lb in found if n == "throttle_probe_verdict"}
    )


def test_a_failed_download_is_a_failure_count_and_no_goodput() -> None:
    result = recorded("lab-lying-resolver.json")
    failed = [t for t in result.targets if t.failure is not None]
    assert failed, "the recorded round has failures"

    found = samples(exposition(result))

    for entry in failed:
        labels = {"group": entry.group, "target": entry.name, "role": str(entry.role), **TCP}
        assert value(found, "throttle_probe_goodput_bytes_per_second", **labels) is None
        failures = [
            v
            for (name, pairs), v in found.items()
            if name == "throttle_probe_failures_total" and dict(pairs).items() >= labels.items()
        ]
        assert failures == [1.0], entry.name
        assert value(found, "throttle_probe_measurements_total", **labels, result="failure") == 1


def test_series_do_not_grow_with_rounds() -> None:
    result = recorded("lab-sni-police.json")

    after_one = samples(exposition(result)).keys()
    after_five = samples(exposition(*[result] * 5)).keys()

    assert after_five == after_one


@pytest.mark.prometheus
def test_promtool_accepts_the_exposition() -> None:
    if shutil.which("promtool") is None:
        if IN_CI:
            pytest.fail("CI must run promtool (Debian package prometheus)")
        pytest.skip("needs promtool (Debian package prometheus)")
    budget = DataBudget(1 << 30)
    text = exposition(recorded("lab-sni-police.json"), recorded("lab-lying-resolver.json"),
                      budget=budget)  # fmt: skip

    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
    )

    assert checked.returncode == 0
    assert checked.stdout + checked.stderr == ""


def _version() -> str:
    from probe import __version__

    return __version__


class FakeClock:
    def __init__(self, when: datetime.datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now


def test_budget_counts_the_day_and_starts_again_at_midnight_utc() -> None:
    clock = FakeClock(datetime.datetime(2026, 3, 1, 23, 0, tzinfo=datetime.UTC))
    budget = DataBudget(1000, clock)

    budget.add(600)
    budget.add(500)

    assert budget.spent == 1100 and budget.exhausted
    assert budget.seconds_until_reset() == pytest.approx(3600)
    clock.now += 3601
    assert budget.spent == 0 and not budget.exhausted


def test_budget_spreads_the_rounds_it_allows_over_the_rest_of_the_day() -> None:
    clock = FakeClock(datetime.datetime(2026, 3, 1, 0, 0, tzinfo=datetime.UTC))
    budget = DataBudget(1 << 30, clock)

    assert budget.paced_interval(900, 16 << 20) == pytest.approx(1350)  # 64 rounds a day
    assert budget.paced_interval(900, 1 << 20) == 900  # small rounds: the interval holds
    clock.now += 12 * 3600
    budget.add(1 << 29)  # half spent by noon: 32 rounds for the 12 hours left
    assert budget.paced_interval(900, 16 << 20) == pytest.approx(1350)
    budget.add((1 << 29) - (8 << 20))  # not one more round fits: the pause takes over
    assert budget.paced_interval(900, 16 << 20) == 900


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPKI:
    return LabPKI(tmp_path_factory.mktemp("web-pki"), ["probe.test"])


def test_web_config_loads_tls_and_users(pki: LabPKI, tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    hashed = "$2y$10$abcdefghijklmnopqrstuuJ5l7XZl4yY1O0a0N4cXvWmZ3m5b5bW"
    path.write_text(
        f"tls_server_config: {{cert_file: {pki.cert_chain_file}, key_file: {pki.key_file}}}\n"
        f"basic_auth_users: {{prometheus: '{hashed}'}}\n"
    )

    web = load_web_config(path)

    assert web.ssl_context is not None
    assert set(web.users) == {"prometheus"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls_server_config: {cert_file: missing.crt, key_file: missing.key}\n", "cannot load"),
        ("tls_server_config: {cert_file: a, key_file: b, cipher_suites: [x]}\n", "not supported"),
        ("basic_auth_users: {alice: plaintext}\n", "not a bcrypt hash"),
        ("tls_server_config: [\n", "not valid YAML"),
        ("- a list\n", "must be a mapping"),
    ],
)
def test_a_broken_web_config_is_one_sentence(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(text)

    with pytest.raises(ConfigError, match=message) as raised:
        load_web_config(path)

    assert str(raised.value).startswith(str(path))
    assert "\n" not in str(raised.value)
