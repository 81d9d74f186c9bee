"""Lost audio packets leave a gap in the frames' RTP timestamps; the audio pump puts the same
length of silence there, so sample counts (and so transcript times) stay on media time."""
from __future__ import annotations

import asyncio
from fractions import Fraction

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError

from server.media import ASR_RATE, AudioPump, MediaCounters


class Track:
    kind = "audio"

    def __init__(self, pts: list[int]) -> None:
        self.pts = pts

    async def recv(self) -> av.AudioFrame:
        if not self.pts:
            raise MediaStreamError
        frame = av.AudioFrame.from_ndarray(np.full((1, 960 * 2), 1000, dtype=np.int16), format="s16",
                                           layout="stereo")
        frame.sample_rate = 48000
        frame.pts = self.pts.pop(0)
        frame.time_base = Fraction(1, 48000)
        return frame


async def pumped(pts: list[int]) -> tuple[int, MediaCounters]:
    out: list[bytes] = []
    counters = MediaCounters()
    pump = AudioPump(Track(pts), out.append, counters)  # type: ignore[arg-type]  # a fake track
    pump.start()
    for _ in range(100):
        await asyncio.sleep(0.01)
        if pump._task is not None and pump._task.done():
            break
    return sum(len(b) for b in out) // 2, counters


async def test_lost_packets_become_silence_of_the_same_length() -> None:
    steady, _ = await pumped([i * 960 for i in range(50)])  # 1.0 s, no loss
    # The same second with packets 10-19 lost (200 ms) and a 3 s outage after packet 40.
    pts = [i * 960 for i in range(50) if not 10 <= i < 20]
    pts = [p if p < 40 * 960 else p + 3 * 48000 for p in pts]
    gappy, counters = await pumped(pts)
    assert abs(steady - ASR_RATE) <= 160  # the resampler may hold back a few ms
    assert abs(gappy - (steady + 3 * ASR_RATE)) <= 160  # 200 ms refilled, 3 s of outage filled
    assert abs(counters.audio_filled_s - 3.2) < 0.01
