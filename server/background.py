"""Background work an owner starts and must account for: tasks it cancels on close, and store
writes that run in order (the store has one writer) and must all land before the owner closes."""
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

    def write(self, fn: Callable[[Session], Any], then: Callable[[], None] | None = None) -> None:
        """Store in the background; `then` runs once the row is committed."""
        task = asyncio.ensure_future(self.store.run(fn))
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
