"""Faces: BlazeFace short-range detection, the 468-point face mesh and iris landmarks (ONNX).

The pipeline is mediapipe 0.10.21's FaceMesh graph rebuilt on ONNX Runtime, with numpy for the
geometry (see :mod:`analyzers.blaze`):

1. ``face_detection_short_range`` on the whole frame, letterboxed to 128x128 -> face boxes with
   six keypoints (eyes, nose tip, mouth, ear tragions);
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
    FACE_SHORT_RANGE_ANCHORS,
    FACE_SHORT_RANGE_DECODE,
    Rect,
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


class FaceMesh:
    """Face detector + face mesh + iris on ONNX Runtime; not thread-safe (one per executor).

    Model paths come from the caller (``models.registry.onnx_path``); ``iris_path`` may be
    None to skip the iris model.
    """

    def __init__(
        self,
        detector_path: str | os.PathLike[str],
        landmark_path: str | os.PathLike[str],
        iris_path: str | os.PathLike[str] | None = None,
        *,
        max_faces: int = 4,
        min_detection_score: float = 0.5,
        min_presence: float = 0.5,
    ) -> None:
        self._detector = ImageModel.load(detector_path)
        self._mesh = ImageModel.load(landmark_path)
        self._iris = ImageModel.load(iris_path) if iris_path is not None else None
        self.max_faces = max_faces
        self.min_presence = min_presence
        self._decode = replace(FACE_SHORT_RANGE_DECODE, min_score=min_detection_score)
        self._anchors = ssd_anchors(FACE_SHORT_RANGE_ANCHORS)
        n = self._anchors.shape[0]
        self._det_boxes = self._detector.output_index(n * 16)
        self._det_scores = self._detector.output_index(n)
        self._mesh_points = self._mesh.output_index(NUM_LANDMARKS * 3)
        self._mesh_flag = self._mesh.output_index(1)
        if self._iris is not None:
            self._iris_contour = self._iris.output_index(71 * 3)
            self._iris_points = self._iris.output_index(5 * 3)

    # -- public API ---------------------------------------------------------------------------

    def detect_faces(self, frame: np.ndarray) -> tuple[FaceDetection, ...]:
        """Run the face detector only; at most ``max_faces``, best first."""
        check_rgb_frame(frame)
        h, w = frame.shape[:2]
        m = self._detector
        region = letterbox_rect(w, h, m.width, m.height)
        tensor = crop_rect(frame, region, m.width, m.height, border="zero") / 127.5 - 1.0
        outs = m.run(tensor)
        raw = decode_detections(outs[self._det_boxes], outs[self._det_scores], self._anchors,
                                self._decode)
        dets = weighted_nms(raw, 0.3)
        found = []
        for i in range(min(len(dets), self.max_faces)):
            corners = rect_to_image(region, dets.boxes[i].reshape(2, 2))
            kps = rect_to_image(region, dets.keypoints[i])
            found.append(FaceDetection(
                box=(float(corners[0, 0]), float(corners[0, 1]),
                     float(corners[1, 0]), float(corners[1, 1])),
                score=float(dets.scores[i]),
                keypoints=frozen_array(kps),
            ))
        return tuple(found)

    def detect(self, frame: np.ndarray, *, with_iris: bool = True) -> FaceMeshResult:
        """Detect faces, then run the mesh (and iris) on each."""
        h, w = frame.shape[:2]
        faces = []
        for det in self.detect_faces(frame):
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
