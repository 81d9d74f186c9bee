"""What an interview's key clips are made from: the candidate's audio and low-rate video, kept
in the data directory, and the clips rendered from them for HR to play.

Layout, under ``<root>/<interview_id>/`` where ``root`` is ``<data_dir>/recordings``
(`recordings_root`), one set of files per stream (a peer connection's audio or video; a
reconnect starts new ones, numbered on):

- ``audio-<n>.json``: ``{"start_s", "rate": 16000, "channels": 1, "format": "s16le"}``, where
  ``start_s`` is the interview clock (``InterviewSession.clock()``) of the stream's first sample;
- ``audio-<n>.pcm``: every sample the audio pump produced, in order, with no gaps (sample ``i``
  is at ``start_s + i / 16000``);
- ``video-<n>.json``: ``{"start_s", "fps", "width"}``;
- ``video-<n>.mjpeg``: JPEGs back to back; ``video-<n>.idx``: one line per JPEG,
  ``"<seconds after start_s> <byte offset> <byte length>"``;
- ``clips/<start_ms>-<end_ms>.webm``: rendered clips (a cache; safe to delete).

Writes are plain appends flushed to the kernel at least every ``flush_every_s`` (and each
video frame), so a killed process loses at most about a second; a header is replaced
atomically. Readers trust only what the files hold: an index line whose JPEG is not (fully) on
disk yet is ignored, as is a last partial sample.

Costs (bench/recording.py): the audio append is a few microseconds per 200 ms batch on the event
loop; the JPEG (reformat + encode) is made on the vision executor in the frame's analysis call.

The interview clock starts at the interview's first live moment, and a session moves its
origin there once (media can arrive after consent, before that moment). Streams keep their
start as a monotonic time and rewrite their header when the clock's origin moves, so media
before the first live moment is simply at negative clock times.
"""
from __future__ import annotations

import fractions
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

import av

logger = logging.getLogger(__name__)

RATE = 16000  # the audio pump's output: 16 kHz mono s16
VIDEO_FPS = 2.0
VIDEO_WIDTH = 320
FLUSH_EVERY_S = 1.0
VIDEO_HOLD_S = 1.0  # a recorded frame is shown at most this long; then black (no video)
_ORIGIN_SLACK_S = 0.01


def recordings_root(data_dir: Path) -> Path:
    """The `root` every function here takes: ``<data_dir>/recordings``."""
    return Path(data_dir) / "recordings"


def recording_dir(root: Path, interview_id: int) -> Path:
    return Path(root) / str(int(interview_id))


# --- writing --------------------------------------------------------------------------------


def _write_json_atomic(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


class _Stream:
    """One numbered stream: a JSON header (created exclusively, so concurrent streams of one
    interview never share a number) and its data files."""

    kind = ""

    def __init__(self, directory: Path, start_s: float, header: dict[str, object]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        n = 0
        while True:
            path = directory / f"{self.kind}-{n}.json"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                n += 1
                continue
            break
        self.number = n
        self.header_path = path
        self.header = {**header, "start_s": round(start_s, 6)}
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(self.header))
        self.closed = False

    def set_start(self, start_s: float) -> None:
        self.header["start_s"] = round(start_s, 6)
        _write_json_atomic(self.header_path, self.header)

    def path(self, suffix: str) -> Path:
        return self.header_path.with_suffix(suffix)


class AudioWriter(_Stream):
    """Appends 16 kHz mono s16 PCM; flushed at least every `flush_every_s`."""

    kind = "audio"

    def __init__(self, directory: Path, start_s: float, flush_every_s: float = FLUSH_EVERY_S) -> None:
        super().__init__(directory, start_s, {"rate": RATE, "channels": 1, "format": "s16le"})
        self._file = open(self.path(".pcm"), "ab")
        self.samples = 0
        self.flush_every_s = flush_every_s
        self._flushed_at = time.monotonic()

    def write(self, pcm: bytes) -> None:
        if self.closed:
            return
        self._file.write(pcm)
        self.samples += len(pcm) // 2
        now = time.monotonic()
        if now - self._flushed_at >= self.flush_every_s:
            self._file.flush()
            self._flushed_at = now

    def flush(self) -> None:
        if not self.closed:
            self._file.flush()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._file.close()


class VideoWriter(_Stream):
    """Appends JPEGs with their time (seconds after the stream's start); each one is flushed
    (data first, then its index line)."""

    kind = "video"

    def __init__(self, directory: Path, start_s: float, fps: float = VIDEO_FPS,
                 width: int = VIDEO_WIDTH) -> None:
        super().__init__(directory, start_s, {"fps": fps, "width": width})
        self._data = open(self.path(".mjpeg"), "ab")
        self._index = open(self.path(".idx"), "a")
        self._offset = 0
        self.frames = 0
        self._lock = threading.Lock()

    def add(self, rel_s: float, jpeg: bytes) -> None:
        with self._lock:
            if self.closed:
                return
            self._data.write(jpeg)
            self._data.flush()
            self._index.write(f"{rel_s:.4f} {self._offset} {len(jpeg)}\n")
            self._index.flush()
            self._offset += len(jpeg)
            self.frames += 1

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self._data.close()
                self._index.close()


def encode_jpeg(frame: av.VideoFrame, width: int = VIDEO_WIDTH, quality: int = 6) -> bytes:
    """A small JPEG of `frame` (`quality`: the MJPEG quantiser, 2 best .. 31 worst; 6 makes
    ~10 KB at 320x240)."""
    height = max(2, int(frame.height * width / frame.width) // 2 * 2)
    # One thread each: this runs on a vision executor thread already, and swscale's own
    # threads would double the CPU of so small a picture.
    small = frame.reformat(width=width, height=height, format="yuvj420p", threads=1)
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.thread_count = 1
    codec.time_base = fractions.Fraction(1, 1)
    codec.qmin = codec.qmax = quality  # a fixed quality rather than a bit rate
    return b"".join(bytes(p) for p in [*codec.encode(small), *codec.encode(None)])


class Recorder:
    """An interview's recordings: where they live, and new streams for a peer connection."""

    def __init__(self, root: Path, interview_id: int, *, fps: float = VIDEO_FPS,
                 width: int = VIDEO_WIDTH, flush_every_s: float = FLUSH_EVERY_S) -> None:
        self.root = Path(root)
        self.interview_id = interview_id
        self.dir = recording_dir(root, interview_id)
        self.fps = fps
        self.width = width
        self.flush_every_s = flush_every_s

    def audio_stream(self, start_s: float) -> AudioWriter:
        return AudioWriter(self.dir, start_s, self.flush_every_s)

    def video_stream(self, start_s: float) -> VideoWriter:
        return VideoWriter(self.dir, start_s, self.fps, self.width)

    def for_peer(self, clock: Callable[[], float], enabled: Callable[[], bool]) -> PeerRecording:
        return PeerRecording(self, clock, enabled)


class PeerRecording:
    """One peer connection's recording, fed by its PeerLink: `on_pcm` from the audio pump (on
    the event loop), `on_frame` from the frame's analysis call (on the vision executor).

    Nothing is recorded until `enabled()` (the candidate has started, whatever their consent
    to analysis). `clock()` is the interview clock; `now` the monotonic time it is based on."""

    def __init__(self, recorder: Recorder, clock: Callable[[], float], enabled: Callable[[], bool],
                 now: Callable[[], float] = time.monotonic) -> None:
        self.recorder = recorder
        self.clock = clock
        self.enabled = enabled
        self.now = now
        self.audio: AudioWriter | None = None
        self.video: VideoWriter | None = None
        self._audio_t0 = 0.0  # monotonic time of the audio stream's first sample
        self._video_t0 = 0.0
        self._origin_a = 0.0  # monotonic time of clock 0 when the header was written
        self._origin_v = 0.0
        self._next_frame_at = 0.0
        self.failed = False

    def _origin(self) -> float:
        return self.now() - self.clock()

    def on_pcm(self, pcm: bytes) -> None:
        """Every batch, in order. Never raises: a full disk must not stop the interview."""
        if self.failed or not self.enabled():
            return
        try:
            origin = self._origin()
            if self.audio is None:
                # The batch ends now; its first sample came len/RATE earlier.
                self._audio_t0 = self.now() - len(pcm) / 2 / RATE
                self._origin_a = origin
                self.audio = self.recorder.audio_stream(self._audio_t0 - origin)
            elif abs(origin - self._origin_a) > _ORIGIN_SLACK_S:
                self._origin_a = origin
                self.audio.set_start(self._audio_t0 - origin)
            self.audio.write(pcm)
        except OSError:
            self._fail()

    def wants_frame(self) -> bool:
        return not self.failed and self.enabled() and self.now() >= self._next_frame_at

    def on_frame(self, frame: av.VideoFrame) -> bytes | None:
        """Records `frame` if one is due (at most `fps` a second); returns its JPEG, or None."""
        if not self.wants_frame():
            return None
        now = self.now()
        interval = 1.0 / self.recorder.fps
        # On schedule, without drifting, and never bunching up after a pause in video.
        self._next_frame_at = max(self._next_frame_at + interval, now + interval / 2)
        try:
            jpeg = encode_jpeg(frame, self.recorder.width)
            origin = self._origin()
            if self.video is None:
                self._video_t0 = now
                self._origin_v = origin
                self.video = self.recorder.video_stream(now - origin)
            elif abs(origin - self._origin_v) > _ORIGIN_SLACK_S:
                self._origin_v = origin
                self.video.set_start(self._video_t0 - origin)
            self.video.add(now - self._video_t0, jpeg)
            return jpeg
        except OSError:
            self._fail()
        except Exception:  # a bad frame costs one picture, never the interview
            logger.exception("interview %s: could not record a frame", self.recorder.interview_id)
        return None

    def _fail(self) -> None:
        self.failed = True
        logger.exception("interview %s: recording stopped", self.recorder.interview_id)
        self.close()

    def close(self) -> None:
        for stream in (self.audio, self.video):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    logger.exception("interview %s: closing a recording", self.recorder.interview_id)
