"""The bench's pure parts: statistics, gap detection, phase medians, table rendering."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

# `bench` is not part of the installed package: import it from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.measure import Sample, SaveResult, longest_failure, percentile, poll, summarize
from bench.report import Row, render
from bench.runner import phase_medians


def test_percentile_interpolates_like_numpy() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 90) == pytest.approx(4.6)
    assert percentile(values, 100) == 5.0
    assert percentile([7.0], 90) == 7.0
    assert math.isnan(percentile([], 50))


def test_longest_failure_measures_to_the_next_answer() -> None:
    samples = [
        Sample(0.0, False),
        Sample(1.0, True),
        Sample(1.5, True),
        Sample(2.0, False),  # first run: 1.0 s
        Sample(3.0, True),
        Sample(3.2, False),  # second run: 0.2 s
    ]
    assert longest_failure(samples) == pytest.approx(1.0)
    assert longest_failure([Sample(0.0, False)]) == 0.0
    # Still failing at the end: up to the last failure.
    assert longest_failure([Sample(0.0, True), Sample(2.5, True)]) == pytest.approx(2.5)


def test_summarize_skips_unserved_saves_in_latency_but_counts_their_failures() -> None:
    results = [
        SaveResult(1.0, [Sample(0.0, True), Sample(0.5, False, True)]),
        SaveResult(2.0, [Sample(0.0, False), Sample(1.0, False, True)]),
        SaveResult(None, [Sample(0.0, True), Sample(3.0, True)]),
    ]
    summary = summarize(results)
    assert (summary.n, summary.served) == (3, 2)
    assert summary.median_s == pytest.approx(1.5)
    assert summary.max_s == 2.0
    assert summary.failed_requests == 3
    assert summary.max_gap_s == pytest.approx(3.0)


def test_summarize_nothing() -> None:
    summary = summarize([])
    assert summary.n == 0
    assert math.isnan(summary.median_s)


def test_poll_refuses_anything_but_loopback() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        poll("http://example.com/", "x", start=0.0)


def test_phase_medians_keep_the_reported_order() -> None:
    lives = [
        {"since_save_s": 1.0, "timings": [["detect", 0.1], ["build", 0.4], ["start", 0.2]]},
        {"since_save_s": 3.0, "timings": [["detect", 0.3], ["build", 0.6], ["start", 0.4]]},
    ]
    medians = phase_medians(lives)
    assert list(medians) == ["detect", "build", "start", "since_save_s"]
    assert medians["build"] == pytest.approx(0.5)
    assert medians["since_save_s"] == pytest.approx(2.0)


def _row(**changes: object) -> Row:
    base: dict[str, object] = dict(
        fixture="five",
        tool="composewatch",
        n=10,
        served=10,
        median_s=1.234,
        p90_s=1.5,
        max_s=2.0,
        failed_requests=12,
        max_gap_s=0.8,
        others_touched=[],
        idle_cpu_percent=0.25,
        peak_rss_mib=51.04,
    )
    base.update(changes)
    return Row(**base)  # type: ignore[arg-type]


def test_render_tables_and_notes() -> None:
    rows = [
        _row(),
        _row(tool="script", idle_cpu_percent=None, peak_rss_mib=None, others_touched=["s2"]),
        _row(fixture="flask", others_touched=None, served=9),
        _row(tool="gaze", n=0, served=0, median_s=math.nan, error="boom"),
    ]
    text = render(
        {"date": "today", "docker": "20.10"},
        rows,
        {"five": {"detect": 0.03, "build": 0.2, "since_save_s": 0.9}},
        ["a note"],
    )
    lines = text.splitlines()
    assert lines[0].startswith("# ")
    assert "- **docker**: 20.10" in lines
    assert (
        "| five | composewatch | 1.23 | 1.50 | 2.00 | 12 (1/save) | 0.80 | no | 0.25 | 51.0 | 10 |"
        in lines
    )
    assert "| five | script | 1.23 | 1.50 | 2.00 | 12 (1/save) | 0.80 | s2 | — | — | 10 |" in lines
    assert any(line.startswith("| flask | composewatch |") and "| n/a |" in line for line in lines)
    assert any(line.endswith("| 10 (1 unserved) |") for line in lines)
    assert any("| gaze | error: boom |" in line for line in lines)
    assert "| fixture | detect | build | since_save_s |" in lines
    assert "| five | 0.03 | 0.20 | 0.90 |" in lines
    assert "- five / gaze: boom" in lines
    assert "- a note" in lines
    # Every table row has as many cells as its header.
    table = [line for line in lines if line.startswith("| five") or line.startswith("| flask")]
    assert all(line.count("|") in (12, 5) for line in table)
