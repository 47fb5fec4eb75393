"""The loader against Docker Compose v2.40.3's own `config --format json` output.

Each folder of tests/corpus holds compose files, `cmd.txt` (docker-compose arguments),
optional `env.json`, and `expected.json` or `expected-error.txt` (see tests/corpus/README.md).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from composewatch.cli import main
from composewatch.compose import ProjectOptions, load_project
from composewatch.errors import ComposeFileError

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
DEFAULT_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent-home"}

# Service keys that must match compose exactly (null and missing alike).
REQUIRED_KEYS = (
    "image", "build", "ports", "environment", "depends_on", "healthcheck", "profiles",
    "develop", "command", "entrypoint", "volumes", "networks", "container_name", "restart",
    "init", "stop_grace_period", "working_dir", "user", "labels",
)  # fmt: skip


def _cases() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if (p / "cmd.txt").is_file())


def _options(case: Path) -> ProjectOptions:
    args = shlex.split((case / "cmd.txt").read_text())
    files: list[str] = []
    profiles: list[str] = []
    env_files: list[str] = []
    name = None
    i = 0
    while i < len(args) and args[i] != "config":
        flag, value = args[i], args[i + 1] if i + 1 < len(args) else ""
        if flag in ("-f", "--file"):
            files.append(value)
        elif flag in ("-p", "--project-name"):
            name = value
        elif flag == "--profile":
            profiles.append(value)
        elif flag == "--env-file":
            env_files.append(value)
        else:
            raise AssertionError(f"unexpected option {flag} in {case}/cmd.txt")
        i += 2
    env_path = case / "env.json"
    environ = json.loads(env_path.read_text()) if env_path.is_file() else dict(DEFAULT_ENV)
    return ProjectOptions(
        files=tuple(files),
        project_name=name,
        profiles=tuple(profiles),
        env_files=tuple(env_files),
        working_dir=str(case),
        environ=environ,
    )


def _tokenize(value: Any, case: Path) -> Any:
    """Paths under the case folder written with the corpus' `${CASE_DIR}` token."""
    if isinstance(value, str):
        for prefix in {str(case.resolve()), str(case)}:
            value = value.replace(prefix, "${CASE_DIR}")
        return value
    if isinstance(value, dict):
        return {k: _tokenize(v, case) for k, v in value.items()}
    if isinstance(value, list):
        return [_tokenize(v, case) for v in value]
    return value


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def test_the_corpus_is_in_the_repository() -> None:
    assert len(_cases()) == 136, f"expected 136 cases in {CORPUS}"


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.name)
def test_corpus_case(case: Path) -> None:
    options = _options(case)
    error_file = case / "expected-error.txt"
    if error_file.is_file():
        with pytest.raises(ComposeFileError) as info:
            load_project(options)
        message = str(info.value)
        assert info.value.file or info.value.key, message
        assert "Traceback" not in message
        return
    expected = json.loads((case / "expected.json").read_text())
    actual = _tokenize(load_project(options).project.to_compose_dict(), case)
    assert actual["name"] == expected["name"]
    assert set(actual["services"]) == set(expected["services"])
    for name, want in expected["services"].items():
        got = actual["services"][name]
        for key in REQUIRED_KEYS:
            assert _drop_nulls(got.get(key)) == _drop_nulls(want.get(key)), f"{name}.{key}"
    assert _drop_nulls(actual) == _drop_nulls(expected)


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.name)
def test_config_command_on_the_corpus(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`composewatch <cmd.txt>` through the real entry point, in the case's environment:
    valid cases print what compose prints, invalid ones exit 2 with one paragraph."""
    options = _options(case)
    monkeypatch.chdir(case)
    for key in list(os.environ):
        monkeypatch.delenv(key)
    for key, value in (options.environ or {}).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", ["composewatch", *shlex.split((case / "cmd.txt").read_text())])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    if (case / "expected-error.txt").is_file():
        assert exit_info.value.code == 2, out + err
        assert err.startswith("error: ") and "Traceback" not in err
        return
    assert exit_info.value.code == 0, err
    expected = json.loads((case / "expected.json").read_text())
    assert _drop_nulls(_tokenize(json.loads(out), case)) == _drop_nulls(expected)
