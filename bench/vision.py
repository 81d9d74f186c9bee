"""Vision analysis cost per frame: ``python bench/vision.py [--frames N]``.

A 640x480 sequence made from scikit-image's astronaut (the photo on a grey canvas, drifting a
few pixels per frame and rotating slightly, like the y4m test clip) goes through
``VisionAnalyzer.analyse`` with one thread per ONNX session, as the server runs it. Prints the
median and p95 milliseconds per frame for each configuration.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args()
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
