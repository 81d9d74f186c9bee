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
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import av
import numpy as np

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


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioSpan:
    path: Path
    start_s: float
    samples: int

    @property
    def end_s(self) -> float:
        return self.start_s + self.samples / RATE


@dataclass(frozen=True, slots=True)
class FrameRef:
    t_s: float  # interview clock
    path: Path
    offset: int
    length: int

    def read(self) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return f.read(self.length)


_STREAM = re.compile(r"^(audio|video)-(\d+)\.json$")


def _headers(directory: Path, kind: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    if not directory.is_dir():
        return
    found = []
    for p in directory.iterdir():
        m = _STREAM.match(p.name)
        if m and m.group(1) == kind:
            found.append((int(m.group(2)), p))
    for _, p in sorted(found):
        try:
            yield p, json.loads(p.read_text())
        except (OSError, ValueError):
            logger.warning("unreadable recording header %s", p)


def audio_spans(root: Path, interview_id: int) -> list[AudioSpan]:
    out = []
    for header_path, header in _headers(recording_dir(root, interview_id), "audio"):
        pcm = header_path.with_suffix(".pcm")
        size = pcm.stat().st_size if pcm.exists() else 0
        if size >= 2:
            out.append(AudioSpan(pcm, float(header["start_s"]), size // 2))
    return out


def video_frames(root: Path, interview_id: int) -> list[FrameRef]:
    """Every recorded frame that is fully on disk, by time."""
    out = []
    for header_path, header in _headers(recording_dir(root, interview_id), "video"):
        data, index = header_path.with_suffix(".mjpeg"), header_path.with_suffix(".idx")
        if not (data.exists() and index.exists()):
            continue
        size = data.stat().st_size
        start = float(header["start_s"])
        for line in index.read_text().splitlines():
            parts = line.split()
            if len(parts) != 3:
                continue  # a line cut short by a kill
            rel, offset, length = float(parts[0]), int(parts[1]), int(parts[2])
            if offset + length <= size:
                out.append(FrameRef(start + rel, data, offset, length))
    out.sort(key=lambda f: f.t_s)
    return out


def recorded_range(root: Path, interview_id: int) -> tuple[float, float] | None:
    """(first, last) interview-clock second with audio or video, or None if nothing."""
    spans = audio_spans(root, interview_id)
    frames = video_frames(root, interview_id)
    starts = [s.start_s for s in spans] + [f.t_s for f in frames[:1]]
    ends = [s.end_s for s in spans] + [f.t_s + 1 / VIDEO_FPS for f in frames[-1:]]
    if not starts:
        return None
    return min(starts), max(ends)


@dataclass(frozen=True, slots=True)
class RecordingUsage:
    audio_bytes: int
    video_bytes: int
    clip_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.audio_bytes + self.video_bytes + self.clip_bytes


def disk_usage(root: Path, interview_id: int | None = None) -> RecordingUsage:
    """Bytes on disk for one interview's recording (or every interview's, with None)."""
    base = Path(root)
    dirs = [recording_dir(root, interview_id)] if interview_id is not None else \
        ([p for p in base.iterdir() if p.is_dir()] if base.is_dir() else [])
    audio = video = clips = 0
    for d in dirs:
        if not d.is_dir():
            continue
        for p in d.rglob("*"):
            if not p.is_file():
                continue
            size = p.stat().st_size
            if p.parent.name == "clips":
                clips += size
            elif p.name.startswith("audio-"):
                audio += size
            else:
                video += size
    return RecordingUsage(audio, video, clips)


# --- clips ----------------------------------------------------------------------------------


def clip_path(root: Path, interview_id: int, start_s: float, end_s: float) -> Path:
    return recording_dir(root, interview_id) / "clips" / f"{round(start_s * 1000)}-{round(end_s * 1000)}.webm"


def render_clip(root: Path, interview_id: int, start_s: float, end_s: float) -> Path:
    """A WebM (VP8 + Opus) of [start_s, end_s] on the interview clock, clamped to what was
    recorded; silence where there was no audio, black where there was no video. Cached on
    disk. CPU-bound (bench/recording.py: ~0.1 CPU s for 10 s): run it on an executor.

    ValueError: an empty range, nothing recorded, or no recording inside the range."""
    if not end_s > start_s:
        raise ValueError(f"empty clip range [{start_s}, {end_s}]")
    rng = recorded_range(root, interview_id)
    if rng is None:
        raise ValueError(f"interview {interview_id} has no recording")
    start, end = max(start_s, rng[0]), min(end_s, rng[1])
    start, end = round(start, 3), round(end, 3)
    if not end > start:
        raise ValueError(f"[{start_s}, {end_s}] is outside the recording [{rng[0]:.2f}, {rng[1]:.2f}]")
    out = clip_path(root, interview_id, start, end)
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        _encode_clip(tmp, audio_spans(root, interview_id), video_frames(root, interview_id), start, end)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def clip_audio(spans: list[AudioSpan], start: float, end: float) -> np.ndarray:
    """The int16 samples of [start, end): recorded where any stream has them, else zeros."""
    n = max(0, round((end - start) * RATE))
    out = np.zeros(n, np.int16)
    for span in spans:  # later streams (a reconnect) win where they overlap an older one
        first = round((span.start_s - start) * RATE)  # span sample 0 lands at out[first]
        lo, hi = max(0, first), min(n, first + span.samples)
        if lo >= hi:
            continue
        with open(span.path, "rb") as f:
            f.seek((lo - first) * 2)
            data = np.frombuffer(f.read((hi - lo) * 2), np.int16)
        out[lo:lo + len(data)] = data
    return out


def _encode_clip(path: Path, spans: list[AudioSpan], frames: list[FrameRef], start: float, end: float) -> None:
    duration = end - start
    # The frames on screen during the clip: the one showing at its start (if recent), then
    # the rest.
    before = [f for f in frames if start - VIDEO_HOLD_S <= f.t_s <= start]
    shown = before[-1:] + [f for f in frames if start < f.t_s < end]
    decoder = av.CodecContext.create("mjpeg", "r")
    pictures: list[tuple[float, av.VideoFrame | None]] = []  # (clip time, picture or black)
    width = height = 0
    for ref in shown:
        try:
            decoded = decoder.decode(av.Packet(ref.read()))
        except av.FFmpegError:
            continue
        if not decoded:
            continue
        picture = decoded[0]
        if not width:
            width, height = picture.width, picture.height
        t = max(0.0, ref.t_s - start)
        if pictures and pictures[-1][1] is not None and t - pictures[-1][0] > VIDEO_HOLD_S:
            pictures.append((pictures[-1][0] + VIDEO_HOLD_S, None))  # video stopped: black
        elif not pictures and t > VIDEO_HOLD_S:
            pictures.append((0.0, None))
        pictures.append((t, picture))
    if not width:
        width, height = VIDEO_WIDTH, VIDEO_WIDTH * 3 // 4
    if not pictures:
        pictures.append((0.0, None))
    elif pictures[-1][1] is not None and duration - pictures[-1][0] > VIDEO_HOLD_S:
        pictures.append((pictures[-1][0] + VIDEO_HOLD_S, None))
    black = np.full((height * 3 // 2, width), 128, np.uint8)
    black[:height] = 16  # yuv420p, limited range: Y 16 is black, U = V = 128 no colour

    ms = fractions.Fraction(1, 1000)
    with av.open(str(path), "w", format="webm") as container:
        vs = container.add_stream("libvpx", rate=int(VIDEO_FPS), options={
            "deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"})
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.codec_context.time_base = ms
        vs.bit_rate = 250_000
        vs.codec_context.gop_size = 20  # a key frame every 10 s of recording, for seeking
        # One thread: at 320x240 libvpx's own threads only spin (20x the CPU on a busy host),
        # and a render shares the machine with live interviews.
        vs.codec_context.thread_count = 1
        as_ = container.add_stream("libopus", rate=RATE)
        as_.layout = "mono"
        as_.bit_rate = 24_000

        # Video: each picture at its time, shown until the next one, and the last one again
        # just before the end, so the video track lasts exactly as long as the clip.
        end_ms = max(1, round(duration * 1000))
        timeline: list[tuple[int, av.VideoFrame | None]] = []
        for t, pic in pictures + [(duration, pictures[-1][1])]:
            pts = min(round(t * 1000), end_ms - 1)
            if timeline and pts <= timeline[-1][0]:
                continue
            timeline.append((pts, pic))
        lasts = {pts: nxt - pts for (pts, _), (nxt, _) in zip(timeline, [*timeline[1:], (end_ms, None)], strict=True)}
        for pts, pic in [*timeline, (-1, None)]:
            if pts < 0:
                packets = vs.encode(None)
            else:
                if pic is None:
                    frame = av.VideoFrame.from_ndarray(black, format="yuv420p")
                else:
                    # JPEG is full range; VP8 in WebM is played as limited ("TV") range.
                    frame = pic.reformat(width=width, height=height, format="yuv420p",
                                         src_color_range="JPEG", dst_color_range="MPEG", threads=1)
                frame.pts, frame.time_base = pts, ms
                packets = vs.encode(frame)
            for packet in packets:
                if packet.pts is not None and packet.pts in lasts:
                    packet.duration = lasts[packet.pts]
                container.mux(packet)

        pcm = clip_audio(spans, start, end)
        chunk = RATE // 5
        for i in range(0, len(pcm), chunk):
            piece = pcm[i:i + chunk]
            af = av.AudioFrame.from_ndarray(piece.reshape(1, -1), format="s16", layout="mono")
            af.sample_rate, af.pts, af.time_base = RATE, i, fractions.Fraction(1, RATE)
            container.mux(as_.encode(af))
        container.mux(as_.encode(None))
