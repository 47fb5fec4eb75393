"""The four ways from save to served, one class each, with the same interface:

- start(project): build and start the project, arm the watcher; return once saves are seen
- after_save(): called right after each save is written (only the script floor acts)
- idle(): the tool has finished reacting to the saves so far
- steps(): the phases the tool itself timed for the last save, if it reports any
- watcher_pids(): the watcher's process (its children are found from /proc); [] if none
- filters(service): `docker ps --filter` arguments selecting a service's containers
- stop(): stop the watcher and remove the project's containers, networks and images
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import compose  # type: ignore[import-untyped]
import yaml

from bench import buildkit
from bench.projects import LABEL, Prepared

__all__ = [
    "TOOLS",
    "ComposeWatch",
    "Composewatch",
    "ComposewatchRebuild",
    "GazeLoop",
    "ScriptFloor",
    "Tool",
]

COMPOSE = Path(compose.__file__).parent / "docker-compose"
COMPOSEWATCH = Path(sys.executable).parent / "composewatch"
READY_TIMEOUT_S = 300.0


def _run(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout


def remove_images(project: str) -> None:
    ids = _run(["docker", "images", "-q", "--filter", f"label={LABEL}={project}"]).split()
    if ids:
        _run(["docker", "rmi", "-f", *sorted(set(ids))], check=False)


class Tool:
    name = "tool"

    def __init__(self) -> None:
        self.project: Prepared | None = None
        self.notes: list[str] = []

    @property
    def p(self) -> Prepared:
        assert self.project is not None, "start() first"
        return self.project

    def start(self, project: Prepared) -> None:
        raise NotImplementedError

    def after_save(self) -> None:
        pass

    def idle(self) -> bool:
        return True

    def steps(self) -> list[tuple[str, float]]:
        return []

    def watcher_pids(self) -> list[int]:
        return []

    def filters(self, service: str) -> list[str]:
        return [
            f"label=com.docker.compose.project={self.p.project}",
            f"label=com.docker.compose.service={service}",
        ]

    def stop(self) -> None:
        raise NotImplementedError


class ScriptFloor(Tool):
    """No watcher: the bench itself rebuilds and replaces the container after each save, as the
    simplest script would: `docker build` with the classic builder, `docker rm -f`, `docker run`.
    A Dockerfile that needs BuildKit is posted to the engine's BuildKit instead (the CLI here
    has no buildx, see `bench.buildkit`)."""

    name = "script"

    def __init__(self) -> None:
        super().__init__()
        self._worker: threading.Thread | None = None
        self._steps: list[tuple[str, float]] = []
        self.errors: list[str] = []

    def start(self, project: Prepared) -> None:
        self.project = project
        if project.fixture.buildkit_only:
            self.notes.append(
                f"script ({project.fixture.name}): the Dockerfile needs BuildKit and the docker "
                "CLI here has no buildx, so the script posts the context tar to the engine's "
                "POST /build?version=2 (BuildKit) instead of running `docker build`"
            )
        for service in project.host_port:
            _label_after_from(project.context(service) / "Dockerfile", f"{LABEL}={project.project}")
            self._replace(service)

    def _build(self, service: str) -> list[tuple[str, float]]:
        p = self.p
        if p.fixture.buildkit_only:
            _, steps = buildkit.build(p.context(service), p.image(service), {LABEL: p.project})
            return steps
        began = time.monotonic()
        # The classic builder, as the floor: DOCKER_BUILDKIT=0 (the CLI would otherwise
        # want buildx, and fall back to the classic builder with a warning without it).
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        # The label is in the Dockerfile, after FROM (`start`), as the reference harness puts
        # it: `--label` makes the classic builder commit one more step on every build, a cost
        # of the harness that only the floor would pay.
        cmd = ["docker", "build", "-q"]
        _run([*cmd, "-t", p.image(service), str(p.context(service))], env=env)
        return [("build", time.monotonic() - began)]

    def _replace(self, service: str) -> None:
        p = self.p
        steps = self._build(service)
        began = time.monotonic()
        _run(["docker", "rm", "-f", p.container_name(service)])
        stopped = time.monotonic()
        init = ["--init"] if p.fixture.init else []
        port = f"127.0.0.1:{p.host_port[service]}:{p.fixture.container_port[service]}"
        _run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                p.container_name(service),
                *init,
                "--label",
                f"{LABEL}={p.project}",
                "--label",
                f"bench.service={service}",
                "-p",
                port,
                p.image(service),
            ]
        )
        steps += [("stop", stopped - began), ("run", time.monotonic() - stopped)]
        self._steps = steps

    def steps(self) -> list[tuple[str, float]]:
        return list(self._steps)

    def after_save(self) -> None:
        self._steps = []

        def work() -> None:
            try:
                self._replace(self.p.fixture.target)
            except RuntimeError as err:  # BuildKitError too
                self.errors.append(str(err))

        self._worker = threading.Thread(target=work, daemon=True)
        self._worker.start()

    def idle(self) -> bool:
        return self._worker is None or not self._worker.is_alive()

    def filters(self, service: str) -> list[str]:
        return [f"label={LABEL}={self.p.project}", f"label=bench.service={service}"]

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.join(timeout=120)
        ids = _run(["docker", "ps", "-aq", "--filter", f"label={LABEL}={self.p.project}"]).split()
        if ids:
            _run(["docker", "rm", "-f", *ids], check=False)
        remove_images(self.p.project)
        self.notes += self.errors


def _label_after_from(dockerfile: Path, label: str) -> None:
    """`LABEL label` right after the first FROM: cached with the base, so no build pays for it."""
    lines = dockerfile.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.lstrip().upper().startswith("FROM "):
            lines.insert(i + 1, f"LABEL {label}\n")
            break
    dockerfile.write_text("".join(lines))


class _Watcher(Tool):
    """A tool with a long-running watcher process whose stdout is read line by line."""

    def __init__(self) -> None:
        super().__init__()
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._lock = threading.Lock()

    def _launch(
        self, cmd: list[str], cwd: Path, *, merge_stderr: bool, env: dict[str, str] | None = None
    ) -> None:
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            text=True,
            bufsize=1,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.DEVNULL,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(READY_TIMEOUT_S) or self.proc.poll() is not None:
            tail = "\n".join(self.lines[-20:])
            raise RuntimeError(f"{self.name}: watcher not ready ({' '.join(cmd)}):\n{tail}")
        time.sleep(1.0)  # let the OS watches settle before the first save

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            with self._lock:
                self.lines.append(line)
            self.on_line(line)
        self._ready.set()  # the watcher ended: let a waiting start() see it

    def on_line(self, line: str) -> None:
        raise NotImplementedError

    def watcher_pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None and self.proc.poll() is None else []

    def _stop_watcher(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Ctrl-C, as a user would
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.notes.append(f"{self.name}: did not exit 15 s after SIGINT; killed")
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session, started here
                self.proc.wait()


class ComposeWatch(_Watcher):
    """`docker compose watch` with a `develop.watch` rebuild rule on each build context."""

    name = "compose-watch"

    def start(self, project: Prepared) -> None:
        self.project = project
        data: dict[str, Any] = yaml.safe_load(project.compose_file.read_text())
        for service in data["services"]:
            rule = {"action": "rebuild", "path": str(project.context(service))}
            data["services"][service]["develop"] = {"watch": [rule]}
        self.variant = project.directory / "compose.watch.yaml"
        self.variant.write_text(yaml.safe_dump(data, sort_keys=False))
        base = [str(COMPOSE), "-p", project.project, "-f", str(self.variant)]
        _run([*base, "up", "-d", "--build"], cwd=project.directory)
        self._launch([*base, "watch"], project.directory, merge_stderr=True)

    def on_line(self, line: str) -> None:
        if "Watch enabled" in line:
            self._ready.set()

    def stop(self) -> None:
        self._stop_watcher()
        base = [str(COMPOSE), "-p", self.p.project, "-f", str(self.variant)]
        _run([*base, "down", "-t", "1"], cwd=self.p.directory, check=False)
        remove_images(self.p.project)


class GazeLoop(_Watcher):
    """The seed's loop: a watcher running `docker-compose up --build -d` on every save."""

    name = "gaze"

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0
        self.dones = 0
        self.notes.append("gaze: not installed here; emulated by bench/gaze_loop.py (watchfiles)")

    def start(self, project: Prepared) -> None:
        self.project = project
        compose_cmd = [str(COMPOSE), "-p", project.project, "-f", str(project.compose_file)]
        _run([*compose_cmd, "up", "-d", "--build"], cwd=project.directory)
        loop = [sys.executable, "-m", "bench.gaze_loop", str(project.directory), "--"]
        # `-m bench.gaze_loop` must import from the repo while running in the temp copy.
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        self._launch([*loop, *compose_cmd], project.directory, merge_stderr=False, env=env)

    def on_line(self, line: str) -> None:
        if line == "ready":
            self._ready.set()
        elif line == "run":
            self.runs += 1
        elif line.startswith("done"):
            self.dones += 1
            if line != "done 0":
                self.notes.append(f"gaze: compose exited with {line.split()[1]}")

    def idle(self) -> bool:
        return self.runs == self.dones

    def stop(self) -> None:
        self._stop_watcher()
        base = [str(COMPOSE), "-p", self.p.project, "-f", str(self.p.compose_file)]
        _run([*base, "down", "-t", "1"], cwd=self.p.directory, check=False)
        remove_images(self.p.project)


# Events after which composewatch is done with a save, one way or another.
_OUTCOMES = {"Live", "BuildFailed", "BuildUnchanged", "SwapFailed", "SyncFailed", "RolledBack"}


class Composewatch(_Watcher):
    """`composewatch -p NAME up --json` in the project directory."""

    name = "composewatch"

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []
        self.saves = 0
        self._lives_seen = 0

    def start(self, project: Prepared) -> None:
        self.project = project
        cmd = [str(COMPOSEWATCH), "-p", project.project, "up", "--json"]
        self._launch(cmd, project.directory, merge_stderr=True)

    def on_line(self, line: str) -> None:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            return  # stderr text (errors) stays in self.lines
        if not isinstance(event, dict):
            return
        self.events.append(event)
        if event.get("event") == "Watching":
            self._ready.set()

    def after_save(self) -> None:
        self.saves += 1

    def idle(self) -> bool:
        """Each save ended (live, failed or unchanged), and the image's catch-up after an
        in-place update is over: the next save finds the machine as quiet as the others'."""
        target = self.p.fixture.target
        mine = [e for e in self.events if e.get("service") == target]
        done = [e for e in mine if e.get("event") in _OUTCOMES]
        catching_up = 0
        for event in mine:
            if event.get("event") == "BuildStarted" and event.get("background"):
                catching_up += 1
            elif event.get("event") in ("ImageCaughtUp", "BuildFailed", "UpdateStarted"):
                catching_up = 0  # caught up, failed, or cancelled by a newer save
        return len(done) >= self.saves and catching_up == 0

    def lives(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == "Live"]

    def steps(self) -> list[tuple[str, float]]:
        """The phases of the last `Live` of the target, with composewatch's own save-to-live
        figure as `since_save_s`."""
        target = self.p.fixture.target
        lives = [e for e in self.lives() if e.get("service") == target]
        if len(lives) <= self._lives_seen:  # no new Live since the last call
            return []
        self._lives_seen = len(lives)
        live = lives[-1]
        steps = [(str(phase), float(seconds)) for phase, seconds in live.get("timings") or []]
        if live.get("since_save_s") is not None:
            steps.append(("since_save_s", float(live["since_save_s"])))
        return steps

    def stop(self) -> None:
        self._stop_watcher()
        _run([str(COMPOSEWATCH), "-p", self.p.project, "down"], cwd=self.p.directory, check=False)
        remove_images(self.p.project)


class ComposewatchRebuild(Composewatch):
    """composewatch with in-place updates off (`x-composewatch.in_place: false`): every save
    rebuilds and swaps, the path of a save the Dockerfile does not prove safe."""

    name = "composewatch-rebuild"

    def start(self, project: Prepared) -> None:
        data: dict[str, Any] = yaml.safe_load(project.compose_file.read_text())
        data["x-composewatch"] = {**(data.get("x-composewatch") or {}), "in_place": False}
        project.compose_file.write_text(yaml.safe_dump(data, sort_keys=False))
        super().start(project)


TOOLS: dict[str, type[Tool]] = {
    "script": ScriptFloor,
    "compose-watch": ComposeWatch,
    "gaze": GazeLoop,
    "composewatch": Composewatch,
    "composewatch-rebuild": ComposewatchRebuild,
}
