"""File-system change detection: the only importer of `watchfiles`."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from watchfiles import Change, awatch

from composewatch.mapping import is_noise

__all__ = ["ChangeBatch", "OwnWrites", "after_checkouts", "git_locks", "watch_changes"]

CHECKOUT_POLL_S = 0.1  # how often a running `git checkout` (its index.lock) is looked at
CHECKOUT_MAX_S = 300.0  # a lock older than this is stale (a crashed git): stop waiting


@dataclass(frozen=True)
class ChangeBatch:
    paths: frozenset[Path]
    delivered_at: float  # wall clock (time.time()), comparable with the files' mtimes
    # The watcher failed and was started again: changes in between are unknown, so every
    # watched service must be looked at again (its context digest says whether it changed).
    rescan: bool = False

    def saved_at(self) -> float:
        """When the newest of these files was written: the moment the user saved."""
        mtimes = []
        for path in self.paths:
            try:
                mtimes.append(path.stat().st_mtime)
            except OSError:  # deleted since
                continue
        return min(max(mtimes, default=self.delivered_at), self.delivered_at)


@dataclass(frozen=True)
class OwnWrites:
    """What composewatch writes itself, which is never a save: the files its stdout and
    stderr go to (`up > cw.log`, `nohup`'s nohup.out), known by device and inode wherever
    they are and whatever they are called, and its state folders (build cache, watcher
    logs). In a build context, each line printed would otherwise start a build."""

    files: frozenset[tuple[int, int]] = frozenset()
    folders: tuple[Path, ...] = ()

    @classmethod
    def load(cls, folders: Iterable[Path] = (), fds: Iterable[int] = (1, 2)) -> OwnWrites:
        files = set()
        for fd in fds:
            try:
                info = os.fstat(fd)
            except OSError:  # closed
                continue
            if stat.S_ISREG(info.st_mode):  # a terminal or a pipe is no file in the tree
                files.add((info.st_dev, info.st_ino))
        return cls(frozenset(files), tuple(Path(os.path.realpath(f)) for f in folders))

    def __contains__(self, path: Path) -> bool:
        if any(path.is_relative_to(f) for f in self.folders):
            return True
        if not self.files:
            return False
        try:
            info = os.stat(path)
        except OSError:  # gone: whatever it was, it is no longer ours to write
            return False
        return (info.st_dev, info.st_ino) in self.files


def _filter(own: OwnWrites) -> Callable[[Change, str], bool]:
    def keep(_change: Change, path: str) -> bool:
        return not is_noise(Path(path)) and Path(path) not in own

    return keep


async def watch_changes(
    roots: Sequence[Path],
    *,
    quiet_ms: int,
    on_ready: Callable[[], None] = lambda: None,
    max_batch_ms: int = 3_000,
    on_error: Callable[[str], None] = lambda message: None,
    restart_delay_s: float = 0.2,
    own: OwnWrites | None = None,
) -> AsyncIterator[ChangeBatch]:
    """Yield the changed paths under `roots` at most `quiet_ms` after the last event.

    watchfiles checks for new events every `step` ms and yields at the first check that finds
    none, i.e. between one and two steps after the last event: a step of a third of the quiet
    period hands a save over 10-20 ms after its last event by default, never later than
    `quiet_ms` (a save's own events come within a millisecond or two; the saves of a burst
    are merged after this, by `app._after_checkouts`). `max_batch_ms` (its `debounce`) bounds
    how long a steady stream of events is grouped before a batch is handed over anyway.
    `on_ready` is called once the OS watches are in place: a save after that is never missed.

    The OS watcher can fail (watchfiles gives up on a file name that is not UTF-8, a watched
    folder can vanish): then `on_error` says so, the watches are armed again and a `rescan`
    batch stands for whatever changed in between. The watch never ends on its own.

    `own`: what composewatch writes itself, never handed over (by default: its stdout and
    stderr, as they are now).
    """
    keep = _filter(own if own is not None else OwnWrites.load())
    step_ms = max(1, quiet_ms // 3)
    ready = on_ready
    while True:
        existing = [root for root in roots if root.exists()]
        changes = awatch(*existing, watch_filter=keep, step=step_ms, debounce=max_batch_ms)
        pending = asyncio.ensure_future(anext(changes))
        # The first step of awatch builds its RustNotify, which arms the OS watches
        # synchronously before awaiting its first batch in a thread.
        await asyncio.sleep(0)
        ready()
        ready = lambda: None  # noqa: E731 - once only
        try:
            while True:
                try:
                    raw = await pending
                except StopAsyncIteration:
                    return
                pending = asyncio.ensure_future(anext(changes))
                yield ChangeBatch(_paths(raw), time.time())
        except Exception as exc:  # the OS watcher gave up: arm it again
            on_error(f"the file watcher failed ({_first(exc)}); watching again")
        finally:
            pending.cancel()
            await changes.aclose()
        await asyncio.sleep(restart_delay_s)
        yield ChangeBatch(frozenset(), time.time(), rescan=True)


def _paths(raw: set[tuple[Change, str]]) -> frozenset[Path]:
    """The changed paths, less those created and gone again within the batch (an editor's
    or `sed -i`'s temporary file): they never held a save, and were never in a container."""
    added = {path for change, path in raw if change is Change.added}
    return frozenset(Path(path) for _, path in raw if path not in added or os.path.lexists(path))


def _first(exc: BaseException) -> str:
    """The innermost message (anyio wraps the watcher's error in an exception group)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


# Checkouts and bursts: what the watcher hands on ───────────────────────────────────────────


def git_locks(roots: Sequence[Path]) -> set[Path]:
    """The `index.lock` of each git repository holding a watched root: present while a
    `git checkout` (or rebase, merge, stash) rewrites the work tree."""
    locks = set()
    for root in roots:
        for folder in (root, *root.parents):
            if (folder / ".git").is_dir():
                locks.add(folder / ".git" / "index.lock")
                break
    return locks


async def after_checkouts(
    batches: AsyncIterator[ChangeBatch],
    locks: set[Path],
    settle_s: float = 0.2,
    burst_quiet_s: float = 0.0,
) -> AsyncIterator[ChangeBatch]:
    """Pass batches on, except while a git checkout runs (an `index.lock` exists): then its
    batches are merged, and handed over once the lock has gone and no batch came for
    `settle_s` (the watcher still holds the last files git wrote), so a branch switch of
    thousands of files gives one build per service, of the checked-out state.

    A batch that comes less than `burst_quiet_s` after the one before is a burst (an editor's
    "save all", a formatter, an agent): it is merged with those that follow until the burst
    pauses for `burst_quiet_s`, so the burst's saves go as one round, not one stale restart or
    build after another. The first batch of a burst is never held: a lone save goes at once."""
    queue: asyncio.Queue[ChangeBatch] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    previous_at = -math.inf

    async def read() -> None:
        async for batch in batches:
            queue.put_nowait(batch)

    reader = asyncio.create_task(read())
    try:
        while (batch := await _next(queue, reader)) is not None:
            waited_s = 0.0
            while any(lock.exists() for lock in locks) and waited_s < CHECKOUT_MAX_S:
                await asyncio.sleep(CHECKOUT_POLL_S)
                waited_s += CHECKOUT_POLL_S
                while not queue.empty():
                    batch = _merge(batch, queue.get_nowait())
            if waited_s:
                with contextlib.suppress(TimeoutError):
                    while True:
                        late = await asyncio.wait_for(queue.get(), settle_s)
                        batch = _merge(batch, late)
            arrived_at = loop.time()
            if arrived_at - previous_at < burst_quiet_s:
                with contextlib.suppress(TimeoutError):
                    while True:
                        batch = _merge(batch, await asyncio.wait_for(queue.get(), burst_quiet_s))
                        arrived_at = loop.time()
            previous_at = arrived_at
            while not queue.empty():
                batch = _merge(batch, queue.get_nowait())
            yield batch
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def _next(
    queue: asyncio.Queue[ChangeBatch], reader: asyncio.Task[None]
) -> ChangeBatch | None:
    """The next batch; None once the watcher has ended (what ended it is raised)."""
    getter = asyncio.ensure_future(queue.get())
    try:
        await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    if not queue.empty():
        return queue.get_nowait()
    reader.result()  # the watcher ended: raise what ended it
    return None


def _merge(a: ChangeBatch, b: ChangeBatch) -> ChangeBatch:
    return ChangeBatch(a.paths | b.paths, max(a.delivered_at, b.delivered_at), a.rescan or b.rescan)
