"""Which cells a bench run makes (selectable and skippable), and the floor's BuildKit context."""

from __future__ import annotations

import dataclasses
import io
import json
import sys
import tarfile
from pathlib import Path

# `bench` is not part of the installed package: import it from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.buildkit import context_tar
from bench.cli import (
    CELL_S,
    SAVE_S,
    SLOW_SAVE_S,
    cells,
    estimate_s,
    merge_runs,
    parse_args,
    saves_for,
)
from bench.report import Row


def test_every_fixture_gated_for_every_tool_then_ungated_for_the_floor_and_composewatch() -> None:
    planned = cells(parse_args([]))
    assert planned[:7] == [
        ("flask", "script", True),
        ("flask", "compose-watch", True),
        ("flask", "gaze", True),
        ("flask", "composewatch", True),
        ("flask", "composewatch-rebuild", True),  # in-place updates off: the rebuild path
        ("flask", "script", False),
        ("flask", "composewatch", False),
    ]
    assert {fixture for fixture, _, _ in planned} == {"flask", "flask-init", "five", "docker-init"}
    assert len(planned) == 4 * 7


def test_cells_can_be_selected_and_skipped() -> None:
    args = parse_args(
        [
            "--fixtures",
            "five,docker-init",
            "--tools",
            "script,composewatch",
            "--ungated",
            "composewatch",
            "--skip",
            "five/script, docker-init/composewatch/ungated",
        ]
    )
    assert cells(args) == [
        ("five", "composewatch", True),
        ("five", "composewatch", False),
        ("docker-init", "script", True),
        ("docker-init", "composewatch", True),
    ]
    assert cells(parse_args(["--fixtures", "five", "--ungated", "none"]))[-1] == (
        "five",
        "composewatch-rebuild",
        True,
    )


def test_context_tar_follows_dockerignore_but_keeps_the_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / ".dockerignore").write_text("\ufeff# comment\nDockerfile\n**/__pycache__\n.env\n")
    (tmp_path / ".env").write_text("SECRET=1\n")
    (tmp_path / "app.py").write_text("print(1)\n")
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "__pycache__" / "m.pyc").write_bytes(b"x")
    (tmp_path / "pkg" / "m.py").write_text("x = 1\n")
    (tmp_path / "link").symlink_to("app.py")
    with tarfile.open(fileobj=io.BytesIO(context_tar(tmp_path))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {".dockerignore", "Dockerfile", "app.py", "pkg", "pkg/m.py", "link"}
        assert members["link"].issym() and members["link"].linkname == "app.py"
        assert not tar.pax_headers  # BuildKit would read a PAX header as a Dockerfile
    raw = context_tar(tmp_path)
    assert b"PaxHeader" not in raw and b"@PaxHeader" not in raw


def test_the_estimate_counts_the_slow_cells_and_the_idle_windows() -> None:
    args = parse_args(["--fixtures", "flask", "--tools", "script,gaze", "--ungated", "none"])
    # script: 10 quick saves; gaze on flask waits out the 10 s stop timeout on each, then idles.
    expected = (CELL_S + 10 * SAVE_S) + (CELL_S + 10 * SLOW_SAVE_S + args.idle_s)
    assert estimate_s(args, cells(args)) == expected
    capped = parse_args(["--fixtures", "flask", "--tools", "gaze", "--slow-saves", "3"])
    assert saves_for(capped, "flask", "gaze") == 3
    assert saves_for(capped, "flask-init", "gaze") == 10  # init: true stops at once


def _raw_row(fixture: str, tool: str, median_s: float, gated: bool = True) -> dict[str, object]:
    row = Row(fixture, tool, 3, 3, median_s, median_s, median_s, 0, 0.1, None, None, None)
    return {**dataclasses.asdict(row), "gated": gated}


def test_runs_merge_cell_by_cell_the_later_one_winning() -> None:
    first = {
        "meta": {"date": "one", "run time": "1.5 min"},
        "notes": ["a", "b"],
        "rows": [_raw_row("flask", "script", 1.0), _raw_row("flask", "gaze", 9.0)],
    }
    second = {
        "meta": {"date": "two", "run time": "2.0 min"},
        "notes": ["b", "c"],
        "rows": [_raw_row("flask", "script", 0.8), _raw_row("flask", "script", 2.0, False)],
    }
    meta, rows, notes = merge_runs([json.loads(json.dumps(r)) for r in (first, second)])
    assert meta["date"] == "two" and "2 merged" in meta["runs"]
    assert meta["run time"] == "3.5 min in all"
    assert [(r.tool, r.gated, r.median_s) for r in rows] == [
        ("script", True, 0.8),
        ("gaze", True, 9.0),
        ("script", False, 2.0),
    ]
    assert notes == ["a", "b", "c"]
