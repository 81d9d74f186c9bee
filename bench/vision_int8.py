"""int8-quantised vision models against the float ones: CPU per inference and parity on real photos.

Three steps, two environments (onnxruntime's quantisation needs the ``onnx`` package, which is not
in the server's .venv and must not be installed there):

    # 1. calibration inputs: what the pipeline feeds each model on the eval set's "tune" frames
    nice -n 19 .venv/bin/python bench/vision_int8.py calib --work /tmp/candor-int8
    # 2. quantise, in a scratch venv (python3.11 -m venv /tmp/qvenv;
    #    /tmp/qvenv/bin/pip install onnxruntime==<the project's> onnx sympy)
    nice -n 19 /tmp/qvenv/bin/python bench/vision_int8.py quantise --work /tmp/candor-int8
    # 3. CPU and parity, on the project's onnxruntime
    nice -n 19 .venv/bin/python bench/vision_int8.py compare --work /tmp/candor-int8 \\
        --out bench/results/vision-int8.txt

Variants (under ``<work>/<variant>/<model>.onnx``; nothing is written into the repository):
``dynamic``: ``quantize_dynamic`` (int8 weights, activations quantised at run time: ConvInteger /
MatMulInteger); ``qdq``: ``quantize_static`` in QDQ format, int8 weights per channel and uint8
activations, ranges from MinMax calibration on the calibration inputs. Both start from
``quant_pre_process`` (shape inference and graph optimisation of the float model).
``qdq-heads``: the same as ``qdq`` but the nodes within HEAD_DEPTH steps of a graph output stay
float (``nodes_to_exclude``): coordinates and logits are not rounded to 8 bits.

Frames: artifacts/eval-set (``python -m eval.build_set``: 640x480 "webcam" frames made from real
photos: the astronaut, Grace Hopper, the cameraman, textures; its ``tune`` half calibrates, its
``held_out`` half is not seen by the calibration) and the two photos tests/test_vision_pipeline.py
uses (astronaut 512x512, Grace Hopper 600x512, at their own size).

CPU: each model alone, ``analyzers.onnx_session.load_session`` (one intra-op thread, as the
server), on one real calibration input, ``time.thread_time`` per ``run``; float and variants
interleaved in rounds, the median round kept.

Parity, one model swapped at a time, everything else float (so an error is that model's own):
the face detector (FaceMesh.detect_faces: count, boxes in pixels, scores), face_landmark (468
points after the float detector: pixel distance in the frame, presence decisions), iris_landmark
(5 iris points per eye), the pose detector (PoseLandmarks.detect_person) and pose_landmark_full
(33 points after the float detector; also only the points the float model sees, visibility >
0.5). Then all models swapped at once (end to end). Bar (issue 11): landmarks within 1 px,
detections unchanged (same count, box corners within 1 px, scores within 0.01).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODELS = ["face_detection_short_range", "face_landmark", "iris_landmark", "pose_detection", "pose_landmark_full"]
# Input side of each model: identifies which model a captured tensor was fed to.
SIDE = {128: "face_detection_short_range", 192: "face_landmark", 64: "iris_landmark", 224: "pose_detection",
        256: "pose_landmark_full"}
VARIANTS = ["dynamic", "qdq", "qdq-heads"]
HEAD_DEPTH = 4  # qdq-heads: nodes within this many steps of a graph output stay float
CALIB_MAX = 120  # tensors per model kept for calibration


def onnx_dir() -> Path:
    return REPO / "models" / "onnx"


# -- step 1: calibration inputs (project venv) ----------------------------------------------------


def eval_frames(part: str | None) -> list[tuple[str, np.ndarray]]:
    from PIL import Image

    root = REPO / "artifacts" / "eval-set"
    items = root / "items.json"
    if not items.is_file():
        sys.exit(f"{items} is missing: build it with .venv/bin/python -m eval.build_set")
    out = []
    for item in json.loads(items.read_text())["items"]:
        if part is None or item["part"] == part:
            for name in item["frames"]:
                out.append((name, np.asarray(Image.open(root / name).convert("RGB"))))
    return out


def test_photos() -> list[tuple[str, np.ndarray]]:
    import matplotlib.cbook
    import matplotlib.image
    import skimage.data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(matplotlib.image.imread(f, format="jpg"))
    return [("astronaut (test photo)", np.ascontiguousarray(skimage.data.astronaut()[..., :3])),
            ("grace_hopper (test photo)", np.ascontiguousarray(hopper[..., :3]))]


def calib(work: Path) -> None:
    """Run the float pipeline (detect, then track: the inputs the server feeds) over the tune
    frames and keep every model input, as fed to the session (batch of one, its own layout)."""
    sys.path.insert(0, str(REPO))
    from analyzers import onnx_session
    from analyzers.face import FaceMesh
    from analyzers.posture import PoseLandmarks

    captured: dict[str, list[np.ndarray]] = {m: [] for m in MODELS}
    original = onnx_session.ImageModel.run

    def recording_run(self: Any, tensor: np.ndarray) -> list[np.ndarray]:
        # Bench-only wrapper: records the input, then runs the real method.
        x = tensor[None].astype(np.float32, copy=False)
        if self.channels_first:
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        captured[SIDE[self.height]].append(x.copy())
        return original(self, tensor)

    onnx_session.ImageModel.run = recording_run  # type: ignore[method-assign]
    d = onnx_dir()
    face = FaceMesh(d / "face_detection_short_range.onnx", d / "face_landmark.onnx", d / "iris_landmark.onnx")
    pose = PoseLandmarks(d / "pose_detection.onnx", d / "pose_landmark_full.onnx")
    for _, frame in eval_frames("tune"):
        result = face.detect(frame)
        face.track(np.roll(frame, (8, 12), axis=(0, 1)), result)
        p = pose.detect(frame)
        pose.track(np.roll(frame, (8, 12), axis=(0, 1)), p)
    onnx_session.ImageModel.run = original  # type: ignore[method-assign]
    out = work / "calib"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    for name, xs in captured.items():
        if len(xs) > CALIB_MAX:
            xs = [xs[i] for i in sorted(rng.choice(len(xs), CALIB_MAX, replace=False))]
        np.save(out / f"{name}.npy", np.concatenate(xs))
        print(f"calib {name}: {len(xs)} inputs")


# -- step 2: quantise (scratch venv with onnx) ----------------------------------------------------


def head_nodes(path: str, depth: int) -> list[str]:
    """Names of the nodes within ``depth`` steps upstream of a graph output (the regression and
    score heads, whose outputs are pixel coordinates and logits: 8 bits there is ~1 px)."""
    import onnx

    graph = onnx.load(path).graph
    producer = {out: node for node in graph.node for out in node.output}
    frontier = [o.name for o in graph.output]
    keep: set[str] = set()
    for _ in range(depth):
        nxt = []
        for tensor in frontier:
            node = producer.get(tensor)
            if node is not None and node.name not in keep:
                keep.add(node.name)
                nxt += list(node.input)
        frontier = nxt
    return sorted(keep)


def quantise(work: Path) -> None:
    import onnxruntime
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self, name: str, data: np.ndarray) -> None:
            self.name, self.data, self.i = name, data, 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self.i >= len(self.data):
                return None
            self.i += 1
            return {self.name: self.data[self.i - 1:self.i]}

    pre_dir = work / "pre"
    for d in [pre_dir, *(work / v for v in VARIANTS)]:
        d.mkdir(parents=True, exist_ok=True)
    log = []
    for name in MODELS:
        src = onnx_dir() / f"{name}.onnx"
        pre = pre_dir / f"{name}.onnx"
        quant_pre_process(str(src), str(pre))
        t0 = time.process_time()
        quantize_dynamic(str(pre), str(work / "dynamic" / f"{name}.onnx"), weight_type=QuantType.QUInt8)
        t1 = time.process_time()
        sess = onnxruntime.InferenceSession(str(pre), providers=["CPUExecutionProvider"])
        data = np.load(work / "calib" / f"{name}.npy")
        quantize_static(str(pre), str(work / "qdq" / f"{name}.onnx"), Reader(sess.get_inputs()[0].name, data),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        t2 = time.process_time()
        heads = head_nodes(str(pre), HEAD_DEPTH)
        quantize_static(str(pre), str(work / "qdq-heads" / f"{name}.onnx"), Reader(sess.get_inputs()[0].name, data),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=heads)
        log.append(f"{name}: dynamic {t1 - t0:.1f} s, qdq {t2 - t1:.1f} s ({len(data)} calibration inputs); "
                   f"qdq-heads keeps {len(heads)} nodes float")
        print(log[-1], flush=True)
    (work / "quantise.log").write_text(
        f"onnxruntime {onnxruntime.__version__}, {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n" + "\n".join(log) + "\n")


# -- step 3: CPU and parity (project venv) --------------------------------------------------------


def cpu_per_run(paths: dict[str, Path], x: np.ndarray, rounds: int, per_round: int) -> dict[str, float]:
    from analyzers.onnx_session import load_session

    sessions = {k: load_session(p) for k, p in paths.items()}
    feeds = {k: {s.get_inputs()[0].name: x} for k, s in sessions.items()}
    for k, s in sessions.items():
        for _ in range(3):
            s.run(None, feeds[k])
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(rounds):
        for k, s in sessions.items():
            t0 = time.thread_time()
            for _ in range(per_round):
                s.run(None, feeds[k])
            times[k].append((time.thread_time() - t0) / per_round)
    return {k: statistics.median(v) for k, v in times.items()}


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.hypot(a[..., 0] - b[..., 0], a[..., 1] - b[..., 1])


class Errors:
    """Per-point pixel errors over frames, and frames where the two disagreed on a decision."""

    def __init__(self) -> None:
        self.frame_max: list[float] = []
        self.points: list[np.ndarray] = []
        self.decision_changes: list[str] = []

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        d = _dist(a, b).ravel()
        self.points.append(d)
        self.frame_max.append(float(d.max()))

    def summary(self) -> str:
        if not self.points:
            return f"{'-':>7} {'-':>7} {'-':>7} {'-':>6} frames 0" + self._changes()
        allp = np.concatenate(self.points)
        over = sum(m > 1.0 for m in self.frame_max)
        return (f"{allp.mean():7.3f} {np.percentile(allp, 99):7.3f} {allp.max():7.3f} "
                f"{over:>3}/{len(self.frame_max):<3}{self._changes()}")

    def worst(self) -> float:
        return max(self.frame_max, default=0.0)

    def _changes(self) -> str:
        return f"  decision changed: {', '.join(self.decision_changes)}" if self.decision_changes else ""


Det = tuple[tuple[float, ...], float]  # box, score


class DetErrors:
    def __init__(self) -> None:
        self.box: list[float] = []
        self.score: list[float] = []
        self.changed: list[str] = []
        self.n = 0

    def add(self, name: str, a: list[Det], b: list[Det]) -> None:
        self.n += 1
        if len(a) != len(b):
            self.changed.append(f"{name} ({len(a)}->{len(b)})")
            return
        for (ba, sa), (bb, sb) in zip(a, b, strict=True):
            self.box.append(float(np.abs(np.subtract(ba, bb)).max()))
            self.score.append(abs(sa - sb))

    def summary(self) -> str:
        box = max(self.box, default=0.0)
        score = max(self.score, default=0.0)
        same = not self.changed and box <= 1.0 and score <= 0.01
        which = ": " + ", ".join(self.changed[:6]) if self.changed else ""
        return (f"frames {self.n:>3}, detections {len(self.box):>3}, box max {box:6.2f} px "
                f"(mean {statistics.mean(self.box) if self.box else 0:5.2f}), score max diff {score:.4f}; "
                f"count changed in {len(self.changed)} frames{which} -> {'UNCHANGED' if same else 'CHANGED'}")


def parity(work: Path, variant: str, frames: list[tuple[str, np.ndarray]]) -> list[str]:
    from analyzers.face import FaceMesh
    from analyzers.posture import PoseLandmarks

    f = {m: onnx_dir() / f"{m}.onnx" for m in MODELS}
    q = {m: work / variant / f"{m}.onnx" for m in MODELS}
    ref_face = FaceMesh(f["face_detection_short_range"], f["face_landmark"], f["iris_landmark"])
    ref_pose = PoseLandmarks(f["pose_detection"], f["pose_landmark_full"])
    det_face = FaceMesh(q["face_detection_short_range"], f["face_landmark"], f["iris_landmark"])
    lm_face = FaceMesh(f["face_detection_short_range"], q["face_landmark"], f["iris_landmark"])
    iris_face = FaceMesh(f["face_detection_short_range"], f["face_landmark"], q["iris_landmark"])
    all_face = FaceMesh(q["face_detection_short_range"], q["face_landmark"], q["iris_landmark"])
    det_pose = PoseLandmarks(q["pose_detection"], f["pose_landmark_full"])
    lm_pose = PoseLandmarks(f["pose_detection"], q["pose_landmark_full"])
    all_pose = PoseLandmarks(q["pose_detection"], q["pose_landmark_full"])

    fdet, pdet = DetErrors(), DetErrors()
    mesh, iris, pose, pose_vis, e2e_mesh, e2e_pose = (Errors() for _ in range(6))
    for name, frame in frames:
        a = ref_face.detect_faces(frame)
        b = det_face.detect_faces(frame)
        fdet.add(name, [(d.box, d.score) for d in a], [(d.box, d.score) for d in b])
        ra = ref_face.detect(frame)
        for other, errs, with_iris in ((lm_face, mesh, False), (iris_face, iris, True), (all_face, e2e_mesh, False)):
            rb = other.detect(frame, with_iris=with_iris)
            if len(ra.faces) != len(rb.faces):
                errs.decision_changes.append(f"{name} (faces {len(ra.faces)}->{len(rb.faces)})")
            for fa, fb in zip(ra.faces, rb.faces, strict=False):
                if errs is iris:
                    for ea, eb in ((fa.left_eye, fb.left_eye), (fa.right_eye, fb.right_eye)):
                        if ea is not None and eb is not None:
                            errs.add(np.asarray(ea.iris), np.asarray(eb.iris))
                else:
                    errs.add(np.asarray(fa.landmarks), np.asarray(fb.landmarks))
        pa = ref_pose.detect_person(frame)
        pb = det_pose.detect_person(frame)
        pdet.add(name, [(pa.box, pa.score)] if pa else [], [(pb.box, pb.score)] if pb else [])
        la = ref_pose.detect(frame)
        for other, errs in ((lm_pose, pose), (all_pose, e2e_pose)):
            lb = other.detect(frame)
            if (la is None) != (lb is None):
                errs.decision_changes.append(f"{name} (person {la is not None}->{lb is not None})")
            if la is not None and lb is not None:
                errs.add(np.asarray(la.landmarks), np.asarray(lb.landmarks))
                if errs is pose:
                    seen = np.asarray(la.visibility) > 0.5
                    if seen.any():
                        pose_vis.add(np.asarray(la.landmarks)[seen], np.asarray(lb.landmarks)[seen])
    head = (f"{'':34} {'mean':>7} {'p99':>7} {'max':>7} {'>1px':>7}  "
            "(pixels; >1px: frames whose worst point is over 1 px)")
    lines = [
        f"  face detector        {fdet.summary()}",
        f"  pose detector        {pdet.summary()}",
        head,
        f"  {'face_landmark (468 points)':32} {mesh.summary()}",
        f"  {'iris_landmark (5 iris points)':32} {iris.summary()}",
        f"  {'pose_landmark_full (33 points)':32} {pose.summary()}",
        f"  {'  the same, visible points only':32} {pose_vis.summary()}",
        f"  {'all int8, face mesh end to end':32} {e2e_mesh.summary()}",
        f"  {'all int8, pose end to end':32} {e2e_pose.summary()}",
    ]
    return lines


def compare(work: Path, out: str | None, rounds: int, per_round: int, variants: list[str],
            append: bool) -> None:
    sys.path.insert(0, str(REPO))
    import onnxruntime

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "analyzers"],
                           capture_output=True, text=True).stdout.split()
    qlog = (work / "quantise.log").read_text().splitlines()[0] if (work / "quantise.log").is_file() else "?"
    changed = " ".join(p for p in dirty if p.endswith(".py"))
    modified = f" (working tree: {changed} modified by other work)" if changed else ""
    lines = [
        f"bench/vision_int8.py {time.strftime('%Y-%m-%dT%H:%M:%S%z')} commit {commit}"
        f"{modified}; "
        f"{platform.node()}, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start (other work on the "
        "machine); run under nice -n 19",
        f"commands: bench/vision_int8.py calib / quantise (scratch venv: {qlog}) / compare --work {work}; "
        f"compared on the project's onnxruntime {onnxruntime.__version__}",
        "variants: dynamic = quantize_dynamic (uint8 weights, activations quantised at run time); "
        "qdq = quantize_static QDQ, int8 weights per channel, uint8 activations, MinMax calibration on the "
        "eval set's tune frames",
        "",
        f"CPU per inference (ms, thread CPU, one intra-op thread, median of {rounds} rounds x {per_round} runs on a "
        "real input; float and int8 interleaved)",
        f"{'model':28} {'float':>7} " + " ".join(f"{v:>9} {'x':>5}" for v in variants)
        + "  file MB float/" + "/".join(variants),
    ]
    print("\n".join(lines), flush=True)
    for m in MODELS:
        x = np.load(work / "calib" / f"{m}.npy")[:1]
        paths = {"float": onnx_dir() / f"{m}.onnx", **{v: work / v / f"{m}.onnx" for v in variants}}
        t = cpu_per_run(paths, x, rounds, per_round)
        sizes = "/".join(f"{p.stat().st_size / 1e6:.1f}" for p in paths.values())
        lines.append(f"{m:28} {1e3 * t['float']:7.2f} "
                     + " ".join(f"{1e3 * t[v]:9.2f} {t[v] / t['float']:5.2f}" for v in variants) + f"  {sizes}")
        print(lines[-1], flush=True)
    sets = [("eval set, held_out half (not used for calibration), 640x480", eval_frames("held_out")),
            ("eval set, tune half (the calibration frames), 640x480", eval_frames("tune")),
            ("the test photos (tests/test_vision_pipeline.py), own size", test_photos())]
    for variant in variants:
        for title, frames in sets:
            lines += ["", f"parity, {variant} vs float: {title}, {len(frames)} frames"]
            print(lines[-1], flush=True)
            block = parity(work, variant, frames)
            lines += block
            print("\n".join(block), flush=True)
    text = "\n".join(lines)
    if out:
        if append and Path(out).is_file():
            text = Path(out).read_text(encoding="utf-8") + "\n" + "=" * 100 + "\n" + text
        Path(out).write_text(text + "\n", encoding="utf-8")
        print(f"written {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["calib", "quantise", "compare"])
    ap.add_argument("--work", type=Path, default=Path("/tmp/candor-int8"))
    ap.add_argument("--out")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--per-round", type=int, default=20)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="compare: which variants")
    ap.add_argument("--append", action="store_true", help="compare: add to --out instead of replacing it")
    args = ap.parse_args()
    if args.step == "calib":
        calib(args.work)
    elif args.step == "quantise":
        quantise(args.work)
    else:
        compare(args.work, args.out, args.rounds, args.per_round, args.variants.split(","), args.append)


if __name__ == "__main__":
    main()
