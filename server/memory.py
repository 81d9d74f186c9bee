"""Handing freed memory back to the system.

Each interview decodes thousands of video and audio frames on aiortc's decoder threads and
analyses them on the vision threads; those buffers are freed, but glibc's allocator keeps the
freed pages in its per-thread arenas instead of returning them. Measured with bench/soak.py at
two concurrent interviews (bench/results/soak-n2-before-trim.txt): resident memory rose from
1.08 GB to 2.0 GB in nine minutes while the Python objects (sessions, recognisers, peer
connections) stayed at two each; one malloc_trim(0) then gave 850 MB back at once. So the server
trims: after every session leaves memory, and every TRIM_EVERY_S while any is open.

Trimming alone was not enough (bench/results/soak-n2-trim-only.txt: still about +100 MB a
minute). What held the rest were finished interviews' peer connections: aiortc's connection objects
refer to each other, so they wait for the cycle collector's rare full pass, and with them
everything they reach. One gc.collect() plus a trim in the running server took resident memory
from 1.80 GB to 1.12 GB with six such connections waiting. So a session leaving memory also runs
a full collection (on the event loop: finalisers must run there; tens of ms, once per interview)
before the trim, and server/peer.py lets go of the connection's callbacks at close.

Elsewhere than glibc (musl, macOS) this does nothing."""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import time
from typing import Any, Callable

logger = logging.getLogger(__name__)

TRIM_EVERY_S = 30.0


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class MemoryTrimmer:
    """When asked (a session left memory): a full garbage collection on the event loop, then
    malloc_trim on a worker thread (ctypes releases the GIL; the event loop goes on). Also a
    trim every `every_s` while `busy()` says sessions are open."""

    def __init__(self, busy: Callable[[], bool], every_s: float = TRIM_EVERY_S) -> None:
        self._trim = _malloc_trim()
        self._busy = busy
        self._every_s = every_s
        self._asked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.trims = 0
        self.seconds = 0.0  # time spent trimming, in all
        self.collections = 0
        self.collect_seconds = 0.0  # time the event loop spent in gc.collect, in all

    @property
    def available(self) -> bool:
        return self._trim is not None

    def start(self) -> None:
        if self._trim is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="memory-trim")

    def ask(self) -> None:
        """Something large was freed (a session left memory): trim soon."""
        self._asked.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._asked.wait(), self._every_s)
                self.collect_now()  # a session went: its connection's cycles with it
            except asyncio.TimeoutError:
                if not self._busy():
                    continue
            self._asked.clear()
            try:
                await asyncio.to_thread(self.trim_now)
            except Exception:  # never worth stopping the server for
                logger.warning("malloc_trim failed", exc_info=True)

    def collect_now(self) -> None:
        started = time.perf_counter()
        found = gc.collect()
        took = time.perf_counter() - started
        self.collections += 1
        self.collect_seconds += took
        logger.debug("gc.collect: %d objects in cycles, %.1f ms", found, took * 1000)

    def trim_now(self) -> None:
        assert self._trim is not None
        started = time.perf_counter()
        self._trim(0)
        took = time.perf_counter() - started
        self.trims += 1
        self.seconds += took
        logger.debug("malloc_trim took %.1f ms", took * 1000)

    def stats(self) -> dict[str, Any]:
        return {"trims": self.trims, "seconds": round(self.seconds, 3), "collections": self.collections,
                "collect_seconds": round(self.collect_seconds, 3)}
