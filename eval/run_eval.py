"""Run the real vision pipeline over the labelled set and measure each signal (issue 18).

The pipeline is the product's: :class:`analyzers.vision.VisionAnalyzer` with the server's
``pose_every``/``iris_every`` (``server/model_bank.py``), the ONNX models from ``models/``,
one fresh analyzer per item (so a single frame is a first frame: the face detector runs), and
one analyzer across the frames of a clip (tracking between them, as in a live stream).

Signals, scored on every frame whose label is not None (``eval/build_set.py``):

- ``face_present``: ``faces >= 1``; ``face_lost`` is its opposite (positive = no face), with
  its own precision/recall; ``second_person``: ``faces >= 2``;
- ``eye_contact``, ``smile``, ``upright``: the sample's bool. A ``None`` (the pipeline did not
  measure: no face or no pose found) counts as **wrong** in the accuracy, and is shown apart
  in the ``measured`` column; precision and recall are over measured frames (positive = True).

Prints one table per split part and writes them to ``bench/results/signal-eval.txt``; the
``tune`` part also lists the raw scores behind the thresholds (smile score, gaze angle) so a
threshold can be chosen there and checked on ``held_out``.

    .venv/bin/python -m eval.run_eval [--set artifacts/eval-set] [--no-build] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from analyzers.face import FaceMesh
from analyzers.posture import PoseLandmarks
from analyzers.vision import (
    GAZE_PITCH_LIMIT_DEG,
    GAZE_YAW_LIMIT_DEG,
    SMILE_THRESHOLD,
    VisionAnalyzer,
    VisionSample,
)
from eval.build_set import DEFAULT_OUT, build, read
from models.registry import DEFAULT_MODELS_DIR, onnx_path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "signal-eval.txt"
FLOORS = ROOT / "eval" / "floors.json"
SIGNALS = ("face_present", "face_lost", "second_person", "eye_contact", "smile", "upright")
CONDITIONS = ("frontal", "tilted", "turned", "dark", "occluded", "distant", "two_faces",
              "face_lost", "no_face", "clip")


@dataclass(frozen=True, slots=True)
class Scored:
    """One frame's verdict on one signal: ``truth`` from the set, ``pred`` from the pipeline
    (None = not measured)."""

    item: str
    condition: str
    part: str
    signal: str
    truth: bool
    pred: bool | None
    value: float | None  # the raw score behind the verdict (smile score, gaze radius), if any


def load_models() -> tuple[FaceMesh, PoseLandmarks]:
    d = DEFAULT_MODELS_DIR
    return (FaceMesh(onnx_path(d, "face_detection_short_range"), onnx_path(d, "face_landmark"),
                     onnx_path(d, "iris_landmark")),
            PoseLandmarks(onnx_path(d, "pose_detection"), onnx_path(d, "pose_landmark_full")))


def _analyzer() -> VisionAnalyzer:
    from server.model_bank import IRIS_EVERY, POSE_EVERY

    return VisionAnalyzer(pose_every=POSE_EVERY, iris_every=IRIS_EVERY)


def _gaze_radius(s: VisionSample) -> float | None:
    """Gaze direction in cone units: <= 1 is eye contact."""
    if s.gaze_yaw_deg is None or s.gaze_pitch_deg is None:
        return None
    return math.hypot(s.gaze_yaw_deg / GAZE_YAW_LIMIT_DEG, s.gaze_pitch_deg / GAZE_PITCH_LIMIT_DEG)


def score_frame(entry: dict, labels: dict, s: VisionSample) -> list[Scored]:
    out = []
    base = (entry["id"], entry["condition"], entry["part"])
    faces = labels["faces"]
    if faces is not None:
        out.append(Scored(*base, "face_present", faces >= 1, s.faces >= 1, None))
        out.append(Scored(*base, "face_lost", faces == 0, s.faces == 0, None))
        out.append(Scored(*base, "second_person", faces >= 2, s.faces >= 2, None))
    if labels["eye_contact"] is not None:
        out.append(Scored(*base, "eye_contact", labels["eye_contact"], s.eye_contact,
                          _gaze_radius(s)))
    if labels["smile"] is not None:
        out.append(Scored(*base, "smile", labels["smile"], s.smile, s.smile_score))
    if labels["upright"] is not None:
        out.append(Scored(*base, "upright", labels["upright"], s.upright, s.shoulder_tilt_deg))
    return out


def evaluate(set_dir: Path, parts: Iterable[str] = ("tune", "held_out")) -> list[Scored]:
    """Every scored frame of the chosen parts of a built set."""
    wanted = set(parts)
    face, pose = load_models()
    scored: list[Scored] = []
    for entry, frames in read(set_dir):
        if entry["part"] not in wanted:
            continue
        analyzer = _analyzer()
        for frame, labels in zip(frames, entry["labels"], strict=True):
            scored.extend(score_frame(entry, labels, analyzer.analyse(frame, face, pose)))
    return scored


@dataclass(frozen=True, slots=True)
class Stats:
    n: int
    measured: int
    correct: int
    tp: int
    fp: int
    fn: int
    positives: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


def stats(rows: Iterable[Scored]) -> Stats:
    rows = list(rows)
    measured = [r for r in rows if r.pred is not None]
    return Stats(
        n=len(rows), measured=len(measured),
        correct=sum(r.pred is not None and r.pred == r.truth for r in rows),
        tp=sum(r.truth and r.pred is True for r in measured),
        fp=sum(not r.truth and r.pred is True for r in measured),
        fn=sum(r.truth and r.pred is False for r in measured),
        positives=sum(r.truth for r in rows),
    )


def accuracy(scored: list[Scored], signal: str, part: str = "held_out") -> float:
    return stats(r for r in scored if r.signal == signal and r.part == part).accuracy


def _pct(v: float | None) -> str:
    return "   -" if v is None else f"{v * 100:4.0f}"


def table(scored: list[Scored], part: str) -> str:
    lines = [f"{'signal':<14} {'condition':<10} {'n':>4} {'pos':>4} {'meas':>4} {'acc%':>5} "
             f"{'prec%':>5} {'rec%':>5}  wrong (item ids)"]
    for signal in SIGNALS:
        rows = [r for r in scored if r.signal == signal and r.part == part]
        if not rows:
            continue
        for cond in ("all", *CONDITIONS):
            sub = rows if cond == "all" else [r for r in rows if r.condition == cond]
            if not sub:
                continue
            st = stats(sub)
            wrong = sorted({r.item for r in sub if r.pred != r.truth}) if cond != "all" else []
            lines.append(f"{signal:<14} {cond:<10} {st.n:>4} {st.positives:>4} {st.measured:>4} "
                         f"{_pct(st.accuracy):>5} {_pct(st.precision):>5} {_pct(st.recall):>5}  "
                         + " ".join(wrong))
        lines.append("")
    return "\n".join(lines)


def tuning_view(scored: list[Scored]) -> str:
    """The raw scores on the tune part, by label: where a threshold could go."""
    out = []
    for signal, what, limit in (("smile", "smile_score", SMILE_THRESHOLD),
                                ("eye_contact", "gaze radius (cone units)", 1.0),
                                ("upright", "shoulder tilt deg", None)):
        rows = [r for r in scored if r.signal == signal and r.part == "tune"]
        out.append(f"{signal}: {what}" + (f", threshold {limit}" if limit is not None else ""))
        for truth in (True, False):
            vals = sorted(f"{r.value:.2f}" if r.value is not None else "None"
                          for r in rows if r.truth == truth)
            out.append(f"  label {truth!s:<5}: {' '.join(vals)}")
    return "\n".join(out)


def report(scored: list[Scored], seconds: float) -> str:
    parts = [
        "Vision signals on the labelled set (eval/build_set.py, eval/run_eval.py; issue 18)",
        "acc: correct / n, a frame the pipeline did not measure (None) counts as wrong; "
        "meas: frames measured; prec/rec over measured frames, positive = True "
        "(face_lost: positive = no face). pos: frames whose label is True.",
        f"pipeline run: {seconds:.1f} s",
        "",
        "== held_out (thresholds never chosen on these) ==",
        table(scored, "held_out"),
        "== tune ==",
        table(scored, "tune"),
        "== tune: raw scores by label ==",
        tuning_view(scored),
        "",
    ]
    return "\n".join(parts)


def floor_for(measured: float) -> float:
    """A test floor a little under a measured accuracy: 4 points off, rounded down to a whole
    point, so one held-out frame changing its verdict (2-3 % of a signal's 33-46 frames) does
    not fail the test but two do (the models are deterministic, but ONNX Runtime's numerics
    may differ slightly between CPUs)."""
    return max(0.0, math.floor(round((measured - 0.04) * 100, 6)) / 100)


def write_floors(scored: list[Scored]) -> None:
    measured = {s: round(accuracy(scored, s), 3) for s in SIGNALS}
    FLOORS.write_text(json.dumps({
        "note": "held-out accuracy per signal: measured by eval/run_eval.py --write-floors, "
                "floor = what tests/test_signal_eval.py requires (floor_for)",
        "held_out_accuracy_measured": measured,
        "held_out_accuracy_floor": {s: floor_for(v) for s, v in measured.items()},
    }, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", type=Path, default=DEFAULT_OUT, dest="set_dir")
    ap.add_argument("--no-build", action="store_true", help="use the set already in --set")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--write-floors", action="store_true",
                    help=f"record the held-out accuracies as the test's floors ({FLOORS.name}); "
                    "only for a deliberate reset, with the reason in the commit")
    args = ap.parse_args(argv)
    if not args.no_build:
        build(args.set_dir)
    t0 = time.perf_counter()
    scored = evaluate(args.set_dir)
    text = report(scored, time.perf_counter() - t0)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.write_floors:
        write_floors(scored)
    return 0


if __name__ == "__main__":
    sys.exit(main())
