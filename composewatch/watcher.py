"""File-system change detection: the only importer of `watchfiles`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
from watchfiles import Change, awatch

from composewatch.mapping import is_noise

__all__ = ["ChangeBatch", "watch_changes"]


@dataclass(frozen=True)
class ChangeBatch:
    paths: frozenset[Path]
    delivered_at: float  # wall clock (time.time()), comparable with the files' mtimes

    def saved_at(self) -> float:
        """When the newest of these files was written: the moment the user saved."""
        mtimes = []
        for path in self.paths:
            try:
                mtimes.append(path.stat().st_mtime)
            except OSError:  # deleted since
                continue
        return min(max(mtimes, default=self.delivered_at), self.delivered_at)


def _not_noise(_change: Change, path: str) -> bool:
    return not is_noise(Path(path))


async def watch_changes(
    roots: Sequence[Path],
    *,
    quiet_ms: int,
    stop: anyio.Event | None = None,
    max_batch_ms: int = 1_600,
) -> AsyncIterator[ChangeBatch]:
    """Yield the changed paths under `roots` once `quiet_ms` pass without a new event.

    watchfiles calls that quiet period `step`; `max_batch_ms` (its `debounce`) bounds how long
    a steady stream of events is grouped before a batch is handed over anyway.
    """
    async for changes in awatch(
        *roots,
        watch_filter=_not_noise,
        step=quiet_ms,
        debounce=max_batch_ms,
        stop_event=stop,
    ):
        yield ChangeBatch(frozenset(Path(path) for _, path in changes), time.time())
