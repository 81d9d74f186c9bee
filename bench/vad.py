"""The voice gates side by side, offline, on bench/live.py's answer audio as the server receives it.

    .venv/bin/python bench/vad.py [--seconds 130] [--clean-audio] [--out FILE]

The answer (bench/media.py: Korean sentences, pauses, a room's noise floor of -58..-47 dBFS) is
decoded from its Opus track to 16 kHz mono (what the audio pump hands on) and run through one
recogniser per gate (none, energy, Silero with 0.3 and 0.5 s of padding), server beams. For each:
the share of audio not fed to Kaldi, Kaldi CPU seconds per audio second (thread CPU: other load
on the machine inflates it a little), finals and words, and how long after an utterance's end
(sidecar) its final was emitted, counted in stream time (position of the push that returned it),
so independent of the machine's load. Word agreement is a difflib ratio against the ungated run:
espeak Korean is barely intelligible to the model, so it says little (two ungated runs that differ
only by -60 dBFS of noise agree ~0.4).
"""
from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analyzers.speech import Final, SpeechRecognizer, load_model  # noqa: E402
from analyzers.vad import silero_model  # noqa: E402
from bench.media import NOISE_DBFS, fixtures  # noqa: E402
from models import DEFAULT_MODELS_DIR, VAD_MODEL, onnx_path, vosk_model_path  # noqa: E402
from server.model_bank import SPEECH_BEAM, SPEECH_MAX_ACTIVE  # noqa: E402

BATCH = 6400  # bytes: the audio pump's 200 ms batches


def decoded(path: Path) -> bytes:
    out = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", "16000",
                          "-f", "s16le", "-"], capture_output=True, check=True)
    return out.stdout


def run(model: Any, pcm: bytes, ends: list[float], **kw: Any) -> dict[str, Any]:
    rec = SpeechRecognizer(model, **kw)
    delays: list[float] = []
    words: list[str] = []
    started = time.thread_time()
    for i in range(0, len(pcm), BATCH):
        for e in rec.push(pcm[i:i + BATCH]):
            if isinstance(e, Final):
                words += [w.word for w in e.words]
                nearest = min(ends, key=lambda u: abs(u - e.end_s))
                if abs(nearest - e.end_s) < 1.0:
                    delays.append((i + BATCH) / 2 / 16000 - nearest)
    words += [w.word for e in rec.flush() if isinstance(e, Final) for w in e.words]
    st = rec.stats
    return {"skipped": 1 - st.fed_s / st.audio_s, "rtf": st.rtf, "finals": st.finals, "words": words,
            "delays": sorted(delays), "thread_cpu": (time.thread_time() - started) / st.audio_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=130.0)
    ap.add_argument("--clean-audio", action="store_true", help="digital silence between the words")
    ap.add_argument("--out")
    args = ap.parse_args()
    fx = fixtures(args.seconds, 1, None if args.clean_audio else NOISE_DBFS)[0]
    pcm = decoded(fx.path)
    ends = [b for _, b in fx.utterances]
    model = load_model(vosk_model_path(DEFAULT_MODELS_DIR, "ko"), beam=SPEECH_BEAM, max_active=SPEECH_MAX_ACTIVE)
    silero = silero_model(onnx_path(DEFAULT_MODELS_DIR, VAD_MODEL))
    gates: list[tuple[str, dict[str, Any]]] = [
        ("none", {"vad": False}),
        ("energy (-50 dBFS, 1.0 s)", {"vad": True}),
        ("silero, pad 0.3 s", {"vad": True, "voice_detector": silero.detector(), "vad_hangover_s": 0.3,
                               "vad_preroll_s": 0.3}),
        ("silero, pad 0.5 s", {"vad": True, "voice_detector": silero.detector(), "vad_hangover_s": 0.5,
                               "vad_preroll_s": 0.3}),
    ]
    speech = sum(b - a for a, b in fx.utterances)
    lines = [f"bench/vad.py {time.strftime('%Y-%m-%dT%H:%M:%S')} {fx.path.name}: {fx.seconds:.0f} s, "
             f"{len(fx.utterances)} utterances, speech {100 * speech / fx.seconds:.0f} %, between the words "
             f"{fx.gap_level_dbfs if fx.gap_level_dbfs is not None else 'digital silence'} dBFS; "
             f"beams {SPEECH_BEAM}/{SPEECH_MAX_ACTIVE}",
             f"{'gate':<26} {'skipped':>7} {'Kaldi s/s':>9} {'thread s/s':>10} {'finals':>6} {'words':>5} "
             f"{'final after end p50/p90 (stream s)':>35} {'agreement':>9}"]
    reference: list[str] | None = None
    for name, kw in gates:
        r = run(model, pcm, ends, **kw)
        reference = r["words"] if reference is None else reference
        d = r["delays"]
        after = f"{d[len(d) // 2]:.2f}/{d[int(0.9 * (len(d) - 1))]:.2f}" if d else "-"
        agree = difflib.SequenceMatcher(None, reference, r["words"]).ratio()
        lines.append(f"{name:<26} {100 * r['skipped']:>6.1f}% {r['rtf']:>9.3f} {r['thread_cpu']:>10.3f} "
                     f"{r['finals']:>6} {len(r['words']):>5} {after:>35} {agree:>9.2f}")
        print(lines[-1], flush=True)
    lines.append("(Kaldi s/s: CPU inside Kaldi per audio second; thread s/s: the recogniser thread's CPU per audio "
                 "second, the voice detector included; load on the machine inflates both)")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
