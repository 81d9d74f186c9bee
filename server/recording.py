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

Every file is sealed (server/recording_crypto.py: AES-256-GCM frames, bound to the file's
identity ``recordings/<interview_id>/<name>``), so nothing biometric is on disk in clear:

- a ``.json`` header is one frame (the JSON);
- ``.pcm`` is one frame per flush (about a second of samples: the sample index is the
  plaintext offset, found from the frames' lengths);
- ``.mjpeg`` is one frame per JPEG, and each ``.idx`` frame one line
  ``"<seconds after start_s> <record offset> <record size> <frame index>"`` (offsets after the
  ``.mjpeg`` header, unchanged when it is sealed again under another key);
- a clip is rendered in memory and sealed whole (`clips.media_response` serves it decrypted).

Files from before encryption (no magic) still read; `reencrypt_recordings` seals them, and moves
files under older keys onto the current one.

Writes are appends flushed to the kernel at least every ``flush_every_s`` (and each video
frame), so a killed process loses at most about a second; a header is replaced atomically.
Readers trust only what the files hold: a torn last frame is ignored, as is an index line whose
JPEG is not (fully) on disk yet.

Costs (bench/recording.py, bench/results/recording-crypto.txt): the audio append is a few
microseconds per 200 ms batch on the event loop (sealing a second of audio included); the
JPEG (reformat + encode, then sealing) is made on the vision executor in the frame's analysis
call.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av

from server.recording_crypto import (
    RECORD_OVERHEAD, WHOLE_FILE_FRAME, BadKeys, Keyring, SealedReader, SealedWriter, SealError, keyring_for,
    seal_bytes_to,
)

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


def keys_for(root: Path) -> Keyring:
    """The keyring recordings under `root` (``<data_dir>/recordings``) are sealed with."""
    return keyring_for(Path(root).parent)


def identity(path: Path) -> str:
    """What a recording file's frames are bound to: ``recordings/<interview_id>/<name>`` (or
    ``.../clips/<name>``), so a file copied to another name or interview does not open."""
    path = Path(path)
    if path.parent.name == "clips":
        return f"recordings/{path.parent.parent.name}/clips/{path.name}"
    return f"recordings/{path.parent.name}/{path.name}"


# --- writing --------------------------------------------------------------------------------


class _Stream:
    """One numbered stream: a sealed JSON header (created exclusively, so concurrent streams of
    one interview never share a number) and its data files."""

    kind = ""

    def __init__(self, directory: Path, start_s: float, header: dict[str, object], keys: Keyring) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.keys = keys
        n = 0
        while True:
            path = directory / f"{self.kind}-{n}.json"
            try:
                writer = SealedWriter(path, identity(path), keys, exclusive=True)
            except FileExistsError:
                n += 1
                continue
            break
        self.number = n
        self.header_path = path
        self.header = {**header, "start_s": round(start_s, 6)}
        try:
            writer.write_frame(json.dumps(self.header).encode())
        finally:
            writer.close()
        self.closed = False

    def set_start(self, start_s: float) -> None:
        self.header["start_s"] = round(start_s, 6)
        seal_bytes_to(self.header_path, [json.dumps(self.header).encode()], identity(self.header_path), self.keys)

    def path(self, suffix: str) -> Path:
        return self.header_path.with_suffix(suffix)

    def _writer(self, suffix: str) -> SealedWriter:
        path = self.path(suffix)
        return SealedWriter(path, identity(path), self.keys)


class AudioWriter(_Stream):
    """Appends 16 kHz mono s16 PCM, sealed one frame per flush (at least every `flush_every_s`);
    until then the samples wait in memory, never on disk in clear."""

    kind = "audio"

    def __init__(self, directory: Path, start_s: float, flush_every_s: float = FLUSH_EVERY_S,
                 keys: Keyring | None = None) -> None:
        keys = keys or keyring_for(Path(directory).parent.parent)
        super().__init__(directory, start_s, {"rate": RATE, "channels": 1, "format": "s16le"}, keys)
        self._file = self._writer(".pcm")
        self._pending: list[bytes] = []
        self.samples = 0
        self.flush_every_s = flush_every_s
        self._flushed_at = time.monotonic()

    def write(self, pcm: bytes) -> None:
        if self.closed:
            return
        self._pending.append(pcm)
        self.samples += len(pcm) // 2
        now = time.monotonic()
        if now - self._flushed_at >= self.flush_every_s:
            self._seal()
            self._flushed_at = now

    def _seal(self) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        data = data[:len(data) // 2 * 2]  # whole samples only (batches are)
        if data:
            self._file.write_frame(data)
            self._file.flush()

    def flush(self) -> None:
        if not self.closed:
            self._seal()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._seal()
            finally:
                self._file.close()


class VideoWriter(_Stream):
    """Appends JPEGs with their time (seconds after the stream's start), each its own sealed
    frame; each one is flushed (data first, then its index line)."""

    kind = "video"

    def __init__(self, directory: Path, start_s: float, fps: float = VIDEO_FPS,
                 width: int = VIDEO_WIDTH, keys: Keyring | None = None) -> None:
        keys = keys or keyring_for(Path(directory).parent.parent)
        super().__init__(directory, start_s, {"fps": fps, "width": width}, keys)
        self._data = self._writer(".mjpeg")
        self._index = self._writer(".idx")
        self.frames = 0
        self._lock = threading.Lock()

    def add(self, rel_s: float, jpeg: bytes) -> None:
        with self._lock:
            if self.closed:
                return
            index, offset, size = self._data.write_frame(jpeg)
            self._data.flush()
            self._index.write_frame(f"{rel_s:.4f} {offset} {size} {index}".encode())
            self._index.flush()
            self.frames += 1

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                try:
                    self._data.close()
                finally:
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
        return AudioWriter(self.dir, start_s, self.flush_every_s, keys_for(self.root))

    def video_stream(self, start_s: float) -> VideoWriter:
        return VideoWriter(self.dir, start_s, self.fps, self.width, keys_for(self.root))

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
        except (OSError, ValueError):  # ValueError: the recording keys are unusable (BadKeys)
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
        except (OSError, BadKeys):
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


# --- keys: which key each file is under, and moving files onto the current one ----------------

PCM_FRAME = RATE * 2  # a second of samples: the frame size of sealed-again plaintext audio


def _files(root: Path) -> list[Path]:
    base = Path(root)
    if not base.is_dir():
        return []
    return sorted(p for d in base.iterdir() if d.is_dir() for p in d.rglob("*")
                  if p.is_file() and not p.name.startswith("."))


def key_usage(root: Path) -> dict[str, int]:
    """Files under each key id (``"plaintext"``: from before encryption)."""
    from server.recording_crypto import key_id_of

    out: dict[str, int] = {}
    for p in _files(root):
        kid = key_id_of(p) or "plaintext"
        out[kid] = out.get(kid, 0) + 1
    return out


@dataclass
class Reencryption:
    resealed: int = 0  # files rewritten under the current key (plaintext ones included)
    current: int = 0  # already under it
    skipped: list[str] | None = None  # written too recently (a live interview's streams)
    failed: list[str] | None = None  # with the reason: unreadable (a key missing, tampered)


def reencrypt_recordings(root: Path, keys: Keyring | None = None, *, min_age_s: float = 600.0) -> Reencryption:
    """Rewrites every recording file not under the keyring's current key (plaintext files from
    before encryption included) under it, atomically, file by file; safe to run again after an
    interruption. Files changed in the last `min_age_s` are skipped (an open stream keeps
    appending to the file it opened): run it again later, or with no interview live."""
    keys = keys or keys_for(root)
    result = Reencryption(skipped=[], failed=[])
    assert result.skipped is not None and result.failed is not None
    cutoff = time.time() - min_age_s
    files = _files(root)
    for path in files:
        if path.suffix == ".idx":
            continue  # with its .mjpeg
        try:
            if path.stat().st_mtime > cutoff:
                result.skipped.append(str(path))
                continue
            if path.suffix == ".mjpeg":
                done = _reseal_video(path, keys, cutoff)
                if done is None:
                    result.skipped.append(str(path))
                    continue
            else:
                done = (_reseal(path, keys),)
        except (OSError, SealError) as exc:
            result.failed.append(f"{path}: {exc}")
            continue
        result.resealed += sum(done)
        result.current += len(done) - sum(done)
    return result


def _reseal(path: Path, keys: Keyring) -> bool:
    reader = SealedReader(path, identity(path), keys)
    if reader.key_id == keys.current_id:
        return False
    frames = reader.all_frames()
    if not reader.sealed:  # plaintext from an earlier version: frames small enough to seek in
        step = PCM_FRAME if path.suffix == ".pcm" else WHOLE_FILE_FRAME
        data = b"".join(frames)
        frames = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
    seal_bytes_to(path, frames, identity(path), keys)
    return True


def _reseal_video(data: Path, keys: Keyring, cutoff: float) -> tuple[bool, ...] | None:
    """A video stream's .mjpeg and .idx: whether each was rewritten; None if the index is too
    new."""
    index = data.with_suffix(".idx")
    pending = data.with_name(f".{data.name}.resealed")  # the sealed .mjpeg of a plaintext stream
    if index.exists() and index.stat().st_mtime > cutoff:
        return None
    idx_reader = SealedReader(index, identity(index), keys) if index.exists() else None
    if pending.exists() and idx_reader is not None and idx_reader.sealed:
        os.replace(pending, data)  # an earlier run was stopped between its two renames
    reader = SealedReader(data, identity(data), keys)
    if reader.sealed:
        # Frames keep their sizes, so the index's offsets stay right under any key.
        return (_reseal(data, keys), *((_reseal(index, keys),) if idx_reader is not None else ()))
    # Plaintext from an earlier version: each JPEG becomes a frame, the index is rewritten.
    jpegs: list[bytes] = []
    lines: list[bytes] = []
    size = data.stat().st_size
    text = idx_reader.read_all().decode() if idx_reader is not None else ""
    offset = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        rel, start, length = float(parts[0]), int(parts[1]), int(parts[2])
        if start + length > size:
            continue
        jpegs.append(reader.read_range(start, length))
        record = length + RECORD_OVERHEAD
        lines.append(f"{rel:.4f} {offset} {record} {len(lines)}".encode())
        offset += record
    seal_bytes_to(pending, jpegs, identity(data), keys)
    seal_bytes_to(index, lines, identity(index), keys)
    os.replace(pending, data)
    return (True, True)
