"""``check --plot``'s picture: what happened to each target, readable at 1000 px."""

from pathlib import Path

from probe.analysis.round_judgement import judge_all
from probe.records import Failure, RoundResult
from probe.sinks.plot import plot_round
from tests.documents import png_size
from tests.test_metrics import recorded


def drawn(result: RoundResult, path: Path) -> tuple[int, int]:
    plot_round(result, judge_all(result), path)
    return png_size(path.read_bytes())


def test_each_slowed_target_gets_its_download_against_the_slowest_control(
    tmp_path: Path,
) -> None:
    """A clean round is the overview alone; a policed one adds a row of two panels for
    each of its three throttled names, and the picture stays 1000 px wide."""
    clean = drawn(recorded("lab-clean.json"), tmp_path / "clean.png")
    policed = drawn(recorded("lab-sni-police.json"), tmp_path / "policed.png")

    assert clean[0] == policed[0] == 1000
    assert policed[1] - clean[1] == 3 * 260  # 2.6 inches a slowed target, at 100 dpi


def test_a_blocked_target_is_drawn_where_it_failed(tmp_path: Path) -> None:
    result = recorded("lab-clean.json")
    blocked = next(t for t in result.targets if t.name == "tiktok-com")
    blocked.failure = Failure.TLS_RESET
    assert blocked.transfer is not None
    blocked.transfer.failure, blocked.transfer.samples = Failure.TLS_RESET, []
    svg = tmp_path / "round.svg"

    plot_round(result, judge_all(result), svg)

    assert "blocked/tls: tls_reset" in svg.read_text()  # written on its row, not a bar
