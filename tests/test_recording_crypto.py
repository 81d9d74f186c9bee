"""Recordings encrypted at rest (server/recording_crypto.py, server/recording.py): no audio
sample, JPEG or clip in clear anywhere under the data directory, key rotation and re-encryption,
and what a missing key, a torn last frame or a changed byte does."""
from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from aiohttp.test_utils import make_mocked_request

from server import recording_crypto as rc
from server.clips import (
    MediaProblem, audio_spans, clip_audio, media_problem, media_response, read_media, recorded_range, render_clip,
    video_frames,
)
from server.recording import (
    RATE, AudioWriter, PeerRecording, Recorder, encode_jpeg, identity, key_usage, keys_for, recording_dir,
    recordings_root, reencrypt_recordings,
)
from server.recording_keys_cli import main as keys_cli
from server.settings import Settings, SettingsError

REPO = Path(__file__).resolve().parents[1]
BATCH = RATE // 5
SOI_MARKERS = [b"\xff\xd8\xff" + bytes([m]) for m in (0xE0, 0xE1, 0xDB, 0xC0, 0xC4, 0xFE)]  # SOI + first segment
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"  # EBML


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0
        self.origin = 1000.0

    def now(self) -> float:
        return self.t

    def clock(self) -> float:
        return self.t - self.origin


def khz_tone(seconds: float) -> np.ndarray:
    """1 kHz at 16 kHz: a 16-sample period, so its bytes repeat every 32."""
    n = np.arange(round(seconds * RATE))
    return (9000 * np.sin(2 * np.pi * 1000 * n / RATE)).astype(np.int16)


def picture(level: int) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.full((480, 640, 3), level, np.uint8), format="rgb24").reformat(
        format="yuv420p")


def record(root: Path, iid: int, seconds: float = 4.0) -> tuple[bytes, list[bytes]]:
    """An interview's audio (the tone) and video through the real recording classes, with the
    audio pump's 200 ms batches (each sealed at once: time is simulated, the flush interval is
    not) and frames at 5 fps (2 fps kept); (PCM, JPEGs kept)."""
    ft = FakeTime()
    rec = PeerRecording(Recorder(root, iid, flush_every_s=0.0), ft.clock, lambda: True, now=ft.now)
    pcm = khz_tone(seconds)
    jpegs = []
    for k, i in enumerate(range(0, len(pcm), BATCH)):
        ft.t += BATCH / RATE
        rec.on_pcm(pcm[i:i + BATCH].tobytes())
        jpeg = rec.on_frame(picture(40 + 5 * k))
        if jpeg is not None:
            jpegs.append(jpeg)
    rec.close()
    return pcm.tobytes(), jpegs


def clear_media(data_dir: Path, pcm: bytes = b"", jpegs: list[bytes] = ()) -> list[str]:  # type: ignore[assignment]
    """Every file under `data_dir` holding recorded media in clear: the PCM written (any 32-byte
    window of the tone's period), JPEG starts (SOI + a segment marker; SOI alone, 3 bytes, turns
    up by chance in a megabyte of ciphertext), "JFIF", the first bytes of any JPEG written, or
    WebM's EBML magic."""
    needles = [*SOI_MARKERS, b"JFIF", WEBM_MAGIC, *(j[:24] for j in jpegs)]
    if pcm:
        needles += [pcm[i:i + 32] for i in range(0, 64, 2)]
    found = []
    for p in sorted(data_dir.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            found += [f"{p.relative_to(data_dir)}: {n[:8].hex()}" for n in needles if n in data]
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    rc.configure(d, None)  # the key file, made on first use
    return d


# --- nothing in clear -----------------------------------------------------------------------


def test_no_recording_byte_in_clear_under_the_data_directory(data_dir: Path, tmp_path: Path) -> None:
    root = recordings_root(data_dir)
    pcm, jpegs = record(root, 7)
    assert len(jpegs) >= 6 and all(j[:3] == b"\xff\xd8\xff" for j in jpegs)
    clip = render_clip(root, 7, 0.5, 3.5)
    names = sorted(p.name for p in recording_dir(root, 7).rglob("*") if p.is_file())
    assert names == sorted(["audio-0.json", "audio-0.pcm", clip.name, "video-0.idx", "video-0.json", "video-0.mjpeg"])

    assert clear_media(data_dir, pcm, jpegs) == []
    for p in recording_dir(root, 7).rglob("*"):
        if p.is_file():
            assert rc.key_id_of(p) == "k1", p
            assert b'"start_s"' not in p.read_bytes()  # headers and index sealed too
    key_file = data_dir / rc.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # ... and yet everything reads back exactly.
    (span,) = audio_spans(root, 7)
    assert span.read(0, span.samples) == pcm
    assert [f.read() for f in video_frames(root, 7)] == jpegs
    with av.open(io.BytesIO(read_media(clip))) as c:
        assert c.streams.video and c.streams.audio
        assert c.duration / av.time_base == pytest.approx(3.0, abs=0.05)

    # The scan finds media in clear: the same recording in the pre-encryption layout.
    plain = tmp_path / "plain"
    (plain / "7").mkdir(parents=True)
    (plain / "7" / "audio-0.pcm").write_bytes(pcm)
    (plain / "7" / "video-0.mjpeg").write_bytes(b"".join(jpegs))
    (plain / "7" / "clip.webm").write_bytes(read_media(clip))
    found = clear_media(plain, pcm, jpegs)
    assert any("audio-0.pcm" in f for f in found) and any("video-0.mjpeg" in f for f in found)
    assert any("clip.webm" in f for f in found)


def test_audio_waits_in_memory_until_sealed_and_a_flush_seals_it(data_dir: Path) -> None:
    root = recordings_root(data_dir)
    writer = AudioWriter(recording_dir(root, 3), 0.0, flush_every_s=3600)
    pcm = khz_tone(1.0).tobytes()
    writer.write(pcm)
    assert audio_spans(root, 3) == []  # nothing on disk, in clear or not, before the flush
    writer.flush()
    (span,) = audio_spans(root, 3)
    assert span.read(0, span.samples) == pcm
    writer.write(pcm)
    writer.close()
    (span,) = audio_spans(root, 3)
    assert span.samples == 2 * RATE and clear_media(data_dir, pcm) == []


# --- keys: rotation, re-encryption, retirement ------------------------------------------------


def test_a_rotated_key_still_opens_old_recordings_and_reencrypt_moves_them(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = recordings_root(data_dir)
    settings = Settings(data_dir=data_dir)
    old_pcm, old_jpegs = record(root, 1)
    old_clip = render_clip(root, 1, 0.5, 3.0)
    old_clip_bytes = read_media(old_clip)

    assert keys_cli(["rotate"], settings) == 0
    assert "new current key k2" in capsys.readouterr().out
    assert keys_for(root).ids == ["k2", "k1"]
    assert stat.S_IMODE((data_dir / rc.KEY_FILE).stat().st_mode) == 0o600
    new_pcm, new_jpegs = record(root, 2)
    assert {rc.key_id_of(p) for p in recording_dir(root, 1).rglob("*") if p.is_file()} == {"k1"}
    assert {rc.key_id_of(p) for p in recording_dir(root, 2).rglob("*") if p.is_file()} == {"k2"}
    # The old recording opens under the rotated keyring: audio, frames, its cached clip, new clips.
    assert audio_spans(root, 1)[0].read(0, len(old_pcm) // 2) == old_pcm
    assert [f.read() for f in video_frames(root, 1)] == old_jpegs
    assert read_media(old_clip) == old_clip_bytes
    assert media_problem(root, 1, 1.0, 3.5) is None
    render_clip(root, 1, 1.0, 3.5)

    assert keys_cli(["retire", "k1"], settings) == 1  # still in use
    assert "still sealed under k1" in capsys.readouterr().out
    assert keys_cli(["reencrypt", "--min-age", "0"], settings) == 0
    out = capsys.readouterr().out
    assert "sealed again under k2" in out and "FAILED" not in out
    assert key_usage(root) == {"k2": 12}  # 2 x (2 headers, pcm, mjpeg, idx) + 2 clips
    assert audio_spans(root, 1)[0].read(0, len(old_pcm) // 2) == old_pcm
    assert [f.read() for f in video_frames(root, 1)] == old_jpegs
    assert [f.read() for f in video_frames(root, 2)] == new_jpegs
    assert audio_spans(root, 2)[0].read(0, len(new_pcm) // 2) == new_pcm
    assert read_media(old_clip) == old_clip_bytes

    # Once nothing uses it, the old key can go; everything still opens without it.
    assert keys_cli(["retire", "k1"], settings) == 0
    assert keys_for(root).ids == ["k2"]
    assert [f.read() for f in video_frames(root, 1)] == old_jpegs
    assert keys_cli(["status"], settings) == 0
    assert "k2: 12 files" in capsys.readouterr().out
    assert clear_media(data_dir, old_pcm, old_jpegs + new_jpegs) == []


def test_reencrypt_skips_recent_files_and_is_idempotent(data_dir: Path) -> None:
    root = recordings_root(data_dir)
    record(root, 1)
    rc.rotate(data_dir)
    result = reencrypt_recordings(root)  # everything was written just now: a live interview's, maybe
    assert result.resealed == 0 and len(result.skipped or []) == 4  # json x2, pcm, mjpeg (idx with it)
    assert reencrypt_recordings(root, min_age_s=0).resealed == 5
    again = reencrypt_recordings(root, min_age_s=0)
    assert (again.resealed, again.current) == (0, 5)


def test_keys_from_the_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = rc.new_key(), rc.new_key()
    data_dir = tmp_path / "data"
    setting = f"a:{base64.b64encode(a).decode()}, b:{base64.urlsafe_b64encode(b).decode()}"
    settings = Settings(data_dir=data_dir, recording_keys=setting)
    settings.check()
    rc.configure(data_dir, settings.recording_keys)
    root = recordings_root(data_dir)
    pcm, _ = record(root, 1)
    assert not (data_dir / rc.KEY_FILE).exists()  # the setting, not a key file
    assert {rc.key_id_of(p) for p in recording_dir(root, 1).iterdir()} == {"a"}
    # Rotation with the setting prints the new value; nothing is written.
    assert keys_cli(["rotate"], settings) == 0
    out = capsys.readouterr().out
    value = out.strip().splitlines()[-1]
    assert "CANDOR_RECORDING_KEYS is set" in out and value.startswith("k1:") and ",a:" in value and ",b:" in value
    assert keys_for(root).ids == ["a", "b"]
    rc.configure(data_dir, value)  # the operator sets it and restarts
    assert keys_for(root).current_id == "k1"
    assert audio_spans(root, 1)[0].read(0, len(pcm) // 2) == pcm

    for bad, why in (("nokey", "id:base64key"), (f"a:{base64.b64encode(b'short').decode()}", "32"),
                     ("a:!!!", "not base64"), (f"a:{base64.b64encode(a).decode()},a:{base64.b64encode(b).decode()}",
                                               "twice")):
        with pytest.raises(SettingsError, match=why):
            Settings.from_env({"CANDOR_RECORDING_KEYS": bad, "CANDOR_DATA_DIR": str(data_dir)})


def test_a_missing_key_is_a_clear_error_not_garbage(data_dir: Path, tmp_path: Path) -> None:
    root = recordings_root(data_dir)
    record(root, 1)
    # Another keyring (the key file lost, or the wrong setting): nothing opens, with the reason.
    rc.configure(data_dir, f"other:{base64.b64encode(rc.new_key()).decode()}")
    with pytest.raises(rc.KeyMissing, match="key 'k1', which is not in CANDOR_RECORDING_KEYS"):
        audio_spans(root, 1)
    problem = media_problem(root, 1, 0.0, 3.0)
    assert problem is not None and "cannot be decrypted" in problem and "'k1'" in problem
    with pytest.raises(MediaProblem, match="cannot be decrypted"):
        render_clip(root, 1, 0.0, 3.0)
    # The same id with another key's bytes: authentication fails (never garbage media).
    rc.configure(data_dir, f"k1:{base64.b64encode(rc.new_key()).decode()}")
    with pytest.raises(rc.Tampered, match="failed authentication"):
        audio_spans(root, 1)


# --- torn and tampered files -------------------------------------------------------------------


def test_a_torn_final_frame_is_ignored(data_dir: Path) -> None:
    root = recordings_root(data_dir)
    pcm, jpegs = record(root, 1)
    d = recording_dir(root, 1)
    (span,) = audio_spans(root, 1)
    frames = rc.SealedReader(span.path, identity(span.path), keys_for(root)).frames
    assert len(frames) == 20  # one a flush
    # A kill in the middle of writing the last frame of audio and of video.
    for name in ("audio-0.pcm", "video-0.mjpeg", "video-0.idx"):
        with open(d / name, "r+b") as f:
            f.truncate(os.path.getsize(d / name) - 7)
    (span,) = audio_spans(root, 1)
    assert span.samples * 2 == len(pcm) - frames[-1].plain_size
    assert span.read(0, span.samples) == pcm[:span.samples * 2]
    assert [f.read() for f in video_frames(root, 1)] == jpegs[:-1]
    assert render_clip(root, 1, 0.0, 3.0).exists()
    # A header cut inside the magic (a kill right after the file was made): an empty stream.
    (d / "audio-1.json").write_bytes(rc.MAGIC[:5])
    (d / "audio-1.pcm").write_bytes(rc.MAGIC[:3])
    assert len(audio_spans(root, 1)) == 1


def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x01]))


def test_a_changed_byte_a_swapped_frame_or_a_moved_file_is_detected(data_dir: Path) -> None:
    root = recordings_root(data_dir)
    pcm, _ = record(root, 1)
    record(root, 2)
    keys = keys_for(root)
    d = recording_dir(root, 1)
    audio = d / "audio-0.pcm"
    frames = rc.SealedReader(audio, identity(audio), keys).frames
    header = len(rc.SealedReader(audio, identity(audio), keys).header or b"")
    (span,) = audio_spans(root, 1)

    original = audio.read_bytes()
    flip(audio, header + frames[1].offset + 100)  # inside the second frame's ciphertext
    with pytest.raises(rc.Tampered, match="frame 1 failed authentication"):
        clip_audio([span], 0.0, 4.0)
    assert span.read(0, 50) == pcm[:100]  # the frames around it still open

    # Two frames of equal size swapped: each is refused at its new place.
    a, b = frames[1], frames[2]
    assert a.size == b.size
    raw = bytearray(original)
    ra = raw[header + a.offset:header + a.offset + a.size]
    raw[header + a.offset:header + a.offset + a.size] = raw[header + b.offset:header + b.offset + b.size]
    raw[header + b.offset:header + b.offset + b.size] = ra
    audio.write_bytes(bytes(raw))
    with pytest.raises(rc.Tampered):
        clip_audio([span], 0.0, 4.0)

    # A header byte changed (its file id): refused (the header is authenticated with every frame).
    audio.write_bytes(original)
    flip(audio, len(rc.MAGIC) + 2 + 2 + 3)  # a byte of the file id
    with pytest.raises(rc.Tampered):
        audio_spans(root, 1)[0].read(0, 10)

    # Interview 2's audio copied over interview 1's: bound to its own identity, it does not open.
    audio.write_bytes((recording_dir(root, 2) / "audio-0.pcm").read_bytes())
    with pytest.raises(rc.Tampered):
        audio_spans(root, 1)[0].read(0, 10)
    audio.write_bytes(original)
    assert audio_spans(root, 1)[0].read(0, len(pcm) // 2) == pcm

    # A JPEG frame changed.
    video = d / "video-0.mjpeg"
    ref = video_frames(root, 1)[2]
    vh = len(rc.SealedReader(video, identity(video), keys).header or b"")
    flip(video, vh + ref.offset + 40)
    with pytest.raises(rc.Tampered, match="frame 2"):
        ref.read()
    # A header changed: the recording does not quietly look empty.
    flip(d / "video-0.json", 60)
    with pytest.raises(rc.Tampered):
        recorded_range(root, 1)


# --- recordings from before encryption ----------------------------------------------------------


def test_plaintext_recordings_from_an_earlier_version_read_and_reencrypt_seals_them(data_dir: Path) -> None:
    root = recordings_root(data_dir)
    d = recording_dir(root, 4)
    d.mkdir(parents=True)
    pcm = khz_tone(3.0).tobytes()
    jpegs = [encode_jpeg(picture(60 + 20 * i)) for i in range(6)]
    # The earlier layout: plain JSON headers, PCM, MJPEG and "<rel> <offset> <length>" lines.
    (d / "audio-0.json").write_text(json.dumps({"rate": RATE, "channels": 1, "format": "s16le", "start_s": 0.0}))
    (d / "audio-0.pcm").write_bytes(pcm + b"\x01")  # a last partial sample
    (d / "video-0.json").write_text(json.dumps({"fps": 2.0, "width": 320, "start_s": 0.0}))
    (d / "video-0.mjpeg").write_bytes(b"".join(jpegs) + b"\xff\xd8")  # a JPEG cut short
    offsets = np.cumsum([0] + [len(j) for j in jpegs])
    (d / "video-0.idx").write_text("".join(f"{i * 0.5:.4f} {offsets[i]} {len(j)}\n" for i, j in enumerate(jpegs))
                                   + f"3.0000 {offsets[-1]} 5000\n3.5")
    (d / "clips").mkdir()
    legacy_clip = d / "clips" / "0-1000.webm"
    (span,) = audio_spans(root, 4)
    assert span.samples * 2 == len(pcm) and span.read(0, span.samples) == pcm
    assert [f.read() for f in video_frames(root, 4)] == jpegs
    clip = render_clip(root, 4, 0.0, 2.5)  # a new clip of an old recording is sealed
    assert rc.key_id_of(clip) == "k1"
    legacy_clip.write_bytes(read_media(clip))  # as an earlier version cached it
    assert clear_media(data_dir, pcm, jpegs) != []

    result = reencrypt_recordings(root, min_age_s=0)
    assert (result.resealed, result.failed) == (6, [])
    assert key_usage(root) == {"k1": 7}
    assert clear_media(data_dir, pcm, jpegs) == []
    (span,) = audio_spans(root, 4)
    assert span.read(0, span.samples) == pcm
    assert [f.read() for f in video_frames(root, 4)] == jpegs
    assert [round(f.t_s, 2) for f in video_frames(root, 4)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert read_media(legacy_clip) == read_media(clip)
    assert media_problem(root, 4, 0.0, 3.0) is None


# --- serving clips --------------------------------------------------------------------------------


async def test_media_is_served_decrypted_with_ranges(data_dir: Path) -> None:
    root = recordings_root(data_dir)
    record(root, 1)
    clip = render_clip(root, 1, 0.2, 3.8)
    whole = read_media(clip)
    assert whole[:4] == WEBM_MAGIC and len(whole) > 1000

    async def get(range_header: str | None):  # type: ignore[no-untyped-def]
        headers = {"Range": range_header} if range_header else {}
        return await media_response(make_mocked_request("GET", "/m", headers=headers), clip,
                                    {"Cache-Control": "private"})

    r = await get(None)
    assert (r.status, r.body, r.content_type) == (200, whole, "video/webm")
    assert r.headers["Accept-Ranges"] == "bytes" and r.headers["Cache-Control"] == "private"
    r = await get("bytes=0-99")
    assert (r.status, r.body, r.headers["Content-Range"]) == (206, whole[:100], f"bytes 0-99/{len(whole)}")
    r = await get("bytes=500-")
    assert (r.status, r.body) == (206, whole[500:])
    r = await get("bytes=-300")
    assert (r.status, r.body, r.headers["Content-Range"]) == (
        206, whole[-300:], f"bytes {len(whole) - 300}-{len(whole) - 1}/{len(whole)}")
    assert (await get(f"bytes={len(whole)}-")).status == 416


def test_large_sealed_files_read_ranges_across_frames(data_dir: Path) -> None:
    keys = keys_for(recordings_root(data_dir))
    data = os.urandom(rc.WHOLE_FILE_FRAME * 2 + 1234)
    path = data_dir / "resumes" / "cv.pdf"
    path.parent.mkdir(parents=True)
    rc.seal_file(path, data, "resumes/9/cv.pdf", keys)
    assert rc.open_file(path, "resumes/9/cv.pdf", keys) == data
    reader = rc.SealedReader(path, "resumes/9/cv.pdf", keys)
    assert len(reader.frames) == 3 and reader.plain_size == len(data)
    start = rc.WHOLE_FILE_FRAME - 10
    assert reader.read_range(start, rc.WHOLE_FILE_FRAME + 20) == data[start:start + rc.WHOLE_FILE_FRAME + 20]
    with pytest.raises(rc.Tampered):
        rc.open_file(path, "resumes/10/cv.pdf", keys)  # the identity is part of what is authenticated


def test_the_keys_command_through_run_py(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    root = recordings_root(data_dir)
    rc.configure(data_dir, None)
    record(root, 1)
    env = {**os.environ, "CANDOR_DATA_DIR": str(data_dir), "CANDOR_MODELS_DIR": str(tmp_path / "models")}
    env.pop("CANDOR_RECORDING_KEYS", None)

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, str(REPO / "run.py"), "keys", *args], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "current key k1" in run("status") and "k1: 5 files" in run("status")
    assert "new current key k2" in run("rotate")
    assert "5 files sealed again under k2" in run("reencrypt", "--min-age", "0")
    assert "k2: 5 files" in run("status")
    assert "retired k1" in run("retire", "k1")
    assert keys_for(root).ids == ["k2"]
