"""Test media made at test time: a moving real face as y4m video, spoken sentences as wav.

Everything lands in a cache directory, ``tests/.fixtures/`` (gitignored; override with
``$CANDOR_TEST_FIXTURES``), named by a hash of the parameters that made it, so a second run (or a
second test) reuses the file. Files are written under a temporary name and renamed, so parallel
test processes never see half a file.

Tools (Debian packages, installed by ``./candor test``): ffmpeg, espeak-ng, sox. The face is
scikit-image's ``astronaut()`` photo (inside the wheel, no download).

Use with Chromium's fake devices::

    from tests.support.media import face_y4m, speech_wav
    browser = launch_browser(video=face_y4m(), audio=speech_wav("안녕하세요"))

Chromium loops both files, so a few seconds of video is enough; give speech a tail of silence so
that the loop does not run sentences together.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO_ROOT / "tests" / ".fixtures"
SAMPLE_RATE = 48_000
# Bump to remake every cached file after changing how they are made.
RECIPE_VERSION = 1
TOOL_TIMEOUT_S = 120


class MediaToolError(RuntimeError):
    """ffmpeg, espeak-ng or sox is missing or failed."""


def cache_dir() -> Path:
    path = Path(os.environ.get("CANDOR_TEST_FIXTURES", DEFAULT_CACHE))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _key(kind: str, **params: object) -> str:
    blob = json.dumps({"kind": kind, "v": RECIPE_VERSION, **params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MediaToolError(
            f"{name} not found; install the Debian package (`apt-get install -y ffmpeg espeak-ng sox`, "
            "or run the tests with `./candor test`, which does)"
        )
    return path


def _run(argv: Sequence[str], stdin: bytes | None = None) -> None:
    result = subprocess.run(list(argv), input=stdin, capture_output=True, timeout=TOOL_TIMEOUT_S)
    if result.returncode != 0:
        raise MediaToolError(
            f"{' '.join(map(str, argv[:3]))}... exited with {result.returncode}:\n"
            f"{result.stderr.decode(errors='replace')[-2000:]}"
        )


def _cached(name: str, make) -> Path:  # noqa: ANN001  (make: Callable[[Path], None])
    """``cache/name`` if present, else ``make(tmp)`` then rename tmp to it."""
    target = cache_dir() / name
    if target.is_file() and target.stat().st_size > 0:
        return target
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=target.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        make(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("made %s (%d bytes)", target, target.stat().st_size)
    return target


# --- video ---------------------------------------------------------------------------------


def face_png() -> Path:
    """scikit-image's astronaut photo (512x512 RGB) as a PNG, via ffmpeg from raw rgb24."""

    def make(tmp: Path) -> None:
        import numpy as np
        from skimage import data

        rgb = np.ascontiguousarray(data.astronaut(), dtype=np.uint8)
        height, width = rgb.shape[:2]
        _run([_tool("ffmpeg"), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
              "-s", f"{width}x{height}", "-i", "-", "-frames:v", "1", "-f", "image2", "-c:v", "png", str(tmp)],
             stdin=rgb.tobytes())

    return _cached(f"face-{_key('face_png')}.png", make)


def face_y4m(seconds: float = 4, fps: int = 15) -> Path:
    """A 640x480 y4m video of a real face that sways a little (slow rotation and pan), for
    Chromium's ``--use-file-for-fake-video-capture``. About 0.46 MB per frame (4 s at 15 fps is
    28 MB): keep it short, Chromium loops it."""
    png = face_png()

    def make(tmp: Path) -> None:
        vf = (
            "pad=720:540:40:30:color=gray,"
            "rotate='0.04*sin(2*PI*t/2.5)':fillcolor=gray,"
            "crop=640:480:x='40+30*sin(2*PI*t/2)':y='30+15*sin(2*PI*t/3)',"
            "format=yuv420p"
        )
        _run([_tool("ffmpeg"), "-loglevel", "error", "-y", "-loop", "1", "-framerate", str(fps),
              "-i", str(png), "-vf", vf, "-t", str(seconds), "-r", str(fps),
              "-f", "yuv4mpegpipe", str(tmp)])

    return _cached(f"face-{_key('face_y4m', seconds=seconds, fps=fps)}.y4m", make)


# --- audio ---------------------------------------------------------------------------------


def silence_wav(seconds: float) -> Path:
    """``seconds`` of digital silence, 48 kHz mono s16."""

    def make(tmp: Path) -> None:
        _run([_tool("sox"), "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
              str(tmp), "trim", "0", f"{seconds:.3f}"])

    return _cached(f"silence-{_key('silence', seconds=seconds)}.wav", make)


def speech_wav(text: str, lang: str = "ko", lead_silence_s: float = 1.0, tail_silence_s: float = 2.0,
               speed_wpm: int = 150) -> Path:
    """``text`` spoken by espeak-ng (voice ``lang``), as 48 kHz mono s16 wav with silence before
    and after (sox ``pad``)."""

    def make(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="candor-tts-") as work:
            raw = Path(work) / "tts.wav"
            _run([_tool("espeak-ng"), "-v", lang, "-s", str(speed_wpm), "-w", str(raw), text])
            _run([_tool("sox"), str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
                  str(tmp), "pad", f"{lead_silence_s:.3f}", f"{tail_silence_s:.3f}"])

    key = _key("speech", text=text, lang=lang, lead=lead_silence_s, tail=tail_silence_s, wpm=speed_wpm)
    return _cached(f"speech-{key}.wav", make)


def concat_wav(parts: Sequence[Path | str]) -> Path:
    """The wav files one after another (all must be 48 kHz mono s16, as these helpers make)."""
    paths = [Path(p).resolve() for p in parts]
    if not paths:
        raise ValueError("concat_wav needs at least one file")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(p)

    def make(tmp: Path) -> None:
        _run([_tool("sox"), *map(str, paths), str(tmp)])

    # Key on content, not names, so a remade part remakes the whole.
    digests = [hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in paths]
    return _cached(f"concat-{_key('concat', parts=digests)}.wav", make)


def answer_wav(sentences: Sequence[str], lang: str = "ko", gap_s: float = 3.0,
               lead_silence_s: float = 1.0, tail_silence_s: float = 2.0) -> Path:
    """A long answer: the sentences spoken with ``gap_s`` of silence between them (a pause the
    speech analysis should see), silence before the first and after the last."""
    if not sentences:
        raise ValueError("answer_wav needs at least one sentence")
    parts: list[Path] = []
    for i, sentence in enumerate(sentences):
        lead = lead_silence_s if i == 0 else 0.0
        tail = tail_silence_s if i == len(sentences) - 1 else gap_s
        parts.append(speech_wav(sentence, lang=lang, lead_silence_s=lead, tail_silence_s=tail))
    return parts[0] if len(parts) == 1 else concat_wav(parts)


def wav_seconds(path: Path | str) -> float:
    """The length of a wav file in seconds (standard library only)."""
    import wave

    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())
