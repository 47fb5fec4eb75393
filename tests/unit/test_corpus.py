"""The loader against Docker Compose v2.40.3's own `config --format json` output.

Each folder of tests/corpus holds compose files, `cmd.txt` (docker-compose arguments),
optional `env.json`, and `expected.json` or `expected-error.txt` (see tests/corpus/README.md).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from corpuscases import (
    CORPUS,
    INVALID,
    VALID,
    case_options,
    cases,
    hashes,
    reads_env_files,
    regenerate,
)

from composewatch.cli import main
from composewatch.compose import load_project
from composewatch.confighash import service_hash
from composewatch.errors import ComposeFileError

# Service keys that must match compose exactly (null and missing alike).
REQUIRED_KEYS = (
    "image", "build", "ports", "environment", "depends_on", "healthcheck", "profiles",
    "develop", "command", "entrypoint", "volumes", "networks", "container_name", "restart",
    "init", "stop_grace_period", "working_dir", "user", "labels",
)  # fmt: skip


def _tokenize(value: Any, case: Path) -> Any:
    """Paths under the case folder written with the corpus' `${CASE_DIR}` token (and the
    corpus folder's, a case's `..`, with `${CORPUS_DIR}`)."""
    if isinstance(value, str):
        return regenerate.tokenize(value, case)
    if isinstance(value, dict):
        return {k: _tokenize(v, case) for k, v in value.items()}
    if isinstance(value, list):
        return [_tokenize(v, case) for v in value]
    return value


def test_the_corpus_is_in_the_repository() -> None:
    assert len(cases()) == 218, f"expected 218 cases in {CORPUS}"


@pytest.mark.parametrize("case", VALID, ids=lambda p: p.name)
def test_valid_case_equals_compose_on_every_key(case: Path) -> None:
    expected = json.loads((case / "expected.json").read_text())
    actual = _tokenize(load_project(case_options(case)).to_compose_dict(), case)
    assert actual["name"] == expected["name"]
    assert set(actual["services"]) == set(expected["services"])
    for name, want in expected["services"].items():
        got = actual["services"][name]
        for key in REQUIRED_KEYS:
            assert got.get(key) == want.get(key), f"{name}.{key}"
    assert actual == expected  # nulls, empty maps and omitted zero values included


def _named_by_compose(case: Path) -> tuple[str | None, str | None]:
    """The file and the key compose's error message names (either may be None)."""
    text = " ".join((case / "expected-error.txt").read_text().splitlines()[1:])
    text = text.replace("${CASE_DIR}", str(case)).replace("${CORPUS_DIR}", str(case.parent))
    file = re.search(
        r"(?:env file|open|validating|failed to parse) (/[^:]+?)(?::| not found)", text
    )
    key = None
    for pattern, form in (
        (r"interpolating ([\w.\[\]-]+?):", "{0}"),
        (r"invalid interpolation format for ([\w.-]+)\.", "{0}"),
        (r"'services\[([\w.-]+)\]\.([\w.]+)'", "services.{0}.{1}"),
        (r"cannot override ([\w.-]+)", "{0}"),
        (r": (services\.[\w.-]+?) (?:must be|additional properties)", "{0}"),
        (r":  additional properties '([\w-]+)' not allowed", "{0}"),
        (r"can't set container_name and ([\w.-]+) as", "services.{0}"),
        (r'service "([\w.-]+)"', "services.{0}"),
        (r"^(services|volumes|networks|secrets|configs)\b", "{0}"),
    ):
        match = re.search(pattern, text)
        if match:
            # compose writes a list item as `.[]` (`environment.[]`), ours as `[0]`
            key = re.sub(r"\.\[\].*", "", form.format(*match.groups()))
            break
    return (file.group(1) if file else None), key


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.name)
def test_invalid_case_names_the_file_and_key_compose_names(case: Path) -> None:
    """Every invalid twin fails to load, naming the file and the key compose's error names
    (compose's wording is not copied everywhere: the message must be one clear paragraph)."""
    with pytest.raises(ComposeFileError) as info:
        load_project(case_options(case))
    error = info.value
    message = str(error)
    assert "Traceback" not in message
    assert error.file is not None, message
    want_file, want_key = _named_by_compose(case)
    if want_file:
        assert str(error.file) == want_file, message
    else:  # compose names no file: ours must name one of the project's compose files
        assert Path(error.file).is_relative_to(case), message
    if want_key:
        assert error.key is not None and error.key.startswith(want_key), message


HASHED = [
    c for c in VALID if not reads_env_files(c) and hashes((c / "expected.hashes.txt").read_text())
]


@pytest.mark.parametrize("case", HASHED, ids=lambda p: p.name)
def test_config_hash_equals_the_one_compose_labels_containers_with(case: Path) -> None:
    """The committed hashes: services whose configuration holds no path of the checkout."""
    want = hashes((case / "expected.hashes.txt").read_text())
    project = load_project(case_options(case)).project
    assert {name: service_hash(project.services[name]) for name in want} == want


def _run_cli(
    case: Path, fmt: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int | str | None, str, str]:
    options = case_options(case)
    monkeypatch.chdir(case)
    for key in list(os.environ):
        monkeypatch.delenv(key)
    for key, value in (options.environ or {}).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", ["composewatch", *regenerate.case_arguments(case, fmt)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.mark.parametrize("fmt", regenerate.FORMATS)
@pytest.mark.parametrize("case", VALID, ids=lambda p: p.name)
def test_config_prints_the_bytes_compose_prints(
    case: Path, fmt: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`composewatch <cmd.txt>` through the real entry point, in the case's environment,
    prints exactly docker-compose's stdout (committed by tests/corpus/regenerate.py)."""
    code, out, err = _run_cli(case, fmt, monkeypatch, capsys)
    assert code == 0, err
    assert regenerate.tokenize(out, case) == (case / f"expected.stdout.{fmt}").read_text()


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.name)
def test_config_command_fails_clearly_on_invalid_cases(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run_cli(case, "json", monkeypatch, capsys)
    assert code == 2, out + err
    assert err.startswith("error: ") and "Traceback" not in err
    assert out == ""
