"""One audio stream's speech recognition, off the event loop and in order.

The audio pump hands over every 200 ms batch; batches go to an unbounded queue (audio is never
dropped) that one task drains into the stream's recognizer on its own single-thread executor
(a recognizer is stateful: one stream, one thread). Events come back on the loop with times
moved onto the interview's clock."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from analyzers.speech import Final, Partial, SpeechRecognizer
from server.executors import analysis_executor

logger = logging.getLogger(__name__)

SpeechEvent = Partial | Final


class SpeechStream:
    def __init__(self, recognizer: SpeechRecognizer, clock_offset_s: float,
                 on_event: Callable[[SpeechEvent, float], None], name: str) -> None:
        """`clock_offset_s`: the interview clock when this stream's first sample was taken;
        `on_event(event, offset)` gets events with stream times (add offset for the clock)."""
        self.recognizer = recognizer
        self.offset = clock_offset_s
        self.on_event = on_event
        self._queue: asyncio.Queue[bytes | asyncio.Future[None] | None] = asyncio.Queue()
        self._executor = analysis_executor(1, f"asr-{name}")
        self._task = asyncio.create_task(self._run(), name=f"asr-{name}")
        self.lag_s = 0.0  # audio queued but not yet recognised

    def push(self, pcm: bytes) -> None:
        self._queue.put_nowait(pcm)
        self.lag_s += len(pcm) / 32000

    def barrier(self) -> asyncio.Future[None]:
        """A future that resolves once everything pushed so far is recognised and the pending
        utterance finalised (audio pushed later waits behind it)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._task.done():
            done.set_result(None)
        else:
            self._queue.put_nowait(done)
        return done

    async def flush(self) -> None:
        """Recognise everything pushed so far and finalise the pending utterance."""
        await self.barrier()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                item = await self._queue.get()
                if item is None:
                    return
                try:
                    if isinstance(item, asyncio.Future):
                        events = await loop.run_in_executor(self._executor, self.recognizer.flush)
                        self._dispatch(events)
                        continue
                    events = await loop.run_in_executor(self._executor, self.recognizer.push, item)
                    self.lag_s = max(0.0, self.lag_s - len(item) / 32000)
                    self._dispatch(events)
                except Exception:
                    logger.exception("speech recognition failed on a batch; continuing")
                finally:
                    if isinstance(item, asyncio.Future) and not item.done():
                        item.set_result(None)
        finally:
            # Nobody waits forever on a barrier this task will not reach.
            while not self._queue.empty():
                left = self._queue.get_nowait()
                if isinstance(left, asyncio.Future) and not left.done():
                    left.set_result(None)

    def _dispatch(self, events: list[Any]) -> None:
        for event in events:
            try:
                self.on_event(event, self.offset)
            except Exception:
                logger.exception("speech event handler failed")

    def stats(self) -> Any:
        return self.recognizer.stats

    async def close(self) -> None:
        """Recognise everything pushed (however long the backlog: audio is never dropped), then
        stop the task and the thread."""
        if not self._task.done():
            await self.flush()
            self._queue.put_nowait(None)
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=False)
