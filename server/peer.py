"""One candidate peer connection and what reads its media: created per offer, replaced by the
next offer (that is how a reconnect works), closed by its session."""
from __future__ import annotations

import asyncio
import fractions
import logging
import time
from concurrent.futures import Executor
from typing import Any, Callable

import av
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from server.audio_jitter import ReorderBuffer, install_reorder_buffer
from server.media import ASR_RATE, BATCHES_PER_S, AudioPump, MediaCounters, VideoPump, process_budget
from server.recording import PeerRecording
from server.speech_stream import SpeechStream

logger = logging.getLogger(__name__)


def rtc_configuration(ice_servers: tuple[dict[str, Any], ...]) -> RTCConfiguration:
    """Exactly the configured servers. An empty list must stay empty: with None, aiortc falls
    back to a public STUN server that a private deployment may not reach."""
    return RTCConfiguration(iceServers=[
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in ice_servers
    ])


THUMBNAIL_EVERY_S = 1.0
MAX_WAITING_BATCHES = BATCHES_PER_S * 600  # 10 minutes of audio kept while a speech model loads
THUMBNAIL_WIDTH = 192


def jpeg_thumbnail(frame: av.VideoFrame, width: int = THUMBNAIL_WIDTH) -> bytes:
    height = max(2, int(frame.height * width / frame.width) // 2 * 2)
    small = frame.reformat(width=width, height=height, format="yuvj420p")
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.time_base = fractions.Fraction(1, 1)
    return b"".join(bytes(p) for p in [*codec.encode(small), *codec.encode(None)])


class PeerLink:
    def __init__(self, pc: RTCPeerConnection, name: str, *, analyse: Callable[[], bool],
                 vision_ready: Callable[[], bool],
                 make_speech: Callable[[float], SpeechStream | None],
                 speech_loading: Callable[[], bool] = lambda: False,
                 process_frame: Callable[[av.VideoFrame], Any],
                 on_vision: Callable[[Any, float], None], vision_executor: Executor, fps: float,
                 on_connected: Callable[[], None], on_lost: Callable[[str], None],
                 recording: PeerRecording | None = None) -> None:
        self.pc = pc
        self.name = name
        # Whether to analyse at all (consent), asked per batch and per frame. Speech and vision
        # run or fail on their own: a missing speech model leaves vision on, and the other way.
        self.analyse = analyse
        self.vision_ready = vision_ready
        self.speech_missing = False
        self.counters = MediaCounters()
        self.created = time.monotonic()
        self._make_speech = make_speech
        self._speech_loading = speech_loading
        # Audio to recognise while the speech model is still loading (e.g. right after a restart).
        self._waiting_pcm: list[bytes] = []
        self._waiting_since: float | None = None
        self._process_frame = process_frame
        self._on_vision = on_vision
        self._vision_executor = vision_executor
        self._fps = fps
        # One analysed-frame rate for every session of the process; it backs off while any
        # session's speech recognition falls behind (server/media.py).
        self._budget = process_budget(fps)
        self._budget.watch_asr(self)
        self._on_connected = on_connected
        self._on_lost = on_lost
        self.recording = recording  # audio and low-rate video for HR's clips
        self.speech: SpeechStream | None = None
        self.thumbnail: bytes | None = None  # JPEG of a recent frame, for HR's panel
        self._thumb_at = 0.0
        self._audio: AudioPump | None = None
        self._audio_order: ReorderBuffer | None = None
        self._video: VideoPump[Any] | None = None
        self._closed = False
        self._stats_prev: tuple[float, int] | None = None
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)

    def _on_state(self) -> None:
        state = self.pc.connectionState
        logger.info("%s: peer connection %s", self.name, state)
        if state == "connected":
            self._on_connected()
        elif state in ("failed", "closed") and not self._closed:
            self._on_lost(f"peer connection {state}")

    def _on_track(self, track: MediaStreamTrack) -> None:
        """Tracks may arrive before the candidate's consent (the offer and `start` come in
        either order), so whether to analyse is asked per batch and per frame, not here."""
        logger.debug("%s: %s track", self.name, track.kind)
        if track.kind == "audio":
            receiver = next((r for r in self.pc.getReceivers() if r.track is track), None)
            self._audio_order = install_reorder_buffer(receiver) if receiver is not None else None
            self._audio = AudioPump(track, self._on_pcm, self.counters)
            self._audio.start()
        elif track.kind == "video":
            self._video = VideoPump(track, self._analyse_frame, self._on_vision_result,
                                    self._vision_executor, self.counters, self._fps, self._budget)
            self._video.start()

    def _on_pcm(self, pcm: bytes) -> None:
        if self.recording is not None:
            self.recording.on_pcm(pcm)  # recorded whatever the consent to analysis
        if self.speech_missing or not self.analyse():
            return  # no consent (yet), or no model: audio is received and counted, not recognised
        if self.speech is not None:
            self.speech.push(pcm)
            return
        if self._waiting_since is None:
            # The first batch is already complete: its first sample was taken that much earlier.
            self._waiting_since = time.monotonic() - len(pcm) / (2 * ASR_RATE)
        self._waiting_pcm.append(pcm)
        self.speech = self._make_speech(time.monotonic() - self._waiting_since)
        if self.speech is not None:
            for batch in self._waiting_pcm:  # what arrived while the model loaded, in order
                self.speech.push(batch)
            self._waiting_pcm.clear()
        elif self._speech_loading():
            if len(self._waiting_pcm) == 1:
                logger.info("%s: speech model still loading; audio is kept until it is ready", self.name)
            if len(self._waiting_pcm) > MAX_WAITING_BATCHES:
                self._waiting_pcm.pop(0)  # still in the recording; a model this late is a fault
                logger.warning("%s: speech model not ready after %d s; oldest audio not transcribed",
                               self.name, MAX_WAITING_BATCHES // BATCHES_PER_S)
        else:
            self.speech_missing = True  # say so once; vision goes on
            self._waiting_pcm.clear()
            logger.error("%s: no speech model for this language; this stream is not transcribed "
                         "(vision analysis continues)", self.name)

    def asr_lag(self) -> float | None:
        """Seconds of audio waiting for the recogniser (None: not recognising)."""
        return self.speech.lag_s if self.speech is not None else None

    def _analyse_frame(self, frame: av.VideoFrame) -> Any:
        """On the vision executor. None when analysis is off: the frame is only counted (and
        recorded, at the recording's lower rate)."""
        recorded = self.recording.on_frame(frame) if self.recording is not None else None
        now = time.monotonic()
        if now - self._thumb_at >= THUMBNAIL_EVERY_S:
            self._thumb_at = now
            try:
                self.thumbnail = recorded or jpeg_thumbnail(frame)
            except Exception:  # a thumbnail is a nicety; never lose analysis over it
                logger.exception("%s: thumbnail failed", self.name)
        return self._process_frame(frame) if self.analyse() and self.vision_ready() else None

    def _on_vision_result(self, sample: Any, arrived: float) -> None:
        if sample is not None:
            self._on_vision(sample, arrived)

    def connection_problem(self) -> str:
        """Why media has not arrived, as far as this side can tell (for the operator's log and
        HR's panel)."""
        local = self.pc.localDescription
        sdp = local.sdp if local is not None else ""
        if local is not None and "a=candidate:" not in sdp:
            return ("the server offered no ICE candidates: no usable network address; set "
                    "CANDOR_ICE_HOST_ADDRESSES or a TURN server in CANDOR_ICE_SERVERS")
        ice = self.pc.iceConnectionState
        if ice in ("new", "checking"):
            return (f"ICE {ice}: the browser and the server found no network path to each other "
                    "(a firewall or NAT; a TURN server in CANDOR_ICE_SERVERS helps)")
        if ice == "failed":
            return "ICE failed: the network path was lost"
        return f"connected (ICE {ice}) but no audio or video arrived"

    async def connection_stats(self) -> dict[str, Any]:
        c = self.counters
        out: dict[str, Any] = {
            "peer_state": self.pc.connectionState, "ice_state": self.pc.iceConnectionState,
            "frames_received": c.frames_received, "frames_analysed": c.frames_analysed,
            "frames_dropped": c.frames_dropped, "audio_seconds": round(c.audio_seconds, 2),
            "video_size": list(c.video_size) if c.video_size else None,
            "analysis_fps_target": round(self._budget.rate, 2),
        }
        now = time.monotonic()
        for key, at in (("last_audio_s_ago", c.last_audio_at), ("last_video_s_ago", c.last_video_at)):
            out[key] = None if at is None else round(now - at, 2)
        if self.speech is not None:
            stats = self.speech.stats()
            out["asr_rtf"] = round(stats.rtf, 3)
            out["asr_lag_s"] = round(self.speech.lag_s, 2)
            # audio recognised so far and how much of it the voice gate fed to the recogniser
            out["asr_audio_s"] = round(stats.audio_s, 2)
            out["asr_fed_s"] = round(stats.fed_s, 2)
        if self._audio_order is not None:
            # audio packets that came too late to be put back in order (a gap already filled)
            out["audio_packets_late"] = self._audio_order.counts.dropped
        try:
            report = await self.pc.getStats()
        except Exception:  # stats are best effort; never break the health event
            return out
        received = lost = bytes_in = 0
        for stat in report.values():
            kind = getattr(stat, "type", "")
            if kind == "inbound-rtp":
                received += getattr(stat, "packetsReceived", 0) or 0
                lost += max(0, getattr(stat, "packetsLost", 0) or 0)
            elif kind == "transport":  # aiortc counts bytes per transport, not per stream
                bytes_in += getattr(stat, "bytesReceived", 0) or 0
        out["packets_received"] = received
        out["packets_lost"] = lost
        out["packet_loss"] = round(lost / (received + lost), 4) if received + lost else 0.0
        if self._stats_prev is not None:
            t0, b0 = self._stats_prev
            if now > t0:
                out["bitrate_kbps"] = round((bytes_in - b0) * 8 / (now - t0) / 1000, 1)
        self._stats_prev = (now, bytes_in)
        return out

    async def close(self) -> None:
        """Stop reading media, finish recognising what arrived, close the connection."""
        if self._closed:
            return
        self._closed = True
        self._budget.forget(self)
        if self._audio is not None:
            await self._audio.stop()
        if self._video is not None:
            await self._video.stop()
        if self.recording is not None:
            self.recording.close()
        try:
            await asyncio.wait_for(self.pc.close(), timeout=5)
        except (asyncio.TimeoutError, Exception):
            logger.warning("%s: peer connection did not close cleanly", self.name)
        if self.speech is not None:  # last: it may take a while when recognition is behind
            await self.speech.close()
        # aiortc's connection objects refer to each other (they wait for the cycle collector),
        # and through these two callbacks to this peer: without them, the speech stream,
        # recording and analysis state go as soon as the session lets go of the peer.
        self.pc.remove_all_listeners()


def restrict_host_addresses(addresses: tuple[str, ...]) -> None:
    """Offer only these addresses as ICE host candidates (CANDOR_ICE_HOST_ADDRESSES).

    aioice has no option for it and leaves 127.0.0.1 out of its own list, so a server reached
    only over loopback (tests, a single-host set-up behind a TURN relay) would answer with no
    candidates at all; its address lookup is replaced, process-wide, once at start-up."""
    if not addresses:
        return
    import aioice.ice

    chosen = list(addresses)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [
        a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)
    ]
    logger.info("ICE host candidates restricted to %s", ", ".join(chosen))
