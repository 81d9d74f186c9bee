"""Media for bench/live.py: pre-encoded webm files (VP8 640x480 @ 15 fps + Opus) that an aiortc
client can send with ``MediaPlayer(path, decode=False)`` (passthrough: no encoding on the client).

    .venv/bin/python bench/media.py [--seconds 130] [--variants 4]   # make (or find) them

Video: scikit-image's astronaut on a grey 640x480 canvas, swaying a little (slow rotation and pan,
the ffmpeg filter of the test fixtures), with light temporal noise so the encoder spends bits as
it would on a real camera; VP8, ~500 kbps, a key frame every 4 s.
Audio: a continuous Korean answer from espeak-ng: 3 s of silence (reading the question), then
sentences with 1-2 s gaps and, now and then, a 6-8 s pause (thinking), repeated to the length;
over all of it, under and between the words, a room's noise floor like a real microphone's
(never digital silence, which a voice gate skips for free): pink-ish hiss plus a little mains hum,
its level drifting slowly between -58 and -47 dBFS RMS (``--noise-dbfs``; ``--clean`` for the
old silent gaps); Opus 32 kbps, 20 ms frames. ``variants`` files differ only in where the answer starts (the audio
is rotated by k/variants of its length), so N candidates do not speak in lock step (a real
interview server never sees N answers aligned to the 10 ms); ``--aligned`` in bench/live.py uses
only the first.

Each file has a JSON sidecar with the speech segments (start, end) in seconds from the file's
start, found by energy (10 ms frames above -45 dBFS, joined over gaps < 0.6 s); bench/live.py uses
it to measure how long after the end of an utterance its final transcript reaches the HR panel
(found on the clean speech, before the noise is added).

Files are cached in ``tests/.fixtures/bench-live/`` (gitignored; ``$CANDOR_TEST_FIXTURES``
overrides the parent), named by a hash of the recipe. Needs ffmpeg (libvpx, libopus), espeak-ng,
sox (Debian packages).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.media import face_png, speech_wav  # noqa: E402  (cached espeak-ng + sox)

RATE = 48_000
FPS = 15
RECIPE = 1
# Room noise level (dBFS RMS): drifts between these, a new level every ~8 s.
NOISE_DBFS = (-58.0, -47.0)
SENTENCES = [
    "안녕하세요. 저는 김민수입니다.",
    "저는 지난 5년 동안 제조 현장에서 안전 관리자로 일했습니다.",
    "동료가 안전 절차를 지키지 않으면 먼저 이유를 묻고 절차의 중요성을 설명합니다.",
    "작년에는 팀과 함께 사고율을 절반으로 줄였습니다.",
    "고객의 의견을 듣고 일정을 다시 계획했습니다.",
    "가장 큰 프로젝트는 새 생산 라인을 설치하는 일이었습니다.",
    "일정이 늦어졌을 때 매일 아침 회의를 열어 문제를 함께 풀었습니다.",
    "그 결과 두 달 만에 라인을 가동할 수 있었습니다.",
]
# Silence after each sentence (s): mostly 1-2 s, with two thinking pauses.
GAPS = [1.2, 1.8, 1.0, 6.0, 1.5, 2.0, 1.2, 8.0]
LEAD_S = 3.0
VIDEO_FILTER = (
    "pad=720:540:40:30:color=gray,"
    "rotate='0.04*sin(2*PI*t/2.5)':fillcolor=gray,"
    "crop=640:480:x='40+30*sin(2*PI*t/2)':y='30+15*sin(2*PI*t/3)',"
    "noise=alls=5:allf=t,"
    "format=yuv420p"
)


@dataclass(frozen=True)
class Fixture:
    path: Path
    seconds: float
    utterances: list[tuple[float, float]]  # speech (start, end) in seconds from the file's start
    gap_level_dbfs: float | None = None  # RMS level between the utterances (None: digital silence)


def cache_dir() -> Path:
    parent = Path(os.environ.get("CANDOR_TEST_FIXTURES", REPO / "tests" / ".fixtures"))
    path = parent / "bench-live"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _key(**params: object) -> str:
    blob = json.dumps({"recipe": RECIPE, **params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _run(argv: list[str], stdin: bytes | None = None) -> None:
    result = subprocess.run(argv, input=stdin, capture_output=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv[:4])}... failed:\n{result.stderr.decode(errors='replace')[-2000:]}")


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), np.int16)


def answer_pcm(seconds: float) -> np.ndarray:
    """48 kHz mono s16: lead silence, then the sentences and gaps, repeated to `seconds`."""
    parts = [np.zeros(int(LEAD_S * RATE), np.int16)]
    total = len(parts[0])
    i = 0
    while total < seconds * RATE:
        speech = _read_wav(speech_wav(SENTENCES[i % len(SENTENCES)], lead_silence_s=0.0, tail_silence_s=0.0))
        gap = np.zeros(int(GAPS[i % len(GAPS)] * RATE), np.int16)
        parts += [speech, gap]
        total += len(speech) + len(gap)
        i += 1
    return np.concatenate(parts)[: int(seconds * RATE)]


def room_noise(n: int, low_dbfs: float = NOISE_DBFS[0], high_dbfs: float = NOISE_DBFS[1],
               seed: int = 7) -> np.ndarray:
    """`n` samples (float32, int16 scale) of a room's noise floor: pink-ish noise and white hiss
    plus a faint 50 Hz hum and its harmonics, its level drifting between the two (dBFS RMS).
    Made in 30 s pieces so a 10-minute file needs little memory."""
    rng = np.random.default_rng(seed)
    points = max(2, int(n / RATE / 8) + 2)  # a new level every ~8 s, interpolated
    levels = rng.uniform(low_dbfs, high_dbfs, points)
    knots = np.linspace(0, n / RATE, points)
    out = np.empty(n, np.float32)
    piece = 30 * RATE
    for start in range(0, n, piece):
        m = min(piece, n - start)
        white = rng.standard_normal(m)
        # Pink-ish: white noise plus moving averages of it over 4, 32 and 256 samples (more
        # energy at low frequencies, like a room; box filters via cumsum need no scipy).
        csum = np.concatenate([[0.0], np.cumsum(white)])
        low = np.zeros(m)
        for width in (4, 32, 256):
            if m <= width:
                continue
            avg = (csum[width:] - csum[:-width]) / width
            avg = np.concatenate([np.full(width - 1, avg[0]), avg])
            low += avg / (avg.std() or 1.0)
        t = (start + np.arange(m)) / RATE
        hum = sum(np.sin(2 * np.pi * f * t + ph) / h for h, (f, ph) in enumerate([(50, 0.3), (100, 1.1), (150, 2.0)], 1))
        noise = 0.2 * low + 0.5 * white + 0.15 * hum
        noise /= 0.77  # unit RMS (measured; the three averages are correlated)
        out[start:start + m] = noise * 32768.0 * 10 ** (np.interp(t, knots, levels) / 20)
    return out


def with_noise(pcm: np.ndarray, low_dbfs: float = NOISE_DBFS[0], high_dbfs: float = NOISE_DBFS[1]) -> np.ndarray:
    mixed = pcm.astype(np.float32) + room_noise(pcm.size, low_dbfs, high_dbfs)
    return np.clip(np.round(mixed), -32768, 32767).astype(np.int16)


def level_dbfs(pcm: np.ndarray) -> float:
    x = pcm.astype(np.float64)
    return 20 * np.log10(max(np.sqrt(np.mean(x ** 2)), 1e-9) / 32768.0)


def utterances(pcm: np.ndarray, threshold_dbfs: float = -45.0, join_s: float = 0.6) -> list[tuple[float, float]]:
    frame = RATE // 100
    n = len(pcm) // frame
    x = pcm[: n * frame].astype(np.float64).reshape(n, frame)
    loud = np.sqrt((x ** 2).mean(axis=1)) > 32768.0 * 10 ** (threshold_dbfs / 20)
    segments: list[list[float]] = []
    for idx in np.flatnonzero(loud):
        t = idx * 0.01
        if segments and t - segments[-1][1] < join_s:
            segments[-1][1] = t + 0.01
        else:
            segments.append([t, t + 0.01])
    return [(round(a, 2), round(b, 2)) for a, b in segments if b - a >= 0.2]


def video_webm(seconds: float) -> Path:
    target = cache_dir() / f"video-{_key(kind='video', seconds=seconds, vf=VIDEO_FILTER)}.webm"
    if target.is_file() and target.stat().st_size:
        return target
    print(f"bench/media: encoding {seconds:.0f} s of VP8 640x480@{FPS} (once; cached) ...", file=sys.stderr)
    tmp = target.with_suffix(".tmp.webm")
    _run(["ffmpeg", "-loglevel", "error", "-y", "-loop", "1", "-framerate", str(FPS), "-i", str(face_png()),
          "-vf", VIDEO_FILTER, "-t", f"{seconds:.3f}", "-r", str(FPS),
          "-c:v", "libvpx", "-b:v", "500k", "-minrate", "400k", "-maxrate", "600k", "-g", str(4 * FPS),
          "-deadline", "realtime", "-cpu-used", "8", "-an", str(tmp)])
    os.replace(tmp, target)
    return target


def fixtures(seconds: float = 130.0, variants: int = 4,
             noise_dbfs: tuple[float, float] | None = NOISE_DBFS) -> list[Fixture]:
    """`variants` webm files of `seconds` (same video, answer rotated by k/variants), with a room
    noise floor drifting between `noise_dbfs` (None: digital silence between the words)."""
    out: list[Fixture] = []
    pcm = None
    for k in range(variants):
        shift = round(k * seconds / variants, 2)
        params: dict[str, object] = {"noise": list(noise_dbfs)} if noise_dbfs else {}
        key = _key(kind="av", seconds=seconds, shift=shift, vf=VIDEO_FILTER, sentences=SENTENCES, gaps=GAPS, **params)
        target = cache_dir() / f"answer-{key}.webm"
        sidecar = target.with_suffix(".json")
        if not (target.is_file() and sidecar.is_file()):
            if pcm is None:
                pcm = answer_pcm(seconds)
            clean = np.roll(pcm, -int(shift * RATE))
            audio = with_noise(clean, *noise_dbfs) if noise_dbfs else clean
            video = video_webm(seconds)
            with tempfile.NamedTemporaryFile(suffix=".webm", dir=target.parent, delete=False) as tmp:
                tmp_path = Path(tmp.name)
            try:
                _run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(video),
                      "-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", "-",
                      "-map", "0:v", "-map", "1:a", "-c:v", "copy",
                      "-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20", "-application", "voip",
                      "-shortest", str(tmp_path)], stdin=audio.tobytes())
                os.replace(tmp_path, target)
            finally:
                tmp_path.unlink(missing_ok=True)
            spoken = utterances(clean)
            gaps = np.ones(audio.size, bool)
            for a, b in spoken:
                gaps[int(a * RATE):int(b * RATE)] = False
            sidecar.write_text(json.dumps({"seconds": seconds, "shift_s": shift, "utterances": spoken,
                                           "noise_dbfs": list(noise_dbfs) if noise_dbfs else None,
                                           "gap_level_dbfs": round(level_dbfs(audio[gaps]), 1)}))
        meta = json.loads(sidecar.read_text())
        out.append(Fixture(target, meta["seconds"], [tuple(u) for u in meta["utterances"]],
                           meta.get("gap_level_dbfs")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=130.0)
    ap.add_argument("--variants", type=int, default=4)
    ap.add_argument("--noise-dbfs", type=lambda v: tuple(float(x) for x in v.split(",")), default=NOISE_DBFS,
                    help="room noise level range, dBFS RMS (default %(default)s)")
    ap.add_argument("--clean", action="store_true", help="digital silence between the words (the old media)")
    args = ap.parse_args()
    for f in fixtures(args.seconds, args.variants, None if args.clean else args.noise_dbfs):
        speech = sum(b - a for a, b in f.utterances)
        gap = "digital silence" if f.gap_level_dbfs is None or f.gap_level_dbfs < -90 else f"{f.gap_level_dbfs:.1f} dBFS"
        print(f"{f.path}  {f.path.stat().st_size / 1e6:.1f} MB  {f.seconds:.0f} s, "
              f"{len(f.utterances)} utterances, speech {speech:.0f} s ({100 * speech / f.seconds:.0f}%), "
              f"between the words {gap}")


if __name__ == "__main__":
    main()
