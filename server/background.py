"""Background work an owner starts and must account for: tasks it cancels on close, and store
writes that run one after another, in the order they were made, and must all land before the
owner closes."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from sqlmodel import Session

from server.store import Store

logger = logging.getLogger(__name__)


class Background:
    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name
        self.tasks: set[asyncio.Task[Any]] = set()
        self.writes: set[asyncio.Task[Any]] = set()
        self._last_write: asyncio.Task[Any] | None = None

    @property
    def busy(self) -> bool:
        return bool(self.tasks or self.writes)

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: background task failed", self.name, exc_info=task.exception())

    def write(self, fn: Callable[[Session], Any], then: Callable[[], None] | None = None) -> asyncio.Task[Any]:
        """Store in the background, after this owner's earlier writes have landed; `then` runs
        once the row is committed, and the task returned can be awaited for the result. In order
        even where the store runs several writes at once (PostgreSQL): two of one interview's
        writes that overlapped could both replace the same rows (its overall scores) and leave
        both sets, or leave the older."""
        previous = self._last_write

        async def in_turn() -> Any:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])  # its failure is its own; only the order matters here
            return await self.store.run(fn)

        task = asyncio.ensure_future(in_turn())
        self._last_write = task
        self.writes.add(task)

        def done(task: asyncio.Task[Any]) -> None:
            self.writes.discard(task)
            if task.cancelled():
                return
            if task.exception() is not None:
                logger.error("%s: a write failed", self.name, exc_info=task.exception())
            elif then is not None:
                then()

        task.add_done_callback(done)
        return task

    async def drain_writes(self) -> None:
        if self.writes:
            await asyncio.gather(*list(self.writes), return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel every task but the caller's own, then let the writes land."""
        current = asyncio.current_task()
        others = [t for t in self.tasks if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self.drain_writes()
