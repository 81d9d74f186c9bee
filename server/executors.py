"""Thread pools for CPU-bound analysis, run at a lower scheduling priority.

On 2 cores, speech and vision threads at the same priority as the event loop starved it past
~5 live interviews: packets queue in the kernel, media stalls and every interview is declared
lost at once (bench/live.py, N=6 and 8). With the analysis niced, the loop (media, signaling,
websockets) always runs first and overload degrades gracefully instead: analysis falls behind,
the calls stay up. Vision, the largest cost, now runs niced in worker processes
(server/vision_workers.py); speech recognition runs at the loop's priority (SPEECH_NICE).
Linux applies nice per thread; raising it needs no privilege.
"""
from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger(__name__)

ANALYSIS_NICE = 10
# Speech recognition runs at the loop's priority since vision moved to worker processes: at 8
# interviews on 2 cores a niced recogniser thread waited for the CPU (a 100 ms batch took 60 ms
# of wall time at the median for ~4 ms of CPU), which put the HR panel's transcript p95 over
# goal; the vision processes (nice 10) still give way to it and to the loop, and the frame
# budget slows vision down when speech falls behind (bench/results/live-sweep-workers.txt).
SPEECH_NICE = 0


def _lower_priority(nice: int) -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: run as is
        logger.debug("could not lower the priority of %s: %s", threading.current_thread().name, exc)


def analysis_executor(workers: int, name: str, nice: int = ANALYSIS_NICE) -> ThreadPoolExecutor:
    """Threads at `nice` (0: the event loop's own priority, nothing is lowered)."""
    if nice == 0:
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name, initializer=_lower_priority,
                              initargs=(nice,))
