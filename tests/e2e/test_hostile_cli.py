"""Every hostile input of issue 9 through the real command line (`python -m composewatch`, a
subprocess): exit code 2 and one paragraph naming the file, no traceback, under a second of
CPU, and a secret planted in each case's `.env` never printed. Prints the figure line
"hostile inputs N, tracebacks 0, over 1 s 0, secrets printed 0".
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SECRET = "Hq3Zr8Lm-Vt5Nc2Xp"
SERVICE = "services:\n  web:\n    image: busybox:latest\n"
BUILT = "services:\n  web:\n    build: .\n"
CPU_LIMIT_S = 1.0
WALL_LIMIT_S = 20.0  # a hang guard only: a shared CI machine's wall clock proves nothing

BOMB = "".join(
    f"  {name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def _chain(count: int) -> str:
    services = "".join(
        f"  s{i}:\n    image: busybox:latest\n    depends_on: [s{i + 1}]\n" for i in range(count)
    )
    return f"services:\n{services}  s{count}:\n    image: busybox:latest\n"


@dataclass(frozen=True)
class Case:
    """A hostile input: files to write, the arguments, the exit code and words expected."""

    files: dict[str, str | bytes] = field(default_factory=dict)
    args: tuple[str, ...] = ("config",)
    exit_code: int = 2
    words: tuple[str, ...] = ("compose.yaml",)  # the file (and key) the message must name
    setup: Callable[[Path], None] | None = None
    valid: bool = False  # a valid input: the CPU limit is for refusing bad input


def _fifo(name: str) -> Callable[[Path], None]:
    return lambda directory: os.mkfifo(directory / name)


CASES: dict[str, Case] = {
    "alias bomb": Case({"compose.yaml": SERVICE + "x-bomb:\n  a: &a [lol, lol, lol]\n" + BOMB}),
    "300 nested [": Case({"compose.yaml": SERVICE + "x-deep: " + "[" * 300 + "]" * 300 + "\n"}),
    "30 MiB document": Case({"compose.yaml": SERVICE + "x-big: '" + "a" * (30 << 20) + "'\n"}),
    "5,000-digit integer": Case({"compose.yaml": SERVICE + "    cpu_shares: " + "9" * 5000}),
    "nested interpolation": Case(
        {"compose.yaml": SERVICE + "    x-i: " + "${A:-" * 500 + "x" + "}" * 500 + "\n"}
    ),
    "volumes: [1.5]": Case({"compose.yaml": SERVICE + "    volumes: [1.5]\n"}, words=("volumes",)),
    "include: [1]": Case({"compose.yaml": "include: [1]\n" + SERVICE}, words=("include",)),
    "secrets: [[]]": Case({"compose.yaml": SERVICE + "    secrets: [[]]\n"}, words=("secrets",)),
    "env_file: [1]": Case({"compose.yaml": SERVICE + "    env_file: [1]\n"}, words=("env_file",)),
    "develop.watch: [1]": Case(
        {"compose.yaml": BUILT + "    develop: {watch: [1]}\n", "Dockerfile": "FROM busybox\n"},
        words=("develop.watch",),
    ),
    "!!timestamp": Case({"compose.yaml": SERVICE + "    labels: {a: !!timestamp 2001-12-14}\n"}),
    "!!binary": Case({"compose.yaml": SERVICE + "    labels: {a: !!binary aGVsbG8=}\n"}),
    "!!set": Case({"compose.yaml": SERVICE + "    labels: !!set {a, b}\n"}),
    "!!int abc": Case({"compose.yaml": SERVICE + "    cpu_shares: !!int abc\n"}),
    "!!float abc": Case({"compose.yaml": SERVICE + "    cpus: !!float abc\n"}),
    "recursive alias": Case({"compose.yaml": SERVICE + "x-r: &r [*r]\n"}),
    "sequence as key": Case({"compose.yaml": SERVICE + "x-k: {? [a] : b}\n"}),
    "2,000-service depends_on chain (valid)": Case(
        {"compose.yaml": _chain(2000)}, exit_code=0, words=(), valid=True
    ),
    "2,000-service depends_on chain, up": Case(
        {"compose.yaml": _chain(2000)},
        args=("up", "--no-watch"),
        words=("Docker engine",),
        valid=True,
    ),
    "depends_on cycle of 2,000": Case(
        {"compose.yaml": _chain(2000).replace("  s2000:\n", "  s2000:\n    depends_on: [s0]\n")},
        words=("dependency cycle",),
    ),
    "extends chain of 1,500": Case(
        {
            "compose.yaml": "services:\n"
            + "".join(f"  s{i}:\n    extends: s{i + 1}\n" for i in range(1500))
            + "  s1500:\n    image: busybox:latest\n"
        },
        words=("extends chain",),
    ),
    "include chain of 100 files": Case(
        {
            **{f"c{i}.yaml": f"include: [c{i + 1}.yaml]\n" for i in range(100)},
            "c100.yaml": SERVICE,
            "compose.yaml": "include: [c0.yaml]\n",
        },
        words=("include",),
    ),
    "invalid UTF-8 in .env": Case(
        {"compose.yaml": SERVICE, ".env": b"A=\xff\xfe\n"}, words=(".env",)
    ),
    "invalid UTF-8 in env_file": Case(
        {"compose.yaml": SERVICE + "    env_file: [app.env]\n", "app.env": b"A=\xc3\x28\n"},
        words=("app.env",),
    ),
    "invalid UTF-8 in compose.yaml": Case({"compose.yaml": SERVICE.encode() + b"    x: \xff\n"}),
    "FIFO as -f": Case(
        args=("-f", "pipe.yaml", "config"), words=("pipe.yaml", "FIFO"), setup=_fifo("pipe.yaml")
    ),
    "FIFO as include env_file": Case(
        {"compose.yaml": "include: [{path: inc.yaml, env_file: pipe.env}]\n", "inc.yaml": SERVICE},
        words=("pipe.env", "FIFO"),
        setup=_fifo("pipe.env"),
    ),
    "FIFO as --env-file": Case(
        {"compose.yaml": SERVICE},
        args=("--env-file", "pipe.env", "config"),
        words=("pipe.env",),
        setup=_fifo("pipe.env"),
    ),
    "/dev/zero as -f": Case(args=("-f", "/dev/zero", "config"), words=("/dev/zero", "device")),
    "/dev/urandom as -f": Case(args=("-f", "/dev/urandom", "config"), words=("/dev/urandom",)),
    "directory as -f": Case(args=("-f", ".", "config"), words=("directory",)),
    "service named [/x]": Case(
        {"compose.yaml": "services:\n  '[/x]':\n    image: busybox:latest\n"}, words=("[/x]",)
    ),
    "terminal escape in the file name": Case(
        {"\x1b]0;pwned\x07.yml": SERVICE + "    ports: [bad]\n"},
        args=("-f", "\x1b]0;pwned\x07.yml", "config"),
        words=("\\x1b]0;pwned\\x07.yml",),
    ),
    "terminal escape in a service name": Case(
        {"compose.yaml": 'services:\n  "a\\e[2Jb":\n    image: busybox:latest\n'},
        words=("\\x1b[2J",),
    ),
    "develop.watch ignore pattern [": Case(
        {
            "compose.yaml": BUILT + "    develop:\n      watch:\n"
            "        - {path: ., action: sync, target: /app, ignore: ['[']}\n",
            "Dockerfile": "FROM busybox\n",
        },
        words=("services.web.develop.watch[0].ignore[0]",),
    ),
    "health url port 99999": Case(
        {
            "compose.yaml": SERVICE
            + "x-composewatch:\n  services:\n    web:\n      health: {url: 'http://127.0.0.1:99999/'}\n"
        },
        words=("x-composewatch.services.web.health.url",),
    ),
    "stop_timeout_s: .inf": Case(
        {
            "compose.yaml": SERVICE
            + "x-composewatch:\n  services:\n    web:\n      stop_timeout_s: .inf\n"
        },
        words=("x-composewatch.services.web.stop_timeout_s",),
    ),
    "scale: 99999999999 at up": Case(
        {"compose.yaml": SERVICE + "    scale: 99999999999\n"},
        args=("up", "--no-watch"),
        words=("compose.yaml", "services.web.scale", "at most 100"),
    ),
    "deploy.replicas: 101 at up -d": Case(
        {"compose.yaml": SERVICE + "    deploy: {replicas: 101}\n"},
        args=("up", "-d"),
        words=("compose.yaml", "services.web.deploy.replicas"),
    ),
    ".env unclosed quote": Case(
        {"compose.yaml": SERVICE, ".env": f'TOKEN="{SECRET}\nB=1\n'}, words=(".env", "TOKEN")
    ),
    "secret in ports": Case(
        {"compose.yaml": SERVICE + "    ports: ['${HOSTILE_SECRET}']\n"},
        words=("services.web.ports[0]", "HOSTILE_SECRET"),
    ),
    "secret in a :? message": Case(
        {"compose.yaml": SERVICE + "    x-a: ${UNSET:?${HOSTILE_SECRET}}\n"},
        words=("UNSET",),
    ),
    "secret in the health url": Case(
        {
            "compose.yaml": SERVICE
            + "x-composewatch:\n  services:\n    web:\n      health: {url: 'http://${HOSTILE_SECRET}/'}\n"
        },
        words=("health.url",),
    ),
    "secret in a duration": Case(
        {"compose.yaml": SERVICE + "    stop_grace_period: ${HOSTILE_SECRET}\n"},
        words=("stop_grace_period",),
    ),
    "secret in a size": Case(
        {"compose.yaml": SERVICE + "    mem_limit: ${HOSTILE_SECRET}\n"}, words=("mem_limit",)
    ),
    "secret in cpus": Case(
        {"compose.yaml": SERVICE + "    cpus: ${HOSTILE_SECRET}\n"}, words=("cpus",)
    ),
    "secret in volumes": Case(
        {"compose.yaml": SERVICE + "    volumes: ['${HOSTILE_SECRET}::/x']\n"}, words=("volumes",)
    ),
}


@dataclass
class Outcome:
    exit_code: int
    output: str
    cpu_s: float
    wall_s: float


def _run(directory: Path, args: tuple[str, ...]) -> Outcome:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(directory),
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",  # never a real engine
        "HOSTILE_SECRET": SECRET,
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "composewatch", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=WALL_LIMIT_S,
        env=env,
    )
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Outcome(result.returncode, result.stdout + result.stderr, cpu, wall)


def _baseline_cpu_s(tmp_path: Path) -> float:
    """CPU time of starting the command line and printing its help: not the input's doing."""
    return _run(tmp_path, ("--help",)).cpu_s


def test_hostile_inputs_fail_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = _baseline_cpu_s(tmp_path)
    problems: list[str] = []
    tracebacks = slow = secrets = 0
    slowest, slowest_name = 0.0, ""
    for index, (name, case) in enumerate(CASES.items()):
        directory = tmp_path / f"case{index}"
        directory.mkdir()
        (directory / ".env").write_text(f"HOSTILE_SECRET={SECRET}\n")
        for file, content in case.files.items():
            path = directory / file
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        if case.setup is not None:
            case.setup(directory)
        outcome = _run(directory, case.args)
        text = outcome.output
        if "Traceback" in text:
            tracebacks += 1
        if any(c in text for c in "\x1b\x07\x9b\u202e"):
            problems.append(f"{name}: a control character reached the terminal: {text!r}")
        if not case.valid and outcome.cpu_s - baseline > slowest:
            slowest, slowest_name = outcome.cpu_s - baseline, name
        if not case.valid and outcome.cpu_s - baseline > CPU_LIMIT_S:
            slow += 1
            problems.append(f"{name}: {outcome.cpu_s:.2f} s of CPU")
        if SECRET in text or any(part in text for part in SECRET.split("-")):
            secrets += 1
            problems.append(f"{name}: secret printed")
        if outcome.exit_code != case.exit_code:
            problems.append(f"{name}: exit {outcome.exit_code}: {text[-300:]}")
        elif case.exit_code == 2:
            paragraph = text.strip()
            if not paragraph.startswith("error: ") or "\n\n" in paragraph:
                problems.append(f"{name}: not one paragraph: {paragraph[:300]}")
            problems += [
                f"{name}: {w!r} not named: {paragraph}" for w in case.words if w not in text
            ]
    with capsys.disabled():
        print(
            f"\nhostile inputs {len(CASES)}, tracebacks {tracebacks}, over {CPU_LIMIT_S:g} s "
            f"{slow}, secrets printed {secrets} (slowest refusal: {slowest_name}, "
            f"{slowest:.2f} s of CPU beyond the {baseline:.2f} s start-up)"
        )
    assert not problems, "\n".join(problems)
