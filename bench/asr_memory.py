"""Memory of one speech recognizer (Vosk KaldiRecognizer) beyond the shared model, per setting.

    .venv/bin/python bench/asr_memory.py [--recognizers 4] [--seconds 90] [--out FILE]

Loads the Korean model once (as the server does; once with the server's beams, once with the
model's own, each in a process of its own), then makes recognizers one after another and
feeds each `--seconds` of audio (espeak-ng Korean sentences with 2 s of low noise between
them, 16 kHz), finalising as the server does at the end of an answer. Resident memory (after
malloc_trim, so freed pages do not count) is printed after each recognizer, and after all are
released. The growth per recognizer is what every interview costs in speech memory, whatever
the session does besides.
"""
from __future__ import annotations

import argparse
import ctypes
import io
import subprocess
import sys
import time
import wave
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analyzers.speech import SpeechRecognizer, load_model  # noqa: E402
from bench.live import _git_state  # noqa: E402
from models import registry  # noqa: E402
from server.model_bank import SPEECH_BEAM, SPEECH_MAX_ACTIVE  # noqa: E402
from server.settings import Settings  # noqa: E402

SENTENCE = "안녕하세요 저는 프로젝트 일정을 관리했습니다 안전 절차를 지키는 것이 중요합니다"
_libc = ctypes.CDLL("libc.so.6")


def rss_mb() -> float:
    _libc.malloc_trim(0)
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024


def speech_pcm() -> bytes:
    raw = subprocess.run(["espeak-ng", "-v", "ko", "--stdout", SENTENCE], capture_output=True, check=True).stdout
    w = wave.open(io.BytesIO(raw))
    pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    idx = np.round(np.arange(0, len(pcm), w.getframerate() / 16000)).astype(int)
    return pcm[idx[idx < len(pcm)]].tobytes()


SETTINGS = {"server": (SPEECH_BEAM, SPEECH_MAX_ACTIVE), "model.conf": (None, None)}


def measure(label: str, recognizers: int, seconds: float) -> list[str]:
    beam, max_active = SETTINGS[label]
    speech = speech_pcm()
    noise = np.random.default_rng(0).normal(0, 30, 32000).astype(np.int16).tobytes()  # 2 s, about -60 dBFS
    path = registry.vosk_model_path(Settings().models_dir, "ko")
    start = rss_mb()
    model = load_model(path, beam=beam, max_active=max_active)
    loaded = rss_mb()
    lines = [f"{label} beams (beam={beam or 'model'}, max_active={max_active or 'model'}): "
             f"model {loaded - start:.0f} MB"]
    held = []
    before = loaded
    for n in range(recognizers):
        rec = SpeechRecognizer(model, 16000)
        t0 = time.process_time()
        while rec.audio_seconds < seconds:
            rec.push(speech)
            rec.push(noise)
        rec.flush()
        cpu = time.process_time() - t0
        now = rss_mb()
        lines.append(f"  recognizer {n + 1}: +{now - before:.0f} MB ({rec.audio_seconds:.0f} s audio, "
                     f"{cpu / rec.audio_seconds:.3f} CPU s per audio s)")
        before = now
        held.append(rec)
    for rec in held:
        rec.release()
    lines.append(f"  all released: {rss_mb() - loaded:+.0f} MB against the loaded model")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recognizers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--setting", choices=sorted(SETTINGS), help="one setting, in this process")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.setting:
        print("\n".join(measure(args.setting, args.recognizers, args.seconds)), flush=True)
        return 0
    lines = [f"bench/asr_memory.py {datetime.now(timezone.utc).isoformat(timespec='seconds')} "
             f"{_git_state()} recognizers={args.recognizers} seconds={args.seconds:g}"]
    for label in SETTINGS:
        run = subprocess.run([sys.executable, __file__, "--setting", label, "--recognizers", str(args.recognizers),
                              "--seconds", str(args.seconds)], capture_output=True, text=True, check=True)
        lines += run.stdout.splitlines()
        print("\n".join(run.stdout.splitlines()), flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
