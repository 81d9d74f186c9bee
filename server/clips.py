"""Reading an interview's recording (server/recording.py writes it, sealed) and rendering key
clips from it: WebM (VP8 + Opus) with silence and black where nothing was received, rendered in
memory and cached on disk sealed; `media_response` serves one decrypted, with Range requests."""
from __future__ import annotations

import asyncio
import fractions
import io
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import av
import numpy as np
from aiohttp import web

from server.recording import RATE, VIDEO_FPS, VIDEO_HOLD_S, VIDEO_WIDTH, identity, keys_for, recording_dir
from server.recording_crypto import Keyring, SealedReader, SealError, read_record, seal_file

logger = logging.getLogger(__name__)


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioSpan:
    path: Path
    start_s: float
    samples: int
    keys: Keyring | None = None

    @property
    def end_s(self) -> float:
        return self.start_s + self.samples / RATE

    def read(self, first: int, count: int) -> bytes:
        """Samples [first, first + count) as s16le bytes (fewer at the end)."""
        keys = self.keys or keys_for(self.path.parent.parent)
        return SealedReader(self.path, identity(self.path), keys).read_range(first * 2, count * 2)


@dataclass(frozen=True, slots=True)
class FrameRef:
    t_s: float  # interview clock
    path: Path
    offset: int  # sealed: the record's offset after the header; plaintext: the JPEG's
    length: int
    index: int = -1  # the frame's index in a sealed .mjpeg; -1: plaintext (an earlier version)
    keys: Keyring | None = None

    def read(self) -> bytes:
        if self.index >= 0:
            keys = self.keys or keys_for(self.path.parent.parent)
            return read_record(self.path, identity(self.path), keys, self.index, self.offset, self.length)
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return f.read(self.length)


_STREAM = re.compile(r"^(audio|video)-(\d+)\.json$")


def _headers(directory: Path, kind: str, keys: Keyring) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Each stream's header. A header that cannot be decrypted (a key missing, tampered) raises
    SealError: a recording must not quietly look empty."""
    if not directory.is_dir():
        return
    found = []
    for p in directory.iterdir():
        m = _STREAM.match(p.name)
        if m and m.group(1) == kind:
            found.append((int(m.group(2)), p))
    for _, p in sorted(found):
        try:
            text = SealedReader(p, identity(p), keys).read_all()
        except OSError:
            logger.warning("unreadable recording header %s", p)
            continue
        try:
            header = json.loads(text)
        except ValueError:
            logger.warning("unreadable recording header %s", p)  # torn before its first frame
            continue
        if isinstance(header, dict) and "start_s" in header:
            yield p, header


def audio_spans(root: Path, interview_id: int) -> list[AudioSpan]:
    keys = keys_for(root)
    out = []
    for header_path, header in _headers(recording_dir(root, interview_id), "audio", keys):
        pcm = header_path.with_suffix(".pcm")
        size = SealedReader(pcm, identity(pcm), keys).plain_size if pcm.exists() else 0
        if size >= 2:
            out.append(AudioSpan(pcm, float(header["start_s"]), size // 2, keys))
    return out


_index_cache: dict[tuple[object, ...], list[tuple[float, int, int, int]]] = {}


def _index(path: Path, keys: Keyring) -> list[tuple[float, int, int, int]]:
    """A .idx file's lines as (seconds, offset, length, frame index or -1), cached by the
    file's inode, size and mtime (an index only grows)."""
    st = path.stat()
    cache_key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    hit = _index_cache.get(cache_key)
    if hit is not None:
        return hit
    reader = SealedReader(path, identity(path), keys)
    lines = [f.decode() for f in reader.all_frames()] if reader.sealed else reader.read_all().decode().splitlines()
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and reader.sealed:
            out.append((float(parts[0]), int(parts[1]), int(parts[2]), int(parts[3])))
        elif len(parts) == 3 and not reader.sealed:
            out.append((float(parts[0]), int(parts[1]), int(parts[2]), -1))
        # else: a line cut short by a kill (plaintext)
    if len(_index_cache) > 256:
        _index_cache.clear()
    _index_cache[cache_key] = out
    return out


def video_frames(root: Path, interview_id: int) -> list[FrameRef]:
    """Every recorded frame that is fully on disk, by time."""
    keys = keys_for(root)
    out = []
    for header_path, header in _headers(recording_dir(root, interview_id), "video", keys):
        data, index = header_path.with_suffix(".mjpeg"), header_path.with_suffix(".idx")
        if not (data.exists() and index.exists()):
            continue
        reader = SealedReader(data, identity(data), keys)
        complete = len(reader.frames)
        size = reader.file_size
        start = float(header["start_s"])
        for rel, offset, length, i in _index(index, keys):
            if (0 <= i < complete and reader.frames[i].offset == offset) if reader.sealed else \
                    (i < 0 and offset + length <= size):
                out.append(FrameRef(start + rel, data, offset, length, i, keys))
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
    try:
        return _media_problem(root, interview_id, start_s, end_s)
    except SealError as exc:
        logger.warning("interview %s: the recording cannot be opened: %s", interview_id, exc)
        return f"the recording cannot be decrypted ({exc})"


def _media_problem(root: Path, interview_id: int, start_s: float, end_s: float) -> str | None:
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
    buffer = io.BytesIO()  # rendered in memory: the clip reaches the disk sealed only
    _encode_clip(buffer, audio_spans(root, interview_id), video_frames(root, interview_id), start, end)
    seal_file(out, buffer.getvalue(), identity(out), keys_for(root))
    return out


def read_media(path: Path) -> bytes:
    """A rendered clip's WebM bytes (decrypted)."""
    return _media_reader(path).read_all()


def _media_reader(path: Path) -> SealedReader:
    path = Path(path)
    return SealedReader(path, identity(path), keys_for(path.parent.parent.parent))


async def media_response(request: web.Request, path: Path, headers: dict[str, str]) -> web.Response:
    """A rendered clip, decrypted (off the event loop: a full answer's recording is megabytes),
    as FileResponse would serve it: the whole (200) or the byte range asked for (206, one
    range; 416 past the end), so players can seek. Only the frames covering the range are
    decrypted."""
    return await asyncio.get_running_loop().run_in_executor(None, _media_response, request, path, headers)


def _media_response(request: web.Request, path: Path, headers: dict[str, str]) -> web.Response:
    reader = _media_reader(path)
    size = reader.plain_size
    out = {**headers, "Accept-Ranges": "bytes"}
    try:
        rng = request.http_range
    except ValueError:
        rng = slice(None, None)  # a malformed Range: the whole, as aiohttp's FileResponse does
    if "Range" not in request.headers or (rng.start is None and rng.stop is None):
        return web.Response(body=reader.read_all(), content_type="video/webm", headers=out)
    start, stop = rng.start, rng.stop
    if start is None or start < 0:  # a suffix: the last N bytes
        start, stop = max(0, size - (-start if start is not None else int(stop or 0))), size
    stop = size if stop is None else min(stop, size)
    if start >= size or stop <= start:
        return web.Response(status=416, headers={**out, "Content-Range": f"bytes */{size}"})
    out["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return web.Response(status=206, body=reader.read_range(start, stop - start), content_type="video/webm",
                        headers=out)


def clip_audio(spans: list[AudioSpan], start: float, end: float) -> np.ndarray:
    """The int16 samples of [start, end): recorded where any stream has them, else zeros."""
    n = max(0, round((end - start) * RATE))
    out = np.zeros(n, np.int16)
    for span in spans:  # later streams (a reconnect) win where they overlap an older one
        first = round((span.start_s - start) * RATE)  # span sample 0 lands at out[first]
        lo, hi = max(0, first), min(n, first + span.samples)
        if lo >= hi:
            continue
        data = np.frombuffer(span.read(lo - first, hi - lo), np.int16)
        out[lo:lo + len(data)] = data
    return out


def _encode_clip(target: io.BytesIO, spans: list[AudioSpan], frames: list[FrameRef], start: float,
                 end: float) -> None:
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
    with av.open(target, "w", format="webm") as container:
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
