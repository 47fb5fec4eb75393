"""One watcher per project, in the foreground or detached (`up -d`).

A watcher holds an exclusive lock on `<cache>/watchers/<project>.lock` for its whole life
(the kernel releases it when the process dies, so a crash never leaves a stale lock) and keeps
`<project>.json` up to date: its pid, since when it runs, what it last did. A detached watcher
writes its events as JSON lines to `<project>.log`; `up -d` reads them until the project is
healthy and watched, `watch` renders them as they come.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from composewatch import events as ev
from composewatch.buildcache import default_cache_dir
from composewatch.errors import ComposewatchError
from composewatch.ui import UI

__all__ = [
    "StatusRecorder",
    "WatcherFiles",
    "WatcherRunning",
    "WatcherStatus",
    "hold_lock",
    "parse_event",
    "read_status",
    "refuse_second_watcher",
    "spawn_detached",
    "stop_watcher",
]


class WatcherRunning(ComposewatchError):
    """A second watcher for the same project."""


@dataclass(frozen=True)
class WatcherFiles:
    lock: Path
    status: Path
    log: Path

    @classmethod
    def of(cls, project: str, directory: Path | None = None) -> WatcherFiles:
        base = (directory or default_cache_dir()) / "watchers"
        return cls(base / f"{project}.lock", base / f"{project}.json", base / f"{project}.log")


@dataclass(frozen=True)
class WatcherStatus:
    running: bool
    pid: int | None
    started: str | None
    detached: bool
    last: dict[str, Any] | None  # the last event, as JSON
    last_live: dict[str, Any] | None  # the last Live event


def _is_locked(path: Path) -> bool:
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def read_status(files: WatcherFiles) -> WatcherStatus:
    running = _is_locked(files.lock)
    try:
        data = json.loads(files.status.read_text())
    except (OSError, ValueError):
        data = {}
    return WatcherStatus(
        running=running,
        pid=data.get("pid"),
        started=data.get("started"),
        detached=bool(data.get("detached")),
        last=data.get("last"),
        last_live=data.get("last_live"),
    )


def _running(files: WatcherFiles, project: str) -> WatcherRunning:
    status = read_status(files)
    return WatcherRunning(
        f"a composewatch watcher already runs for project {project!r} "
        f"(pid {status.pid}, since {status.started}). `composewatch -p {project} watch` "
        f"shows it, `composewatch -p {project} unwatch` stops it."
    )


def refuse_second_watcher(files: WatcherFiles, project: str) -> None:
    """WatcherRunning when the project already has a watcher (before starting another)."""
    if _is_locked(files.lock):
        raise _running(files, project)


@contextlib.contextmanager
def hold_lock(files: WatcherFiles, project: str, *, detached: bool) -> Iterator[None]:
    """Be the project's one watcher, or raise WatcherRunning naming the one that is."""
    files.lock.parent.mkdir(parents=True, exist_ok=True)
    handle = files.lock.open("a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _running(files, project) from None
        record = {
            "pid": os.getpid(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "detached": detached,
            "last": None,
            "last_live": None,
        }
        _write_json(files.status, record)
        yield
    finally:
        handle.close()


def _write_json(path: Path, record: dict[str, Any]) -> None:
    """Replace `path` atomically; the temporary file is unique, so writers never collide."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(json.dumps(record))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class StatusRecorder:
    """A UI wrapper that records the last event (and the last Live) in the status file."""

    def __init__(self, inner: UI, files: WatcherFiles) -> None:
        self.inner = inner
        self.files = files
        self._lock = threading.Lock()  # events come from the loop and from worker threads

    def __call__(self, event: ev.Event) -> None:
        self.inner(event)
        if isinstance(event, ev.BuildLog):
            return
        # The status file only informs `status`: failing to write it never stops the watcher.
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._record(event)

    def _record(self, event: ev.Event) -> None:
        record = json.loads(self.files.status.read_text())
        shown = {
            "type": type(event).__name__,
            "ts": datetime.now(UTC).isoformat(timespec="seconds"),
            **dataclasses.asdict(event),
        }
        record["last"] = shown
        if isinstance(event, ev.Live | ev.ServiceStarted):
            record["last_live"] = shown
        _write_json(self.files.status, record)

    def __getattr__(self, name: str) -> Any:  # log(), __enter__ of the inner UI
        return getattr(self.inner, name)


def parse_event(record: dict[str, Any]) -> ev.Event | None:
    """A JSON line back to its event (for `watch`); None for other records (container logs)."""
    name = str(record.get("type"))
    kind: Any = getattr(ev, name, None) if name in ev.__all__ and name != "Event" else None
    if kind is None:
        return None
    values = {}
    for field in dataclasses.fields(kind):
        if field.name not in record:
            return None
        value = record[field.name]
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        values[field.name] = value
    event: ev.Event = kind(**values)
    return event


def spawn_detached(argv: list[str], files: WatcherFiles) -> subprocess.Popen[bytes]:
    """Start `composewatch ... up --json` in its own session, its output in the log file."""
    files.log.parent.mkdir(parents=True, exist_ok=True)
    log = files.log.open("wb")
    with log:
        return subprocess.Popen(
            [sys.executable, "-m", "composewatch", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "COMPOSEWATCH_DETACHED": "1", "PYTHONUNBUFFERED": "1"},
        )


def follow_log(
    files: WatcherFiles,
    on_record: Callable[[dict[str, Any]], bool],
    alive: Callable[[], bool],
    *,
    from_start: bool = True,
    poll_s: float = 0.1,
) -> bool:
    """Feed each JSON line of the log to `on_record` until it returns True (then True) or
    the watcher is gone and the log is read (then False). Non-JSON lines come as {"text"}."""
    while not files.log.exists():
        if not alive():
            return False
        time.sleep(poll_s)
    with files.log.open() as stream:
        if not from_start:
            stream.seek(0, os.SEEK_END)
        return _pump(stream, on_record, alive, poll_s)


def _pump(
    stream: IO[str],
    on_record: Callable[[dict[str, Any]], bool],
    alive: Callable[[], bool],
    poll_s: float,
) -> bool:
    pending = ""
    while True:
        chunk = stream.readline()
        if chunk:
            pending += chunk
            if not pending.endswith("\n"):
                continue
            line, pending = pending.strip(), ""
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = {"text": line}
            if not isinstance(record, dict):
                record = {"text": line}
            if on_record(record):
                return True
            continue
        if not alive():
            return False
        time.sleep(poll_s)


def stop_watcher(files: WatcherFiles, timeout_s: float = 10.0) -> int | None:
    """SIGTERM the project's watcher and wait for its lock to go; its pid, or None when
    none ran."""
    status = read_status(files)
    if not status.running or status.pid is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(status.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _is_locked(files.lock) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _is_locked(files.lock):
        raise ComposewatchError(
            f"the watcher (pid {status.pid}) did not stop within {timeout_s:g} s"
        )
    return status.pid
