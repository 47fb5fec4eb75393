"""A git checkout waited out: batches while `.git/index.lock` exists are merged into one.
Real time and a real lock file (the lock is polled and the batch window settles), so this
lives with the integration tests rather than the sleep-free unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from composewatch.watcher import ChangeBatch, after_checkouts


def test_batches_during_a_checkout_are_merged_into_one(tmp_path: Path) -> None:
    lock = tmp_path / "index.lock"
    lock.write_text("")
    feed: asyncio.Queue[ChangeBatch | None] = asyncio.Queue()

    async def batches() -> AsyncIterator[ChangeBatch]:
        while (batch := await feed.get()) is not None:
            yield batch

    async def scenario() -> list[ChangeBatch]:
        out: list[ChangeBatch] = []

        async def consume() -> None:
            async for batch in after_checkouts(batches(), {lock}):
                out.append(batch)

        consumer = asyncio.create_task(consume())
        for i in range(50):  # a checkout writes files over several batch windows
            feed.put_nowait(ChangeBatch(frozenset({tmp_path / f"f{i}"}), float(i)))
            await asyncio.sleep(0)
        assert out == []  # held while git holds its lock
        lock.unlink()
        while not out:
            await asyncio.sleep(0.01)
        feed.put_nowait(ChangeBatch(frozenset({tmp_path / "after"}), 99.0))
        while len(out) < 2:
            await asyncio.sleep(0.01)
        feed.put_nowait(None)
        await consumer
        return out

    merged, after = asyncio.run(scenario())
    assert len(merged.paths) == 50 and merged.delivered_at == 49.0
    assert after.paths == {tmp_path / "after"}


def test_a_burst_of_saves_goes_as_one_batch_after_its_first(tmp_path: Path) -> None:
    """10 saves 30 ms apart: the first goes at once, the other nine wait for the burst to
    pause and go together; a save well after the burst goes at once again."""
    feed: asyncio.Queue[ChangeBatch | None] = asyncio.Queue()

    async def batches() -> AsyncIterator[ChangeBatch]:
        while (batch := await feed.get()) is not None:
            yield batch

    async def scenario() -> list[tuple[float, ChangeBatch]]:
        out: list[tuple[float, ChangeBatch]] = []
        loop = asyncio.get_running_loop()

        async def consume() -> None:
            async for batch in after_checkouts(batches(), set(), burst_quiet_s=0.06):
                out.append((loop.time(), batch))

        consumer = asyncio.create_task(consume())
        started = loop.time()
        for i in range(10):
            feed.put_nowait(ChangeBatch(frozenset({tmp_path / f"f{i}"}), float(i)))
            await asyncio.sleep(0.03)
        await asyncio.sleep(0.3)
        feed.put_nowait(ChangeBatch(frozenset({tmp_path / "later"}), 20.0))
        await asyncio.sleep(0.1)
        feed.put_nowait(None)
        await consumer
        return [(t - started, b) for t, b in out]

    (t1, first), (t2, burst), (t3, later) = asyncio.run(scenario())
    assert first.paths == {tmp_path / "f0"} and t1 < 0.03
    assert burst.paths == {tmp_path / f"f{i}" for i in range(1, 10)}
    assert burst.delivered_at == 9.0 and 0.33 <= t2 < 0.6  # 0.27 s of burst + 0.06 s quiet
    assert later.paths == {tmp_path / "later"} and t3 - 0.57 < 0.1
