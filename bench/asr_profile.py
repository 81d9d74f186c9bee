"""Where the speech recogniser's CPU goes: a native-stack profile of the server's recogniser path.

    nice -n 19 .venv/bin/python bench/asr_profile.py --py-spy /tmp/pyspy/bin/py-spy \
        [--answers 2] [--out bench/results/asr-profile.txt]

py-spy is not a project dependency; put it in a throw-away venv
(``python3 -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install py-spy``). The script runs itself
under ``py-spy record --native`` and sorts the samples taken inside Kaldi calls into the parts
a decision can act on:

- graph: the on-the-fly lookahead composition of HCLr.fst with Gr.fst (``ComposeFst``,
  ``LookAheadMatcher``, ``LabelReachable``, the n-gram FST, the composition's hash tables and
  the ``ArcMapFst`` around it): the work a static, precomposed HCLG graph would not do;
- search: the decoder's own token passing (``LatticeIncrementalDecoder``, ``HashList``);
- acoustic model: nnet3 and BLAS, features and i-vectors;
- other: allocation and the rest.

Audio and recogniser as bench/asr_beams.py (the server's beams and Silero gate, espeak Korean
answers over a -60..-45 dBFS room floor, through Opus).
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Order matters: the first part whose marker is in a sample's stack takes the sample.
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("acoustic model (nnet3, BLAS, features, i-vectors)",
     ("nnet3::", "sgemm", "cblas_", "OnlineIvector", "OnlineMfcc", "OnlineFeature", "MatrixBase", "CuMatrix")),
    ("graph (on-the-fly HCLr o Gr composition)",
     ("ComposeFst", "LookAhead", "LabelReachable", "NGramFst", "ArcMapFst", "CompactHashBiTable",
      "ArcMapFstImpl")),
    ("search (decoder token passing, lattice)", ("LatticeIncrementalDecoder", "HashList", "Lattice")),
]


def decode(answers_n: int) -> str:
    """Run the recogniser over the answers; returns a summary line."""
    from bench.asr_beams import PAD_S, make_answers, recognise
    from analyzers.speech import load_model
    from analyzers.vad import silero_model
    from models import DEFAULT_MODELS_DIR, VAD_MODEL, onnx_path, vosk_model_path
    from server.model_bank import SPEECH_BEAM, SPEECH_MAX_ACTIVE

    answers = make_answers(answers_n, seed_base=7)
    model = load_model(vosk_model_path(DEFAULT_MODELS_DIR, "ko"), beam=SPEECH_BEAM, max_active=SPEECH_MAX_ACTIVE)
    silero = silero_model(onnx_path(DEFAULT_MODELS_DIR, VAD_MODEL))
    run = recognise(model, answers, silero)
    return (f"audio {run.audio_s:.1f} s, fed to Kaldi {run.fed_s:.1f} s (gate pad {PAD_S} s), Kaldi CPU "
            f"{run.kaldi_cpu_s / run.audio_s:.3f} s per audio s, whole push loop {run.thread_cpu_s / run.audio_s:.3f}")


def classify(raw: Path) -> tuple[int, Counter[str], Counter[str]]:
    """Samples inside Kaldi calls, per part, and the hottest leaf functions."""
    parts: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = [f.split(" (")[0] for f in stack.split(";")]
        if not any("vosk_recognizer" in f for f in frames):
            continue  # Python, Silero, audio making
        n = int(count)
        total += n
        inner = frames[[i for i, f in enumerate(frames) if "vosk_recognizer" in f][0]:]
        joined = ";".join(inner)
        part = next((name for name, marks in PARTS if any(m in joined for m in marks)), "other (allocation, rest)")
        parts[part] += n
        leaves[frames[-1][:100]] += n
    return total, parts, leaves


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--py-spy", help="the py-spy executable (see above)")
    ap.add_argument("--answers", type=int, default=2)
    ap.add_argument("--rate", type=int, default=250, help="samples per second")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--decode-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.decode_only:
        print(decode(args.answers), flush=True)
        return 0
    if not args.py_spy:
        ap.error("--py-spy is needed (see the module docstring)")
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.txt"
        started = time.monotonic()
        done = subprocess.run([args.py_spy, "record", "--native", "-r", str(args.rate), "--format", "raw",
                               "-o", str(raw), "--", sys.executable, __file__, "--decode-only",
                               "--answers", str(args.answers)], capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
        summary = [line for line in done.stdout.splitlines() if line.startswith("audio ")]
        total, parts, leaves = classify(raw)
    lines = [f"bench/asr_profile.py {time.strftime('%Y-%m-%dT%H:%M:%S')} commit={commit} answers={args.answers} "
             f"rate={args.rate}/s machine={platform.machine()} cores={os.cpu_count()} "
             f"wall={time.monotonic() - started:.0f}s",
             *(summary or ["(no decode summary)"]),
             f"samples inside Kaldi calls: {total}", ""]
    for name, n in parts.most_common():
        lines.append(f"  {100 * n / max(total, 1):5.1f}%  {name}")
    lines += ["", "hottest functions (self):"]
    for name, n in leaves.most_common(15):
        lines.append(f"  {100 * n / max(total, 1):5.1f}%  {name}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
