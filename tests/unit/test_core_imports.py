"""The pure core stays pure: no Docker, no clock, no threads, no sockets, no subprocesses.
Checked on the source (ast), so a stray import fails here before it decides anything."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "composewatch"
PURE = sorted(
    [
        *(PACKAGE / "core").glob("*.py"),
        PACKAGE / "engine" / "parse.py",
    ]
)
FORBIDDEN = {"docker", "asyncio", "time", "threading", "subprocess", "socket", "requests"}


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_modules_import_no_edge(path: Path) -> None:
    assert imported(path) & FORBIDDEN == set()
