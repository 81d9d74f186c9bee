"""Faces: BlazeFace short-range detection, the 468-point face mesh and iris landmarks (ONNX).

The pipeline is mediapipe 0.10.21's FaceMesh graph rebuilt on ONNX Runtime, with numpy for the
geometry (see :mod:`analyzers.blaze`):

1. ``face_detection_short_range`` on the whole frame, letterboxed to 128x128 -> face boxes with
   six keypoints (eyes, nose tip, mouth, ear tragions). At 128x128 a 640x480 frame is shrunk
   five times and faces narrower than ~85 px are missed (eval/, issue 18), so optional wider
   passes add the faces it missed: ``face_detection_full_range`` (192x192, one 48x48 anchor
   grid, made for faces up to ~5 m) on the whole frame, and/or the short-range model again on
   the frame's two overlapping halves (``halves``). A wider pass's detection joins only when
   it does not overlap one already found (:func:`merge_detections`);
2. per face, a square ROI 1.5 times the box, rotated so that the eyes are level ->
   ``face_landmark`` at 192x192 -> 468 points and a presence score;
3. per eye, a square ROI 2.3 times the eye-corner distance -> ``iris_landmark`` at 64x64 ->
   5 iris points (centre first) and 71 eye-contour points. The model knows one eye only: as
   in mediapipe, the crop of the eye on the image's right (mesh 362/263, the person's own left
   eye in an unmirrored frame) is mirrored and its points are mirrored back.

:meth:`FaceMesh.track` skips step 1 by deriving each face's ROI from the previous frame's mesh
(the same ROI maths mediapipe uses in video mode), which is what a live stream should call
between periodic :meth:`FaceMesh.detect` calls.

All coordinates are image pixels (x right, y down); ``z`` is depth relative to the face's
centre on the same scale as x (smaller is nearer the camera), as mediapipe defines it. Frames
are RGB uint8 arrays of shape (H, W, 3).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, replace

import numpy as np

from analyzers.blaze import (
    FACE_FULL_RANGE_ANCHORS,
    FACE_FULL_RANGE_DECODE,
    FACE_SHORT_RANGE_ANCHORS,
    FACE_SHORT_RANGE_DECODE,
    AnchorSpec,
    DecodeSpec,
    Rect,
    box_iou,
    check_rgb_frame,
    crop_rect,
    frozen_array,
    decode_detections,
    letterbox_rect,
    rect_from_box,
    rect_from_landmarks,
    rect_iou,
    rect_to_image,
    rotation_from_points,
    ssd_anchors,
    transform_rect,
    weighted_nms,
)
from analyzers.onnx_session import ImageModel

logger = logging.getLogger(__name__)

NUM_LANDMARKS = 468

# Mesh indexes used by the ROI maths and handy for signals. "Left"/"right" follow mediapipe's
# naming for these points: the left eye is the one on the image's left in an unmirrored frame.
LEFT_EYE_OUTER = 33
LEFT_EYE_INNER = 133
RIGHT_EYE_INNER = 362
RIGHT_EYE_OUTER = 263
NOSE_TIP = 1
MOUTH_LEFT = 61
MOUTH_RIGHT = 291

_FACE_ROI_SCALE = 1.5
_EYE_ROI_SCALE = 2.3
# Two detections (from different passes) are one face when their boxes overlap this much, or
# when either box's centre lies inside the other (a detector's box for a face it sees small
# can be much smaller than another's, with a low IoU).
_SAME_FACE_IOU = 0.3
# The halves pass: two square windows at the frame's left and right edges, each at least this
# share of the frame's width (0.6: they overlap by a fifth of the frame or more, wider than a
# face the whole-frame pass misses, so no such face is cut in two).
_HALF_WIDTH = 0.6


@dataclass(frozen=True, slots=True)
class FaceDetection:
    """One BlazeFace detection in image pixels."""

    box: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax
    score: float
    keypoints: np.ndarray  # (6, 2): eye (image left), eye (image right), nose, mouth, ear, ear


@dataclass(frozen=True, slots=True)
class Eye:
    """Iris model output for one eye, in image pixels."""

    iris: np.ndarray  # (5, 3): centre, then four points on the iris edge
    contour: np.ndarray  # (71, 3): eyelid contour and brow points
    roi: Rect

    @property
    def centre(self) -> tuple[float, float]:
        return float(self.iris[0, 0]), float(self.iris[0, 1])

    @property
    def radius(self) -> float:
        """Mean distance from the centre to the four iris-edge points."""
        return float(np.mean(np.hypot(*(self.iris[1:, :2] - self.iris[0, :2]).T)))


@dataclass(frozen=True, slots=True)
class Face:
    """One face: the 468-point mesh and, when asked for, both irises."""

    landmarks: np.ndarray  # (468, 3) x, y, z in pixels
    presence: float  # face_landmark's face-presence score, in [0, 1]
    roi: Rect  # the region the mesh model saw
    detection: FaceDetection | None  # None when the face was tracked from a previous frame
    left_eye: Eye | None = None  # mesh points 33/133 (image left in an unmirrored frame)
    right_eye: Eye | None = None  # mesh points 362/263

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Bounding box of the mesh: xmin, ymin, xmax, ymax."""
        xy = self.landmarks[:, :2]
        return (float(xy[:, 0].min()), float(xy[:, 1].min()),
                float(xy[:, 0].max()), float(xy[:, 1].max()))

    @property
    def detection_score(self) -> float | None:
        return None if self.detection is None else self.detection.score


@dataclass(frozen=True, slots=True)
class FaceMeshResult:
    """Every face found in one frame, most confident detection first."""

    faces: tuple[Face, ...]
    image_width: int
    image_height: int
    detected: bool  # True when the detector ran on this frame, False when tracked

    @property
    def count(self) -> int:
        return len(self.faces)


class BlazeFace:
    """One BlazeFace model (short or full range) run on a square region of a frame."""

    def __init__(self, path: str | os.PathLike[str], anchors: AnchorSpec, decode: DecodeSpec,
                 min_score: float) -> None:
        self.model = ImageModel.load(path)
        self._decode = replace(decode, min_score=min_score)
        self._anchors = ssd_anchors(anchors)
        n = self._anchors.shape[0]
        self._boxes = self.model.output_index(n * 16)
        self._scores = self.model.output_index(n)

    def detect(self, frame: np.ndarray, region: Rect) -> list[FaceDetection]:
        """Faces in ``region`` of the frame (letterboxed with black), best first, in image
        pixels."""
        m = self.model
        tensor = crop_rect(frame, region, m.width, m.height, border="zero") / 127.5 - 1.0
        outs = m.run(tensor)
        raw = decode_detections(outs[self._boxes], outs[self._scores], self._anchors,
                                self._decode)
        dets = weighted_nms(raw, 0.3)
        found = []
        for i in range(len(dets)):
            corners = rect_to_image(region, dets.boxes[i].reshape(2, 2))
            found.append(FaceDetection(
                box=(float(corners[0, 0]), float(corners[0, 1]),
                     float(corners[1, 0]), float(corners[1, 1])),
                score=float(dets.scores[i]),
                keypoints=frozen_array(rect_to_image(region, dets.keypoints[i])),
            ))
        return found


class FaceMesh:
    """Face detector + face mesh + iris on ONNX Runtime; not thread-safe (one per executor).

    Model paths come from the caller (``models.registry.onnx_path``); ``iris_path`` may be
    None to skip the iris model. ``full_range_path`` (``face_detection_full_range``) and
    ``halves`` add the wider detection passes described in the module docstring; they run
    wherever the detector runs (:meth:`detect_faces`, so :meth:`detect` and the fallback of
    :meth:`track`), never on tracked frames.
    """

    def __init__(
        self,
        detector_path: str | os.PathLike[str],
        landmark_path: str | os.PathLike[str],
        iris_path: str | os.PathLike[str] | None = None,
        *,
        full_range_path: str | os.PathLike[str] | None = None,
        halves: bool = False,
        max_faces: int = 4,
        min_detection_score: float = 0.5,
        full_range_min_score: float | None = None,
        min_presence: float = 0.5,
    ) -> None:
        """``full_range_min_score``: the full-range pass's score threshold (default: the same
        as ``min_detection_score``; 0.5 is mediapipe's default for both models, and the
        labelled set's tune part does not support a lower one: at 0.4 a rocket photo gets a
        face, at 0.3 a distant face is counted twice; bench/results/face-detector-tune.txt)."""
        self._detector = BlazeFace(detector_path, FACE_SHORT_RANGE_ANCHORS,
                                   FACE_SHORT_RANGE_DECODE, min_detection_score)
        self._full_range = (
            BlazeFace(full_range_path, FACE_FULL_RANGE_ANCHORS, FACE_FULL_RANGE_DECODE,
                      min_detection_score if full_range_min_score is None
                      else full_range_min_score)
            if full_range_path is not None else None)
        self.halves = halves
        self._mesh = ImageModel.load(landmark_path)
        self._iris = ImageModel.load(iris_path) if iris_path is not None else None
        self.max_faces = max_faces
        self.min_presence = min_presence
        self._mesh_points = self._mesh.output_index(NUM_LANDMARKS * 3)
        self._mesh_flag = self._mesh.output_index(1)
        if self._iris is not None:
            self._iris_contour = self._iris.output_index(71 * 3)
            self._iris_points = self._iris.output_index(5 * 3)

    # -- public API ---------------------------------------------------------------------------

    @property
    def short_range(self) -> BlazeFace:
        """The short-range detector (every pass but the full-range one uses it)."""
        return self._detector

    @property
    def full_range(self) -> BlazeFace | None:
        """The full-range detector, None when not configured."""
        return self._full_range

    def detection_passes(self, frame: np.ndarray) -> list[list[FaceDetection]]:
        """Each detection pass's faces, best first: the short-range detector on the whole
        frame, then (when configured) the full-range one, then the short-range one on each
        half."""
        check_rgb_frame(frame)
        h, w = frame.shape[:2]
        short = self._detector
        passes = [short.detect(frame, letterbox_rect(w, h, short.model.width,
                                                     short.model.height))]
        if self._full_range is not None:
            full = self._full_range.model
            passes.append(self._full_range.detect(frame, letterbox_rect(w, h, full.width,
                                                                        full.height)))
        if self.halves:
            passes += [short.detect(frame, region) for region in half_regions(w, h)]
        return passes

    def detect_faces(self, frame: np.ndarray) -> tuple[FaceDetection, ...]:
        """Run the face detector(s) only; at most ``max_faces``: the whole-frame short-range
        pass's faces first (best first), then those only a wider pass found."""
        found: list[FaceDetection] = []
        for dets in self.detection_passes(frame):
            found = merge_detections(found, dets)
        return tuple(found[: self.max_faces])

    def detect(self, frame: np.ndarray, *, with_iris: bool = True) -> FaceMeshResult:
        """Detect faces, then run the mesh (and iris) on each; at most ``max_faces``.

        Detections are taken pass by pass (whole-frame short range first); one that is the
        same face as a face already meshed is skipped. A detection the mesh rejects does not
        hide another pass's detection of the same place (the short-range model sometimes puts
        a loose, low-score box around a small face that only the full-range box fits).
        """
        h, w = frame.shape[:2]
        faces: list[Face] = []
        for dets in self.detection_passes(frame):
            for det in dets:
                if len(faces) >= self.max_faces:
                    break
                if any(f.detection is not None and same_face(det, f.detection) for f in faces):
                    continue
                face = self._mesh_in(frame, face_roi_from_detection(det), det, with_iris)
                if face is not None:
                    faces.append(face)
        return FaceMeshResult(tuple(faces), w, h, detected=True)

    def track(
        self, frame: np.ndarray, previous: FaceMeshResult | None, *, with_iris: bool = True
    ) -> FaceMeshResult:
        """Mesh each face of ``previous`` again in its ROI derived from the old landmarks,
        without the detector. Faces that are lost are dropped, and two faces that converge to
        the same place are merged. When there is nothing to track (no previous result, no
        face in it, or every face lost) this falls back to :meth:`detect`. New faces entering
        the frame are only found by :meth:`detect`, so call it now and then.
        """
        check_rgb_frame(frame)
        h, w = frame.shape[:2]
        if previous is None or previous.count == 0 or (
            (previous.image_width, previous.image_height) != (w, h)
        ):
            return self.detect(frame, with_iris=with_iris)
        faces: list[Face] = []
        for old in previous.faces:
            face = self._mesh_in(frame, face_roi_from_landmarks(old.landmarks), None, with_iris)
            if face is None:
                continue
            if any(rect_iou(face_roi_from_landmarks(face.landmarks),
                            face_roi_from_landmarks(f.landmarks)) > 0.5 for f in faces):
                continue
            faces.append(face)
        if not faces:
            return self.detect(frame, with_iris=with_iris)
        return FaceMeshResult(tuple(faces), w, h, detected=False)

    # -- steps ----------------------------------------------------------------------------------

    def _mesh_in(
        self, frame: np.ndarray, roi: Rect, det: FaceDetection | None, with_iris: bool
    ) -> Face | None:
        m = self._mesh
        tensor = crop_rect(frame, roi, m.width, m.height, border="replicate") / 255.0
        outs = m.run(tensor)
        flag = float(np.asarray(outs[self._mesh_flag]).ravel()[0])
        presence = 1.0 / (1.0 + math.exp(-flag))
        if presence < self.min_presence:
            return None
        raw = np.asarray(outs[self._mesh_points], dtype=np.float64).reshape(NUM_LANDMARKS, 3)
        pts = rect_to_image(roi, raw / (m.width, m.height, m.width))
        pts[:, 2] *= roi.width
        left = right = None
        if with_iris and self._iris is not None:
            left = self._eye(frame, pts, LEFT_EYE_OUTER, LEFT_EYE_INNER, mirror=False)
            right = self._eye(frame, pts, RIGHT_EYE_INNER, RIGHT_EYE_OUTER, mirror=True)
        return Face(frozen_array(pts), presence, roi, det, left, right)

    def _eye(self, frame: np.ndarray, mesh: np.ndarray, a: int, b: int, mirror: bool) -> Eye:
        assert self._iris is not None
        m = self._iris
        roi = eye_roi(mesh[a, :2], mesh[b, :2])
        tensor = crop_rect(frame, roi, m.width, m.height, border="replicate",
                           flip_horizontally=mirror) / 255.0
        outs = m.run(tensor)
        scale = (m.width, m.height, m.width)
        contour = np.asarray(outs[self._iris_contour], np.float64).reshape(71, 3) / scale
        iris = np.asarray(outs[self._iris_points], np.float64).reshape(5, 3) / scale
        if mirror:
            contour[:, 0] = 1.0 - contour[:, 0]
            iris[:, 0] = 1.0 - iris[:, 0]
        contour = rect_to_image(roi, contour)
        iris = rect_to_image(roi, iris)
        contour[:, 2] *= roi.width
        iris[:, 2] *= roi.width
        return Eye(frozen_array(iris), frozen_array(contour), roi)


# -- ROI maths (pure, unit-tested) ------------------------------------------------------------


def same_face(a: FaceDetection, b: FaceDetection) -> bool:
    """Two detections of one face: boxes overlap (IoU > 0.3) or one's centre is in the other."""
    ba, bb = np.asarray(a.box), np.asarray(b.box)
    if box_iou(ba, bb[None])[0] > _SAME_FACE_IOU:
        return True

    def inside(c: np.ndarray, box: np.ndarray) -> bool:
        return bool(box[0] <= c[0] <= box[2] and box[1] <= c[1] <= box[3])

    return inside((ba[:2] + ba[2:]) / 2, bb) or inside((bb[:2] + bb[2:]) / 2, ba)


def merge_detections(found: list[FaceDetection], extra: list[FaceDetection]
                     ) -> list[FaceDetection]:
    """``found`` plus each detection of ``extra`` (best first) that is not a face already
    there."""
    out = list(found)
    for det in sorted(extra, key=lambda d: -d.score):
        if not any(same_face(det, f) for f in out):
            out.append(det)
    return out


def half_regions(width: int, height: int) -> tuple[Rect, Rect]:
    """The halves pass's two square regions, flush with the frame's left and right edges, of
    side ``max(_HALF_WIDTH * width, height)`` (at most the width). For 640x480: x 0-480 and
    160-640, full height, so the detector sees faces 1.33 times larger than on the whole
    frame (3.75 instead of 5 frame pixels per input pixel)."""
    side = min(max(_HALF_WIDTH * width, float(height)), float(width))
    return (Rect(side / 2, height / 2, side, side), Rect(width - side / 2, height / 2, side, side))


def face_roi_from_detection(det: FaceDetection) -> Rect:
    """Detector box, rotated so the eye keypoints (0 -> 1) are level, squared and scaled 1.5."""
    rotation = rotation_from_points(det.keypoints[0], det.keypoints[1], 0.0)
    return transform_rect(rect_from_box(np.asarray(det.box), rotation), _FACE_ROI_SCALE)


def face_roi_from_landmarks(landmarks: np.ndarray) -> Rect:
    """Mesh bounding box, rotated so the outer eye corners (33 -> 263) are level, squared and
    scaled 1.5: the ROI for the next frame."""
    return rect_from_landmarks(landmarks, LEFT_EYE_OUTER, RIGHT_EYE_OUTER, 0.0, _FACE_ROI_SCALE)


def eye_roi(corner_a: np.ndarray, corner_b: np.ndarray) -> Rect:
    """Square eye ROI from two eye corners (ordered left to right in the face's frame)."""
    return rect_from_landmarks(np.stack([corner_a, corner_b]), 0, 1, 0.0, _EYE_ROI_SCALE)
