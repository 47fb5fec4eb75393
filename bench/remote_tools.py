"""The tools `bench.remote` runs, one class each with the same interface (`Runner`):

- the constructor starts the project (in `folder`, with `env` naming the engine) and returns
  once the tool watches (or, for `compose`, once `up` returned);
- saved(): right after a save is written;
- idle(): the tool has finished reacting to the last save;
- describe(save): fill in what the tool itself said about the last save;
- stop(): stop the tool and `down` the project.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import compose  # type: ignore[import-untyped]

from bench.remote_report import Save
from bench.sshengine import Relay

__all__ = ["QUIET_S", "RUNNERS", "START_TIMEOUT_S", "Runner", "run", "wait"]

COMPOSE = str(Path(compose.__file__).parent / "docker-compose")
COMPOSEWATCH = str(Path(sys.executable).parent / "composewatch")
QUIET_S = 1.0  # compose watch says nothing when done: this long without a line is quiet
START_TIMEOUT_S = 600.0
# composewatch's events after which it is done with a save, one way or another.
_OUTCOMES = {"Live", "BuildFailed", "BuildUnchanged", "SwapFailed", "SyncFailed", "RolledBack"}
_FAILURES = ("BuildFailed", "SwapFailed", "SyncFailed", "RolledBack")


def run(argv: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout


def wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Runner(Protocol):
    def saved(self) -> None: ...
    def idle(self) -> bool: ...
    def describe(self, save: Save) -> None: ...
    def stop(self) -> None: ...


class _Watcher:
    """A long-running process whose output is read line by line."""

    name = "watcher"

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.lines: list[str] = []
        self.last_line = time.monotonic()
        self.proc: subprocess.Popen[str] | None = None

    def _launch(self, argv: list[str], ready: Callable[[], bool]) -> None:
        self.proc = proc = subprocess.Popen(
            argv, cwd=self.folder, env=self.env, text=True, bufsize=1, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        wait(lambda: proc.poll() is not None or ready(), START_TIMEOUT_S, f"{self.name} to watch")
        if proc.poll() is not None:
            raise RuntimeError(f"{self.name} ended:\n" + "\n".join(self.lines[-20:]))

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            self.lines.append(line)
            self.last_line = time.monotonic()
            self.on_line(line)

    def on_line(self, line: str) -> None:
        pass

    def _end(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # Ctrl-C, as a user would
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session, started here
            self.proc.wait()


class ComposewatchRun(_Watcher):
    """`composewatch -p NAME up --json`, its events read as they come; the relay's counts
    are noted on each `Live` (bytes up to live)."""

    name = "composewatch"

    def __init__(self, folder: Path, project: str, env: dict[str, str], relay: Relay | None):
        super().__init__(folder, env)
        self.project, self.relay = project, relay
        self.events: list[dict[str, Any]] = []
        self.mark = 0  # index of the first event after the last save
        self._launch([COMPOSEWATCH, "-p", project, "up", "--json"], self._watching)

    def _watching(self) -> bool:
        return any(e.get("type") == "Watching" for e in self.events)

    def on_line(self, line: str) -> None:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            return  # stderr text (errors) stays in self.lines
        if isinstance(event, dict):
            if event.get("type") == "Live" and self.relay is not None:
                event["_counts"] = self.relay.counts()
            self.events.append(event)

    def saved(self) -> None:
        self.mark = len(self.events)

    def since(self) -> list[dict[str, Any]]:
        return self.events[self.mark :]

    def idle(self) -> bool:
        """The save ended (live, failed or unchanged) and no background catch-up build runs."""
        catching_up = False
        for event in self.since():
            kind = event.get("type")
            if kind == "BuildStarted":
                catching_up = bool(event.get("background"))
            elif kind in ("ImageCaughtUp", "BuildFailed"):
                catching_up = False
        done = self.mark == 0 or any(e.get("type") in _OUTCOMES for e in self.since())
        return done and not catching_up

    def describe(self, save: Save) -> None:
        for event in self.since():
            kind = event.get("type")
            if kind == "Live" and save.live_s is None:
                save.live_s, save.how = event.get("since_save_s"), str(event.get("how", ""))
                save.timings = [(str(k), float(v)) for k, v in event.get("timings") or []]
                if "_counts" in event:
                    save.sent_to_live = event["_counts"][0]
            elif kind == "BuildLog" and str(event.get("line", "")).startswith("context:"):
                save.session.append(str(event["line"]))
            elif kind in _FAILURES:
                save.how = f"{kind}: {event}"

    def stop(self) -> None:
        self._end()
        run([COMPOSEWATCH, "-p", self.project, "down"], self.folder, self.env, check=False)


class ComposeRun:
    """`docker compose up -d --build` at the start and again after each save."""

    def __init__(self, folder: Path, project: str, env: dict[str, str], relay: Relay | None):
        self.folder, self.env = folder, env
        self.base = [COMPOSE, "-p", project, "-f", str(folder / "compose.yaml")]
        self.errors: list[str] = []
        self._worker: threading.Thread | None = None
        run([*self.base, "up", "-d", "--build"], folder, env)

    def saved(self) -> None:
        def up() -> None:
            try:
                run([*self.base, "up", "-d", "--build"], self.folder, self.env)
            except RuntimeError as err:
                self.errors.append(str(err))

        self._worker = threading.Thread(target=up, daemon=True)
        self._worker.start()

    def idle(self) -> bool:
        return self._worker is None or not self._worker.is_alive()

    def describe(self, save: Save) -> None:
        if self.errors:
            save.how = self.errors.pop()

    def stop(self) -> None:
        run([*self.base, "down", "-t", "1"], self.folder, self.env, check=False)


class ComposeWatchRun(_Watcher):
    """`docker compose up -d --build`, then `docker compose watch` with a rebuild rule on the
    context (the compose file has it). Quiet: nothing printed for QUIET_S (compose says
    nothing when it is done)."""

    name = "compose watch"

    def __init__(self, folder: Path, project: str, env: dict[str, str], relay: Relay | None):
        super().__init__(folder, env)
        self.base = [COMPOSE, "-p", project, "-f", str(folder / "compose.yaml")]
        self.mark = 0  # index of the first line after the last save
        run([*self.base, "up", "-d", "--build"], folder, env)
        self._launch([*self.base, "watch"], lambda: any("Watch enabled" in x for x in self.lines))
        time.sleep(1.0)  # let its watches settle before the first save

    def saved(self) -> None:
        self.mark = len(self.lines)

    def idle(self) -> bool:
        return time.monotonic() - self.last_line >= QUIET_S

    def describe(self, save: Save) -> None:
        # compose logs e.g. "http2: server: error reading preface from client dummy-1" and
        # still serves: kept as what it said, with the date and time cut off.
        save.said += [
            x[20:] if x[:4].isdigit() else x for x in self.lines[self.mark :] if "rror" in x
        ]

    def stop(self) -> None:
        self._end()
        run([*self.base, "down", "-t", "1"], self.folder, self.env, check=False)


RUNNERS: dict[str, type[ComposewatchRun | ComposeRun | ComposeWatchRun]] = {
    "composewatch": ComposewatchRun,
    "composewatch-rebuild": ComposewatchRun,  # the compose file turns in-place updates off
    "compose": ComposeRun,
    "compose-watch": ComposeWatchRun,
}
