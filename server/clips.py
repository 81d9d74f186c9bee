"""Reading an interview's recording (server/recording.py writes it) and rendering key clips from
it: WebM (VP8 + Opus) with silence and black where nothing was received, cached on disk."""
from __future__ import annotations

import fractions
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import av
import numpy as np

from server.recording import RATE, VIDEO_FPS, VIDEO_HOLD_S, VIDEO_WIDTH, recording_dir

logger = logging.getLogger(__name__)


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


MIN_MEDIA_S = 1.0  # less of a range on disk than this is no media to watch (it plays as 0:00)


def _mmss(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    return f"{s // 60}:{s % 60:02d}"


class MediaProblem(ValueError):
    """Why a range of the recording cannot be rendered, in words HR understands."""


def media_problem(root: Path, interview_id: int, start_s: float, end_s: float) -> str | None:
    """Why [start_s, end_s] cannot be rendered as media worth watching, or None: nothing
    recorded, too little of the range on disk, or nothing received inside it (a gap between
    streams). Cheap (headers and indexes only); `render_clip` checks the same."""
    if not end_s > start_s:
        return f"the range {_mmss(start_s)}–{_mmss(end_s)} is empty"
    rng = recorded_range(root, interview_id)
    if rng is None:
        return "nothing was recorded for this interview (no audio or video reached the server)"
    start, end = max(start_s, rng[0]), min(end_s, rng[1])
    where = f"{_mmss(start_s)}–{_mmss(end_s)}"
    if not end > start:
        return (f"nothing was recorded at {where}: the recording covers "
                f"{_mmss(rng[0])}–{_mmss(rng[1])}")
    if end - start < min(MIN_MEDIA_S, end_s - start_s):
        return f"only {end - start:.2f} s of {where} was recorded"
    heard = any(s.start_s < end and s.end_s > start for s in audio_spans(root, interview_id))
    seen = any(start - VIDEO_HOLD_S <= f.t_s < end for f in video_frames(root, interview_id))
    if not (heard or seen):
        return f"no audio or video was received at {where} (the connection was lost then)"
    return None


def render_clip(root: Path, interview_id: int, start_s: float, end_s: float) -> Path:
    """A WebM (VP8 + Opus) of [start_s, end_s] on the interview clock, clamped to what was
    recorded; silence where there was no audio, black where there was no video. Cached on
    disk. CPU-bound (bench/recording.py: ~0.1 CPU s for 10 s): run it on an executor.

    MediaProblem (a ValueError), with the reason in HR's words: an empty range, nothing
    recorded, no recording inside the range, too little of it on disk (`media_problem`)."""
    problem = media_problem(root, interview_id, start_s, end_s)
    if problem is not None:
        raise MediaProblem(problem)
    rng = recorded_range(root, interview_id)
    assert rng is not None, "media_problem says so"
    start, end = round(max(start_s, rng[0]), 3), round(min(end_s, rng[1]), 3)
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
