"""The compose corpus (tests/corpus/README.md) as the tests read it: its cases, each case's
load options, and `regenerate`, the module that runs the reference binary. Shared by the unit
tests (the loader against the committed outputs) and the e2e test that runs the binary."""

from __future__ import annotations

import importlib.util
import json
import shlex
from pathlib import Path

from composewatch.compose import ProjectOptions

CORPUS = Path(__file__).resolve().parent / "corpus"
_spec = importlib.util.spec_from_file_location("corpus_regenerate", CORPUS / "regenerate.py")
assert _spec is not None and _spec.loader is not None
regenerate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regenerate)
DEFAULT_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent-home"}


def cases() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if (p / "cmd.txt").is_file())


def case_options(case: Path) -> ProjectOptions:
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


VALID = [c for c in cases() if not (c / "expected-error.txt").is_file()]
INVALID = [c for c in cases() if (c / "expected-error.txt").is_file()]


def reads_env_files(case: Path) -> bool:
    # `config --hash` hashes services before env files are read, `up` after: compose's
    # hashes are `up`'s only for services that read none. The same holds for `label_file`:
    # `up` hashes its paths, `config --hash` does not (measured: `docker compose up -d` labels
    # a service with `label_file` aa14…, while `config --hash` prints b115…; composewatch
    # reproduces `up`'s, the one on containers).
    return any(
        "env_file" in text or "label_file" in text
        for text in (path.read_text() for path in case.rglob("*.y*ml"))
    )


def hashes(text: str) -> dict[str, str]:
    return dict(line.split() for line in text.splitlines() if line.strip())
