"""A static decoding graph for a lookahead Vosk model, composed once at set-up.

Small Vosk models ship their graph in two parts, ``graph/HCLr.fst`` (an OpenFst
``olabel_lookahead`` FST) and ``graph/Gr.fst`` (the language model), and libvosk composes them
on the fly in every recogniser, with a state cache of its own. Measured on the Korean model
(bench/results/asr-profile.txt, asr-static-graph.txt): that composition is about two thirds of
the recogniser's CPU, and the cache about 170 MB per stream after four minutes of speech.
Composed once into ``graph/HCLG.fst``, the graph is loaded once per process and shared by every
stream: the same words (agreement with the lookahead graph as high as the lookahead graph's
with itself from run to run), a third of the CPU, nothing per stream, for about 600 MB more
held once per process and 1 GB on disk.

Built with OpenFst's command-line tools (Debian's ``libfst-tools`` and the lookahead FST types
of ``libfst22-plugins-base``; ``./candor setup`` installs both), the steps Kaldi's lookahead
recipe leaves to decoding time:

1. the word table is taken out of Gr.fst into ``graph/words.txt`` (libvosk reads it for a static
   graph); Gr.fst lists ``</s>`` twice and OpenFst 1.7.9 writes such a table back unreadably,
   so the FSTs are composed without symbol tables and the repeated line is dropped;
2. ``fstcompose HCLr.fst Gr.fst`` (the lookahead FST's own matcher and relabelling);
3. the disambiguation transition-ids (``graph/disambig_tid.int``) become epsilon, as libvosk
   does for a lookahead graph when it loads one;
4. ``fstconvert --fst_type=const``: the graph type libvosk reads.

The output is the same bytes on every machine with the same OpenFst (two builds here gave the
same sha256), so the derived tree is recorded in manifest.json and checked like any model.
The rest of the model (acoustic model, features, i-vectors, phones) is linked, not copied.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from models.errors import ModelError

TOOLS = ("fstsymbols", "fstcompose", "fstrelabel", "fstconvert")
PLUGIN = "olabel_lookahead-fst.so"
LOOKAHEAD_FILES = ("graph/HCLr.fst", "graph/Gr.fst")
BUILD_TIMEOUT_S = 1800  # about 2.5 minutes on 2 cores; a hung tool must not hang the set-up
HOW_TO_GET = "install Debian's libfst-tools and libfst22-plugins-base (./candor setup does)"


def plugin_dir() -> Path | None:
    """Where OpenFst's lookahead FST type lives (loaded by name through LD_LIBRARY_PATH)."""
    for pattern in ("/usr/lib/*/fst/*/" + PLUGIN, "/usr/lib/fst/" + PLUGIN, "/usr/local/lib/fst/" + PLUGIN):
        found = sorted(glob.glob(pattern))
        if found:
            return Path(found[-1]).parent
    return None


def missing_tools() -> list[str]:
    """What the build needs and this machine lacks; empty when it can build."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if plugin_dir() is None:
        missing.append(PLUGIN)
    return missing


def is_lookahead(root: Path) -> bool:
    return all((root / rel).is_file() for rel in LOOKAHEAD_FILES) and not (root / "graph" / "HCLG.fst").exists()


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


def _run(argv: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ModelError(f"{argv[0]} took over {BUILD_TIMEOUT_S} s building the static graph") from None
    if done.returncode != 0:
        raise ModelError(f"{' '.join(argv)} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")


def _first_of_each_line(src: Path, dst: Path) -> None:
    seen: set[str] = set()
    with src.open(encoding="utf-8") as lines, dst.open("w", encoding="utf-8") as out:
        for line in lines:
            if line not in seen:
                seen.add(line)
                out.write(line)


def build(base: Path, dest: Path, progress: Callable[[str], None]) -> None:
    """Make `dest` (which must not exist) the lookahead model `base` with a static graph:
    graph/HCLG.fst and graph/words.txt instead of graph/HCLr.fst and graph/Gr.fst."""
    if not is_lookahead(base):
        raise ModelError(f"{base} is not a lookahead Vosk model (graph/HCLr.fst + graph/Gr.fst)")
    if missing := missing_tools():
        raise ModelError(f"OpenFst's tools are missing ({', '.join(missing)}): {HOW_TO_GET}")
    if dest.exists():
        raise ModelError(f"{dest} exists already")
    plugins = plugin_dir()
    env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join(
        p for p in (str(plugins), os.environ.get("LD_LIBRARY_PATH", "")) if p))
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        tree = work / "tree"
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base).as_posix()
            if path.is_file() and not path.is_symlink() and rel not in LOOKAHEAD_FILES:
                _link_or_copy(path, tree / rel)
        graph = base / "graph"
        _run(["fstsymbols", f"--save_osymbols={work / 'words-raw.txt'}", str(graph / "Gr.fst"), os.devnull], env)
        _first_of_each_line(work / "words-raw.txt", tree / "graph" / "words.txt")
        _run(["fstsymbols", "--clear_isymbols", "--clear_osymbols", str(graph / "Gr.fst"), str(work / "G.fst")], env)
        disambig = [line.split()[0] for line in (graph / "disambig_tid.int").read_text().splitlines() if line.strip()]
        (work / "disambig.pairs").write_text("".join(f"{tid} 0\n" for tid in disambig))
        progress(f"vosk: composing {base.name}'s graph once (HCLr.fst o Gr.fst; a few minutes, about 3 GB of memory)")
        _run(["fstcompose", str(graph / "HCLr.fst"), str(work / "G.fst"), str(work / "HCLGa.fst")], env)
        (work / "G.fst").unlink()
        _run(["fstrelabel", f"--relabel_ipairs={work / 'disambig.pairs'}", str(work / "HCLGa.fst"),
              str(work / "HCLGb.fst")], env)
        (work / "HCLGa.fst").unlink()
        _run(["fstconvert", "--fst_type=const", str(work / "HCLGb.fst"), str(tree / "graph" / "HCLG.fst")], env)
        (work / "HCLGb.fst").unlink()
        tree.rename(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress(f"vosk: static graph built in {time.monotonic() - started:.0f} s "
             f"({(dest / 'graph' / 'HCLG.fst').stat().st_size / 1e6:.0f} MB)")
