"""One analysed-frame budget per process (server/media.py FrameBudget, VideoPump): with small
fakes for the camera tracks, the vision executor and the speech recognisers' backlogs."""
from __future__ import annotations

import asyncio
import gc
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError

from server.media import FrameBudget, MediaCounters, VideoPump


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Stream:
    """A speech stream's backlog, as a PeerLink reports it."""

    def __init__(self, lag: float | None) -> None:
        self.lag = lag

    def asr_lag(self) -> float | None:
        return self.lag


def run_periods(budget: FrameBudget, clock: Clock, periods: int) -> list[float]:
    rates = []
    for _ in range(periods):
        clock.t += budget.period_s
        rates.append(budget.current_rate())
    return rates


def test_backs_off_while_speech_falls_behind_never_below_2_fps() -> None:
    clock = Clock()
    budget = FrameBudget(5.0, clock=clock)
    calm, behind = Stream(0.2), Stream(1.5)
    budget.watch_asr(calm)
    budget.watch_asr(behind)
    assert budget.current_rate() == 5.0
    rates = []
    for _ in range(12):  # the backlog keeps growing
        behind.lag += 0.5
        rates += run_periods(budget, clock, 1)
    assert rates[0] < 5.0 and rates == sorted(rates, reverse=True)
    assert min(rates) == 2.0 and rates[-1] == 2.0  # the floor
    behind.lag = 0.3  # caught up: climbs back, step by step, to the ceiling
    up = run_periods(budget, clock, 8)
    assert up == sorted(up) and up[0] < 5.0 and up[-1] == 5.0


def test_holds_while_the_backlog_shrinks() -> None:
    clock = Clock()
    budget = FrameBudget(5.0, clock=clock)
    s = Stream(3.0)
    budget.watch_asr(s)
    budget.current_rate()
    run_periods(budget, clock, 1)
    held = budget.rate
    assert held < 5.0
    for _ in range(3):
        s.lag -= 0.6  # draining: no need to cut further
        assert run_periods(budget, clock, 1) == [held]


def test_streams_that_are_gone_no_longer_count() -> None:
    clock = Clock()
    budget = FrameBudget(5.0, clock=clock)
    s = Stream(9.0)
    budget.watch_asr(s)
    budget.current_rate()
    assert run_periods(budget, clock, 1)[0] < 5.0
    del s
    gc.collect()
    assert budget.worst_asr_lag() is None
    assert run_periods(budget, clock, 1) == [5.0]  # no speech left to give way to
    forgotten = Stream(9.0)
    budget.watch_asr(forgotten)
    budget.forget(forgotten)
    assert budget.worst_asr_lag() is None


def test_a_target_below_the_floor_is_kept() -> None:
    budget = FrameBudget(1.0)
    assert budget.fps_min == 1.0 and budget.current_rate() == 1.0
    budget.configure(8.0)
    assert budget.fps_max == 8.0 and budget.fps_min == 2.0


# --- pumps sharing one short executor ---------------------------------------------------------

class Camera:
    """A 15 fps video track of tiny frames."""

    def __init__(self) -> None:
        self.stopped = False

    kind = "video"

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(1 / 15)
        if self.stopped:
            raise MediaStreamError
        return av.VideoFrame(32, 24, "rgb24")


async def run_pumps(n: int, seconds: float, budget_for: Any, work_s: float, workers: int = 1,
                    ) -> tuple[list[float], FrameBudget]:
    executor = ThreadPoolExecutor(max_workers=workers)
    counters = [MediaCounters() for _ in range(n)]
    cameras = [Camera() for _ in range(n)]
    budget: FrameBudget = budget_for()

    def process(frame: av.VideoFrame) -> int:
        time.sleep(work_s)  # a vision thread busy on one frame (sleeping: no CPU taken from others)
        return 1

    pumps = [VideoPump(cam, process, lambda r, t: None, executor, c, budget.fps_max, budget)  # type: ignore[arg-type]
             for cam, c in zip(cameras, counters, strict=True)]
    for p in pumps:
        p.start()
        await asyncio.sleep(0.013)
    await asyncio.sleep(1.0)  # settle
    start = [c.frames_analysed for c in counters]
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    dt = time.monotonic() - t0
    rates = [(c.frames_analysed - s) / dt for c, s in zip(counters, start, strict=True)]
    for cam in cameras:
        cam.stopped = True
    for p in pumps:
        await p.stop()
    executor.shutdown(wait=True)
    return rates, budget


async def test_a_short_executor_is_shared_fairly() -> None:
    # 8 sessions want 5 fps (40 frames/s); one vision thread does 25 frames/s.
    rates, _ = await run_pumps(8, 4.0, lambda: FrameBudget(5.0), work_s=0.04)
    assert 0.8 * 25 <= sum(rates) <= 25.5, rates
    assert min(rates) >= 0.85 * max(rates), rates  # nobody is left behind


async def test_speech_falling_behind_slows_every_session_to_the_floor() -> None:
    behind = Stream(4.0)

    def budget() -> FrameBudget:
        b = FrameBudget(5.0, period_s=0.1)
        b.watch_asr(behind)
        return b

    rates, used = await run_pumps(4, 3.0, budget, work_s=0.005, workers=2)
    assert used.rate == 2.0 and used.backoffs >= 3
    for r in rates:  # each session at ~2 fps: fewer frames, but never none
        assert 1.6 <= r <= 2.4, rates


async def test_with_room_to_spare_every_session_gets_the_target() -> None:
    rates, _ = await run_pumps(4, 3.0, lambda: FrameBudget(5.0), work_s=0.005, workers=2)
    for r in rates:
        assert 4.5 <= r <= 5.3, rates
