"""An owner's store writes run one after another in the order they were made, even on a store
that runs several at once (PostgreSQL's four threads); a failed write does not hold up the
next, and a write's task gives its result. (Real PostgreSQL: tests/test_scores_postgres.py.)"""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest

from server.background import Background


class ManyThreadStore:
    """Runs each write on one of four threads, as the store does on PostgreSQL."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=4)
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    async def run(self, fn: Callable[[Any], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._one, fn)

    def _one(self, fn: Callable[[Any], Any]) -> Any:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            return fn(None)
        finally:
            with self.lock:
                self.running -= 1


async def test_one_owners_writes_run_in_turn_and_failures_do_not_block() -> None:
    store = ManyThreadStore()
    background = Background(store, "interview 1")  # type: ignore[arg-type]
    done: list[int] = []

    def write(i: int, fail: bool = False) -> Callable[[Any], int]:
        def fn(_: Any) -> int:
            time.sleep(0.02 * (5 - i))  # the earlier, the slower: out of turn would show
            if fail:
                raise RuntimeError("disk full")
            done.append(i)
            return i
        return fn

    tasks = [background.write(write(i, fail=i == 2)) for i in range(5)]
    await background.drain_writes()
    assert done == [0, 1, 3, 4] and store.most_at_once == 1
    assert tasks[4].result() == 4
    with pytest.raises(RuntimeError):
        tasks[2].result()


async def test_two_owners_write_side_by_side() -> None:
    store = ManyThreadStore()
    a = Background(store, "interview 1")  # type: ignore[arg-type]
    b = Background(store, "interview 2")  # type: ignore[arg-type]
    both = threading.Barrier(2, timeout=5)  # each write waits for the other owner's to start
    a.write(lambda _: both.wait())
    b.write(lambda _: both.wait())
    await asyncio.gather(a.drain_writes(), b.drain_writes())
    assert store.most_at_once == 2
