"""Per-frame conditions under which a face signal is not reliable, and which signals they affect.

The labelled evaluation (``eval/``, issue 18; ``bench/results/signal-eval.txt``) shows where the
face signals fail: in poor light, on small (distant) faces and on turned heads, eye contact,
smile and upright posture drop far below 90 % (per-condition tables there). This module detects
those conditions on each analysed frame from what the pipeline already has (the largest face's
mesh box, its head pose, the frame) so the product can mark the signal "low confidence" for
those frames and leave them out of its ratio (:mod:`server.question_signals`) instead of
reporting a number the evaluation says is often wrong.

Detectors and thresholds (the measurements behind them are in ``bench/results/signal-eval.txt``,
section "condition detectors"):

**poor_light**: the standard deviation of luma (0-255) over the face, sampled to 64x64 from a
square around the mesh box. Dim, low-contrast and underexposed faces are flat: on the set's tune
part the dark faces measure 17.9-21.1 (one gamma-darkened face 36.7), every other face 35.4-73.4
(35.4 is a face whose eyes are covered by a skin-coloured patch). ``MIN_FACE_CONTRAST`` = 28
sits between the two groups. The light sweep in ``eval/run_eval.py`` (section "sweeps" of the
results) shows why it matters: the smiling portrait dimmed to contrast 11.6 with sensor noise
(what a webcam's gain adds in the dark) loses both verdicts (gaze 1.04 cone units, smile score
0.68 -> not smiling; 0.43 and 0.77 in full light), and dims further until the face is not found
at all; the larger portrait (a face twice as wide) holds down to contrast 3. 28 leaves a margin
over the first failure. Over the sweeps, 6 of 56 eye-contact and smile verdicts on frames these
detectors mark are wrong, 0 of 42 on the frames they do not. Mean luma was considered and left
out: it also measures skin tone, so a threshold on it would mark darker-skinned candidates in
good light as "poor light" (the set has no darker-skinned person to show otherwise); contrast
depends on it much less.

**small_face**: the mesh box narrower than ``MIN_FACE_WIDTH_PX`` = 80 px. The tune part has no
measured small face (the detector misses every tune face under 86 px), so the limit comes from
the size sweep in ``eval/run_eval.py`` (the two portraits scaled down step by step, section
"sweeps" of the results): at 68-76 px wide the gaze estimate of a person looking into the lens
jumps to 1.8-1.9 cone units (eye contact lost) and a smile's score falls to 0.63-0.66 (under the
0.68 threshold), while from 86 px up every verdict holds; 80 lies between. An eye is then ~15 px
wide and a gaze 20 degrees off the lens moves the iris by ~2 px, the size of the iris model's
own error.

**turned_head**: head yaw beyond ``MAX_YAW_DEG`` = 45 or pitch beyond ``MAX_PITCH_DEG`` = 35
(from :mod:`analyzers.head_pose`). Also not chosen on the tune part (the only turned head, a
near profile, is never found by the face detector, and every measured tune face is within 7
degrees). Reasoning: past ~45 degrees of yaw the far eye and mouth corner are hidden behind the
nose and cheek and the mesh places them by its prior, so the far iris and the mouth width are
guesses; pitch is less tolerant because the lids cover the iris when the head tips down.

Occlusion (a hand or glasses over the eyes or mouth) is **not** detected: the mesh's presence
score stays at 1.00 on every occluded item of the set, so it carries no signal to threshold on.
Blur was measured (Laplacian over contrast on the same 64x64 face) and left out: the set's
blurred faces (0.22, 0.53) overlap sharp ones (0.49-1.67) and the tune part has none.

Which signals each condition makes unreliable (``UNRELIABLE_UNDER``): the set's labelled
conditions dark, distant and turned are below 90 % for every face signal on both parts (eye
contact 71/88 % dark, 0/40 distant, 0/0 turned; smile 71/75, 0/40, 0/0; upright 14/50, 50/60,
0/0), but most of those misses are faces never found, which the product already leaves out as
"not measured". Among frames that were measured the sweeps above are the evidence: eye contact
and smile flip under poor light and on small faces. Upright is wrong on 57 % of held-out frames
under every condition (a systematic shoulder-tilt error, not a condition); it is marked for the
same conditions since its pose comes from the same poor picture, and the report states its
overall accuracy. Face presence and second person are counts of faces and are not affected:
these detectors need a face to look at."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyzers.blaze import Rect, crop_rect
from analyzers.head_pose import HeadPose

POOR_LIGHT = "poor_light"
SMALL_FACE = "small_face"
TURNED_HEAD = "turned_head"
CONDITIONS = (POOR_LIGHT, SMALL_FACE, TURNED_HEAD)
# Plain words for reports ("low confidence in 40% of frames (poor light)").
CONDITION_WORDS = {
    POOR_LIGHT: "poor light",
    SMALL_FACE: "face small in the picture",
    TURNED_HEAD: "head turned away",
}

MIN_FACE_CONTRAST = 28.0  # luma standard deviation over the face (0-255 scale)
MIN_FACE_WIDTH_PX = 80.0
MAX_YAW_DEG = 45.0
MAX_PITCH_DEG = 35.0
_CROP = 64  # the face is sampled to this size, so the contrast does not depend on its size

# Signal (VisionSample field) -> the conditions under which it is "low confidence".
UNRELIABLE_UNDER: dict[str, frozenset[str]] = {
    "eye_contact": frozenset({POOR_LIGHT, SMALL_FACE, TURNED_HEAD}),
    "smile": frozenset({POOR_LIGHT, SMALL_FACE, TURNED_HEAD}),
    "upright": frozenset({POOR_LIGHT, SMALL_FACE, TURNED_HEAD}),
}
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class FaceImage:
    """What the picture of one face is like: its size and contrast."""

    width_px: float  # mesh box width
    contrast: float  # luma standard deviation over the face, 0-255 scale


def face_image(rgb: np.ndarray, box: tuple[float, float, float, float], rotation: float = 0.0
               ) -> FaceImage:
    """Measure a face given its mesh box (x0, y0, x1, y1) and in-plane rotation (radians, as
    the mesh ROI's): a square around the box, sampled to 64x64 (edge pixels repeated)."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0, 1.0)
    crop = crop_rect(rgb, Rect((x0 + x1) / 2, (y0 + y1) / 2, side, side, rotation), _CROP, _CROP)
    return FaceImage(width_px=float(x1 - x0), contrast=float((crop @ _LUMA).std()))


def detect(image: FaceImage, head: HeadPose | None) -> tuple[str, ...]:
    """The conditions present on one face, in ``CONDITIONS`` order."""
    found = []
    if image.contrast < MIN_FACE_CONTRAST:
        found.append(POOR_LIGHT)
    if image.width_px < MIN_FACE_WIDTH_PX:
        found.append(SMALL_FACE)
    if head is not None and (abs(head.yaw_deg) > MAX_YAW_DEG or abs(head.pitch_deg) > MAX_PITCH_DEG):
        found.append(TURNED_HEAD)
    return tuple(found)


def low_confidence(signal: str, conditions: tuple[str, ...]) -> tuple[str, ...]:
    """The conditions of a frame that make ``signal`` (a VisionSample field: eye_contact,
    smile, upright) low confidence there; empty when it is reliable."""
    unreliable = UNRELIABLE_UNDER.get(signal, frozenset())
    return tuple(c for c in conditions if c in unreliable)
