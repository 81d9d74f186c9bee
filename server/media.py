"""Reading the candidate's media tracks (aiortc) without ever falling behind.

Audio is never dropped: every frame is resampled to 16 kHz mono s16 and handed on in 100 ms
batches. Video is sampled: a reader keeps only the newest frame (drops counted) and an analysis
loop takes it at the process's current analysed-frame rate (:class:`FrameBudget`) and runs the
(CPU-bound) analysis on an executor the server owns, so analysis can never queue up behind live
video.

One analysed-frame budget per process: every session's pump runs at the same rate, which
starts at CANDOR_ANALYSIS_FPS and backs off (x0.75 every 2 s, never below 2 fps) while speech
recognition falls behind (an ASR backlog over 1 s that is not shrinking) and climbs back (+0.5
fps every 2 s) once the backlog is under 0.5 s: vision gives way to speech, never the other way.
When the vision threads themselves are short, each pump has at most one frame queued on the
shared executor (first in, first out), so every session gets the same share of them.
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

logger = logging.getLogger(__name__)
T = TypeVar("T")

ASR_RATE = 16000
# 100 ms of s16 mono: the recogniser hears a word's end at most one batch after it arrives, and
# a batch's compute is short (at 8 interviews on 2 cores, 200 ms batches put the HR panel's
# transcript p95 0.1 s later: bench/results/live-sweep-workers.txt).
BATCH_BYTES = ASR_RATE * 2 // 10
BATCHES_PER_S = ASR_RATE * 2 // BATCH_BYTES
# Audio gaps (lost packets, a network outage) filled with silence: from one lost 20 ms packet
# on; longer than MAX_FILL_S is not a gap but a jump in the sender's timestamps.
MIN_GAP_S = 0.015
MAX_FILL_S = 300.0


@dataclass(slots=True)
class MediaCounters:
    frames_received: int = 0
    frames_analysed: int = 0
    frames_dropped: int = 0
    audio_seconds: float = 0.0
    audio_filled_s: float = 0.0  # silence put where packets were lost (part of audio_seconds)
    last_audio_at: float | None = None  # time.monotonic() of the last audio frame
    last_video_at: float | None = None
    video_size: tuple[int, int] | None = None


class AudioPump:
    """track -> 16 kHz mono s16 batches -> sink(pcm). The sink must be quick (it enqueues); it
    gets every sample, in order.

    Sample time is media time: where packets were lost (a gap in the frames' RTP timestamps),
    silence of the same length is put in, so that a transcript's times, counted in samples,
    stay on the interview clock (answers are told apart by time) and recordings stay in sync."""

    def __init__(self, track: MediaStreamTrack, sink: Callable[[bytes], None],
                 counters: MediaCounters) -> None:
        self.track = track
        self.sink = sink
        self.counters = counters
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=ASR_RATE)
        self._pending = bytearray()
        self._emitted_samples = 0
        self._next_pts: int | None = None  # where the next frame should start, in its time base
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audio-pump")

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                self.counters.last_audio_at = time.monotonic()
                if not isinstance(frame, av.AudioFrame):
                    continue  # an audio track yields audio frames; anything else is not ours to read
                self._fill_gap(frame)
                for out in self._resampler.resample(frame):
                    self._pending += bytes(out.planes[0])[: out.samples * 2]
                while len(self._pending) >= BATCH_BYTES:
                    self._emit(bytes(self._pending[:BATCH_BYTES]))
                    del self._pending[:BATCH_BYTES]
        except MediaStreamError:
            logger.debug("audio track ended")
        finally:
            if self._pending:
                self._emit(bytes(self._pending))
                self._pending.clear()

    def _fill_gap(self, frame: av.AudioFrame) -> None:
        if frame.pts is None or frame.time_base is None or not frame.sample_rate:
            return
        step = round(frame.samples / frame.sample_rate / frame.time_base)
        expected, self._next_pts = self._next_pts, frame.pts + step
        if expected is None:
            return
        gap_s = float((frame.pts - expected) * frame.time_base)
        if MIN_GAP_S <= gap_s <= MAX_FILL_S:
            silence = int(gap_s * ASR_RATE)
            self._pending += bytes(2 * silence)
            self.counters.audio_filled_s += silence / ASR_RATE

    def _emit(self, pcm: bytes) -> None:
        self._emitted_samples += len(pcm) // 2
        self.counters.audio_seconds = self._emitted_samples / ASR_RATE
        self.sink(pcm)

    async def stop(self) -> None:
        await _cancel(self._task)


class FrameBudget:
    """The analysed-frame rate every session of this process runs at (see the module's doc).

    Speech streams are watched through `watch_asr(owner)`: `owner.asr_lag()` gives that
    stream's recognition backlog in seconds (None: no recogniser yet); owners are held weakly,
    so a connection that is gone drops out by itself (`forget` says so at once). The rate is
    re-decided at most once per `period_s`, when a pump asks for it."""

    BACK_OFF = 0.75
    STEP_UP_FPS = 0.5
    LAG_HIGH_S = 1.0
    LAG_LOW_S = 0.5

    def __init__(self, fps_max: float, fps_min: float = 2.0, period_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._floor = fps_min
        self.fps_max = fps_max
        self.fps_min = min(fps_min, fps_max)
        self.rate = fps_max
        self.period_s = period_s
        self._clock = clock
        self._asr: weakref.WeakSet[Any] = weakref.WeakSet()
        self._last_at: float | None = None
        self._last_lag: float | None = None
        self.backoffs = 0

    def configure(self, fps_max: float) -> None:
        if fps_max != self.fps_max:
            self.fps_max = fps_max
            self.fps_min = min(self._floor, fps_max)
            self.rate = min(max(self.rate, self.fps_min), fps_max)

    def watch_asr(self, owner: Any) -> None:
        self._asr.add(owner)

    def forget(self, owner: Any) -> None:
        self._asr.discard(owner)

    def worst_asr_lag(self) -> float | None:
        lags = [v for owner in list(self._asr) if (v := owner.asr_lag()) is not None]
        return max(lags) if lags else None

    def current_rate(self) -> float:
        now = self._clock()
        if self._last_at is None:
            self._last_at = now
            return self.rate
        if now - self._last_at >= self.period_s:
            self._last_at = now
            self._adjust()
        return self.rate

    def _adjust(self) -> None:
        lag = self.worst_asr_lag()
        previous, self._last_lag = self._last_lag, lag
        if lag is None:  # no speech being recognised: nothing to give way to
            self.rate = self.fps_max
        elif lag > self.LAG_HIGH_S and (previous is None or lag >= previous - 0.1):
            rate = max(self.fps_min, self.rate * self.BACK_OFF)
            if rate < self.rate:
                self.backoffs += 1
                logger.info("speech recognition %.1f s behind: analysed frames down to %.1f/s per session",
                            lag, rate)
            self.rate = rate
        elif lag < self.LAG_LOW_S:
            self.rate = min(self.fps_max, self.rate + self.STEP_UP_FPS)


_process_budget: FrameBudget | None = None


def process_budget(fps_max: float) -> FrameBudget:
    """This process's one budget (made on first use; CANDOR_ANALYSIS_FPS is its ceiling)."""
    global _process_budget
    if _process_budget is None:
        _process_budget = FrameBudget(fps_max)
    else:
        _process_budget.configure(fps_max)
    return _process_budget


class VideoPump(Generic[T]):
    """track -> newest frame -> at the budget's rate: process(frame) on `executor` -> sink(result, t).

    `t` is time.monotonic() when the analysed frame arrived."""

    def __init__(self, track: MediaStreamTrack, process: Callable[[av.VideoFrame], T],
                 sink: Callable[[T, float], None], executor: Executor, counters: MediaCounters,
                 fps: float, budget: FrameBudget | None = None) -> None:
        self.track = track
        self.process = process
        self.sink = sink
        self.executor = executor
        self.counters = counters
        self.budget = budget or FrameBudget(fps, fps_min=fps)  # alone: a fixed rate
        self._latest: tuple[av.VideoFrame, float] | None = None
        self._fresh = asyncio.Event()
        self._ended = False
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._read(), name="video-reader"),
                       asyncio.create_task(self._analyse(), name="video-analysis")]

    async def _read(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                now = time.monotonic()
                self.counters.frames_received += 1
                self.counters.last_video_at = now
                if not isinstance(frame, av.VideoFrame):
                    continue
                if self._latest is not None:
                    self.counters.frames_dropped += 1  # never analysed: a newer one came
                self._latest = (frame, now)
                self._fresh.set()
        except MediaStreamError:
            logger.debug("video track ended")
        finally:
            self._ended = True
            self._fresh.set()

    async def _analyse(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            if self._latest is None:
                if self._ended:
                    return
                self._fresh.clear()
                await self._fresh.wait()
                continue
            frame, arrived = self._latest
            self._latest = None
            self.counters.video_size = (frame.width, frame.height)
            try:
                result = await loop.run_in_executor(self.executor, self.process, frame)
            except Exception:
                logger.exception("video analysis failed on a frame; skipping it")
            else:
                if result is not None:
                    self.counters.frames_analysed += 1
                self.sink(result, arrived)
            next_at = max(next_at + 1.0 / self.budget.current_rate(), loop.time())
            await asyncio.sleep(next_at - loop.time())

    async def stop(self) -> None:
        for task in self._tasks:
            await _cancel(task)


async def _cancel(task: asyncio.Task[Any] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
