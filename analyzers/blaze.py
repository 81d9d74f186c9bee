"""Geometry shared by the BlazeFace / BlazePose pipelines, in numpy only.

Everything here reproduces what mediapipe 0.10.21's calculators do, so that the ONNX conversions
of its models land where mediapipe's own graphs put them:

- SSD anchors (``SsdAnchorsCalculator``) and decoding of box + keypoint regressions with sigmoid
  scores (``TensorsToDetectionsCalculator``), weighted non-maximum suppression
  (``NonMaxSuppressionCalculator``, algorithm WEIGHTED);
- regions of interest as rotated rectangles (``DetectionsToRectsCalculator``,
  ``AlignmentPointsRectsCalculator``, ``RectTransformationCalculator``);
- the crop of such a rectangle into a model's input (``ImageToTensorCalculator``: OpenCV
  ``warpPerspective`` with bilinear sampling, here a numpy gather) and the projection of the
  model's output points back into the image (``LandmarkProjectionCalculator``).

Unlike mediapipe, rectangles and points are kept in image pixels, not normalised coordinates:
for the square regions used here the two are the same maths. Angles are radians, clockwise in
the image (y points down), as in mediapipe.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

logger = logging.getLogger(__name__)

Border = Literal["zero", "replicate"]


# --------------------------------------------------------------------------------------------
# Anchors and detection decoding
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnchorSpec:
    """Options of mediapipe's ``SsdAnchorsCalculator`` (fixed anchor size only)."""

    input_width: int
    input_height: int
    strides: tuple[int, ...]
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset: float = 0.5
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0


#: BlazeFace short range, 128x128 input: 896 anchors.
FACE_SHORT_RANGE_ANCHORS = AnchorSpec(128, 128, strides=(8, 16, 16, 16))
#: BlazeFace full range, 192x192 input: one 48x48 grid, one anchor per cell (2304 anchors).
FACE_FULL_RANGE_ANCHORS = AnchorSpec(192, 192, strides=(4,), interpolated_scale_aspect_ratio=0.0)
#: BlazePose detector, 224x224 input: 2254 anchors.
POSE_DETECTOR_ANCHORS = AnchorSpec(224, 224, strides=(8, 16, 32, 32, 32))


def ssd_anchors(spec: AnchorSpec) -> np.ndarray:
    """Anchor centres, shape (N, 2) as (x, y) in [0, 1], in the order the model emits boxes.

    Layers that share a stride are merged into one grid with several anchors per cell, and each
    layer adds one interpolated-scale anchor per cell; with ``fixed_anchor_size`` the anchors'
    sizes are all 1, so only the centres matter.
    """
    centres: list[np.ndarray] = []
    n = len(spec.strides)
    layer = 0
    while layer < n:
        per_cell = 0
        last = layer
        while last < n and spec.strides[last] == spec.strides[layer]:
            per_cell += len(spec.aspect_ratios)
            if spec.interpolated_scale_aspect_ratio > 0.0:
                per_cell += 1
            last += 1
        stride = spec.strides[layer]
        fh = math.ceil(spec.input_height / stride)
        fw = math.ceil(spec.input_width / stride)
        ys, xs = np.meshgrid(
            (np.arange(fh) + spec.anchor_offset) / fh,
            (np.arange(fw) + spec.anchor_offset) / fw,
            indexing="ij",
        )
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)  # row-major cells
        centres.append(np.repeat(grid, per_cell, axis=0))
        layer = last
    return np.concatenate(centres, axis=0).astype(np.float32)


@dataclass(frozen=True, slots=True)
class DecodeSpec:
    """Options of mediapipe's ``TensorsToDetectionsCalculator`` for the Blaze detectors."""

    num_keypoints: int
    scale: float  # x_scale = y_scale = w_scale = h_scale = input size
    min_score: float = 0.5
    score_clip: float = 100.0


FACE_SHORT_RANGE_DECODE = DecodeSpec(num_keypoints=6, scale=128.0)
FACE_FULL_RANGE_DECODE = DecodeSpec(num_keypoints=6, scale=192.0)
POSE_DETECTOR_DECODE = DecodeSpec(num_keypoints=4, scale=224.0)


@dataclass(frozen=True, slots=True)
class RawDetections:
    """Decoded detections in the model's normalised input frame ([0, 1] over the tensor)."""

    boxes: np.ndarray  # (N, 4) xmin, ymin, xmax, ymax
    keypoints: np.ndarray  # (N, K, 2) x, y
    scores: np.ndarray  # (N,)

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function in float64 (no overflow warnings for large logits)."""
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, dtype=np.float64), -500.0, 500.0)))


def decode_detections(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, spec: DecodeSpec
) -> RawDetections:
    """Decode regressions (N, 4 + 2K) and logits (N, 1) against anchors; keep score >= min.

    Box regressions are (x_center, y_center, w, h) offsets in input pixels relative to the
    anchor centre ("reverse output order"), keypoints follow as (x, y) pairs.
    """
    raw_boxes = np.asarray(raw_boxes, dtype=np.float32).reshape(anchors.shape[0], -1)
    logits = np.asarray(raw_scores, dtype=np.float32).reshape(anchors.shape[0], -1)[:, 0]
    scores = sigmoid(np.clip(logits, -spec.score_clip, spec.score_clip))
    keep = np.nonzero(scores >= spec.min_score)[0]
    if keep.size == 0:
        return RawDetections(
            np.zeros((0, 4), np.float32),
            np.zeros((0, spec.num_keypoints, 2), np.float32),
            np.zeros((0,), np.float32),
        )
    raw = raw_boxes[keep]
    anc = anchors[keep]
    s = spec.scale
    xc = raw[:, 0] / s + anc[:, 0]
    yc = raw[:, 1] / s + anc[:, 1]
    w = raw[:, 2] / s
    h = raw[:, 3] / s
    boxes = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1)
    k = spec.num_keypoints
    kp = raw[:, 4 : 4 + 2 * k].reshape(raw.shape[0], k, 2) / s + anc[:, None, :]
    return RawDetections(
        boxes.astype(np.float32), kp.astype(np.float32), scores[keep].astype(np.float32)
    )


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one (4,) box with (N, 4) boxes, all xmin, ymin, xmax, ymax."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(dets: RawDetections, iou_threshold: float = 0.3) -> RawDetections:
    """Mediapipe's weighted NMS: each cluster becomes its score-weighted mean box/keypoints.

    Candidates are taken in descending score; every remaining detection whose IoU with the
    best one exceeds the threshold (the best one included) joins its cluster. The merged
    detection keeps the best one's score.
    """
    if len(dets) == 0:
        return dets
    order = np.argsort(-dets.scores, kind="stable")
    out_boxes, out_kps, out_scores = [], [], []
    remaining = order
    while remaining.size:
        best = remaining[0]
        iou = box_iou(dets.boxes[best], dets.boxes[remaining])
        members = remaining[iou > iou_threshold]
        if members.size == 0:  # degenerate (zero-area) box: keep it alone
            members = remaining[:1]
        w = dets.scores[members]
        total = float(w.sum())
        out_boxes.append((dets.boxes[members] * w[:, None]).sum(axis=0) / total)
        out_kps.append((dets.keypoints[members] * w[:, None, None]).sum(axis=0) / total)
        out_scores.append(dets.scores[best])
        remaining = remaining[~np.isin(remaining, members)]
    return RawDetections(
        np.asarray(out_boxes, np.float32),
        np.asarray(out_kps, np.float32),
        np.asarray(out_scores, np.float32),
    )


# --------------------------------------------------------------------------------------------
# Rotated rectangles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rect:
    """A rotated rectangle in image pixels: centre, size, rotation (radians, clockwise)."""

    x_center: float
    y_center: float
    width: float
    height: float
    rotation: float = 0.0

    def corners(self) -> np.ndarray:
        """(4, 2) corners: top-left, top-right, bottom-right, bottom-left of the rect frame."""
        local = np.array(
            [[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]], dtype=np.float64
        ) * (self.width, self.height)
        return local @ rotation_matrix(self.rotation).T + (self.x_center, self.y_center)

    def bounds(self) -> tuple[float, float, float, float]:
        """Axis-aligned bounding box (xmin, ymin, xmax, ymax) of the rotated rectangle."""
        c = self.corners()
        return (float(c[:, 0].min()), float(c[:, 1].min()),
                float(c[:, 0].max()), float(c[:, 1].max()))


def rotation_matrix(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]], dtype=np.float64)


def normalize_radians(angle: float) -> float:
    """Wrap an angle into [-pi, pi)."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def rotation_from_points(start: np.ndarray, end: np.ndarray, target_angle: float) -> float:
    """Rotation that turns the vector start->end (pixels) to ``target_angle`` (radians,
    counter-clockwise from +x as drawn with y up), like mediapipe's ComputeRotation."""
    dx = float(end[0] - start[0])
    dy = float(end[1] - start[1])
    return normalize_radians(target_angle - math.atan2(-dy, dx))


def rect_from_box(box: np.ndarray, rotation: float = 0.0) -> Rect:
    """The rect of an axis-aligned box (xmin, ymin, xmax, ymax), with a given rotation."""
    xmin, ymin, xmax, ymax = (float(v) for v in box)
    return Rect((xmin + xmax) / 2, (ymin + ymax) / 2, xmax - xmin, ymax - ymin, rotation)


def alignment_rect(centre: np.ndarray, scale_point: np.ndarray, target_angle: float) -> Rect:
    """Square rect centred on ``centre`` with side twice the distance to ``scale_point``,
    rotated so that centre->scale_point points at ``target_angle`` (mediapipe's
    AlignmentPointsRectsCalculator, used for BlazePose: hip centre + full-body circle point)."""
    side = 2.0 * float(np.hypot(*(np.asarray(scale_point) - np.asarray(centre))))
    rotation = rotation_from_points(centre, scale_point, target_angle)
    return Rect(float(centre[0]), float(centre[1]), side, side, rotation)


def transform_rect(rect: Rect, scale: float, square_long: bool = True) -> Rect:
    """Make the rect square on its long side, then scale it (RectTransformationCalculator)."""
    w, h = rect.width, rect.height
    if square_long:
        w = h = max(w, h)
    return Rect(rect.x_center, rect.y_center, w * scale, h * scale, rect.rotation)


def rect_from_landmarks(
    points: np.ndarray, start: int, end: int, target_angle: float, scale: float
) -> Rect:
    """ROI around landmarks: their bounding box, rotated by the start->end vector, made square
    and scaled (LandmarksToDetection + DetectionsToRects + RectTransformation)."""
    xy = np.asarray(points)[:, :2]
    box = np.array([xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()])
    rotation = rotation_from_points(xy[start], xy[end], target_angle)
    return transform_rect(rect_from_box(box, rotation), scale)


def rect_iou(a: Rect, b: Rect) -> float:
    """IoU of the axis-aligned bounds of two rects (enough to tell duplicates apart)."""
    return float(box_iou(np.array(a.bounds()), np.array([b.bounds()]))[0])


# --------------------------------------------------------------------------------------------
# Letterboxing, cropping and projection
# --------------------------------------------------------------------------------------------


def letterbox_rect(image_width: int, image_height: int, out_width: int, out_height: int) -> Rect:
    """The whole image, padded (centred) to the output's aspect ratio: the region a detector
    sees when mediapipe keeps the aspect ratio (black bars on the short side)."""
    target = out_height / out_width
    if image_height / image_width < target:
        w, h = float(image_width), image_width * target
    else:
        w, h = image_height / target, float(image_height)
    return Rect(image_width / 2, image_height / 2, w, h, 0.0)


def rect_to_image(rect: Rect, points: np.ndarray) -> np.ndarray:
    """Project points normalised over a crop of ``rect`` ((x, y) in [0, 1], any extra columns
    kept) back into image pixels."""
    pts = np.array(points, dtype=np.float64, copy=True)
    local = (pts[..., :2] - 0.5) * (rect.width, rect.height)
    pts[..., :2] = local @ rotation_matrix(rect.rotation).T + (rect.x_center, rect.y_center)
    return pts


def image_to_rect(rect: Rect, points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rect_to_image`: image pixels to coordinates normalised over the crop."""
    pts = np.array(points, dtype=np.float64, copy=True)
    local = (pts[..., :2] - (rect.x_center, rect.y_center)) @ rotation_matrix(rect.rotation)
    pts[..., :2] = local / (rect.width, rect.height) + 0.5
    return pts


def crop_rect(
    image: np.ndarray,
    rect: Rect,
    out_width: int,
    out_height: int,
    border: Border = "replicate",
    flip_horizontally: bool = False,
) -> np.ndarray:
    """Sample ``rect`` of an (H, W, 3) uint8 image into an (out_height, out_width, 3) float32
    array of values in [0, 255], bilinear, exactly like mediapipe's ImageToTensor on CPU.

    Output pixel (i, j) samples the image at rect-frame position (j / out_width - 0.5,
    i / out_height - 0.5) times the rect size (OpenCV's convention: integer pixel indexes are
    pixel centres, and the rect's corner maps to index 0). Taps outside the image are black
    (``"zero"``) or the nearest edge pixel (``"replicate"``). With ``flip_horizontally`` the
    crop is mirrored left-right (column j samples where column ``out_width - j`` would).
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    cols = np.arange(out_width, dtype=np.float64)
    if flip_horizontally:
        cols = out_width - cols
    u = (cols / out_width - 0.5) * rect.width
    v = (np.arange(out_height, dtype=np.float64) / out_height - 0.5) * rect.height
    c, s = math.cos(rect.rotation), math.sin(rect.rotation)
    # OpenCV quantises source positions to 1/32 pixel, then blends the four uint8 taps with
    # integer weights (products of 1/32 steps, exact in 1/1024) and rounds half up. Doing the
    # same keeps the model inputs bit-identical to mediapipe's, which matters: the detectors
    # are sensitive enough that one grey level on a few pixels moves pose keypoints ~0.3 px.
    xq = np.rint((rect.x_center + c * u[None, :] - s * v[:, None]) * 32.0).astype(np.int32)
    yq = np.rint((rect.y_center + s * u[None, :] + c * v[:, None]) * 32.0).astype(np.int32)
    x0 = xq >> 5
    y0 = yq >> 5
    flat = image.reshape(h * w, 3)
    xs0 = np.clip(x0, 0, w - 1)
    xs1 = np.clip(x0 + 1, 0, w - 1)
    ys0 = np.clip(y0, 0, h - 1) * w
    ys1 = np.clip(y0 + 1, 0, h - 1) * w
    # The blend runs on flat float32 arrays, one value per channel, with the weights repeated
    # per channel: every intermediate is an integer below 2**24, so float32 is exact, and flat
    # arrays run numpy's inner loops at full length (3x faster than broadcasting over (..., 3)).
    taps = [flat.take(ys + xs, axis=0).reshape(-1).astype(np.float32)
            for ys, xs in ((ys0, xs0), (ys0, xs1), (ys1, xs0), (ys1, xs1))]
    if border == "zero":
        in_x0 = (x0 >= 0) & (x0 < w)
        in_x1 = (x0 >= -1) & (x0 < w - 1)
        in_y0 = (y0 >= 0) & (y0 < h)
        in_y1 = (y0 >= -1) & (y0 < h - 1)
        for tap, inside in zip(taps, (in_x0 & in_y0, in_x1 & in_y0, in_x0 & in_y1, in_x1 & in_y1), strict=True):
            tap *= np.repeat(inside.reshape(-1), 3)
    p00, p01, p10, p11 = taps
    wx = np.repeat((xq & 31).reshape(-1), 3).astype(np.float32)
    wy = np.repeat((yq & 31).reshape(-1), 3).astype(np.float32)
    # top = 32 p00 + (p01 - p00) wx; bottom likewise; acc = 32 top + (bottom - top) wy
    p01 -= p00
    p01 *= wx
    p00 *= 32.0
    p00 += p01
    p11 -= p10
    p11 *= wx
    p10 *= 32.0
    p10 += p11
    p10 -= p00
    p10 *= wy
    p00 *= 32.0
    p00 += p10
    p00 += 512.0
    p00 *= 1.0 / 1024.0  # a power of two: exact, so floor() rounds exactly as >> 10 does
    return np.floor(p00, out=p00).reshape(out_height, out_width, 3)


def frozen_array(a: np.ndarray) -> np.ndarray:
    """A contiguous float32 copy that cannot be written: results are shared, never mutated."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    a.setflags(write=False)
    return a


def check_rgb_frame(frame: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
