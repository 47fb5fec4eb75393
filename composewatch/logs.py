"""Container output, interleaved as `docker compose logs` shows it.

One thread per container reads its log stream; with `follow`, another watches the project's
start events, so the container a swap starts is followed from its first line. Lines reach
`on_line` one at a time (under a lock), in the order they arrive.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from composewatch.engine.project import (
    ContainerRow,
    follow_logs,
    inspect_row,
    project_events,
)
from composewatch.errors import EngineError
from composewatch.ui import LogLine

__all__ = ["LogFollower", "LogLine"]


@dataclass
class LogFollower:
    client: Any  # docker.DockerClient: only engine/ handles it
    project: str
    on_line: Callable[[LogLine], None]
    services: frozenset[str] = frozenset()  # empty: every service
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _followed: set[str] = field(default_factory=set)
    # Followed containers whose stream ended (they stopped), with when: a restart in place
    # (a save updated it) is followed again from there, without its earlier lines.
    _ended: dict[str, datetime] = field(default_factory=dict)
    _threads: list[threading.Thread] = field(default_factory=list)

    def show(self, rows: Iterable[ContainerRow], *, follow: bool, tail: int | None) -> None:
        """Print the given containers' logs; with `follow`, keep going (and pick up the
        containers started later) until interrupted."""
        if follow:
            self.follow_new_containers(since=datetime.now(UTC))
        for row in rows:
            self._start(row, follow=follow, tail=tail, since=None)
        for thread in list(self._threads):
            thread.join()
        if follow:  # the event thread never ends by itself: wait to be interrupted
            threading.Event().wait()

    def follow_new_containers(self, since: datetime) -> None:
        """Follow every container of the project that starts from now on (daemon threads)."""
        thread = threading.Thread(target=self._watch_starts, args=(since,), daemon=True)
        thread.start()

    def _watch_starts(self, since: datetime) -> None:
        try:
            for action, cid in project_events(self.client, self.project):
                if action != "start" or cid in self._followed:
                    continue
                row = inspect_row(self.client, cid)
                if row and row.service and (not self.services or row.service in self.services):
                    with self._lock:
                        resumed = self._ended.pop(cid, since)
                    self._start(row, follow=True, tail=None, since=resumed)
        except EngineError:
            return  # the engine went away: nothing more to follow

    def _start(
        self, row: ContainerRow, *, follow: bool, tail: int | None, since: datetime | None
    ) -> None:
        with self._lock:
            if row.id in self._followed:
                return
            self._followed.add(row.id)
        thread = threading.Thread(target=self._pump, args=(row, follow, tail, since), daemon=True)
        self._threads.append(thread)
        thread.start()

    def _pump(
        self, row: ContainerRow, follow: bool, tail: int | None, since: datetime | None
    ) -> None:
        try:
            for text in follow_logs(self.client, row, follow=follow, tail=tail, since=since):
                with self._lock:
                    self.on_line(LogLine(row.service, _display_name(row), text))
        except EngineError:
            return
        if follow:  # it stopped: if it starts again, its next lines are followed too
            ended = datetime.now(UTC)
            with self._lock:
                self._followed.discard(row.id)
                self._ended[row.id] = ended
            again = inspect_row(self.client, row.id)  # its start event may have gone by
            if again is not None and again.state == "running":
                with self._lock:
                    self._ended.pop(row.id, None)
                self._start(again, follow=True, tail=None, since=ended)


def _display_name(row: ContainerRow) -> str:
    """compose's log prefix, `web-1`: from the labels, so a container swapped in under a
    temporary name shows as the one it replaces."""
    return f"{row.service}-{row.number}" if row.service and row.number else row.name
