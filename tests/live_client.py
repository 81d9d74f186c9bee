"""An aiortc candidate for tests and benchmarks: sends a speech file and a still-with-motion
video as a camera would, paced in real time."""
from __future__ import annotations

import asyncio
import fractions
import time
import wave
from pathlib import Path

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

AUDIO_RATE = 48000
AUDIO_PTIME = 0.02


class PcmTrack(MediaStreamTrack):
    """Plays 16-bit mono PCM (then silence) in 20 ms frames at real-time pace."""

    kind = "audio"

    def __init__(self, pcm: np.ndarray, rate: int = AUDIO_RATE, loop: bool = False) -> None:
        super().__init__()
        self.pcm = pcm.astype(np.int16)
        self.rate = rate
        self.loop = loop
        self.pos = 0
        self.samples = int(rate * AUDIO_PTIME)
        self._start: float | None = None
        self._sent = 0

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._sent / self.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        chunk = self.pcm[self.pos:self.pos + self.samples]
        self.pos += self.samples
        if self.loop and self.pos >= len(self.pcm):
            self.pos = 0
        if len(chunk) < self.samples:
            chunk = np.concatenate([chunk, np.zeros(self.samples - len(chunk), np.int16)])
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self.rate)
        self._sent += self.samples
        return frame


class ImageTrack(MediaStreamTrack):
    """A photo with slight motion, 640x480, at `fps`."""

    kind = "video"

    def __init__(self, rgb: np.ndarray, fps: float = 15.0) -> None:
        super().__init__()
        self.rgb = rgb
        self.fps = fps
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._n / self.fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        dx = int(8 * np.sin(self._n / 10))
        img = np.roll(self.rgb, dx, axis=1)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = self._n * 90000 // int(self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self._n += 1
        return frame


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), np.int16), w.getframerate()


def portrait_640x480() -> np.ndarray:
    """scikit-image's astronaut, centred on a grey 640x480 canvas."""
    from skimage import data

    img = data.astronaut()  # 512x512
    canvas = np.full((480, 640, 3), 128, np.uint8)
    canvas[:, 64:576] = img[16:496]
    return canvas


async def connect(base_url: str, token: str, session: object, tracks: list[MediaStreamTrack],
                  query: str = "") -> RTCPeerConnection:
    """Offer with the given tracks, apply the server's answer; returns the connection. `query`
    (e.g. "?via=w2") goes after the offer's path."""
    from server.peer import restrict_host_addresses

    restrict_host_addresses(("127.0.0.1",))  # media in tests stays on loopback
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for track in tracks:
        pc.addTrack(track)
    await pc.setLocalDescription(await pc.createOffer())
    resp = await session.post(f"{base_url}/i/{token}/offer{query}",  # type: ignore[attr-defined]
                              json={"sdp": pc.localDescription.sdp, "type": "offer"})
    body = await resp.json()
    assert resp.status == 200, body
    await pc.setRemoteDescription(RTCSessionDescription(**body))
    return pc
