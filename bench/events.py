"""The engine's events for one bench project, read live: they gate the poller and time the swap.

`docker events` is filtered on the `bench.project` label, which every container of a bench
project carries (the script sets it; compose and composewatch containers inherit it from the
image's build label) and so do its images.
"""

from __future__ import annotations

import subprocess
import threading
import time

from bench.gate import EngineEvent, Gate, parse_event
from bench.projects import LABEL

__all__ = ["EventWatch", "follow_events"]


def follow_events(since: str, *filters: str) -> subprocess.Popen[str]:
    """`docker events` from `since` (epoch seconds as text), one JSON object a line, kept
    to `filters` (e.g. `type=container`, `label=…`); read its stdout line by line."""
    argv = ["docker", "events", "--since", since, "--format", "{{json .}}"]
    for condition in filters:
        argv += ["--filter", condition]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1
    )


class EventWatch:
    """Follows the project's container and image events; `gate_open()` for the target service."""

    def __init__(self, project: str, service: str) -> None:
        self.project = project
        self.gate = Gate(service)
        self.events: list[EngineEvent] = []
        self._lock = threading.Lock()
        self._armed = threading.Event()
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        since = f"{time.time():.3f}"
        self._proc = follow_events(since, f"label={LABEL}={self.project}")
        threading.Thread(target=self._read, daemon=True).start()
        self._seed()

    def _seed(self) -> None:
        """What exists already (events from `--since` on are applied too; they win)."""
        out = subprocess.run(
            [
                "docker",
                "ps",
                "-a",
                "--no-trunc",
                "--filter",
                f"label={LABEL}={self.project}",
                "--format",
                '{{.ID}} {{.State}} {{.Label "com.docker.compose.service"}}'
                '{{.Label "bench.service"}}',
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        states = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2] == self.gate.service:
                states[parts[0]] = parts[1]
        with self._lock:
            self.gate.seed(states)

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            event = parse_event(line)
            if event is None:
                continue
            with self._lock:
                self.events.append(event)
                self.gate.apply(event)

    def gate_open(self) -> bool:
        with self._lock:
            return self.gate.open

    def running(self) -> set[str]:
        """The target service's containers the engine has reported running."""
        with self._lock:
            return {c for c, state in self.gate.states.items() if state == "running"}

    def since(self, at_s: float) -> list[EngineEvent]:
        """The events the engine timed at or after `at_s` (wall clock), in order."""
        with self._lock:
            return [e for e in self.events if e.at_s >= at_s]

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
