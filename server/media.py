"""Reading the candidate's media tracks (aiortc) without ever falling behind.

Audio is never dropped: every frame is resampled to 16 kHz mono s16 and handed on in ~200 ms
batches. Video is sampled: a reader keeps only the newest frame (drops counted) and an analysis
loop takes it at a fixed rate and runs the (CPU-bound) analysis on an executor the server owns,
so analysis can never queue up behind live video.
"""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

logger = logging.getLogger(__name__)
T = TypeVar("T")

ASR_RATE = 16000
BATCH_BYTES = ASR_RATE * 2 // 5  # 200 ms of s16 mono
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


class VideoPump(Generic[T]):
    """track -> newest frame -> at `fps`: process(frame) on `executor` -> sink(result, t).

    `t` is time.monotonic() when the analysed frame arrived."""

    def __init__(self, track: MediaStreamTrack, process: Callable[[av.VideoFrame], T],
                 sink: Callable[[T, float], None], executor: Executor, counters: MediaCounters,
                 fps: float) -> None:
        self.track = track
        self.process = process
        self.sink = sink
        self.executor = executor
        self.counters = counters
        self.interval = 1.0 / fps
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
            next_at = max(next_at + self.interval, loop.time())
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
