"""Thread pools for CPU-bound analysis, run at a lower scheduling priority.

On 2 cores, speech and vision threads at the same priority as the event loop starve it past
~5 live interviews: packets queue in the kernel, media stalls and every interview is declared
lost at once (bench/live.py, N=6 and 8). With the analysis threads niced, the loop (media,
signaling, websockets) always runs first and overload degrades gracefully instead: analysis
falls behind, the calls stay up. Linux applies nice per thread; raising it needs no privilege.
"""
from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger(__name__)

ANALYSIS_NICE = 10


def _lower_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ANALYSIS_NICE)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: run as is
        logger.debug("could not lower the priority of %s: %s", threading.current_thread().name, exc)


def analysis_executor(workers: int, name: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name, initializer=_lower_priority)
