"""Recording for key clips (server/recording.py): audio and low-rate video on disk, on the
interview clock, and the WebM clips made from them, played by real Chromium."""
from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from server.clips import (
    MediaProblem, audio_spans, clip_audio, disk_usage, media_problem, read_media, recorded_range, render_clip,
    video_frames,
)
from server.recording import RATE, PeerRecording, Recorder, encode_jpeg, identity, keys_for, recording_dir
from server.recording_crypto import open_file

BATCH = RATE // 5  # the audio pump's 200 ms batches
REPO = Path(__file__).resolve().parents[1]


class FakeTime:
    """A monotonic clock the test moves, and an interview clock on top of it."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.origin = 1000.0  # monotonic time of interview clock 0

    def now(self) -> float:
        return self.t

    def clock(self) -> float:
        return self.t - self.origin


def tone(freq: float, seconds: float, start_sample: int = 0, amp: int = 8000) -> np.ndarray:
    n = np.arange(start_sample, start_sample + round(seconds * RATE))
    return (amp * np.sin(2 * np.pi * freq * n / RATE)).astype(np.int16)


def picture(level: int, w: int = 640, h: int = 480) -> av.VideoFrame:
    """A flat grey frame whose brightness tells which one it is."""
    return av.VideoFrame.from_ndarray(np.full((h, w, 3), level, np.uint8), format="rgb24").reformat(format="yuv420p")


def feed_audio(rec: PeerRecording, ft: FakeTime, pcm: np.ndarray) -> None:
    for i in range(0, len(pcm), BATCH):
        ft.t += BATCH / RATE
        rec.on_pcm(pcm[i:i + BATCH].tobytes())


def synthetic(root: Path, iid: int, streams: list[tuple[float, np.ndarray, float]]) -> None:
    """Streams of (start_s, pcm, frame brightness slope): audio from start_s, and frames every
    0.5 s over the same time with brightness 20 + slope * t (clock seconds)."""
    rec = Recorder(root, iid)
    for start, pcm, slope in streams:
        audio = rec.audio_stream(start)
        audio.write(pcm.tobytes())
        audio.close()
        video = rec.video_stream(start)
        for k in range(int(len(pcm) / RATE * 2)):
            t = start + k * 0.5
            video.add(k * 0.5, encode_jpeg(picture(int(20 + slope * t))))
        video.close()


def media(path: Path) -> io.BytesIO:
    """A rendered clip (sealed on disk), decrypted, for PyAV."""
    return io.BytesIO(read_media(path))


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(media(path)) as c:
        chunks = [f.to_ndarray().reshape(-1) if f.format.is_planar else f.to_ndarray()[0]
                  for f in c.decode(audio=0)]
        rate = c.streams.audio[0].codec_context.sample_rate
    return np.concatenate(chunks).astype(np.float64), rate


def decode_video(path: Path) -> list[tuple[float, float]]:
    """(time, mean luma) of every decoded frame."""
    out = []
    with av.open(media(path)) as c:
        for f in c.decode(video=0):
            out.append((float(f.pts * f.time_base), float(f.to_ndarray(format="gray").mean())))
    return out


def duration_s(path: Path) -> float:
    with av.open(media(path)) as c:
        return c.duration / av.time_base


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


# --- recording ------------------------------------------------------------------------------


def test_audio_in_order_on_the_clock_across_a_reconnect(tmp_path: Path) -> None:
    ft = FakeTime()
    started = False
    rec = Recorder(tmp_path, 5)
    first = PeerRecording(rec, ft.clock, lambda: started, now=ft.now)
    feed_audio(first, ft, tone(440, 1.0))  # before the candidate started: not recorded
    assert not recording_dir(tmp_path, 5).exists()

    started = True
    ft.t = ft.origin + 10.0
    sent = tone(440, 5.0)
    feed_audio(first, ft, sent)
    first.close()

    ft.t = ft.origin + 20.0  # the reconnect: a new peer connection, a new stream
    second = PeerRecording(rec, ft.clock, lambda: started, now=ft.now)
    sent2 = tone(660, 3.0)
    feed_audio(second, ft, sent2)
    second.close()

    spans = audio_spans(tmp_path, 5)
    assert [round(s.start_s, 3) for s in spans] == [10.0, 20.0]  # first batch's first sample
    assert [s.samples for s in spans] == [len(sent), len(sent2)]
    assert np.array_equal(np.frombuffer(spans[0].read(0, spans[0].samples), np.int16), sent)
    assert np.array_equal(np.frombuffer(spans[1].read(0, spans[1].samples), np.int16), sent2)
    assert recorded_range(tmp_path, 5) == pytest.approx((10.0, 23.0))
    header_path = spans[0].path.with_suffix(".json")
    header = json.loads(open_file(header_path, identity(header_path), keys_for(tmp_path)))
    assert header == {"rate": 16000, "channels": 1, "format": "s16le", "start_s": 10.0}
    # Samples land where they were said: the 660 Hz stream sits at [20, 23).
    seg = clip_audio(spans, 19.0, 24.0)
    assert rms(seg[:RATE]) == 0 and rms(seg[-RATE:]) == 0
    assert np.array_equal(seg[RATE:RATE + len(sent2)], sent2)


def test_times_follow_the_clock_when_it_starts_at_the_first_live_moment(tmp_path: Path) -> None:
    """A session's clock restarts at 0 when it first goes live; media recorded before that
    (after consent, while connecting) moves to negative clock times."""
    ft = FakeTime()
    rec = PeerRecording(Recorder(tmp_path, 1), ft.clock, lambda: True, now=ft.now)
    ft.t = ft.origin + 3.0  # the clock so far counts from the session's creation
    feed_audio(rec, ft, tone(440, 1.0))
    rec.on_frame(picture(100))
    ft.origin = ft.t  # first live moment: clock 0 is now
    feed_audio(rec, ft, tone(440, 1.0))
    ft.t += 0.5
    rec.on_frame(picture(100))
    rec.close()
    (span,) = audio_spans(tmp_path, 1)
    assert span.start_s == pytest.approx(-1.0)
    assert [round(f.t_s, 3) for f in video_frames(tmp_path, 1)] == [0.0, 1.5]


def test_frames_at_the_recording_rate_with_their_clock_times(tmp_path: Path) -> None:
    ft = FakeTime()
    rec = PeerRecording(Recorder(tmp_path, 2), ft.clock, lambda: True, now=ft.now)
    kept = []
    for k in range(50):  # 10 s of analysis at 5 fps
        ft.t = ft.origin + 4.0 + k * 0.2
        jpeg = rec.on_frame(picture(30 + k * 4))
        if jpeg is not None:
            kept.append(jpeg)
    rec.close()
    frames = video_frames(tmp_path, 2)
    assert 19 <= len(frames) <= 21  # 2 fps
    times = np.array([f.t_s for f in frames])
    assert times[0] == pytest.approx(4.0)
    assert np.all(np.diff(times) >= 0.39) and np.all(np.diff(times) <= 0.61)
    assert [f.read() for f in frames] == kept
    assert all(j[:2] == b"\xff\xd8" and j[-2:] == b"\xff\xd9" for j in kept)
    with av.open(io.BytesIO(frames[0].read()), format="mjpeg") as c:  # each frame is a JPEG
        first = next(c.decode(video=0))
    assert (first.width, first.height) == (320, 240)


def test_nothing_is_recorded_before_the_candidate_starts(tmp_path: Path) -> None:
    ft = FakeTime()
    rec = PeerRecording(Recorder(tmp_path, 3), ft.clock, lambda: False, now=ft.now)
    feed_audio(rec, ft, tone(440, 1.0))
    assert rec.on_frame(picture(50)) is None
    rec.close()
    assert recorded_range(tmp_path, 3) is None
    assert disk_usage(tmp_path, 3).total_bytes == 0


KILL_CHILD = textwrap.dedent("""
    import sys, time
    import av, numpy as np
    from pathlib import Path
    from server.recording import Recorder
    rec = Recorder(Path(sys.argv[1]), 9).for_peer(lambda: time.monotonic() - T0, lambda: True)
    T0 = time.monotonic()
    frame = av.VideoFrame.from_ndarray(np.full((480, 640, 3), 90, np.uint8), format="rgb24")
    batch = (np.ones(3200, np.int16) * 1000).tobytes()
    n = 0
    while True:  # real time: a 200 ms batch and a frame (at 5 fps) as the server would
        rec.on_pcm(batch)
        rec.on_frame(frame)
        n += 1
        print(n, flush=True)
        time.sleep(0.2)
""")


def test_a_killed_process_loses_at_most_about_a_second(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", KILL_CHILD, str(tmp_path)], stdout=subprocess.PIPE,
                             env=env, text=True)
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 30
        batches = 0
        while batches < 20 and time.monotonic() < deadline:  # 4 s of audio written
            batches = int(child.stdout.readline() or 0)
        assert batches >= 20
        # While it is still running: what was written more than a flush interval ago is on disk.
        time.sleep(0.1)
        (span,) = audio_spans(tmp_path, 9)
        assert span.samples >= (batches - 6) * 3200
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    (span,) = audio_spans(tmp_path, 9)
    assert span.samples % 3200 == 0 and span.samples >= (batches - 6) * 3200
    assert np.all(np.frombuffer(span.read(0, span.samples), np.int16) == 1000)
    frames = video_frames(tmp_path, 9)
    assert len(frames) >= 2 * batches // 5 - 2  # every frame written is readable
    assert all(f.read()[:2] == b"\xff\xd8" for f in frames)
    start, end = recorded_range(tmp_path, 9)  # type: ignore[misc]
    assert end - start >= 3.0
    assert duration_s(render_clip(tmp_path, 9, start, end)) == pytest.approx(end - start, abs=0.1)


# --- clips ----------------------------------------------------------------------------------


@pytest.fixture
def two_tones(tmp_path: Path) -> Path:
    """0-10 s: 440 Hz until 3.5 s, then 880 Hz; frames brighten by 10 per second."""
    pcm = np.concatenate([tone(440, 3.5), tone(880, 6.5, start_sample=round(3.5 * RATE))])
    synthetic(tmp_path, 11, [(0.0, pcm, 10.0)])
    return tmp_path


def test_a_clip_has_its_duration_and_the_source_audio_and_video_at_the_right_place(two_tones: Path) -> None:
    path = render_clip(two_tones, 11, 2.0, 5.0)
    assert path.suffix == ".webm" and path.parent.name == "clips"
    assert duration_s(path) == pytest.approx(3.0, abs=0.05)
    with av.open(media(path)) as c:
        assert c.streams.video[0].codec_context.name == "vp8"
        assert c.streams.audio[0].codec_context.name == "opus"
    audio, rate = decode_audio(path)
    assert len(audio) / rate == pytest.approx(3.0, abs=0.05)
    # 440 Hz for the clip's first 1.5 s (source 2.0-3.5 s), then 880 Hz.
    assert peak_hz(audio[int(0.2 * rate):int(1.3 * rate)], rate) == pytest.approx(440, abs=10)
    assert peak_hz(audio[int(1.7 * rate):int(2.8 * rate)], rate) == pytest.approx(880, abs=10)
    assert rms(audio[int(0.2 * rate):int(2.8 * rate)]) > 0.1  # amplitude 8000/32768 ~ 0.17 rms
    # Frames: the one recorded at source time t shows brightness 20 + 10 t.
    video = decode_video(path)
    assert video[0][0] == 0.0 and video[-1][0] < 3.0
    for t, luma in video[:-1]:
        assert luma == pytest.approx(20 + 10 * (2.0 + t), abs=4), (t, luma)


def test_clips_are_cached_clamped_and_refused_when_empty(two_tones: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = render_clip(two_tones, 11, 2.0, 5.0)
    mtime = path.stat().st_mtime_ns
    assert render_clip(two_tones, 11, 2.0, 5.0) == path and path.stat().st_mtime_ns == mtime
    clamped = render_clip(two_tones, 11, 8.0, 30.0)
    assert duration_s(clamped) == pytest.approx(2.0, abs=0.05)
    assert disk_usage(two_tones, 11).clip_bytes == path.stat().st_size + clamped.stat().st_size
    with pytest.raises(ValueError, match="empty"):
        render_clip(two_tones, 11, 5.0, 5.0)
    with pytest.raises(ValueError, match="nothing was recorded at 0:20"):
        render_clip(two_tones, 11, 20.0, 30.0)
    with pytest.raises(ValueError, match="nothing was recorded for this interview"):
        render_clip(tmp_path_factory.mktemp("empty"), 11, 0.0, 5.0)


def test_a_clip_with_almost_nothing_recorded_is_refused_with_a_reason(two_tones: Path, tmp_path: Path) -> None:
    """A clip 0.04 s of which is on disk used to render as a 0:00 video that counted as seen."""
    assert media_problem(two_tones, 11, 2.0, 5.0) is None
    with pytest.raises(MediaProblem, match=r"only 0\.04 s of 0:10\u20130:13 was recorded"):
        render_clip(two_tones, 11, 9.96, 13.0)
    assert not (recording_dir(two_tones, 11) / "clips").exists()  # nothing rendered
    assert media_problem(two_tones, 11, 9.96, 13.0) == "only 0.04 s of 0:10\u20130:13 was recorded"
    assert "covers 0:00\u20130:10" in (media_problem(two_tones, 11, 20.0, 25.0) or "")
    assert "nothing was recorded" in (media_problem(tmp_path / "none", 11, 0.0, 5.0) or "")
    # A range wholly inside the gap of a reconnect: nothing was received then.
    synthetic(tmp_path, 12, [(0.0, tone(440, 3.0), 10.0), (8.0, tone(440, 3.0, 8 * RATE), 10.0)])
    assert media_problem(tmp_path, 12, 4.0, 7.0) == \
        "no audio or video was received at 0:04\u20130:07 (the connection was lost then)"
    with pytest.raises(MediaProblem, match="no audio or video"):
        render_clip(tmp_path, 12, 4.0, 7.0)
    # A short answer (under a second) that was recorded in full still renders.
    assert duration_s(render_clip(two_tones, 11, 4.0, 4.6)) == pytest.approx(0.6, abs=0.05)


def test_a_clip_across_a_gap_is_padded_with_silence_and_black(tmp_path: Path) -> None:
    # Two streams (a reconnect): 0-3 s and 6-9 s.
    synthetic(tmp_path, 12, [(0.0, tone(440, 3.0), 10.0), (6.0, tone(440, 3.0, 6 * RATE), 10.0)])
    assert recorded_range(tmp_path, 12) == pytest.approx((0.0, 9.0))
    path = render_clip(tmp_path, 12, 2.0, 8.0)
    assert duration_s(path) == pytest.approx(6.0, abs=0.05)
    audio, rate = decode_audio(path)
    sec = lambda a, b: audio[int(a * rate):int(b * rate)]  # noqa: E731
    assert rms(sec(0.1, 0.9)) > 0.1 and rms(sec(4.1, 5.9)) > 0.1
    assert rms(sec(1.1, 3.9)) < 0.005  # 3-6 s of the source: no audio there
    video = dict(decode_video(path))
    def luma_at(t: float) -> float:
        return video[max(k for k in video if k <= t)]
    assert luma_at(0.6) == pytest.approx(20 + 10 * 2.5, abs=4)
    assert luma_at(3.0) < 20  # no video: black
    assert luma_at(4.6) == pytest.approx(20 + 10 * 6.5, abs=4)
    # A clip that starts in the gap starts silent and black (not on a stale picture).
    late = render_clip(tmp_path, 12, 4.5, 7.5)
    audio, rate = decode_audio(late)
    assert rms(audio[:int(1.4 * rate)]) < 0.005 and rms(audio[int(1.6 * rate):int(2.9 * rate)]) > 0.1
    video = dict(decode_video(late))
    assert luma_at(0.0) < 20 and luma_at(1.2) < 20
    assert luma_at(2.1) == pytest.approx(20 + 10 * 6.5, abs=4)


def test_disk_usage_by_kind(two_tones: Path) -> None:
    usage = disk_usage(two_tones, 11)
    d = recording_dir(two_tones, 11)
    assert usage.audio_bytes == sum(p.stat().st_size for p in d.glob("audio-*")) > 10 * RATE * 2
    assert usage.video_bytes == sum(p.stat().st_size for p in d.glob("video-*")) > 0
    assert usage.clip_bytes == 0
    assert disk_usage(two_tones).total_bytes == usage.total_bytes


# --- real Chromium plays a clip ---------------------------------------------------------------


def test_chromium_plays_a_clip(page: Any, two_tones: Path) -> None:
    clip = read_media(render_clip(two_tones, 11, 1.0, 9.0))
    page.route("http://clips.test/clip.webm", lambda r: r.fulfill(status=200, body=clip, content_type="video/webm"))
    page.route("http://clips.test/", lambda r: r.fulfill(
        status=200, content_type="text/html",
        body='<!doctype html><video id="v" src="/clip.webm" muted autoplay playsinline></video>'))
    page.goto("http://clips.test/")
    page.wait_for_function("() => { const v = document.getElementById('v');"
                           " return v.readyState >= 2 && v.currentTime > 0.5; }", timeout=20_000)
    state = page.evaluate("() => { const v = document.getElementById('v'); return {"
                          " w: v.videoWidth, h: v.videoHeight, d: v.duration, err: v.error && v.error.code,"
                          " paused: v.paused }; }")
    assert state["err"] is None and not state["paused"], state
    assert (state["w"], state["h"]) == (320, 240)
    assert state["d"] == pytest.approx(8.0, abs=0.1)


# --- end to end: an interview over WebRTC is recorded -----------------------------------------


async def test_an_interview_over_webrtc_is_recorded_and_a_clip_renders(aiohttp_client: Any, tmp_path: Path) -> None:
    """Human-only (no consent to analysis) is recorded too: HR still reviews it."""
    from conftest import invite, login
    from server.settings import Settings
    from server.sessions import sessions_key
    from tests.live_client import AUDIO_RATE, ImageTrack, PcmTrack, connect, portrait_640x480
    from tests.test_live_session import start_app, wait_for

    settings = Settings(data_dir=tmp_path / "data", public_url="http://127.0.0.1",
                        ice_host_addresses=("127.0.0.1",), analysis_fps=5.0)
    client, store = await start_app(aiohttp_client, settings)
    hr = await login(client, store, "hr@example.com")
    token, iid = await invite(hr, "A", "a@example.com")
    received: list[dict[str, Any]] = []
    ws = await client.ws_connect(f"/i/{token}/ws")

    async def read_ws() -> None:
        async for msg in ws:
            received.append(json.loads(msg.data))

    reader = asyncio.create_task(read_ws())
    await ws.send_json({"type": "start", "consent": False})
    n = np.arange(AUDIO_RATE * 30)
    sine = (8000 * np.sin(2 * np.pi * 440 * n / AUDIO_RATE)).astype(np.int16)
    pc = await connect(str(client.make_url("")).rstrip("/"), token, client.session,
                       [PcmTrack(sine, AUDIO_RATE, loop=True), ImageTrack(portrait_640x480())])
    try:
        await wait_for(lambda: any(m.get("type") == "question" and m["index"] == 0 for m in received), 20, "question 0")
        session = client.app[sessions_key].sessions[iid]
        await asyncio.sleep(4.0)
        await ws.send_json({"type": "next"})
        await wait_for(lambda: any(m.get("type") == "question" and m["index"] == 1 for m in received), 20, "question 1")
        await asyncio.sleep(2.0)
        clock_at_end = session.clock()
        await ws.send_json({"type": "next"})
        await wait_for(lambda: any(m.get("type") == "done" for m in received), 30, "done")
    finally:
        await pc.close()
        await ws.close()
        reader.cancel()
    root = settings.data_dir / "recordings"
    await wait_for(lambda: iid not in client.app[sessions_key].sessions, 10, "the session to close")
    rng = recorded_range(root, iid)
    assert rng is not None
    start, end = rng
    assert start <= 0.5 and end >= clock_at_end - 0.5, (rng, clock_at_end)
    spans = audio_spans(root, iid)
    assert sum(s.samples for s in spans) / RATE >= 5.5
    frames = video_frames(root, iid)
    rate = (len(frames) - 1) / (frames[-1].t_s - frames[0].t_s)
    assert 1.6 <= rate <= 2.25, rate  # 2 fps, give or take the executor's jitter
    clip = await asyncio.get_running_loop().run_in_executor(None, render_clip, root, iid, 1.0, 4.0)
    assert duration_s(clip) == pytest.approx(3.0, abs=0.05)
    audio, arate = decode_audio(clip)
    assert peak_hz(audio[int(0.5 * arate):int(2.5 * arate)], arate) == pytest.approx(440, abs=10)
    video = decode_video(clip)
    assert len(video) >= 5 and all(luma > 40 for _, luma in video)  # the photo, not black
    # Encrypted at rest: no recorded sample, JPEG or clip in clear anywhere under the data dir.
    from tests.test_recording_crypto import clear_media

    recorded = spans[0].read(RATE, RATE)  # a second of what was recorded, decrypted
    assert len(recorded) == 2 * RATE and np.frombuffer(recorded, np.int16).std() > 1000
    assert clear_media(settings.data_dir, recorded, [f.read() for f in frames]) == []
