"""The README's reference is generated from the CLI and the settings schema, and current;
every command is documented; the Korean quickstart exists with the same two commands."""

from __future__ import annotations

from pathlib import Path

import typer.main

from composewatch.cli import app
from composewatch.reference import BEGIN, END, render_reference

REPO = Path(__file__).resolve().parents[2]


def test_readme_reference_is_current() -> None:
    readme = (REPO / "README.md").read_text()
    generated = readme[readme.index(BEGIN) : readme.index(END) + len(END)]
    assert generated == render_reference(), (
        "README.md's reference is stale: run `.venv/bin/python -m composewatch.reference`"
    )


def test_every_command_and_settings_key_is_in_the_reference() -> None:
    reference = render_reference()
    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    assert {
        "up",
        "ps",
        "logs",
        "build",
        "restart",
        "stop",
        "schema",
        "explain",
        "doctor",
        "status",
        "watch",
        "unwatch",
        "down",
        "config",
    } <= set(commands)
    for name in commands:
        assert f"| `{name}" in reference
    for key in ("quiet_ms", "health.expected_status", "commands[].cmd", "commands[].service"):
        assert f"{key}` |" in reference


def test_korean_quickstart() -> None:
    korean = (REPO / "README.ko.md").read_text()
    for command in ("make demo", "make test", "composewatch up", ".gaze.yml", "{{file}}"):
        assert command in korean
    assert "README.ko.md" in (REPO / "README.md").read_text()
