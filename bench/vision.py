"""Vision analysis cost per frame: ``python bench/vision.py [--frames N]``.

A 640x480 sequence made from scikit-image's astronaut (the photo on a grey canvas, drifting a
few pixels per frame and rotating slightly, like the y4m test clip) goes through
``VisionAnalyzer.analyse`` with one thread per ONNX session, as the server runs it. Prints the
median and p95 milliseconds per frame for each configuration.

``--face-detectors FILE`` instead measures what the wider face detection passes
(``analyzers/face.py``: full range, halves) cost in **process CPU time** (``time.process_time``,
so a busy machine does not inflate it; ONNX sessions have one thread): each pass alone, a
whole detection frame (detect + mesh + iris) per option, and the analyzer's mean per frame
over the sequence (detector every 10th frame) and over an empty scene (no face: tracking has
nothing to follow, so the detector runs on every frame). Writes the table to FILE.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzers.face import FaceMesh  # noqa: E402
from analyzers.posture import PoseLandmarks  # noqa: E402
from analyzers.vision import VisionAnalyzer  # noqa: E402
from models.registry import DEFAULT_MODELS_DIR, onnx_path  # noqa: E402


def frames(n: int) -> list[np.ndarray]:
    import skimage.data
    from skimage.transform import rotate

    photo = skimage.data.astronaut()[..., :3]
    out = []
    for i in range(n):
        t = i / 5.0  # 5 fps
        canvas = np.full((560, 720, 3), 128, np.uint8)
        canvas[24:536, 104:616] = photo
        angle = 2.3 * math.sin(2 * math.pi * t / 2.5)
        moved = rotate(canvas, angle, mode="edge", preserve_range=True).astype(np.uint8)
        x = int(40 + 30 * math.sin(2 * math.pi * t / 2))
        y = int(30 + 15 * math.sin(2 * math.pi * t / 3))
        out.append(np.ascontiguousarray(moved[y:y + 480, x:x + 640]))
    return out


def run(label: str, seq: list[np.ndarray], face: FaceMesh, pose: PoseLandmarks,
        **options: object) -> None:
    analyzer = VisionAnalyzer(**options)  # type: ignore[arg-type]
    analyzer.analyse(seq[0], face, pose)  # warm-up frame
    analyzer.reset()
    times = []
    found = 0
    for frame in seq:
        t0 = time.perf_counter()
        sample = analyzer.analyse(frame, face, pose)
        times.append((time.perf_counter() - t0) * 1000)
        found += sample.faces == 1
    ms = np.array(times)
    print(f"{label:<44} median {np.median(ms):6.1f} ms  p95 {np.percentile(ms, 95):6.1f} ms  "
          f"mean {ms.mean():6.1f} ms  (face in {found}/{len(seq)})")


def _cpu_ms(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """Median and mean process CPU milliseconds of ``fn()`` over ``reps`` calls (after one
    warm-up call)."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        times.append((time.process_time() - t0) * 1000)
    return float(np.median(times)), float(np.mean(times))


def detector_cost(out: Path, reps: int, rounds: int = 3) -> str:
    import datetime
    import os
    import platform
    import subprocess

    from analyzers.blaze import letterbox_rect
    from analyzers.face import half_regions

    from analyzers.blaze import FACE_FULL_RANGE_ANCHORS, FACE_FULL_RANGE_DECODE
    from analyzers.face import BlazeFace

    def rss_mb() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    d = DEFAULT_MODELS_DIR
    paths = (onnx_path(d, "face_detection_short_range"), onnx_path(d, "face_landmark"),
             onnx_path(d, "iris_landmark"))
    full_path = onnx_path(d, "face_detection_full_range")
    # memory of one more session (each vision thread of the server loads its own pipelines)
    probe = frames(1)[0]
    before = rss_mb()
    extra = BlazeFace(full_path, FACE_FULL_RANGE_ANCHORS, FACE_FULL_RANGE_DECODE, 0.5)
    extra.detect(probe, letterbox_rect(probe.shape[1], probe.shape[0], 192, 192))
    session_mb = rss_mb() - before
    del extra
    meshes = {
        "short": FaceMesh(*paths),
        "full": FaceMesh(*paths, full_range_path=full_path),
        "halves": FaceMesh(*paths, halves=True),
        "full+halves": FaceMesh(*paths, full_range_path=full_path, halves=True),
    }
    pose = PoseLandmarks(onnx_path(d, "pose_detection"), onnx_path(d, "pose_landmark_full"))
    seq = frames(100)
    frame = seq[0]
    h, w = frame.shape[:2]
    both = meshes["full+halves"]
    short_det = both.short_range
    full_det = both.full_range
    assert full_det is not None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True, cwd=Path(__file__).resolve().parents[1]
                                ).stdout.strip() + " + uncommitted changes"
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    lines = [
        "Face detection passes: process CPU time (time.process_time), 640x480 frames "
        "(bench/vision.py's astronaut sequence), one thread per ONNX session",
        f"made by `nice -n 19 .venv/bin/python bench/vision.py {' '.join(sys.argv[1:])}` on "
        f"{platform.node()} ({os.cpu_count()} CPUs, {platform.machine()}, "
        f"{platform.processor() or 'cpu'}), "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, commit {commit}; "
        "another benchmark (soak) was running on the machine",
        f"memory: loading the full-range detector's session and running it once raised this "
        f"process's RSS by {session_mb:.1f} MB (per vision thread; the file is 2.1 MB)",
        "",
        f"-- one pass (crop + model + decode + NMS), median / mean ms CPU over {reps} calls --",
    ]
    for label, fn in (
        ("short range, whole frame (128x128)",
         lambda: short_det.detect(frame, letterbox_rect(w, h, 128, 128))),
        ("full range, whole frame (192x192)",
         lambda: full_det.detect(frame, letterbox_rect(w, h, 192, 192))),
        ("short range, two halves (2 x 128x128)",
         lambda: [short_det.detect(frame, r) for r in half_regions(w, h)]),
    ):
        med, mean = _cpu_ms(fn, reps)
        lines.append(f"{label:<44} {med:6.2f} / {mean:6.2f}")
    lines += ["", f"-- one detection frame: FaceMesh.detect (detector passes + mesh + iris on "
              f"the faces found), median / mean ms CPU over {reps} calls --"]
    for name, mesh in meshes.items():
        med, mean = _cpu_ms(partial(mesh.detect, frame), reps)
        lines.append(f"{name:<44} {med:6.2f} / {mean:6.2f}  (faces {mesh.detect(frame).count})")
    empty = [np.full_like(frame, 128) for _ in range(30)]
    lines += ["", "-- VisionAnalyzer.analyse, all signals (detect_every=10, pose_every=2, "
              f"iris_every=1): mean ms CPU per frame, median of {rounds} rounds (options "
              "interleaved, so a busy spell hits them all); extra = minus 'short' --",
              f"{'detectors':<14} {'100-frame sequence':>20} {'extra':>6} "
              f"{'empty scene (30 frames)':>24} {'extra':>6}"]
    per_round: dict[str, list[tuple[float, float]]] = {name: [] for name in meshes}
    for _ in range(rounds):
        for name, mesh in meshes.items():
            cells = []
            for seq_ in (seq, empty):
                analyzer = VisionAnalyzer()
                analyzer.analyse(seq_[0], mesh, pose)
                analyzer.reset()
                t0 = time.process_time()
                for f in seq_:
                    analyzer.analyse(f, mesh, pose)
                cells.append((time.process_time() - t0) * 1000 / len(seq_))
            per_round[name].append((cells[0], cells[1]))
    medians = {name: (float(np.median([r[0] for r in runs])), float(np.median([r[1] for r in runs])))
               for name, runs in per_round.items()}
    base = medians["short"]
    for name, (busy, idle) in medians.items():
        lines.append(f"{name:<14} {busy:>20.2f} {busy - base[0]:>+6.2f} {idle:>24.2f} "
                     f"{idle - base[1]:>+6.2f}")
    lines.append("rounds (sequence / empty): " + "; ".join(
        f"{name} " + " ".join(f"{a:.1f}/{b:.1f}" for a, b in runs) for name, runs in per_round.items()))
    text = "\n".join(lines) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--face-detectors", type=Path, metavar="FILE",
                        help="measure the face detection passes' CPU cost, write it to FILE")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.face_detectors is not None:
        print(detector_cost(args.face_detectors, args.reps, args.rounds))
        return
    face = FaceMesh(onnx_path(DEFAULT_MODELS_DIR, "face_detection_short_range"),
                    onnx_path(DEFAULT_MODELS_DIR, "face_landmark"),
                    onnx_path(DEFAULT_MODELS_DIR, "iris_landmark"))
    pose = PoseLandmarks(onnx_path(DEFAULT_MODELS_DIR, "pose_detection"),
                         onnx_path(DEFAULT_MODELS_DIR, "pose_landmark_full"))
    seq = frames(args.frames)
    print(f"{len(seq)} frames 640x480, one thread per session")
    run("all signals (detect_every=10, pose_every=2)", seq, face, pose)
    run("all signals, pose every frame", seq, face, pose, pose_every=1)
    run("expression off", seq, face, pose, expression=False)
    run("eye contact off (no iris)", seq, face, pose, eye_contact=False)
    run("posture off (no pose model)", seq, face, pose, posture=False)
    run("eye contact + expression off (detector only)", seq, face, pose, eye_contact=False,
        expression=False)
    run("detect_every=1 (detector on every frame)", seq, face, pose, detect_every=1)
    run("detect_every=5", seq, face, pose, detect_every=5)
    run("detect_every=30", seq, face, pose, detect_every=30)


if __name__ == "__main__":
    main()
