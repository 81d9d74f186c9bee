"""Body pose: BlazePose detector + BlazePose full landmarks (33 points + 6 auxiliary), ONNX.

mediapipe 0.10.21's Pose graph (``model_complexity=1``) rebuilt on ONNX Runtime:

1. ``pose_detection`` on the whole frame, letterboxed to 224x224 -> the best person, with four
   keypoints: hip centre, a point on the full-body circle, shoulder centre, a point on the
   upper-body circle;
2. ROI: a square centred on the hip centre, side twice the distance to the full-body circle
   point, rotated so that hip -> circle point is vertical, scaled 1.25 (mediapipe's pose
   alignment);
3. ``pose_landmark_full`` at 256x256 -> 39 points (x, y, z, visibility, presence), refined by
   the model's heatmap; points 0-32 are the pose, 33-38 auxiliary (33 and 34 are the hip centre
   and circle point used to place the next frame's ROI).

:meth:`PoseLandmarks.track` skips steps 1-2 by placing the ROI from the previous frame's
auxiliary points. One person per frame, as in mediapipe.

Coordinates are image pixels (x right, y down); ``z`` is depth relative to the hips on the
scale of x. Frames are RGB uint8 arrays of shape (H, W, 3).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace

import numpy as np

from analyzers.blaze import (
    POSE_DETECTOR_ANCHORS,
    POSE_DETECTOR_DECODE,
    Rect,
    alignment_rect,
    check_rgb_frame,
    crop_rect,
    frozen_array,
    decode_detections,
    letterbox_rect,
    rect_to_image,
    sigmoid,
    ssd_anchors,
    transform_rect,
    weighted_nms,
)
from analyzers.onnx_session import ImageModel

logger = logging.getLogger(__name__)

NUM_LANDMARKS = 33
NUM_AUXILIARY = 6
_ALL = NUM_LANDMARKS + NUM_AUXILIARY
# The graph asks for 7, but mediapipe 0.10.21 refines with the option's default, 9: only 9 reproduces
# its output (mean 0.01 px against 0.5 px with 7, on the two test photos).
_HEATMAP_KERNEL = 9
_HEATMAP_MIN_CONFIDENCE = 0.5
_ROI_SCALE = 1.25
_ROI_ANGLE = np.pi / 2  # hip centre -> circle point points straight up in the crop

# Landmark indexes (mediapipe's names: "left" is the person's left).
NOSE = 0
LEFT_EYE = 2
RIGHT_EYE = 5
LEFT_EAR = 7
RIGHT_EAR = 8
LEFT_SHOULDER = 11
RIGHT_SHOULDER = 12
LEFT_ELBOW = 13
RIGHT_ELBOW = 14
LEFT_WRIST = 15
RIGHT_WRIST = 16
LEFT_HIP = 23
RIGHT_HIP = 24


@dataclass(frozen=True, slots=True)
class PoseDetection:
    """The pose detector's best person, in image pixels."""

    box: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax (of the face)
    score: float
    keypoints: np.ndarray  # (4, 2): hip centre, full-body circle point, shoulders, upper body


@dataclass(frozen=True, slots=True)
class Pose:
    """One person's landmarks in image pixels."""

    landmarks: np.ndarray  # (33, 3) x, y, z
    visibility: np.ndarray  # (33,) in [0, 1]: present and not occluded
    presence: np.ndarray  # (33,) in [0, 1]: inside the frame
    auxiliary: np.ndarray  # (6, 3) x, y, z; rows 0 and 1 place the next ROI
    score: float  # the landmark model's pose-presence score
    roi: Rect
    detection: PoseDetection | None  # None when tracked from a previous frame

    def point(self, index: int) -> tuple[float, float]:
        return float(self.landmarks[index, 0]), float(self.landmarks[index, 1])


class PoseLandmarks:
    """Pose detector + landmarks on ONNX Runtime; not thread-safe (one per executor)."""

    def __init__(
        self,
        detector_path: str | os.PathLike[str],
        landmark_path: str | os.PathLike[str],
        *,
        min_detection_score: float = 0.5,
        min_presence: float = 0.5,
    ) -> None:
        self._detector = ImageModel.load(detector_path)
        self._model = ImageModel.load(landmark_path)
        self.min_presence = min_presence
        self._decode = replace(POSE_DETECTOR_DECODE, min_score=min_detection_score)
        self._anchors = ssd_anchors(POSE_DETECTOR_ANCHORS)
        n = self._anchors.shape[0]
        self._det_boxes = self._detector.output_index(n * 12)
        self._det_scores = self._detector.output_index(n)
        self._lm_points = self._model.output_index(_ALL * 5)
        self._lm_flag = self._model.output_index(1)
        hm_size = (self._model.height // 4) * (self._model.width // 4) * _ALL
        self._lm_heatmap = self._model.output_index(hm_size)
        hm_shape = self._model.output_shapes[self._lm_heatmap]
        self._heatmap_channels_first = len(hm_shape) == 4 and hm_shape[1] == _ALL

    # -- public API ---------------------------------------------------------------------------

    def detect_person(self, frame: np.ndarray) -> PoseDetection | None:
        """Run the pose detector only; the most confident person or None."""
        check_rgb_frame(frame)
        h, w = frame.shape[:2]
        m = self._detector
        region = letterbox_rect(w, h, m.width, m.height)
        tensor = crop_rect(frame, region, m.width, m.height, border="zero") / 127.5 - 1.0
        outs = m.run(tensor)
        raw = decode_detections(outs[self._det_boxes], outs[self._det_scores], self._anchors,
                                self._decode)
        dets = weighted_nms(raw, 0.3)
        if len(dets) == 0:
            return None
        corners = rect_to_image(region, dets.boxes[0].reshape(2, 2))
        return PoseDetection(
            box=(float(corners[0, 0]), float(corners[0, 1]),
                 float(corners[1, 0]), float(corners[1, 1])),
            score=float(dets.scores[0]),
            keypoints=frozen_array(rect_to_image(region, dets.keypoints[0])),
        )

    def detect(self, frame: np.ndarray) -> Pose | None:
        """Detect the person, then run the landmark model in the ROI."""
        det = self.detect_person(frame)
        if det is None:
            return None
        return self._landmarks_in(frame, pose_roi_from_detection(det), det)

    def track(self, frame: np.ndarray, previous: Pose | None) -> Pose | None:
        """Landmarks in the ROI placed by ``previous``'s auxiliary points, no detector; falls
        back to :meth:`detect` when there is no previous pose or it is lost."""
        check_rgb_frame(frame)
        if previous is not None:
            pose = self._landmarks_in(frame, pose_roi_from_landmarks(previous.auxiliary), None)
            if pose is not None:
                return pose
        return self.detect(frame)

    # -- steps ----------------------------------------------------------------------------------

    def _landmarks_in(self, frame: np.ndarray, roi: Rect, det: PoseDetection | None
                      ) -> Pose | None:
        m = self._model
        tensor = crop_rect(frame, roi, m.width, m.height, border="replicate") / 255.0
        outs = m.run(tensor)
        score = float(np.asarray(outs[self._lm_flag]).ravel()[0])
        if score < self.min_presence:
            return None
        raw = np.asarray(outs[self._lm_points], np.float64).reshape(_ALL, 5)
        pts = raw[:, :3] / (m.width, m.height, m.width)
        heatmap = np.asarray(outs[self._lm_heatmap], np.float32)
        hm_h, hm_w = m.height // 4, m.width // 4
        if self._heatmap_channels_first:
            heatmap = heatmap.reshape(_ALL, hm_h, hm_w).transpose(1, 2, 0)
        else:
            heatmap = heatmap.reshape(hm_h, hm_w, _ALL)
        pts[:, :2] = refine_from_heatmap(pts[:, :2], heatmap)
        pts = rect_to_image(roi, pts)
        pts[:, 2] *= roi.width
        return Pose(
            landmarks=frozen_array(pts[:NUM_LANDMARKS]),
            visibility=frozen_array(sigmoid(raw[:NUM_LANDMARKS, 3])),
            presence=frozen_array(sigmoid(raw[:NUM_LANDMARKS, 4])),
            auxiliary=frozen_array(pts[NUM_LANDMARKS:]),
            score=score,
            roi=roi,
            detection=det,
        )


# -- ROI maths and heatmap refinement (pure, unit-tested) -------------------------------------


def pose_roi_from_detection(det: PoseDetection) -> Rect:
    """Square around the hip centre through the full-body circle point, upright, x1.25."""
    return transform_rect(
        alignment_rect(det.keypoints[0], det.keypoints[1], _ROI_ANGLE), _ROI_SCALE
    )


def pose_roi_from_landmarks(auxiliary: np.ndarray) -> Rect:
    """The same ROI from the previous frame's auxiliary points 33 (centre) and 34 (scale)."""
    return transform_rect(
        alignment_rect(auxiliary[0, :2], auxiliary[1, :2], _ROI_ANGLE), _ROI_SCALE
    )


def refine_from_heatmap(
    points: np.ndarray,
    heatmap: np.ndarray,
    kernel: int = _HEATMAP_KERNEL,
    min_confidence: float = _HEATMAP_MIN_CONFIDENCE,
) -> np.ndarray:
    """Move each point (normalised over the crop) to the sigmoid-weighted mean position of its
    heatmap channel in a ``kernel``-wide window around it, when the window's peak confidence
    reaches ``min_confidence`` (mediapipe's RefineLandmarksFromHeatmapCalculator).

    ``heatmap`` is (H, W, N) logits; points outside the heatmap stay put.
    """
    hm_h, hm_w, n = heatmap.shape
    out = np.array(points, dtype=np.float64, copy=True)
    offset = (kernel - 1) // 2
    for i in range(min(n, out.shape[0])):
        col = int(out[i, 0] * hm_w)  # truncation toward zero, as in C++
        row = int(out[i, 1] * hm_h)
        # mediapipe compares the row against the width here, so a point just below the map
        # (row < H + offset) still sees the map's bottom rows; kept for parity.
        if col < 0 or col >= hm_w or row < 0 or col >= hm_h:
            continue
        r0, r1 = max(0, row - offset), min(hm_h, row + offset + 1)
        c0, c1 = max(0, col - offset), min(hm_w, col + offset + 1)
        if r0 >= r1:
            continue
        conf = sigmoid(heatmap[r0:r1, c0:c1, i].astype(np.float64))
        total = conf.sum()
        if conf.max() >= min_confidence and total > 0:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            out[i, 0] = (cols * conf).sum() / hm_w / total
            out[i, 1] = (rows * conf).sum() / hm_h / total
    return out
