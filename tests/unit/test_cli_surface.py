"""The CLI's surface without an engine: --version, --help with examples on every command,
shell completion of service names, `schema`, `explain`, and the engine-context error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clirun import cw
from typer.testing import CliRunner

from composewatch.cli import app
from composewatch.config import settings_schema

COMPOSE = """\
services:
  web:
    build: ./web
  worker:
    image: busybox:latest
x-composewatch:
  commands:
    - ext: .py
      cmd: python -m pyflakes "{{file}}"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text("FROM busybox:latest\nCOPY . /app\n")
    (tmp_path / "web" / ".dockerignore").write_text("# local notes\n*.md\n")
    return tmp_path


def test_version(project: Path) -> None:
    result = cw(project, "--version")
    assert result.returncode == 0 and result.stdout.startswith("composewatch version 0.")


@pytest.mark.parametrize(
    "command",
    [
        "up",
        "down",
        "ps",
        "logs",
        "build",
        "restart",
        "stop",
        "config",
        "schema",
        "explain",
        "doctor",
        "status",
        "watch",
        "unwatch",
    ],
)
def test_help_has_examples(command: str) -> None:
    # In process: help text is the app's, not the process's, and 14 interpreters started
    # for it cost about 5 s of the unit run (the other tests here keep the real process).
    result = CliRunner().invoke(app, [command, "--help"], prog_name="composewatch")
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.stdout and f"composewatch {command}" in result.stdout


def test_service_names_complete(project: Path) -> None:
    script = Path(sys.executable).parent / "composewatch"  # the installed entry point
    result = subprocess.run(
        [str(script)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "_COMPOSEWATCH_COMPLETE": "complete_bash",
            "COMP_WORDS": "composewatch logs w",
            "COMP_CWORD": "2",
        },
    )
    assert result.stdout.split() == ["web", "worker"]


def test_schema_is_the_settings_schema(project: Path) -> None:
    result = cw(project, "schema")
    assert json.loads(result.stdout) == json.loads(json.dumps(settings_schema()))


def test_explain_without_an_engine(project: Path) -> None:
    result = cw(project, "explain", "web/app.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("/web/app.py")
    assert lines[1].split()[:3] == ["web", "in", "place"]
    assert lines[1].endswith("in place: COPY . /app at Dockerfile:2")
    assert lines[2].split()[:2] == ["worker", "nothing"]
    assert lines[3].split()[:2] == ["command", "command"]
    shown = 'python -m pyflakes "web/app.py"  (on the host; x-composewatch.commands[0])'
    assert shown in lines[3]  # as gaze shows it, the value written in
    ignored = cw(project, "explain", "web/README.md").stdout
    assert "excluded by" in ignored and "web/.dockerignore line 2 (*.md)" in ignored


def test_unknown_docker_context_exits_2_within_a_second(project: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    result = cw(
        project, "ps", DOCKER_HOST="", DOCKER_CONTEXT="nope", DOCKER_CONFIG=str(tmp_path / "docker")
    )
    assert result.returncode == 2
    assert "docker context 'nope' (from DOCKER_CONTEXT) does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 5  # a generous bound for a loaded CI machine


def test_no_engine_is_one_paragraph_exit_2(project: Path) -> None:
    result = cw(project, "ps")
    assert result.returncode == 2
    assert result.stderr.startswith("error: No Docker engine answers at unix:///nonexistent")
    assert "Traceback" not in result.stderr


def test_status_without_a_watcher(project: Path, tmp_path: Path) -> None:
    result = cw(project, "status", XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert result.returncode == 1
    assert result.stdout.startswith("no watcher runs for project ")
