"""bench.remote's pure part: the report of bytes and times per save."""

from __future__ import annotations

import sys
from pathlib import Path

# `bench` is not part of the installed package: import it from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.remote_report import Cell, Save, fmt_b, render


def _cell(tool: str, engine: str, served: list[float], sent: int | None) -> Cell:
    saves = [Save(s, live_s=s + 0.1, how="rebuild", sent=sent, quiet_sent=0) for s in served]
    return Cell(tool, engine, start_s=2.0, start_sent=52_000_000 if sent else None, saves=saves)


def test_render_gives_medians_bytes_and_the_ssh_to_local_ratio() -> None:
    cells = [
        _cell("composewatch-rebuild", "local", [0.5, 0.7, 0.6], None),
        _cell("composewatch-rebuild", "ssh", [0.9, 0.6, 0.75], 12_800),
    ]
    text = render(cells, {"sent": 52_540_000, "seconds": 1.77}, 52_400_000, ["poller: gated"])
    assert "Build context: 52.4 MB" in text
    ssh_row = next(line for line in text.splitlines() if "| ssh |" in line)
    assert "| 3/3 | 0.75 s (0.90 s) | 0.85 s | rebuild |" in ssh_row
    assert "| 12.8 kB (-) |" in ssh_row
    assert "52.00 MB, 2.00 s" in ssh_row
    assert "- composewatch-rebuild: ssh / local, save → served 1.25x, save → live 1.21x" in text
    assert "52.54 MB sent, 1.77 s" in text
    assert "- poller: gated" in text


def test_a_save_never_served_is_counted_not_averaged() -> None:
    cell = Cell("compose", "local", saves=[Save(None), Save(1.0)])
    row = next(line for line in render([cell], None, 1, []).splitlines() if "| local |" in line)
    assert "| 1/2 | 1.00 s (1.00 s) |" in row


def test_fmt_b_switches_to_megabytes() -> None:
    assert fmt_b(999_999) == "1000.0 kB"
    assert fmt_b(1_000_000) == "1.00 MB"
    assert fmt_b(None) == "-"
