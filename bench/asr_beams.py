"""Recogniser settings (beam, max-active, lattice-beam) by CPU and by word agreement with the widest search.

    nice -n 19 .venv/bin/python bench/asr_beams.py [--beams 6,8,10,13] [--max-active 700,1000,1500,3000,7000]
        [--lattice-beams 1,4] [--reference 13,7000] [--answers 4] [--out bench/results/asr-beams.txt]

No intelligible Korean speech with a known transcript can be made on this machine (espeak-ng's
Korean is poorly understood by the model), so accuracy cannot be a word error rate against the
truth. Instead every setting is compared with the same model at its widest search (``--reference``,
beam 13 / max-active 7000) on the same audio: word agreement = 1 - word-level Levenshtein distance /
reference words (may go below 0 with many insertions), and the same on characters (spaces removed).
It measures how much of the widest search's answer a narrower search loses, not how right either is.

Audio: ``--answers`` interview answers, each a different run of Korean sentences spoken by espeak-ng
(tests/support/media.py, 48 kHz) at its own speed, with 1-2 s gaps and a 6-8 s thinking pause, over
a room's noise floor (bench/media.py's pink/white hiss and 50 Hz hum, its RMS level drifting
between -60 and -45 dBFS, a different seed per answer), through Opus at 32 kbit/s and decoded to
16 kHz mono (what the server's audio pump hands on). The recogniser path is the server's:
``load_model(beam=, max_active=, lattice_beam=)`` (analyzers/speech.py), ``SpeechRecognizer`` behind
the server's default voice gate (Silero, 0.3 s of audio kept either side of speech, as
server/speech_stream.py's ``recognizer_options``), audio pushed in the pump's 200 ms batches, one
recogniser for the whole stream and a ``flush()`` at the end of each answer (the barrier a
question change makes).

Per setting: Kaldi CPU seconds per audio second (thread CPU inside Kaldi calls; ``SpeechStats``),
the thread's CPU per audio second for the whole push loop (Silero included), the share of audio the
gate skipped, finals and words, how long after an utterance's end its final came out (counted in
stream time: the position of the push that returned it, independent of the machine's load), and
the two agreements. Extra rows: the reference and the server setting each run a second time (the
same setting on the same audio does not always give the same words here: a run-to-run jitter, the
ceiling no setting can beat) and the reference setting on the same speech with
another noise floor seed (how much the model's answer moves when only inaudible hiss changes: the
scale against which a setting's loss should be read). Run it under ``nice -n 19``; thread CPU is
counted, not wall time, but a busy machine still inflates CPU a little (shared caches).
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analyzers.speech import Final, SpeechRecognizer, load_model, read_decoder_options  # noqa: E402
from analyzers.vad import silero_model  # noqa: E402
from bench.media import RATE, SENTENCES, room_noise, utterances  # noqa: E402
from models import DEFAULT_MODELS_DIR, VAD_MODEL, onnx_path, vosk_model_path  # noqa: E402
from server.model_bank import SPEECH_BEAM, SPEECH_MAX_ACTIVE  # noqa: E402
from tests.support.media import speech_wav  # noqa: E402

SR = 16000
BATCH = 6400  # bytes: the audio pump's 200 ms batches
NOISE = (-60.0, -45.0)
PAD_S = 0.3  # CANDOR_VAD_PAD_S default
# Answers to different questions: each a list of sentences, spoken at its own speed.
ANSWERS: list[tuple[int, list[str]]] = [
    (150, list(SENTENCES)),  # bench/media.py's answer
    (165, ["제 장점은 꼼꼼함과 책임감입니다.",
           "보고서를 쓸 때는 숫자를 두 번 확인합니다.",
           "처음 입사했을 때는 업무를 빨리 배우려고 선배에게 많이 질문했습니다.",
           "단점은 가끔 일을 혼자 해결하려고 하는 것입니다.",
           "그래서 요즘은 문제가 생기면 바로 팀에 공유하고 있습니다.",
           "이 회사에서 품질 관리 경험을 더 넓히고 싶습니다.",
           "감사합니다."]),
    (140, ["가장 어려웠던 일은 새로운 시스템을 도입할 때였습니다.",
           "직원들이 익숙한 방식을 바꾸고 싶어하지 않았습니다.",
           "그래서 작은 교육을 여러 번 열고 질문을 받았습니다.",
           "한 달 뒤에는 대부분의 직원이 새 시스템을 사용했습니다.",
           "이 경험으로 변화를 설명하는 방법을 배웠습니다.",
           "앞으로도 현장의 목소리를 먼저 듣겠습니다."]),
    (175, ["고객이 불만을 말하면 먼저 끝까지 듣습니다.",
           "그리고 무엇이 문제인지 정리해서 다시 확인합니다.",
           "지난해에는 배송 지연 문제로 화가 난 고객이 있었습니다.",
           "저는 매일 진행 상황을 전화로 알려 드렸습니다.",
           "결국 그 고객은 다음 계약도 우리 회사와 했습니다.",
           "신뢰는 작은 약속을 지키는 데서 시작된다고 생각합니다.",
           "입사하게 되면 고객 만족도를 높이는 데 기여하겠습니다."]),
]
GAPS = [1.2, 1.8, 1.0, 6.0, 1.5, 2.0, 1.2, 8.0]  # after each sentence, s (bench/media.py's)
LEAD_S = 3.0  # reading the question


@dataclass(frozen=True)
class Answer:
    pcm: bytes  # 16 kHz mono s16le, as the server's audio pump hands it on
    seconds: float
    ends: list[float]  # utterance ends, s from the answer's start


def _read_wav48(path: Path) -> np.ndarray:
    import wave
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), np.int16)


def _through_opus(pcm48: np.ndarray) -> bytes:
    enc = subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", "-",
                          "-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20", "-application", "voip",
                          "-f", "ogg", "-"], input=pcm48.tobytes(), capture_output=True, check=True).stdout
    return subprocess.run(["ffmpeg", "-loglevel", "error", "-i", "-", "-ac", "1", "-ar", str(SR), "-f", "s16le", "-"],
                          input=enc, capture_output=True, check=True).stdout


def make_answers(count: int, seed_base: int) -> list[Answer]:
    out = []
    for k, (wpm, sentences) in enumerate(ANSWERS[:count]):
        parts = [np.zeros(int(LEAD_S * RATE), np.int16)]
        for i, text in enumerate(sentences):
            parts.append(_read_wav48(speech_wav(text, lead_silence_s=0.0, tail_silence_s=0.0, speed_wpm=wpm)))
            parts.append(np.zeros(int(GAPS[(i + k) % len(GAPS)] * RATE), np.int16))
        clean = np.concatenate(parts)
        noisy = clean.astype(np.float32) + room_noise(clean.size, *NOISE, seed=seed_base + k)
        audio = np.clip(np.round(noisy), -32768, 32767).astype(np.int16)
        pcm = _through_opus(audio)
        out.append(Answer(pcm, len(pcm) / 2 / SR, [b for _, b in utterances(clean)]))
    return out


@dataclass
class Run:
    words: list[list[str]]  # per answer
    audio_s: float
    fed_s: float
    kaldi_cpu_s: float
    thread_cpu_s: float
    finals: int
    delays: list[float]  # stream seconds from an utterance's end to its final


def _take(events: list[Any], at_s: float, ends: list[float], got: list[str], delays: list[float]) -> None:
    for e in events:
        if isinstance(e, Final):
            got.extend(w.word for w in e.words)
            nearest = min(ends, key=lambda u: abs(u - e.end_s))
            if abs(nearest - e.end_s) < 1.0:
                delays.append(at_s - nearest)


def recognise(model: Any, answers: list[Answer], silero: Any) -> Run:
    rec = SpeechRecognizer(model, vad=True, voice_detector=silero.detector(), vad_hangover_s=PAD_S,
                           vad_preroll_s=PAD_S)
    words: list[list[str]] = []
    delays: list[float] = []
    offset = 0.0
    started = time.thread_time()
    for ans in answers:
        got: list[str] = []
        ends = [offset + e for e in ans.ends]
        for i in range(0, len(ans.pcm), BATCH):
            piece = ans.pcm[i:i + BATCH]
            _take(rec.push(piece), offset + (i + len(piece)) / 2 / SR, ends, got, delays)
        offset += ans.seconds
        _take(rec.flush(), offset, ends, got, delays)
        words.append(got)
    thread_cpu = time.thread_time() - started
    st = rec.stats
    return Run(words, st.audio_s, st.fed_s, st.cpu_s, thread_cpu, st.finals, sorted(delays))


def levenshtein(a: list[str], b: list[str]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def agreement(ref: list[list[str]], hyp: list[list[str]]) -> tuple[float, float]:
    """(1 - WER, 1 - CER) of hyp against ref, summed over the answers."""
    wd = sum(levenshtein(r, h) for r, h in zip(ref, hyp, strict=True))
    wn = sum(len(r) for r in ref)
    cd = sum(levenshtein(list("".join(r)), list("".join(h))) for r, h in zip(ref, hyp, strict=True))
    cn = sum(len("".join(r)) for r in ref)
    return 1 - wd / max(wn, 1), 1 - cd / max(cn, 1)


def pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))] if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beams", default="6,8,10,13")
    ap.add_argument("--max-active", default="700,1000,1500,3000,7000")
    ap.add_argument("--lattice-beams", default="1,4", help="extra rows at the server's beam/max-active")
    ap.add_argument("--reference", default="13,7000", help="beam,max-active of the widest search")
    ap.add_argument("--answers", type=int, default=4)
    ap.add_argument("--out")
    ap.add_argument("--append", action="store_true", help="add to --out instead of replacing it")
    ap.add_argument("--no-extras", action="store_true",
                    help="only the reference and the grid (no reruns, no other noise seed): a repeat of the grid")
    args = ap.parse_args()

    path = vosk_model_path(DEFAULT_MODELS_DIR, "ko")
    conf = read_decoder_options(path)
    silero = silero_model(onnx_path(DEFAULT_MODELS_DIR, VAD_MODEL))
    answers = make_answers(args.answers, seed_base=7)
    reseeded = make_answers(args.answers, seed_base=1007)
    total = sum(a.seconds for a in answers)
    ref_beam, ref_active = (float(args.reference.split(",")[0]), int(args.reference.split(",")[1]))
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "analyzers", "server"],
                           capture_output=True, text=True).stdout.strip()
    head = [
        f"bench/asr_beams.py {time.strftime('%Y-%m-%dT%H:%M:%S%z')} commit {commit}"
        f"{' (analyzers/ or server/ modified)' if dirty else ''}; {platform.node()}, {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}; load average {os.getloadavg()[0]:.1f} at start "
        f"(a memory soak was running on the machine); run under nice -n 19",
        f"command: {' '.join(['bench/asr_beams.py', *sys.argv[1:]])}",
        f"model {path.name} (conf/model.conf: beam {conf.get('beam')}, max-active {conf.get('max-active')}, "
        f"lattice-beam {conf.get('lattice-beam')}, min-active {conf.get('min-active')}); server today: beam "
        f"{SPEECH_BEAM:g}, max-active {SPEECH_MAX_ACTIVE}",
        f"audio: {len(answers)} answers, {total:.0f} s in all ({', '.join(f'{a.seconds:.0f}' for a in answers)} s), "
        f"{sum(len(a.ends) for a in answers)} utterances of espeak-ng Korean over a room noise floor drifting "
        f"{NOISE[0]:g}..{NOISE[1]:g} dBFS, Opus 32k -> 16 kHz; Silero gate, pad {PAD_S} s; 200 ms pushes; "
        "flush at each answer's end",
        "NO intelligible Korean speech with a known transcript can be made here (espeak-ng's Korean is poorly "
        "understood by the model), so accuracy is AGREEMENT with the same model at its widest search "
        f"(beam {ref_beam:g}, max-active {ref_active}) on the same audio: word agr = 1 - word Levenshtein / "
        "reference words, char agr = the same on characters without spaces. It is what a narrower search loses "
        "against the widest, not a word error rate against the truth.",
        "",
    ]
    cols = (f"{'beam':>5} {'max-act':>7} {'lat-b':>5} {'Kaldi s/s':>9} {'vs ref':>6} {'thread s/s':>10} "
            f"{'skip':>5} {'finals':>6} {'words':>5} {'word agr':>8} {'char agr':>8} {'final after end p50/p90':>23}")
    lines = head + [cols, "-" * len(cols)]
    print("\n".join(lines), flush=True)

    ref_run: Run | None = None
    runs: dict[tuple[float, int, float | None, str], Run] = {}

    def row(beam: float, active: int, lattice: float | None, label: str = "", audio: list[Answer] = answers) -> Run:
        nonlocal ref_run
        model = load_model(path, beam=beam, max_active=active, lattice_beam=lattice)
        r = recognise(model, audio, silero)
        del model
        gc.collect()
        if ref_run is None:
            ref_run = r
        wa, ca = agreement(ref_run.words, r.words)
        rtf = r.kaldi_cpu_s / r.audio_s
        ref_rtf = ref_run.kaldi_cpu_s / ref_run.audio_s
        lat = f"{pct(r.delays, 0.5):.2f}/{pct(r.delays, 0.9):.2f}"
        lb = f"{lattice:g}" if lattice is not None else conf.get("lattice-beam", "?")
        text = (f"{beam:>5g} {active:>7} {lb:>5} {rtf:>9.3f} {rtf / ref_rtf:>6.2f} "
                f"{r.thread_cpu_s / r.audio_s:>10.3f} {1 - r.fed_s / r.audio_s:>5.0%} {r.finals:>6} "
                f"{sum(map(len, r.words)):>5} {wa:>8.3f} {ca:>8.3f} {lat:>23}{'  ' + label if label else ''}")
        lines.append(text)
        print(text, flush=True)
        runs[(beam, active, lattice, label)] = r
        return r

    # The first decoding in a process can differ from later ones by a word (seen here); warm up first.
    warm = load_model(path, beam=SPEECH_BEAM, max_active=SPEECH_MAX_ACTIVE)
    recognise(warm, answers[:1], silero)
    del warm
    row(ref_beam, ref_active, None, "reference")
    if not args.no_extras:
        row(ref_beam, ref_active, None, "reference setting again (run-to-run jitter)")
    for beam in [float(b) for b in args.beams.split(",")]:
        for active in [int(m) for m in args.max_active.split(",")]:
            if (beam, active) != (ref_beam, ref_active):
                row(beam, active, None)
    for lattice in [float(x) for x in args.lattice_beams.split(",") if x]:
        row(SPEECH_BEAM, SPEECH_MAX_ACTIVE, lattice)
    if not args.no_extras:
        first = runs.get((SPEECH_BEAM, SPEECH_MAX_ACTIVE, None, ""))
        again = row(SPEECH_BEAM, SPEECH_MAX_ACTIVE, None, "server setting again (run-to-run jitter)")
        if first is not None:
            wa, _ = agreement(first.words, again.words)
            lines.append(f"      (server setting run twice: word agreement between its two runs {wa:.3f})")
            print(lines[-1], flush=True)
        row(ref_beam, ref_active, None, "reference setting, same speech, other noise seed (the audio's own jitter)",
            audio=reseeded)
    lines += [
        "",
        "Kaldi s/s: CPU seconds inside Kaldi calls per audio second (thread CPU); vs ref: that relative to the "
        "reference row; thread s/s: the recogniser thread's CPU per audio second (Silero gate and Python "
        "included); skip: audio the gate kept from Kaldi; final after end: stream seconds from an utterance's "
        "end to the push that returned its final (p50/p90; includes the 0.3 s pad and Kaldi's endpointing), "
        "load-independent.",
    ]
    delays_ok = [statistics.mean(r.delays) for r in runs.values() if r.delays]
    if delays_ok:
        lines.append(f"(mean final-after-end over all rows: {statistics.mean(delays_ok):.2f} s)")
    text = "\n".join(lines)
    if args.out:
        if args.append and Path(args.out).is_file():
            text = Path(args.out).read_text(encoding="utf-8") + "\n" + "=" * 108 + "\n" + text
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(f"written {args.out}")


if __name__ == "__main__":
    main()
