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

**Low confidence** (``analyzers/conditions.py``): the product leaves eye contact, smile and
upright out of a frame where it detects a condition that makes them unreliable (poor light, a
small face, a turned head). Each table gives a signal's accuracy with those frames included (as
the verdict the pipeline gave) and excluded (``excl%``: over the frames left; ``low``: how many
were left out), a section measures the condition detectors themselves against the set's
labelled conditions (how often "poor light" fires on dark items and on the others), and the
last, the sweeps, shows where measured verdicts start to flip as the two portraits are dimmed
or shrunk (the evidence behind the detectors' limits; not counted in any accuracy).

Prints one table per split part and writes them to ``bench/results/signal-eval.txt``; the
``tune`` part also lists the raw scores behind the thresholds (smile score, gaze angle) so a
threshold can be chosen there and checked on ``held_out``.

    .venv/bin/python -m eval.run_eval [--set artifacts/eval-set] [--no-build] [--out FILE]
        [--face-detectors short|full|halves|full+halves] [--compare-detectors FILE]

``--face-detectors`` picks the face detection passes (``analyzers/face.py``): ``short`` is the
short-range detector alone, ``full`` adds the full-range one, ``halves`` the short-range one on
the frame's two overlapping halves; the default, ``DEFAULT_DETECTORS``, is the product's
choice. ``--compare-detectors FILE`` runs every option on the **tune** part only (the choice
between them must not look at held-out items) and writes the face signals per option to FILE.
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

import numpy as np

from analyzers.conditions import CONDITIONS as DETECTED
from analyzers.conditions import (
    MIN_FACE_CONTRAST,
    MIN_FACE_WIDTH_PX,
    POOR_LIGHT,
    SMALL_FACE,
    TURNED_HEAD,
    low_confidence,
)
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
    low: tuple[str, ...] = ()  # conditions that made the product leave this verdict out


# Face detection passes: the short-range detector on the whole frame, plus the full-range one
# and/or the short-range one on two halves (analyzers/face.py). Chosen on the tune part with
# --compare-detectors (bench/results/face-detector-tune.txt).
DETECTOR_OPTIONS = ("short", "full", "halves", "full+halves")
DEFAULT_DETECTORS = "full"
FULL_RANGE_SCORES = (0.4, 0.3)


def load_models(detectors: str = DEFAULT_DETECTORS, full_range_min_score: float | None = None
                ) -> tuple[FaceMesh, PoseLandmarks]:
    if detectors not in DETECTOR_OPTIONS:
        raise ValueError(f"unknown face detectors {detectors!r}; one of {DETECTOR_OPTIONS}")
    d = DEFAULT_MODELS_DIR
    passes = detectors.split("+")
    full = onnx_path(d, "face_detection_full_range") if "full" in passes else None
    return (FaceMesh(onnx_path(d, "face_detection_short_range"), onnx_path(d, "face_landmark"),
                     onnx_path(d, "iris_landmark"), full_range_path=full,
                     halves="halves" in passes, full_range_min_score=full_range_min_score),
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
    out: list[Scored] = []
    base = (entry["id"], entry["condition"], entry["part"])

    def low(signal: str, value: bool | None) -> tuple[str, ...]:
        return low_confidence(signal, s.conditions) if value is not None else ()

    faces = labels["faces"]
    if faces is not None:
        out.append(Scored(*base, "face_present", faces >= 1, s.faces >= 1, None))
        out.append(Scored(*base, "face_lost", faces == 0, s.faces == 0, None))
        out.append(Scored(*base, "second_person", faces >= 2, s.faces >= 2, None))
    if labels["eye_contact"] is not None:
        out.append(Scored(*base, "eye_contact", labels["eye_contact"], s.eye_contact,
                          _gaze_radius(s), low("eye_contact", s.eye_contact)))
    if labels["smile"] is not None:
        out.append(Scored(*base, "smile", labels["smile"], s.smile, s.smile_score,
                          low("smile", s.smile)))
    if labels["upright"] is not None:
        out.append(Scored(*base, "upright", labels["upright"], s.upright, s.shoulder_tilt_deg,
                          low("upright", s.upright)))
    return out


@dataclass(frozen=True, slots=True)
class Seen:
    """One frame's detected conditions (on the measured face; none without a face)."""

    item: str
    condition: str  # the set's label
    part: str
    face: bool  # a face was measured (the detectors need one)
    detected: tuple[str, ...]
    contrast: float | None
    width_px: float | None


def evaluate(set_dir: Path, parts: Iterable[str] = ("tune", "held_out"),
             seen: list[Seen] | None = None, detectors: str = DEFAULT_DETECTORS,
             full_range_min_score: float | None = None) -> list[Scored]:
    """Every scored frame of the chosen parts of a built set; ``seen`` (if given) receives
    every frame's detected conditions."""
    wanted = set(parts)
    face, pose = load_models(detectors, full_range_min_score)
    scored: list[Scored] = []
    for entry, frames in read(set_dir):
        if entry["part"] not in wanted:
            continue
        analyzer = _analyzer()
        for frame, labels in zip(frames, entry["labels"], strict=True):
            s = analyzer.analyse(frame, face, pose)
            scored.extend(score_frame(entry, labels, s))
            if seen is not None:
                seen.append(Seen(entry["id"], entry["condition"], entry["part"],
                                 s.face_contrast is not None, s.conditions, s.face_contrast,
                                 s.face_width_px))
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


def accuracy(scored: list[Scored], signal: str, part: str = "held_out",
             confident: bool = False) -> float:
    """Share of right verdicts; ``confident``: over the frames the product does not leave out
    as low confidence (nan when it leaves out every one)."""
    return stats(r for r in scored if r.signal == signal and r.part == part
                 and not (confident and r.low)).accuracy


def left_out(scored: list[Scored], signal: str, part: str = "held_out") -> int:
    return sum(1 for r in scored if r.signal == signal and r.part == part and r.low)


def _pct(v: float | None) -> str:
    return "   -" if v is None else f"{v * 100:4.0f}"


def table(scored: list[Scored], part: str) -> str:
    lines = [f"{'signal':<14} {'condition':<10} {'n':>4} {'pos':>4} {'meas':>4} {'acc%':>5} "
             f"{'prec%':>5} {'rec%':>5} {'low':>4} {'excl%':>5}  wrong (item ids)"]
    for signal in SIGNALS:
        rows = [r for r in scored if r.signal == signal and r.part == part]
        if not rows:
            continue
        for cond in ("all", *CONDITIONS):
            sub = rows if cond == "all" else [r for r in rows if r.condition == cond]
            if not sub:
                continue
            st = stats(sub)
            kept = [r for r in sub if not r.low]
            excl = stats(kept).accuracy if kept else None
            wrong = sorted({r.item for r in sub if r.pred != r.truth}) if cond != "all" else []
            lines.append(f"{signal:<14} {cond:<10} {st.n:>4} {st.positives:>4} {st.measured:>4} "
                         f"{_pct(st.accuracy):>5} {_pct(st.precision):>5} {_pct(st.recall):>5} "
                         f"{len(sub) - len(kept):>4} {_pct(excl):>5}  " + " ".join(wrong))
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


# The set's labelled condition each detector is meant to find.
DETECTOR_LABEL = {POOR_LIGHT: "dark", SMALL_FACE: "distant", TURNED_HEAD: "turned"}


def detector_table(seen: list[Seen], part: str) -> str:
    """How often each condition detector fires on frames of its labelled condition and on the
    others, over frames with a measured face (``face``) and over all frames (a detector cannot
    fire where no face was found)."""
    rows = [s for s in seen if s.part == part]
    lines = [f"{'detector':<12} {'label':<8} {'fires on label (face / all)':<28} "
             f"{'fires on others (face / all)':<28} missed (label items with a face)"]
    for det in DETECTED:
        label = DETECTOR_LABEL[det]
        mine = [s for s in rows if s.condition == label]
        other = [s for s in rows if s.condition != label]

        def rate(group: list[Seen], faced: bool, det: str = det) -> str:
            g = [s for s in group if s.face or not faced]
            return f"{sum(det in s.detected for s in g)}/{len(g)}"

        missed = sorted({s.item for s in mine if s.face and det not in s.detected})
        lines.append(f"{det:<12} {label:<8} {rate(mine, True) + ' / ' + rate(mine, False):<28} "
                     f"{rate(other, True) + ' / ' + rate(other, False):<28} " + " ".join(missed))
    false = sorted({f"{s.item}({','.join(d for d in s.detected if DETECTOR_LABEL[d] != s.condition)})"
                    for s in rows if any(DETECTOR_LABEL[d] != s.condition for d in s.detected)})
    lines.append("fired off-label: " + (" ".join(false) or "none"))
    return "\n".join(lines)


def detector_values(seen: list[Seen]) -> str:
    """The measures behind the detectors on the tune part, by labelled condition."""
    out = [f"face contrast (luma std, poor light below {MIN_FACE_CONTRAST:g}) and face width px "
           f"(small below {MIN_FACE_WIDTH_PX:g}):"]
    tune = [s for s in seen if s.part == "tune" and s.face]
    for cond in CONDITIONS:
        vals = sorted((s.contrast or 0.0, s.width_px or 0.0) for s in tune if s.condition == cond)
        if vals:
            out.append(f"  {cond:<10} contrast {' '.join(f'{c:.1f}' for c, _ in vals)}")
            out.append(f"  {'':<10} width    {' '.join(f'{w:.0f}' for _, w in sorted(vals, key=lambda v: v[1]))}")
    return "\n".join(out)


# The sweeps: the two portraits (who look into the lens; one smiles) dimmed, with and without
# sensor noise, and scaled down, one fresh analyzer per frame. Not part of the labelled set or
# its accuracy: they show where the measured verdicts start to drift, which is what the
# poor-light and small-face limits in analyzers/conditions.py rest on.
LIGHT_STEPS = (1.0, 0.3, 0.2, 0.12, 0.08, 0.05)
NOISE_STEPS = (0, 4, 8)
SCALE_STEPS = (1.0, 0.8, 0.7, 0.6, 0.5, 0.45)
SWEEP_SEED = 1


def sweeps(detectors: str = DEFAULT_DETECTORS) -> str:
    from eval.build_set import SUBJECTS, Builder, _u8, framed

    face, pose = load_models(detectors)
    builder = Builder()
    rng = np.random.default_rng(SWEEP_SEED)
    lines = [f"{'photo':<13} {'sweep':<22} {'face':>4} {'px':>4} {'contrast':>8} {'gaze':>5} "
             f"{'smile':>5} {'eye?':>5} {'smile?':>6} conditions"]

    # (flagged low confidence, wrong) -> verdicts, over eye contact and smile
    tally: dict[tuple[bool, bool], int] = {}

    def row(name: str, what: str, frame: np.ndarray) -> str:
        s = _analyzer().analyse(_u8(frame), face, pose)
        r = _gaze_radius(s)
        subject = SUBJECTS[name]
        for signal, value, truth in (("eye_contact", s.eye_contact, subject.eye_contact),
                                     ("smile", s.smile, subject.smiling)):
            if value is not None:
                key = (bool(low_confidence(signal, s.conditions)), value != truth)
                tally[key] = tally.get(key, 0) + 1

        def f(v: float | None, fmt: str) -> str:
            return "-" if v is None else format(v, fmt)

        return (f"{name:<13} {what:<22} {s.faces:>4} {f(s.face_width_px, '.0f'):>4} "
                f"{f(s.face_contrast, '.1f'):>8} {f(r, '.2f'):>5} {f(s.smile_score, '.2f'):>5} "
                f"{str(s.eye_contact):>5} {str(s.smile):>6} {','.join(s.conditions)}")

    for name in ("astronaut", "grace_hopper"):
        subject = SUBJECTS[name]
        base = builder.scene(subject, framed(subject), "gravel")
        for k in LIGHT_STEPS:
            for noise in NOISE_STEPS:
                frame = base * k + (rng.normal(0, noise, base.shape) if noise else 0.0)
                lines.append(row(name, f"light x{k:g} noise {noise}", frame))
        for k in SCALE_STEPS:
            for fx in (0.4, 0.5, 0.6):
                frame = builder.scene(subject, framed(subject, k, face_x=fx, face_y=0.4), "gravel")
                lines.append(row(name, f"scale x{k:g} at x={fx:g}", frame))

    def wrong(flagged: bool) -> str:
        bad, n = tally.get((flagged, True), 0), tally.get((flagged, True), 0) + tally.get((flagged, False), 0)
        return f"{bad} of {n}"

    lines.append(f"eye contact and smile verdicts wrong: {wrong(True)} on frames marked low "
                 f"confidence, {wrong(False)} on the others")
    return "\n".join(lines)


def summary(scored: list[Scored]) -> str:
    """Per signal on the held-out part: accuracy with low-confidence frames included, and
    excluded, and how many were left out."""
    lines = [f"{'signal':<14} {'n':>4} {'acc% incl':>9} {'low':>4} {'acc% excl':>9}"]
    for signal in SIGNALS:
        n = sum(1 for r in scored if r.signal == signal and r.part == "held_out")
        lines.append(f"{signal:<14} {n:>4} {_pct(accuracy(scored, signal)):>9} "
                     f"{left_out(scored, signal):>4} {_pct(accuracy(scored, signal, confident=True)):>9}")
    return "\n".join(lines)


def provenance(command: str) -> str:
    """One line: how, where and from which commit a results file was made."""
    import datetime
    import os
    import platform
    import subprocess

    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                                "analyzers", "eval", "models"],
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += " + uncommitted changes" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"made by `{command}` on {platform.node()} ({os.cpu_count()} CPUs, "
            f"{platform.machine()}), {now}, commit {commit}")


def compare_detectors(set_dir: Path) -> str:
    """Every face-detector option on the tune part only: accuracy per signal, then the tune
    table of each option (the choice of DEFAULT_DETECTORS rests on this, never on held_out)."""
    runs = {}
    for option in DETECTOR_OPTIONS:
        runs[option] = evaluate(set_dir, parts=("tune",), detectors=option)
    # the full-range pass's score threshold (analyzers/face.py, FaceMesh full_range_min_score)
    for score in FULL_RANGE_SCORES:
        runs[f"full@{score}"] = evaluate(set_dir, parts=("tune",), detectors="full",
                                         full_range_min_score=score)
    options = [*DETECTOR_OPTIONS, *(f"full@{s}" for s in FULL_RANGE_SCORES)]
    lines = ["Face detector options on the labelled set's TUNE part only (eval/run_eval.py "
             "--compare-detectors); held-out items were not run.",
             provenance(" ".join(["python -m eval.run_eval", *sys.argv[1:]])),
             "acc%: tune accuracy, a frame not measured counts as wrong; rec%: recall "
             "(second_person: two-face frames counted as two or more). full@S: the full-range "
             "pass with score threshold S (default 0.5, as the short-range one).", "",
             f"{'signal':<14} " + " ".join(f"{o + ' acc%':>16} {'rec%':>5}" for o in options)]
    for signal in SIGNALS:
        cells = []
        for option in options:
            st = stats(r for r in runs[option] if r.signal == signal)
            cells.append(f"{_pct(st.accuracy):>16} {_pct(st.recall):>5}")
        lines.append(f"{signal:<14} " + " ".join(cells))
    for option in options:
        lines += ["", f"== tune, face detectors: {option} ==", table(runs[option], "tune")]
    return "\n".join(lines) + "\n"


def report(scored: list[Scored], seconds: float, seen: list[Seen] | None = None,
           sweep: str | None = None, detectors: str = DEFAULT_DETECTORS) -> str:
    parts = [
        "Vision signals on the labelled set (eval/build_set.py, eval/run_eval.py; issue 18)",
        f"face detectors: {detectors} (analyzers/face.py; eval/run_eval.py --face-detectors)",
        provenance(" ".join(["python -m eval.run_eval", *sys.argv[1:]])),
        "acc: correct / n, a frame the pipeline did not measure (None) counts as wrong; "
        "meas: frames measured; prec/rec over measured frames, positive = True "
        "(face_lost: positive = no face). pos: frames whose label is True.",
        "low: frames the product leaves out as low confidence (analyzers/conditions.py); "
        "excl%: accuracy over the other frames.",
        f"pipeline run: {seconds:.1f} s",
        "",
        "== held_out summary: low-confidence frames included vs excluded ==",
        summary(scored),
        "",
        "== held_out (thresholds never chosen on these) ==",
        table(scored, "held_out"),
        "== tune ==",
        table(scored, "tune"),
        "== tune: raw scores by label ==",
        tuning_view(scored),
        "",
    ]
    if seen is not None:
        parts += ["== condition detectors (analyzers/conditions.py) against the labelled "
                  "conditions ==", "held_out:", detector_table(seen, "held_out"), "tune:",
                  detector_table(seen, "tune"), "", detector_values(seen), ""]
    if sweep is not None:
        parts += ["== sweeps: the portraits dimmed (+ sensor noise) and scaled down ==",
                  "gaze: gaze direction in cone units (eye contact <= 1; both look into the lens); "
                  "smile: smile score (threshold 0.68; the astronaut smiles, Grace Hopper does "
                  "not); px: face width", sweep, ""]
    return "\n".join(parts)


def floor_for(measured: float) -> float:
    """A test floor a little under a measured accuracy: 4 points off, rounded down to a whole
    point, so one held-out frame changing its verdict (2-3 % of a signal's 33-46 frames) does
    not fail the test but two do (the models are deterministic, but ONNX Runtime's numerics
    may differ slightly between CPUs)."""
    return max(0.0, math.floor(round((measured - 0.04) * 100, 6)) / 100)


def _recall(scored: list[Scored], signal: str) -> float | None:
    r = stats(r for r in scored if r.signal == signal and r.part == "held_out").recall
    return None if r is None else round(r, 4)


def write_floors(scored: list[Scored]) -> None:
    # 4 decimals: 3 would round 43/46 (93.48 %) to 0.935, which reads back as 94 %.
    measured = {s: round(accuracy(scored, s), 4) for s in SIGNALS}
    confident = {s: round(accuracy(scored, s, confident=True), 4) for s in SIGNALS}
    FLOORS.write_text(json.dumps({
        "note": "held-out accuracy per signal: measured by eval/run_eval.py --write-floors, "
                "floor = what tests/test_signal_eval.py requires (floor_for); 'confident': with "
                "the frames the product marks low confidence left out",
        "held_out_frames": {s: sum(1 for r in scored if r.signal == s and r.part == "held_out")
                            for s in SIGNALS},
        "held_out_accuracy_measured": measured,
        "held_out_accuracy_floor": {s: floor_for(v) for s, v in measured.items()},
        "held_out_recall": {s: _recall(scored, s) for s in SIGNALS},
        "held_out_low_confidence_frames": {s: left_out(scored, s) for s in SIGNALS},
        "held_out_confident_accuracy_measured": confident,
        "held_out_confident_accuracy_floor": {s: floor_for(v) for s, v in confident.items()},
    }, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", type=Path, default=DEFAULT_OUT, dest="set_dir")
    ap.add_argument("--no-build", action="store_true", help="use the set already in --set")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--write-floors", action="store_true",
                    help=f"record the held-out accuracies as the test's floors ({FLOORS.name}); "
                    "only for a deliberate reset, with the reason in the commit")
    ap.add_argument("--face-detectors", choices=DETECTOR_OPTIONS, default=DEFAULT_DETECTORS,
                    help="face detection passes (default: the product's, %(default)s)")
    ap.add_argument("--compare-detectors", type=Path, metavar="FILE",
                    help="run every --face-detectors option on the tune part only, write the "
                    "comparison to FILE and stop")
    args = ap.parse_args(argv)
    if not args.no_build:
        build(args.set_dir)
    if args.compare_detectors is not None:
        text = compare_detectors(args.set_dir)
        print(text)
        args.compare_detectors.parent.mkdir(parents=True, exist_ok=True)
        args.compare_detectors.write_text(text)
        return 0
    t0 = time.perf_counter()
    seen: list[Seen] = []
    scored = evaluate(args.set_dir, seen=seen, detectors=args.face_detectors)
    seconds = time.perf_counter() - t0
    text = report(scored, seconds, seen, sweeps(args.face_detectors), args.face_detectors)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.write_floors:
        write_floors(scored)
    return 0


if __name__ == "__main__":
    sys.exit(main())
