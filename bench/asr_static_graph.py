"""Static HCLG graph against the model's lookahead graph (HCLr.fst + Gr.fst): memory, CPU, words.

    nice -n 19 .venv/bin/python bench/asr_static_graph.py (--build DIR | --hclg DIR/HCLG.fst) \
        [--recognizers 4] [--answers 4] [--out bench/results/asr-static-graph.txt]

``--build DIR`` first builds DIR/HCLG.fst and DIR/words.txt from the installed model's graph with
Debian's OpenFst 1.7.9 tools (``apt-get install libfst-tools libfst22-plugins-base``; the plugins
package holds the olabel_lookahead and ngram FST types), each step timed (wall, CPU, peak RSS)
under ``prlimit --as`` (12 GiB) and ``nice -n 19``; the steps are Kaldi's utils/mkgraph_lookahead.sh
``--compose-graph`` ones (fstcompose HCLr.fst Gr.fst | fstrmsymbols disambig_tid.int | fstconvert
--fst_type=const) with OpenFst's own tools: fstrelabel maps the disambiguation symbols to <eps>.
Gr.fst's word table has "</s>" twice (same key); OpenFst 1.7.9 writes such a table back with a
count one larger than its entries, so the FSTs it writes would not read back: the word table is
taken out of G before composing and written as words.txt instead (libvosk reads graph/words.txt
when HCLG.fst has no output symbols).

The Korean Vosk model ships a lookahead graph: libvosk composes HCLr.fst with Gr.fst on the fly,
in every recognizer, with a state cache of its own. When ``graph/HCLG.fst`` exists libvosk loads
that instead (vosk-api model.cc) and every recognizer decodes the one shared, fully composed graph.
``--hclg`` is such a graph, built once from the same HCLr.fst and Gr.fst (see the results file for
how). This script makes a copy of the model folder under /tmp out of symlinks (am/, conf/, ivector/
and graph/'s small files point at the installed model, which is not touched) whose graph/ holds
the HCLG.fst and no HCLr/Gr, and measures both folders the same way, each in a process of its own:

* the model: resident memory it adds when loaded (``load_model`` with the server's beams,
  beam 8 / max-active 1500, as server/model_bank.py does) and its load time;
* ``--recognizers`` recognizers made one after another from that model and all kept alive, each
  fed the same audio: resident memory each adds (after malloc_trim, as bench/asr_memory.py),
  Kaldi CPU seconds per audio second (thread CPU inside Kaldi calls, ``SpeechStats``) and its
  words;
* two feeding modes: ``ungated`` (every sample goes to Kaldi, as bench/asr_memory.py) and
  ``gated`` (the server's path: Silero voice gate with 0.3 s of pad, as bench/asr_beams.py).

Audio: bench/asr_beams.py's ``--answers`` interview answers (espeak-ng Korean over bench/media.py's
drifting room noise, through Opus 32k to 16 kHz), pushed in 200 ms batches with a flush at each
answer's end. Word agreement = 1 - word Levenshtein distance / reference words, against the
lookahead graph's first recognizer (the lookahead graph's own later recognizers on the same audio
give the run-to-run jitter to read it against), and between the n-th recognizer of each graph.
"""
from __future__ import annotations

import argparse
import ctypes
import difflib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.asr_beams import levenshtein  # noqa: E402

_libc = ctypes.CDLL("libc.so.6")
MODES = ("ungated", "gated")


def rss_mb() -> float:
    _libc.malloc_trim(0)
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024


BUILD_LIMIT = 12 << 30  # bytes of address space per build step (prlimit --as)
FST_PLUGINS = "/usr/lib/x86_64-linux-gnu/fst/22"  # libfst22-plugins-base: lookahead and ngram FST types


def build_graph(graph: Path, out: Path) -> list[str]:
    """Build out/HCLG.fst and out/words.txt from graph/HCLr.fst and graph/Gr.fst; returns a log."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, LD_LIBRARY_PATH=FST_PLUGINS)
    pairs = out / "disambig_to_eps.txt"
    pairs.write_text("".join(f"{line.split()[0]} 0\n" for line in (graph / "disambig_tid.int").read_text().split("\n")
                             if line.strip()))
    versions = subprocess.run(["dpkg-query", "-W", "libfst-tools", "libfst22-plugins-base"], capture_output=True,
                              text=True).stdout.split("\n")
    log = [f"build: {', '.join(v.replace(chr(9), ' ') for v in versions if v)}; LD_LIBRARY_PATH={FST_PLUGINS}; "
           f"each step under prlimit --as={BUILD_LIMIT} nice -n 19", f"  (cd {out})",
           f"  awk '{{print $1, 0}}' {graph}/disambig_tid.int > disambig_to_eps.txt"]
    steps: list[tuple[str, list[str]]] = [
        ("word table of Gr.fst", ["fstsymbols", "--save_osymbols=words-raw.txt", f"{graph}/Gr.fst", "/dev/null"]),
        ("", ["awk '!seen[$0]++' words-raw.txt > words.txt   # drop the second, identical \"</s>\" line"]),
        ("G without word tables (ngram -> vector)",
         ["fstsymbols", "--clear_isymbols", "--clear_osymbols", f"{graph}/Gr.fst", "G_nosyms.fst"]),
        ("compose (lookahead filter, connect)", ["fstcompose", f"{graph}/HCLr.fst", "G_nosyms.fst", "HCLGa.fst"]),
        ("disambiguation symbols -> <eps>", ["fstrelabel", "--relabel_ipairs=disambig_to_eps.txt", "HCLGa.fst",
                                             "HCLGb.fst"]),
        ("to const", ["fstconvert", "--fst_type=const", "HCLGb.fst", "HCLG.fst"]),
    ]
    started = time.monotonic()
    peak = 0
    for what, cmd in steps:
        if not what:  # the shell one-liner, done here
            seen: set[str] = set()
            kept = []
            for line in (out / "words-raw.txt").read_text(encoding="utf-8").splitlines(keepends=True):
                if line not in seen:
                    seen.add(line)
                    kept.append(line)
            (out / "words.txt").write_text("".join(kept), encoding="utf-8")
            log.append(f"  {cmd[0]}")
            continue
        stats = out / "time.txt"
        run = subprocess.run(["/usr/bin/time", "-o", str(stats), "-f", "%e %U %S %M", "prlimit",
                              f"--as={BUILD_LIMIT}", "nice", "-n", "19", *cmd], cwd=out, env=env,
                             capture_output=True, text=True)
        wall, user, sys_s, rss_kb = stats.read_text().split()[-4:]
        peak = max(peak, int(rss_kb))
        log.append(f"  {' '.join(cmd)}")
        log.append(f"      # {what}: wall {float(wall):.1f} s, CPU {float(user) + float(sys_s):.1f} s, "
                   f"peak RSS {int(rss_kb) / 1024:.0f} MB")
        if run.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({run.returncode}): {run.stderr.strip()[-600:]}")
    for tmp in ("HCLGa.fst", "HCLGb.fst", "G_nosyms.fst", "words-raw.txt", "time.txt"):
        (out / tmp).unlink(missing_ok=True)
    log.append(f"build total: wall {time.monotonic() - started:.0f} s, peak RSS {peak / 1024:.0f} MB "
               "(largest step; steps run one after another)")
    for name in ("HCLG.fst", "words.txt"):
        digest = subprocess.run(["sha256sum", str(out / name)], capture_output=True, text=True,
                                check=True).stdout.split()[0]
        log.append(f"  {out / name}: {(out / name).stat().st_size} bytes, sha256 {digest}")
    info = subprocess.run(["fstinfo", str(out / "HCLG.fst")], env=env, capture_output=True, text=True).stdout
    keep = ("fst type", "# of states", "# of arcs", "# of input epsilons")
    log.append("  fstinfo HCLG.fst: " + "; ".join(" ".join(x.split()) for x in info.splitlines()
                                                 if x.startswith(keep)))
    return log


def static_copy(original: Path, hclg: Path, words: Path | None, into: Path) -> Path:
    """A model folder of symlinks to ``original`` whose graph/ has ``hclg`` as HCLG.fst instead of HCLr/Gr
    (and ``words`` as words.txt: libvosk reads it when HCLG.fst carries no word table)."""
    dest = into / (original.name + "-static")
    dest.mkdir()
    for entry in original.iterdir():
        if entry.name != "graph":
            (dest / entry.name).symlink_to(entry.resolve())
    (dest / "graph").mkdir()
    for entry in (original / "graph").iterdir():
        if entry.name not in ("HCLr.fst", "Gr.fst"):
            (dest / "graph" / entry.name).symlink_to(entry.resolve())
    (dest / "graph" / "HCLG.fst").symlink_to(hclg.resolve())
    if words is not None:
        (dest / "graph" / "words.txt").symlink_to(words.resolve())
    return dest


def measure(model_path: Path, mode: str, recognizers: int, answers_n: int, warmup: bool = True,
            repeat: int = 1) -> dict[str, Any]:
    """In this process: load the model, run the recognizers; returns numbers and words."""
    from analyzers.speech import SpeechRecognizer, load_model
    from analyzers.vad import silero_model
    from bench.asr_beams import BATCH, PAD_S, make_answers
    from models import DEFAULT_MODELS_DIR, VAD_MODEL, onnx_path
    from server.model_bank import SPEECH_BEAM, SPEECH_MAX_ACTIVE

    answers = make_answers(answers_n, seed_base=7) * repeat  # the same answers again: a longer interview
    silero = silero_model(onnx_path(DEFAULT_MODELS_DIR, VAD_MODEL)) if mode == "gated" else None

    def recogniser() -> SpeechRecognizer:
        if silero is None:
            return SpeechRecognizer(model)
        return SpeechRecognizer(model, vad=True, voice_detector=silero.detector(), vad_hangover_s=PAD_S,
                                vad_preroll_s=PAD_S)

    def feed(rec: SpeechRecognizer, growth: list[tuple[float, float]] | None = None) -> list[list[str]]:
        """Words per answer; with ``growth``, (audio s, RSS MB) after each answer is appended to it."""
        from analyzers.speech import Final, SpeechEvent
        words: list[list[str]] = []
        for ans in answers:
            events: list[SpeechEvent] = []
            for i in range(0, len(ans.pcm), BATCH):
                events += rec.push(ans.pcm[i:i + BATCH])
            events += rec.flush()
            words.append([w.word for e in events if isinstance(e, Final) for w in e.words])
            if growth is not None:
                growth.append((rec.audio_seconds, rss_mb()))
        return words

    start = rss_mb()
    t0 = time.monotonic()
    model = load_model(model_path, beam=SPEECH_BEAM, max_active=SPEECH_MAX_ACTIVE)
    load_s = time.monotonic() - t0
    loaded = rss_mb()
    # Warm-up (the first decoding in a process can differ by a word: bench/asr_beams.py), then released.
    if warmup:
        warm = recogniser()
        feed(warm)
        warm.release()
        del warm
    base = rss_mb()
    out: dict[str, Any] = {"model_mb": loaded - start, "load_s": load_s, "after_warmup_mb": base - loaded,
                           "audio_s": sum(a.seconds for a in answers), "recs": []}
    held = []
    before = base
    for _ in range(recognizers):
        rec = recogniser()
        growth: list[tuple[float, float]] = []
        words = feed(rec, growth if repeat > 1 else None)
        now = rss_mb()
        st = rec.stats
        out["recs"].append({"mb": now - before, "audio_s": st.audio_s, "fed_s": st.fed_s,
                            "kaldi_cpu_s": st.cpu_s, "finals": st.finals, "words": words,
                            "growth": [(a, m - before) for a, m in growth]})
        before = now
        held.append(rec)
    out["held_mb"] = rss_mb() - base
    for rec in held:
        rec.release()
    out["released_mb"] = rss_mb() - base
    out["peak_rss_mb"] = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
    return out


def agreement(ref: list[list[str]], hyp: list[list[str]]) -> float:
    dist = sum(levenshtein(r, h) for r, h in zip(ref, hyp, strict=True))
    return 1 - dist / max(1, sum(len(r) for r in ref))


def identical(ref: list[list[str]], hyp: list[list[str]]) -> str:
    same = sum(r == h for r, h in zip(ref, hyp, strict=True))
    return f"{same}/{len(ref)} answers word-identical"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hclg", help="the static graph (const FST) to test")
    ap.add_argument("--build", metavar="DIR", help="build DIR/HCLG.fst and DIR/words.txt first, then test them")
    ap.add_argument("--words", help="graph/words.txt for the static copy (default: words.txt beside --hclg, if any)")
    ap.add_argument("--recognizers", type=int, default=4)
    ap.add_argument("--answers", type=int, default=4)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--no-warmup", action="store_true",
                    help="no warm-up recognizer (released before the counted ones) in each process")
    ap.add_argument("--repeat", type=int, default=1, help="feed each recognizer the answers this many times")
    ap.add_argument("--out")
    ap.add_argument("--append", action="store_true", help="add to --out instead of replacing it")
    ap.add_argument("--note", action="append", default=[], help="a line added under the header (repeatable)")
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        res = measure(Path(args.child[0]), args.child[1], args.recognizers, args.answers, not args.no_warmup,
                      args.repeat)
        print("RESULT " + json.dumps(res, ensure_ascii=False), flush=True)
        return 0

    from bench.live import _git_state
    from models import DEFAULT_MODELS_DIR, vosk_model_path

    original = vosk_model_path(DEFAULT_MODELS_DIR, "ko")
    if not (args.hclg or args.build):
        ap.error("give --hclg or --build")
    build_log = build_graph(original / "graph", Path(args.build)) if args.build else []
    hclg = Path(args.hclg) if args.hclg else Path(args.build) / "HCLG.fst"
    lines = [
        f"bench/asr_static_graph.py {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {_git_state()}; {platform.node()}, "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start; run under nice -n 19",
        f"command: {' '.join(['bench/asr_static_graph.py', *sys.argv[1:]])}",
        f"lookahead graph: {original}/graph/HCLr.fst ({(original / 'graph/HCLr.fst').stat().st_size / 1e6:.0f} MB) "
        f"+ Gr.fst ({(original / 'graph/Gr.fst').stat().st_size / 1e6:.0f} MB), composed per recognizer by libvosk",
        f"static graph:    {hclg} ({hclg.stat().st_size / 1e6:.0f} MB), loaded once per model from a /tmp copy "
        "of the model folder (symlinks; graph/HCLG.fst and words.txt, no HCLr/Gr)",
        "both: load_model(beam=8, max_active=1500) as the server; recognizers one after another, all kept alive",
        *args.note,
        *build_log,
        "",
    ]
    print("\n".join(lines), flush=True)
    words: dict[tuple[str, str], list[list[list[str]]]] = {}
    with tempfile.TemporaryDirectory(prefix="candor-static-graph-") as tmp:
        words_txt = Path(args.words) if args.words else hclg.with_name("words.txt")
        static = static_copy(original, hclg, words_txt if words_txt.is_file() else None, Path(tmp))
        for mode in [m for m in args.modes.split(",") if m]:
            for label, path in (("lookahead", original), ("static", static)):
                t0 = time.monotonic()
                run = subprocess.run([sys.executable, __file__, "--hclg", str(hclg), "--child", str(path), mode,
                                      "--recognizers", str(args.recognizers), "--answers", str(args.answers),
                                      "--repeat", str(args.repeat), *(["--no-warmup"] if args.no_warmup else [])],
                                     capture_output=True, text=True)
                if run.returncode != 0:
                    lines.append(f"{mode} {label}: FAILED rc={run.returncode}: {run.stderr.strip()[-800:]}")
                    print(lines[-1], flush=True)
                    continue
                res = json.loads(next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))[7:])
                block = [f"{mode:>8} {label:<9}: model +{res['model_mb']:.0f} MB (load {res['load_s']:.1f} s), "
                         f"{res['audio_s']:.0f} s of audio per recognizer, process peak RSS "
                         f"{res['peak_rss_mb']:.0f} MB, wall {time.monotonic() - t0:.0f} s, load average "
                         f"{os.getloadavg()[0]:.1f} at its end"]
                if not args.no_warmup:
                    block[-1] += f"; a warm-up recognizer, released, left +{res['after_warmup_mb']:.0f} MB"
                words[(mode, label)] = []
                for n, r in enumerate(res["recs"], 1):
                    words[(mode, label)].append(r["words"])
                    block.append(f"    recognizer {n}: {r['mb']:+.0f} MB, {r['kaldi_cpu_s'] / r['audio_s']:.3f} Kaldi "
                                 f"CPU s per audio s ({r['kaldi_cpu_s'] / max(r['fed_s'], 1e-9):.3f} per fed s; fed "
                                 f"{r['fed_s']:.0f} s), {r['finals']} finals, {sum(map(len, r['words']))} words")
                    if r["growth"]:
                        block.append("      its memory after each answer (audio s: MB): "
                                     + ", ".join(f"{a:.0f}: {m:+.0f}" for a, m in r["growth"]))
                block.append(f"    all {len(res['recs'])} held: {res['held_mb']:+.0f} MB; released: "
                             f"{res['released_mb']:+.0f} MB against before the first counted recognizer")
                lines += block
                print("\n".join(block), flush=True)
            ref = words.get((mode, "lookahead"))
            hyp = words.get((mode, "static"))
            if ref and hyp:
                agr = [f"    word agreement against lookahead recognizer 1 ({mode}):"]
                for n, w in enumerate(ref[1:], 2):
                    agr.append(f"      lookahead recognizer {n}: {agreement(ref[0], w):.3f} ({identical(ref[0], w)})")
                for n, w in enumerate(hyp, 1):
                    agr.append(f"      static recognizer {n}:    {agreement(ref[0], w):.3f} ({identical(ref[0], w)})")
                agr.append(f"    word agreement of static recognizer n against lookahead recognizer n ({mode}; "
                           "same place in its process), with the words that differ:")
                for n, (la, st) in enumerate(zip(ref, hyp, strict=True), 1):
                    agr.append(f"      n={n}: {agreement(la, st):.3f} ({identical(la, st)})")
                    for a, b in zip(la, st, strict=True):
                        sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
                        for tag, i1, i2, j1, j2 in sm.get_opcodes():
                            if tag != "equal":
                                agr.append(f"          lookahead {' '.join(a[max(0, i1 - 2):i2 + 2])!r} / static "
                                           f"{' '.join(b[max(0, j1 - 2):j2 + 2])!r}")
                lines += agr
                print("\n".join(agr), flush=True)
            lines.append("")
    if args.out:
        text = "\n".join(lines) + "\n"
        if args.append and Path(args.out).is_file():
            text = Path(args.out).read_text(encoding="utf-8") + "\n" + "=" * 108 + "\n" + text
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
