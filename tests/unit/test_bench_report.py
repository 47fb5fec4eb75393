"""The bench's pure parts: statistics, gap detection, step medians, table rendering."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

# `bench` is not part of the installed package: import it from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.measure import Sample, SaveResult, longest_failure, percentile, poll, summarize
from bench.report import Row, headline, phase_table, render, ungated, where_time_goes
from bench.runner import step_medians


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


def test_step_medians_keep_the_reported_order() -> None:
    per_save = [
        [("detect", 0.1), ("build", 0.4), ("start", 0.2), ("since_save_s", 1.0)],
        [("detect", 0.3), ("build", 0.6), ("start", 0.4), ("since_save_s", 3.0)],
        [],  # a save the tool did not time
    ]
    medians = step_medians(per_save)
    assert list(medians) == ["detect", "build", "start", "since_save_s"]
    assert medians["build"] == pytest.approx(0.5)
    assert medians["since_save_s"] == pytest.approx(2.0)


def test_summary_has_the_gap_of_a_typical_swap() -> None:
    saves = [
        SaveResult(1.0, [Sample(0.0, True), Sample(0.3, False, True)]),
        SaveResult(1.0, [Sample(0.0, True), Sample(0.5, False, True)]),
        SaveResult(1.0, [Sample(0.0, True), Sample(2.0, False, True)]),
    ]
    summary = summarize(saves)
    assert summary.median_gap_s == pytest.approx(0.5)
    assert summary.max_gap_s == pytest.approx(2.0)


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
        median_gap_s=0.3,
    )
    base.update(changes)
    return Row(**base)  # type: ignore[arg-type]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_headline_has_each_contender_the_ratios_and_the_gaps() -> None:
    rows = [
        _row(tool="script", median_s=1.0, median_gap_s=0.5),
        _row(tool="compose-watch", median_s=4.0),
        _row(tool="gaze", median_s=3.0, served=8),
        _row(median_s=0.8, median_gap_s=0.2),
        _row(tool="composewatch-rebuild", median_s=0.9),
        _row(median_s=0.1, gated=False),  # the ungated row never enters the headline
        _row(fixture="flask", tool="script", median_s=2.0),
    ]
    lines = headline(rows)
    assert _cells(lines[0]) == [
        "fixture",
        "script floor",
        "compose watch",
        "gaze loop",
        "composewatch",
        "composewatch, rebuild path",
        "composewatch / floor",
        "composewatch / compose watch",
        "gap per swap: composewatch",
        "gap per swap: floor",
    ]
    five = _cells(lines[2])
    assert five == [
        "five",
        "1.00",
        "4.00",
        "3.00 (8/10)",
        "0.80",
        "0.90",
        "0.80x",
        "0.20x",
        "0.20",
        "0.50",
    ]
    # A fixture where only the floor ran: no ratio rather than a wrong one.
    assert _cells(lines[3]) == ["flask", "2.00", "—", "—", "—", "—", "—", "—", "—", "0.30"]


def test_an_error_stays_out_of_the_tables_and_is_shown_whole_below() -> None:
    error = "RuntimeError: watcher not ready:\n  | Traceback\n  | BuildError: failed at Step 8"
    rows = [
        _row(tool="script", median_s=1.0),
        _row(n=0, served=0, median_s=math.nan, error=error),
    ]
    text = render({}, rows)
    five = next(line for line in text.splitlines() if line.startswith("| five | 1.00 |"))
    assert _cells(five)[4] == "error"
    assert "five / composewatch: RuntimeError: watcher not ready: / Traceback / BuildError" in text
    assert f"```\n{error}\n```" in text


def test_ungated_rows_sit_beside_the_gated_figure() -> None:
    rows = [_row(median_s=1.1), _row(median_s=0.9, gated=False, median_gap_s=0.25)]
    lines = ungated(rows)
    assert _cells(lines[2]) == ["five", "composewatch", "0.90", "1.50", "1.10", "0.25"]
    assert ungated([_row()]) == []


def test_where_the_time_goes_compares_each_stretch_with_the_floor() -> None:
    ours = _row(
        median_s=1.5,
        milestones={"image": 0.5, "old down": 0.6, "created": 0.55, "started": 1.2, "served": 1.5},
    )
    floor = _row(
        tool="script",
        median_s=0.9,
        milestones={"image": 0.3, "old down": 0.35, "created": 0.5, "started": 0.75, "served": 0.9},
    )
    lines = where_time_goes(ours, floor)
    assert lines[0].startswith("composewatch - floor: +0.60 s")
    assert "composewatch 0.50 s, floor 0.30 s (+0.20 s)" in lines[1]  # to the image
    assert "composewatch 0.70 s, floor 0.45 s (+0.25 s)" in lines[2]  # image to started
    assert "composewatch 0.30 s, floor 0.15 s (+0.15 s)" in lines[3]  # started to served
    assert where_time_goes(_row(), _row(tool="script")) == []  # no milestones: nothing to say


def test_render_tables_and_notes() -> None:
    rows = [
        _row(steps={"detect": 0.03, "build": 0.2, "since_save_s": 0.9}),
        _row(
            tool="script",
            idle_cpu_percent=None,
            peak_rss_mib=None,
            others_touched=["s2"],
            milestones={"image": 0.3, "served": 0.9},
        ),
        _row(fixture="flask", others_touched=None, served=9),
        _row(tool="gaze", n=0, served=0, median_s=math.nan, error="boom"),
        _row(gated=False, idle_cpu_percent=None, peak_rss_mib=None),
        _row(fixture="flask", tool="script", stalls=3),
    ]
    text = render({"date": "today", "docker": "20.10"}, rows, ["a note"])
    lines = text.splitlines()
    assert lines[0].startswith("# ")
    assert "- **docker**: 20.10" in lines
    assert (
        "| five | composewatch | gated | 1.23 | 1.50 | 2.00 | 12 (1/save) | 0.30 | 0.80 | 0 | no "
        "| 0.25 | 51.0 | 10 |" in lines
    )
    assert (
        "| five | script | gated | 1.23 | 1.50 | 2.00 | 12 (1/save) | 0.30 | 0.80 | 0 | s2 | — | — "
        "| 10 |" in lines
    )
    assert (
        "| five | composewatch | ungated | 1.23 | 1.50 | 2.00 | 12 (1/save) | 0.30 | 0.80 | 0 | no "
        "| — | — | 10 |" in lines
    )
    assert any(
        line.startswith("| flask | composewatch | gated |") and "| n/a |" in line for line in lines
    )
    assert any(line.endswith("| 10 (1 unserved) |") for line in lines)
    assert any(
        line.startswith("| flask | script | gated |") and "| 0.80 | 3 |" in line for line in lines
    )
    assert any("| gaze | gated | error (see Errors) |" in line for line in lines)
    assert "## Ungated poller: a browser reloaded right after the save" in lines
    assert "### five" in lines
    assert "composewatch's own phases (median s): detect 0.03, build 0.20, since_save_s 0.90" in (
        lines
    )
    assert "| script floor | 0.30 | — | — | — | 0.90 |" in lines
    assert "five / gaze: boom" in lines
    assert "- a note" in lines
    # Every table row has as many cells as its header.
    header = next(line for line in lines if line.startswith("| fixture | tool | poller"))
    table = [line for line in lines if line.startswith(("| five | ", "| flask | "))]
    detail = [line for line in table if "gated" in line]
    assert detail and all(line.count("|") == header.count("|") for line in detail)


def test_phase_table_sets_composewatch_against_the_floor() -> None:
    ours = _row(
        median_s=1.1,
        healthy_s=0.2,
        steps={
            "detect": 0.05,
            "context": 0.04,
            "build": 0.3,
            "create": 0.02,
            "stop": 0.2,
            "start": 0.3,
            "checking": 0.1,
            "since_save_s": 1.0,
        },
    )
    classic = _row(
        tool="script", median_s=0.9, healthy_s=0.1, steps={"build": 0.35, "stop": 0.18, "run": 0.27}
    )
    lines = phase_table(ours, classic)
    assert _cells(lines[0]) == ["phase (median s)", "composewatch", "script floor", "difference"]
    body = {_cells(line)[0]: _cells(line)[1:] for line in lines[2:]}
    assert body["detect (event + quiet period)"] == ["0.05", "0.00", "+0.05"]  # no watcher
    assert body["context"] == ["0.04", "in build", "—"]  # the CLI sends it inside the build
    assert body["build"] == ["0.30", "0.35", "-0.05"]
    assert body["stop old"] == ["0.20", "0.18", "+0.02"]
    assert body["create + start new"] == ["0.32", "0.27", "+0.05"]
    assert body["started → served (app start-up)"] == ["0.20", "0.10", "+0.10"]
    assert body["save → served"] == ["1.10", "0.90", "+0.20"]
    buildkit = _row(tool="script", steps={"context": 0.001, "build": 0.15, "stop": 0.2, "run": 0.3})
    body = {_cells(line)[0]: _cells(line)[1:] for line in phase_table(ours, buildkit)[2:]}
    assert body["context"] == ["0.04", "0.00", "+0.04"]
