"""Per-frame vision signals for one video stream: faces, eye contact, smile, posture, gestures.

:class:`VisionAnalyzer` turns one RGB frame into a :class:`VisionSample`, using the face mesh
(:mod:`analyzers.face`) and the body pose (:mod:`analyzers.posture`) pipelines passed in per
call (each executor thread owns its own), while the analyzer keeps the stream's state: the
previous face and pose results to track from, and the previous wrist/elbow positions. The
session aggregates samples into the per-question signals ``face_present_ratio``,
``multiple_faces_ratio``, ``eye_contact_ratio``, ``smile_ratio``, ``upright_ratio`` and
``gesture_activity``; a sample's ``None`` means "not measured in this frame" and is left out
of a ratio.

Cost (2 cores, ~5 analysed fps per interview, 8 interviews; see ``bench/vision.py``):

- Faces are tracked (:meth:`FaceMesh.track`: mesh + iris in the ROI placed by the previous
  mesh) and the face detector runs on frame 0, every ``detect_every``-th frame (so a second
  face entering is found within ``detect_every`` frames, 2 s at 5 fps) and whenever tracking
  loses every face (``track`` then detects by itself). ``VisionSample.detected`` says whether
  the detector ran on the frame. When the face pipeline has the full-range detector
  (:class:`analyzers.face.FaceMesh` ``full_range_path``), it runs wherever the short-range
  one does, to find faces under ~85 px wide (a second person further back, a candidate far
  from the camera): the pass is ~8 ms CPU, a detection frame ~11 ms more, so about +1 ms per
  frame on average with a face in view (one detection frame in ``detect_every``), and ~10 ms
  per frame in an empty scene, where the detector runs on every frame; +13 MB per thread
  (``bench/results/face-detector-cpu.txt``).
- The iris model runs only when eye contact is on. With eye contact and expression both off
  the mesh is not needed at all: the face detector(s) alone count faces on every frame.
- The pose model (the most expensive step, ~24 ms tracked) runs on every ``pose_every``-th
  frame only (default 2); in between the last pose is reused for ``upright`` and ``motion`` is
  None (no new measurement). Posture is slow-changing, and gestures are measured between two
  pose updates (normalised per frame, below). The pose detector runs only when the tracked
  pose is lost (BlazePose knows one person; re-detecting adds nothing while tracking holds).
  With posture off the pose model never runs.

Signals and thresholds
----------------------
**Eye contact** (head pose + iris). Head yaw/pitch/roll come from a scaled rigid fit of a
frontal template to the mesh's 3D points (:mod:`analyzers.head_pose`, numpy SVD). The iris
offset inside each eye opening is measured in the eye's own frame (along the corner line, so
in-plane rotation does not matter), divided by the eye's width and averaged over both eyes:
``gaze_x`` (toward the image's right +, from the corners' midpoint), ``gaze_y`` (down +, from
the midpoint of the lids 159/145 and 386/374). Two corrections turn them into eye-in-head
angles: the iris sits about ``_IRIS_DEPTH`` = 0.18 eye widths in front of the corners' midpoint
(the mesh's own eyelid points sit 0.18 eye widths in front of the corners on both portraits),
so a head turned by ``a`` shifts it by ``0.18 tan a`` along the eye line without any eye
movement, which is subtracted (vertically the lids are at the iris's depth: no correction);
and an iris displacement ``g`` is a rotation of ``asin(g / 0.4)`` (eyeball radius ~12 mm =
0.4 eye widths), clamped to 40 degrees. The gaze
direction is head angle + eye angle (small-angle sum) and eye contact holds when it lies
inside an elliptic cone toward the camera: ``(gaze_yaw / 20)^2 + (gaze_pitch / 20)^2 <= 1``.
Why 20 degrees: a webcam sits at the top of the screen, so a candidate reading the screen (the
interviewer, the question) looks 10-15 degrees below the lens, and a slightly off-centre
camera adds a few degrees of yaw; that is still "engaging the camera". A look at a second
monitor, notes on the desk or away from the screen is 25+ degrees. On the two test portraits
(people looking into the lens) the gaze estimate is within ~8 degrees of 0, and a mesh turned
35 degrees of yaw or 30 of pitch lands well outside. The iris adds per-frame noise of several
degrees (its offset is a few pixels); the ratio over a question averages it out.

**Smile** (mouth geometry on the frontalised mesh, so scale, in-plane rotation and moderate
head turns cancel): ``width`` = distance between mouth corners 61 and 291 divided by the
outer-eye-corner distance (33-263), ``lift`` = how far the corners sit above the upper lip's
inner centre (13), same unit. ``smile_score = width + 2 * lift``; a smile widens the mouth
and raises its corners, while jaw opening (speech) moves neither (the upper lip stays put).
Measured: astronaut (broad smile) width 0.71, lift 0.025, score 0.76; Grace Hopper (closed,
neutral mouth) width 0.58, lift 0.014, score 0.61; typical neutral mouths are 0.55-0.6
eye-widths wide. Threshold ``SMILE_THRESHOLD`` = 0.68, about midway, with ~0.07 margin to
each photo.

**Upright** (BlazePose shoulders and nose; wrists and hips are usually out of a webcam frame
and are never used for posture): needs shoulders and nose with visibility > 0.5, else None.
``shoulder_tilt_deg`` = angle of the shoulder line against the image horizontal; ``lean`` =
horizontal offset of the nose from the shoulder centre, in shoulder widths, measured along
the shoulder line (sideways lean of the head/torso); ``neck`` = height of the nose above the
shoulder line in shoulder widths (a hunched or slumped person's head sinks toward it).
Upright when ``|tilt| < 10``, ``|lean| < 0.25`` and ``neck > 0.35``. Measured on the
portraits: tilt -5.0 / -0.8 degrees, lean 0.02 / 0.03, neck 0.62 / 0.56; tilting the astronaut
frame by 20 degrees gives a 20-25 degree tilt. 10 degrees is beyond the few degrees of a
relaxed, straight posture and of landmark noise (shoulders are the pose model's least
precise points, 8-25 px from mediapipe's own). ``head_size`` (ear-to-ear over shoulder width;
0.40 on both portraits, larger when leaning toward the camera) is reported as evidence only:
nothing to calibrate a toward/away lean threshold on, and camera distance confounds it.

**Gesture activity** (``motion``): mean displacement of the visible wrists and elbows
(13-16; visibility > 0.5, presence > 0.5 and inside the image in both poses: BlazePose
extrapolates limbs that are out of the frame and those guesses jump by tens of pixels)
between two pose updates, **relative to the shoulder centre** (so the whole person or the
camera moving is not a gesture), divided by the mean shoulder width and by the number of
frames between the two updates (a per-frame rate at the analysis fps). None without a pose,
without two consecutive pose updates, or when no wrist/elbow is visible.

Multiple faces: eye contact and smile are measured on the largest face (the candidate is
the one nearest the camera); ``faces`` counts every face.

**Conditions** (:mod:`analyzers.conditions`): on the largest face the sample also records the
conditions under which the labelled evaluation found the face signals unreliable (poor light,
a small face, a turned head), with the face's contrast and width (~0.5 ms a frame: a 64x64
sample of the face); the session leaves a signal out of its ratio on those frames and the
report marks it "low confidence" there.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from analyzers.conditions import detect as detect_conditions
from analyzers.conditions import face_image
from analyzers.face import (
    LEFT_EYE_INNER,
    LEFT_EYE_OUTER,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    RIGHT_EYE_INNER,
    RIGHT_EYE_OUTER,
    Face,
    FaceMesh,
    FaceMeshResult,
)
from analyzers.head_pose import HeadPose, head_pose
from analyzers.posture import (
    LEFT_EAR,
    LEFT_ELBOW,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NOSE,
    RIGHT_EAR,
    RIGHT_ELBOW,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    Pose,
    PoseLandmarks,
)

logger = logging.getLogger(__name__)

# Eye contact
# Labelled set (eval/, issue 18), tune part: every measured frame labelled "looks into the lens"
# lies within 0.51 of the cone (about 10 degrees); no frame labelled "looks away" was measured
# at all (the only real turned head, a near profile, is not found by the face detector), so
# the set cannot place the limit: kept at 20 (reasoning in the module docstring).
GAZE_YAW_LIMIT_DEG = 20.0
GAZE_PITCH_LIMIT_DEG = 20.0
_IRIS_DEPTH = 0.18  # iris ahead of the eye corners' midpoint, in eye widths
_EYE_RADIUS = 0.4  # eyeball rotation radius, in eye widths
_MAX_EYE_DEG = 40.0
# (outer/inner corner in image order left -> right, upper lid, lower lid) per eye
_EYES = ((LEFT_EYE_OUTER, LEFT_EYE_INNER, 159, 145), (RIGHT_EYE_INNER, RIGHT_EYE_OUTER, 386, 374))

# Smile
# Labelled set (eval/, issue 18), tune part: smiling frames score 0.74-0.78, neutral ones
# 0.58-0.62 except one at 0.71 (eyes hidden under a skin-coloured patch, which bends the mesh).
# 0.68 stays: the only value the tune part would prefer (0.725, between 0.71 and 0.74) rests
# on one occluded frame and leaves 0.015 to the smiles; both groups are one person each.
SMILE_THRESHOLD = 0.68
_UPPER_LIP_INNER = 13
_LOWER_LIP_INNER = 14

# Posture
# Labelled set (eval/, issue 18), tune part: frames of people sitting straight (shoulder line
# within ~3 degrees by hand) measure up to 19 degrees of tilt (the astronaut on a 640x480
# canvas: 15-18 on most frames), frames rolled by 25 degrees measure -21 and 27 (and the
# stooping photographer, small and far, 6). The tune part alone would move this to ~20, but
# that would absorb one person's systematic pose error into the product's threshold; kept at
# 10 until the set has more people.
MAX_SHOULDER_TILT_DEG = 10.0
MAX_LEAN = 0.25
MIN_NECK = 0.35
MIN_VISIBILITY = 0.5
_GESTURE_POINTS = (LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST)


@dataclass(frozen=True, slots=True)
class Gaze:
    """Where one face looks: head pose, iris offsets and the combined direction (degrees)."""

    head: HeadPose
    gaze_x: float | None  # iris offset in eye widths, toward the image's right (None: no iris)
    gaze_y: float | None  # iris offset in eye widths, down
    yaw_deg: float  # combined gaze direction, toward the image's right +
    pitch_deg: float  # combined gaze direction, up +

    @property
    def eye_contact(self) -> bool:
        return (self.yaw_deg / GAZE_YAW_LIMIT_DEG) ** 2 + (
            self.pitch_deg / GAZE_PITCH_LIMIT_DEG) ** 2 <= 1.0


@dataclass(frozen=True, slots=True)
class Smile:
    width: float  # mouth-corner distance / outer-eye-corner distance (frontalised)
    lift: float  # corners above the upper lip's inner centre, same unit
    score: float

    @property
    def smiling(self) -> bool:
        return self.score >= SMILE_THRESHOLD


@dataclass(frozen=True, slots=True)
class Posture:
    shoulder_tilt_deg: float
    lean: float  # nose offset from the shoulder centre along the shoulder line, shoulder widths
    neck: float  # nose height above the shoulder line, shoulder widths
    head_size: float | None  # ear-to-ear / shoulder width (evidence only), None if ears hidden

    @property
    def upright(self) -> bool:
        return (abs(self.shoulder_tilt_deg) < MAX_SHOULDER_TILT_DEG and abs(self.lean) < MAX_LEAN
                and self.neck > MIN_NECK)


@dataclass(frozen=True, slots=True)
class VisionSample:
    """What one analysed frame showed. ``None`` = not measured (switched off or nothing to
    measure on); the diagnostics are evidence for reports."""

    faces: int  # faces found in the frame (0, 1, 2+)
    eye_contact: bool | None  # None when no face or eye-contact analysis is off
    smile: bool | None  # None when no face or expression analysis is off
    upright: bool | None  # None when no (usable) pose or posture analysis is off
    motion: float | None  # gesture activity since the previous pose update, per frame
    detected: bool = False  # the face detector ran on this frame (vs tracking)
    pose_updated: bool = False  # the pose model ran on this frame (vs reusing the last pose)
    yaw_deg: float | None = None  # head pose of the measured face
    pitch_deg: float | None = None
    roll_deg: float | None = None
    gaze_x: float | None = None  # iris offset in eye widths (image right +)
    gaze_y: float | None = None  # iris offset in eye widths (down +)
    gaze_yaw_deg: float | None = None  # head + eyes
    gaze_pitch_deg: float | None = None
    smile_score: float | None = None
    shoulder_tilt_deg: float | None = None
    lean: float | None = None
    neck: float | None = None
    head_size: float | None = None
    # Conditions on the measured face (analyzers/conditions.py) and the measures behind them.
    conditions: tuple[str, ...] = ()
    face_contrast: float | None = None
    face_width_px: float | None = None


# -- pure signal functions (landmark arrays in, values out) -----------------------------------


def gaze(landmarks: np.ndarray, irises: np.ndarray | None = None,
         pose: HeadPose | None = None) -> Gaze:
    """Gaze of one face from its mesh ((468, 3) px) and optionally its iris centres ((2, 2+):
    image-left eye then image-right eye, as ``Face.left_eye``/``right_eye``)."""
    mesh = np.asarray(landmarks, dtype=np.float64)
    head = pose if pose is not None else head_pose(mesh)
    gx = gy = None
    yaw, pitch = head.yaw_deg, head.pitch_deg
    if irises is not None:
        offs = []
        for (a, b, up, lo), iris in zip(_EYES, np.asarray(irises, dtype=np.float64), strict=False):
            axis = mesh[b, :2] - mesh[a, :2]
            width = float(np.hypot(*axis))
            if width <= 0:
                continue
            axis /= width
            perp = np.array([-axis[1], axis[0]])  # axis turned 90 degrees: "down" in the eye
            mid = (mesh[a, :2] + mesh[b, :2]) / 2
            lid = (mesh[up, :2] + mesh[lo, :2]) / 2
            offs.append((float((iris[:2] - mid) @ axis) / width,
                         float((iris[:2] - lid) @ perp) / width))
        if offs:
            gx, gy = (float(v) for v in np.mean(offs, axis=0))
            ex = gx - _IRIS_DEPTH * math.tan(math.radians(_clamp(yaw, 80.0)))
            yaw += _eye_angle(ex)
            pitch -= _eye_angle(gy)
    return Gaze(head, gx, gy, yaw, pitch)


def smile(landmarks: np.ndarray, pose: HeadPose | None = None) -> Smile:
    """Smile geometry of one face mesh ((468, 3) px), measured on the frontalised mesh."""
    mesh = np.asarray(landmarks, dtype=np.float64)
    head = pose if pose is not None else head_pose(mesh)
    idx = [MOUTH_LEFT, MOUTH_RIGHT, _UPPER_LIP_INNER, LEFT_EYE_OUTER, RIGHT_EYE_OUTER]
    q = (mesh[idx] - head.translation) @ head.rotation  # rotation undone, still scaled
    eyes = float(np.linalg.norm(q[4] - q[3]))
    if eyes <= 0:
        return Smile(0.0, 0.0, 0.0)
    width = float(np.hypot(*(q[1, :2] - q[0, :2]))) / eyes
    lift = float(q[2, 1] - (q[0, 1] + q[1, 1]) / 2) / eyes
    return Smile(width, lift, width + 2.0 * lift)


def posture(pose: Pose) -> Posture | None:
    """Shoulder tilt, sideways lean and neck height; None when shoulders or nose are not
    visible."""
    vis = pose.visibility
    if min(vis[LEFT_SHOULDER], vis[RIGHT_SHOULDER], vis[NOSE]) <= MIN_VISIBILITY:
        return None
    pts = np.asarray(pose.landmarks[:, :2], dtype=np.float64)
    # the person's right shoulder is on the image's left in an unmirrored frame; order the
    # two by x so the line always runs image left -> right (a mirrored stream is fine too)
    a, b = pts[RIGHT_SHOULDER], pts[LEFT_SHOULDER]
    if a[0] > b[0]:
        a, b = b, a
    line = b - a
    width = float(np.hypot(*line))
    if width <= 0:
        return None
    axis = line / width
    up = np.array([axis[1], -axis[0]])  # perpendicular, pointing up in the image
    rel = pts[NOSE] - (a + b) / 2
    head_size = None
    if min(vis[LEFT_EAR], vis[RIGHT_EAR]) > MIN_VISIBILITY:
        head_size = float(np.hypot(*(pts[LEFT_EAR] - pts[RIGHT_EAR]))) / width
    return Posture(
        shoulder_tilt_deg=math.degrees(math.atan2(line[1], line[0])),
        lean=float(rel @ axis) / width,
        neck=float(rel @ up) / width,
        head_size=head_size,
    )


def gesture_motion(previous: Pose, current: Pose, frames: int = 1,
                   frame_size: tuple[int, int] | None = None) -> float | None:
    """Mean wrist/elbow displacement relative to the shoulder centre, in shoulder widths per
    frame; None when shoulders or every wrist/elbow are not usable in both poses. A point is
    usable when visible (visibility > 0.5), in the frame by the model's own estimate
    (presence > 0.5) and, when ``frame_size`` (width, height) is given, inside the image."""
    shoulders = [LEFT_SHOULDER, RIGHT_SHOULDER]
    if min(previous.visibility[shoulders].min(), current.visibility[shoulders].min()
           ) <= MIN_VISIBILITY:
        return None
    p = np.asarray(previous.landmarks[:, :2], dtype=np.float64)
    c = np.asarray(current.landmarks[:, :2], dtype=np.float64)

    def usable(pose: Pose, pts: np.ndarray, i: int) -> bool:
        if pose.visibility[i] <= MIN_VISIBILITY or pose.presence[i] <= MIN_VISIBILITY:
            return False
        if frame_size is not None:
            w, h = frame_size
            return bool(0 <= pts[i, 0] < w and 0 <= pts[i, 1] < h)
        return True

    points = [i for i in _GESTURE_POINTS if usable(previous, p, i) and usable(current, c, i)]
    if not points:
        return None
    p_centre, c_centre = p[shoulders].mean(axis=0), c[shoulders].mean(axis=0)
    width = (np.hypot(*(p[LEFT_SHOULDER] - p[RIGHT_SHOULDER]))
             + np.hypot(*(c[LEFT_SHOULDER] - c[RIGHT_SHOULDER]))) / 2
    if width <= 0:
        return None
    moved = (c[points] - c_centre) - (p[points] - p_centre)
    return float(np.hypot(moved[:, 0], moved[:, 1]).mean() / width / max(frames, 1))


def _eye_angle(offset: float) -> float:
    s = max(-1.0, min(1.0, offset / _EYE_RADIUS))
    return _clamp(math.degrees(math.asin(s)), _MAX_EYE_DEG)


def _clamp(v: float, limit: float) -> float:
    return max(-limit, min(limit, v))


def _face_area(face: Face) -> float:
    x0, y0, x1, y1 = face.box
    return (x1 - x0) * (y1 - y0)


# -- the per-stream analyzer -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VisionOptions:
    """A stream's :class:`VisionAnalyzer` arguments: what is analysed, and how often the pose
    and iris models run (``VisionAnalyzer(**asdict(options))``)."""

    eye_contact: bool = True
    expression: bool = True
    posture: bool = True
    pose_every: int = 2
    iris_every: int = 1


def load_pipelines(onnx_paths: Mapping[str, str | os.PathLike[str]]) -> tuple[FaceMesh, PoseLandmarks]:
    """One set of face and pose pipelines from the ONNX files by model name (each set keeps
    per-call buffers: one per thread or process)."""
    p = onnx_paths
    return (
        FaceMesh(p["face_detection_short_range"], p["face_landmark"], p["iris_landmark"],
                 full_range_path=p["face_detection_full_range"]),
        PoseLandmarks(p["pose_detection"], p["pose_landmark_full"]),
    )


class VisionAnalyzer:
    """One video stream's vision analysis; call :meth:`analyse` with one frame at a time (not
    thread-safe, but any thread may call it, with that thread's pipelines)."""

    def __init__(self, *, eye_contact: bool = True, expression: bool = True,
                 posture: bool = True, detect_every: int = 10, pose_every: int = 2,
                 iris_every: int = 1) -> None:
        """`iris_every`: run the iris model on every n-th frame; in between, the eyes are taken
        to keep their last position within the head (eye contact = current head pose + last
        eye-in-head angle), which halves iris cost at 2 for little loss: eyes move less
        often than the 0.2-0.4 s between two analysed frames at 5 fps."""
        if detect_every < 1 or pose_every < 1 or iris_every < 1:
            raise ValueError("detect_every, pose_every and iris_every must be >= 1")
        self.iris_every = iris_every
        self._eyes: tuple[float | None, float | None, float, float] | None = None
        self.eye_contact = eye_contact
        self.expression = expression
        self.posture = posture
        self.detect_every = detect_every
        self.pose_every = pose_every
        self._frame = 0
        self._shape: tuple[int, ...] | None = None
        self._faces: FaceMeshResult | None = None
        self._pose: Pose | None = None
        self._pose_frame = -1  # frame index of self._pose
        self._posture: Posture | None = None

    def reset(self) -> None:
        """Forget the tracking state (e.g. after a reconnect)."""
        self._frame = 0
        self._faces = None
        self._pose = None
        self._pose_frame = -1
        self._posture = None
        self._eyes = None

    def analyse(self, rgb: np.ndarray, face: FaceMesh, pose: PoseLandmarks) -> VisionSample:
        if self._shape is not None and rgb.shape != self._shape:
            self.reset()
        self._shape = rgb.shape
        index = self._frame
        self._frame += 1
        out: dict[str, Any] = {}  # VisionSample's keyword arguments

        # faces
        if self.eye_contact or self.expression:
            iris = self.eye_contact and (index % self.iris_every == 0 or self._eyes is None)
            if index % self.detect_every == 0 or self._faces is None:
                faces = face.detect(rgb, with_iris=iris)
            else:
                faces = face.track(rgb, self._faces, with_iris=iris)
            self._faces = faces
            count = faces.count
            out["detected"] = faces.detected
            if faces.faces:
                out.update(self._face_signals(rgb, max(faces.faces, key=_face_area)))
        else:
            count = len(face.detect_faces(rgb))
            out["detected"] = True

        # body
        if self.posture:
            out.update(self._body_signals(rgb, pose, index))

        return VisionSample(
            faces=count,
            eye_contact=out.pop("eye_contact", None),
            smile=out.pop("smile", None),
            upright=out.pop("upright", None),
            motion=out.pop("motion", None),
            **out,
        )

    def _face_signals(self, rgb: np.ndarray, f: Face) -> dict[str, Any]:
        head = head_pose(f.landmarks)
        image = face_image(rgb, f.box, f.roi.rotation)
        out: dict[str, Any] = {"yaw_deg": head.yaw_deg, "pitch_deg": head.pitch_deg,
                               "roll_deg": head.roll_deg, "conditions": detect_conditions(image, head),
                               "face_contrast": image.contrast, "face_width_px": image.width_px}
        if self.eye_contact:
            irises = None
            if f.left_eye is not None and f.right_eye is not None:
                irises = np.stack([f.left_eye.iris[0], f.right_eye.iris[0]])
            if irises is not None or self._eyes is None:
                g = gaze(f.landmarks, irises, head)
                if irises is not None:
                    self._eyes = (g.gaze_x, g.gaze_y, g.yaw_deg - head.yaw_deg, g.pitch_deg - head.pitch_deg)
            else:  # no iris this frame: the eyes keep their last angle within the head
                gx, gy, eye_yaw, eye_pitch = self._eyes
                g = Gaze(head, gx, gy, head.yaw_deg + eye_yaw, head.pitch_deg + eye_pitch)
            out.update(eye_contact=g.eye_contact, gaze_x=g.gaze_x, gaze_y=g.gaze_y,
                       gaze_yaw_deg=g.yaw_deg, gaze_pitch_deg=g.pitch_deg)
        if self.expression:
            s = smile(f.landmarks, head)
            out.update(smile=s.smiling, smile_score=s.score)
        return out

    def _body_signals(self, rgb: np.ndarray, model: PoseLandmarks, index: int
                      ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        due = self._pose_frame < 0 or index - self._pose_frame >= self.pose_every
        if due:
            previous, previous_frame = self._pose, self._pose_frame
            current = model.track(rgb, previous)
            self._pose, self._pose_frame = current, index
            self._posture = posture(current) if current is not None else None
            out["pose_updated"] = True
            if previous is not None and current is not None:
                out["motion"] = gesture_motion(previous, current, index - previous_frame,
                                               (rgb.shape[1], rgb.shape[0]))
        p = self._posture
        if p is not None:
            out.update(upright=p.upright, shoulder_tilt_deg=p.shoulder_tilt_deg, lean=p.lean,
                       neck=p.neck, head_size=p.head_size)
        return out
