"""A git checkout waited out: batches while `.git/index.lock` exists are merged into one.
Real time and a real lock file (the lock is polled and the batch window settles), so this
lives with the integration tests rather than the sleep-free unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from composewatch.app import _after_checkouts
from composewatch.watcher import ChangeBatch


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
            async for batch in _after_checkouts(batches(), {lock}):
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
