"""The loader against Docker Compose v2.40.3's own `config --format json` output.

Each folder of tests/corpus holds compose files, `cmd.txt` (docker-compose arguments),
optional `env.json`, and `expected.json` or `expected-error.txt` (see tests/corpus/README.md).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from composewatch.cli import main
from composewatch.compose import ProjectOptions, load_project
from composewatch.confighash import service_hash
from composewatch.errors import ComposeFileError

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
_spec = importlib.util.spec_from_file_location("corpus_regenerate", CORPUS / "regenerate.py")
assert _spec is not None and _spec.loader is not None
regenerate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regenerate)
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
    assert len(_cases()) == 218, f"expected 218 cases in {CORPUS}"


VALID = [c for c in _cases() if not (c / "expected-error.txt").is_file()]
INVALID = [c for c in _cases() if (c / "expected-error.txt").is_file()]


@pytest.mark.parametrize("case", VALID, ids=lambda p: p.name)
def test_valid_case_equals_compose_on_every_key(case: Path) -> None:
    expected = json.loads((case / "expected.json").read_text())
    actual = _tokenize(load_project(_options(case)).to_compose_dict(), case)
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
        load_project(_options(case))
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


def _reads_env_files(case: Path) -> bool:
    # `config --hash` hashes services before env files are read, `up` after: compose's
    # hashes are `up`'s only for services that read none. The same holds for `label_file`:
    # `up` hashes its paths, `config --hash` does not (measured: `docker compose up -d` labels
    # a service with `label_file` aa14…, while `config --hash` prints b115…; composewatch
    # reproduces `up`'s, the one on containers).
    return any(
        "env_file" in text or "label_file" in text
        for text in (path.read_text() for path in case.rglob("*.y*ml"))
    )


def _hashes(text: str) -> dict[str, str]:
    return dict(line.split() for line in text.splitlines() if line.strip())


HASHED = [
    c for c in VALID if not _reads_env_files(c) and _hashes((c / "expected.hashes.txt").read_text())
]


@pytest.mark.parametrize("case", HASHED, ids=lambda p: p.name)
def test_config_hash_equals_the_one_compose_labels_containers_with(case: Path) -> None:
    """The committed hashes: services whose configuration holds no path of the checkout."""
    want = _hashes((case / "expected.hashes.txt").read_text())
    project = load_project(_options(case)).project
    assert {name: service_hash(project.services[name]) for name in want} == want


def _reference_binary() -> Path:
    binary: Path | None = regenerate.compose_binary()
    if binary is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("docker-compose reference binary missing (install the dev extras)")
        pytest.skip("docker-compose reference binary not installed")
    return binary


def test_every_config_hash_equals_the_binarys() -> None:
    """All services of the cases without env files, paths included, against the binary run
    in place (their hashes depend on where the corpus is checked out)."""
    binary = _reference_binary()
    differing = []
    for case in VALID:
        if _reads_env_files(case):
            continue
        _, out, _ = regenerate.reference_output(
            binary, case, "json", regenerate.hash_arguments(case)
        )
        want = _hashes(out)
        project = load_project(_options(case)).project
        got = {name: service_hash(s) for name, s in project.services.items()}
        differing += [f"{case.name}/{name}" for name in want if got.get(name) != want[name]]
    assert not differing, differing


def _run_cli(
    case: Path, fmt: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int | str | None, str, str]:
    options = _options(case)
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


def test_committed_reference_outputs_are_what_the_binary_prints() -> None:
    """When the reference binary is installed (dev extras), the committed exact outputs and
    exit codes are still what it prints: the corpus cannot drift from Docker Compose."""
    binary = _reference_binary()
    drifted = []
    for case in _cases():
        if case in INVALID:
            code, _, _ = regenerate.reference_output(binary, case, "json")
            want = int((case / "expected-error.txt").read_text().split()[2])
            if code != want:
                drifted.append(f"{case.name}: exit {code}")
            continue
        for fmt in regenerate.FORMATS:
            _, stdout, _ = regenerate.reference_output(binary, case, fmt)
            if stdout != (case / f"expected.stdout.{fmt}").read_text():
                drifted.append(f"{case.name}: {fmt}")
        if regenerate.portable_hashes(binary, case) != (case / "expected.hashes.txt").read_text():
            drifted.append(f"{case.name}: hashes")
    assert not drifted, drifted
