"""The watcher on a real file system (inotify through watchfiles); no Docker needed, but a real
file system, hence here rather than in tests/unit."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from composewatch.watcher import ChangeBatch, OwnWrites, watch_changes


async def first_batches(
    root: Path, write: object, quiet_ms: int = 50, max_batch_ms: int = 3_000
) -> list[ChangeBatch]:
    armed = asyncio.Event()
    batches: list[ChangeBatch] = []

    async def collect() -> None:
        changes = watch_changes(
            [root], quiet_ms=quiet_ms, on_ready=armed.set, max_batch_ms=max_batch_ms
        )
        async for batch in changes:
            batches.append(batch)

    task = asyncio.create_task(collect())
    await asyncio.wait_for(armed.wait(), 5)
    write()  # type: ignore[operator]
    await asyncio.sleep(0.6 + quiet_ms / 1000)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return batches


def test_a_save_right_after_ready_is_seen(tmp_path: Path) -> None:
    target = tmp_path / "app.py"
    batches = asyncio.run(first_batches(tmp_path, lambda: target.write_text("x")))
    assert batches and target in batches[0].paths
    assert batches[0].saved_at() <= batches[0].delivered_at


def test_a_burst_of_5000_files_arrives_as_one_batch(tmp_path: Path) -> None:
    (tmp_path / "gen").mkdir()

    def burst() -> None:
        for n in range(5000):
            (tmp_path / "gen" / f"f{n}.js").write_text(str(n))

    # Grouping, not the cap on a batch's length, is under test: a loaded machine may take
    # longer than the default cap to write 5,000 files.
    batches = asyncio.run(first_batches(tmp_path, burst, quiet_ms=400, max_batch_ms=30_000))
    assert len(batches) == 1
    assert len(batches[0].paths) >= 5000


def test_noise_is_filtered_before_it_wakes_anything(tmp_path: Path) -> None:
    (tmp_path / "__pycache__").mkdir()

    def noise() -> None:
        (tmp_path / "__pycache__" / "x.cpython-311.pyc").write_text("x")
        (tmp_path / ".app.py.swp").write_text("x")

    assert asyncio.run(first_batches(tmp_path, noise)) == []


def test_a_name_watchfiles_cannot_decode_restarts_the_watch_with_a_rescan(tmp_path: Path) -> None:
    errors: list[str] = []

    async def scenario() -> list[ChangeBatch]:
        armed = asyncio.Event()
        batches: list[ChangeBatch] = []

        async def collect() -> None:
            changes = watch_changes(
                [tmp_path], quiet_ms=50, on_ready=armed.set, on_error=errors.append
            )
            async for batch in changes:
                batches.append(batch)

        task = asyncio.create_task(collect())
        await asyncio.wait_for(armed.wait(), 5)
        os.close(os.open(os.fsencode(tmp_path) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY))
        while not any(b.rescan for b in batches):
            await asyncio.sleep(0.02)
        (tmp_path / "after.py").write_text("x")
        while not any(tmp_path / "after.py" in b.paths for b in batches):
            await asyncio.sleep(0.02)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return batches

    batches = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert errors and "watching again" in errors[0]
    assert any(b.rescan for b in batches)


def test_what_composewatch_writes_itself_is_never_a_change(tmp_path: Path) -> None:
    """Its stdout redirected into the tree (`up > cw.log`), by inode, and its state folder;
    a save beside them is seen."""
    log = tmp_path / "cw.log"
    state = tmp_path / "cache"
    state.mkdir()
    with log.open("a") as out:
        own = OwnWrites.load([state], fds=[out.fileno()])
        armed = asyncio.Event()
        batches: list[ChangeBatch] = []

        async def collect() -> None:
            changes = watch_changes([tmp_path], quiet_ms=50, on_ready=armed.set, own=own)
            async for batch in changes:
                batches.append(batch)

        async def scenario() -> None:
            task = asyncio.create_task(collect())
            await asyncio.wait_for(armed.wait(), 5)
            for n in range(20):
                out.write(f"line {n}\n")
                out.flush()
                (state / "status.json").write_text(str(n))
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            (tmp_path / "app.py").write_text("saved")
            await asyncio.sleep(0.6)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run(scenario())
    seen = set().union(*(b.paths for b in batches))
    assert seen == {tmp_path / "app.py"}
