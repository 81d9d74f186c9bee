"""CPU per crop of ``analyzers.blaze.crop_rect``, this tree's against another commit's:

    .venv/bin/python bench/crop.py [--base 2a4aff9] [--reps 300] [--out bench/results/crop.txt]

The crop feeds every model input (face mesh 192x192, pose 256x256, iris 64x64, detectors
128-224 letterboxed), so its cost is paid several times per analysed frame. Both versions run
on the same 640x480 frame and rotated rectangles, interleaved round by round; time is the
process's CPU time (one thread), median of the rounds. Before timing, both must give
bit-identical crops on 400 random rectangles (every border, flipped or not): a faster crop that
changes a model's input is no gain.
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analyzers import blaze  # noqa: E402

SIZES = ((64, "iris"), (128, "short-range detector"), (192, "face mesh"), (256, "pose landmarks"))


def module_at(commit: str, tmp: Path) -> ModuleType:
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:analyzers/blaze.py"],
                            check=True, capture_output=True, text=True).stdout
    path = tmp / f"blaze_{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def same_crops(base: ModuleType, rng: np.random.Generator) -> int:
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for k in range(400):
        size = int(rng.integers(1, 257))
        args = (rng.uniform(-100, 740), rng.uniform(-100, 580), rng.uniform(1, 900),
                rng.uniform(1, 900), rng.uniform(-math.pi, math.pi))
        border = ("zero", "replicate")[k % 2]
        flip = bool(rng.integers(2))
        ours = blaze.crop_rect(frame, blaze.Rect(*args), size, size, border=border, flip_horizontally=flip)
        theirs = base.crop_rect(frame, base.Rect(*args), size, size, border=border, flip_horizontally=flip)
        if not np.array_equal(ours, theirs):
            raise SystemExit(f"crops differ (case {k}: {args}, {size}px, {border}, flip={flip})")
    return 400


def cpu_ms(fn: Callable[[], object], reps: int) -> float:
    start = time.process_time()
    for _ in range(reps):
        fn()
    return (time.process_time() - start) / reps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="2a4aff9", help="the commit to compare with")
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        base = module_at(args.base, Path(tmp))
        checked = same_crops(base, rng)
        frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        lines = [f"bench/crop.py {datetime.now(timezone.utc).isoformat(timespec='seconds')} "
                 f"this tree (HEAD {head}) against {args.base}; {platform.machine()}, "
                 f"numpy {np.__version__}; {args.rounds} rounds x {args.reps} crops, interleaved",
                 f"bit-identical on {checked} random rectangles (both borders, flipped or not)",
                 "",
                 f"{'output':>8} {'model input':<22} {args.base + ' ms':>12} {'this ms':>9} {'saved':>7}"]
        for size, what in SIZES:
            rect = (320.3, 240.7, 230.0, 230.0, 0.12)
            times: dict[str, list[float]] = {"base": [], "ours": []}
            theirs = partial(base.crop_rect, frame, base.Rect(*rect), size, size)
            ours = partial(blaze.crop_rect, frame, blaze.Rect(*rect), size, size)
            for _ in range(args.rounds):
                times["base"].append(cpu_ms(theirs, args.reps))
                times["ours"].append(cpu_ms(ours, args.reps))
            b, o = statistics.median(times["base"]), statistics.median(times["ours"])
            lines.append(f"{size:>5}px {what:<22} {b:>12.3f} {o:>9.3f} {1 - o / b:>7.0%}")
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
