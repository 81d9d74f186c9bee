"""Pure unit tests of the vision geometry: anchors, decoding, NMS, ROIs, crops, projections."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analyzers.blaze import (
    FACE_FULL_RANGE_ANCHORS,
    FACE_SHORT_RANGE_ANCHORS,
    POSE_DETECTOR_ANCHORS,
    DecodeSpec,
    RawDetections,
    Rect,
    alignment_rect,
    box_iou,
    crop_rect,
    decode_detections,
    image_to_rect,
    letterbox_rect,
    normalize_radians,
    rect_from_box,
    rect_from_landmarks,
    rect_to_image,
    rotation_from_points,
    ssd_anchors,
    transform_rect,
    weighted_nms,
)
from analyzers.face import (
    FaceDetection,
    eye_roi,
    face_roi_from_landmarks,
    half_regions,
    merge_detections,
    same_face,
)
from analyzers.posture import pose_roi_from_landmarks, refine_from_heatmap

# --- anchors and decoding --------------------------------------------------------------------


def test_face_short_range_has_896_anchors() -> None:
    anchors = ssd_anchors(FACE_SHORT_RANGE_ANCHORS)
    assert anchors.shape == (896, 2)
    # 16x16 grid, 2 anchors per cell, then 8x8 grid, 6 per cell (three stride-16 layers merged)
    assert np.allclose(anchors[0], [0.5 / 16, 0.5 / 16])
    assert np.allclose(anchors[1], anchors[0])
    assert np.allclose(anchors[2], [1.5 / 16, 0.5 / 16])
    assert np.allclose(anchors[512], [0.5 / 8, 0.5 / 8])
    assert np.allclose(anchors[512:518], anchors[512])
    assert np.allclose(anchors[-1], [7.5 / 8, 7.5 / 8])


def test_face_full_range_has_2304_anchors() -> None:
    anchors = ssd_anchors(FACE_FULL_RANGE_ANCHORS)
    # one 48x48 grid (stride 4 on 192x192), one anchor per cell (no interpolated scale)
    assert anchors.shape == (2304, 2)
    assert np.allclose(anchors[0], [0.5 / 48, 0.5 / 48])
    assert np.allclose(anchors[1], [1.5 / 48, 0.5 / 48])
    assert np.allclose(anchors[48], [0.5 / 48, 1.5 / 48])
    assert np.allclose(anchors[-1], [47.5 / 48, 47.5 / 48])


def test_pose_detector_has_2254_anchors() -> None:
    anchors = ssd_anchors(POSE_DETECTOR_ANCHORS)
    assert anchors.shape == (2254, 2)
    # 28x28x2 + 14x14x2 + 7x7x6
    assert np.allclose(anchors[0], [0.5 / 28, 0.5 / 28])
    assert np.allclose(anchors[1568], [0.5 / 14, 0.5 / 14])
    assert np.allclose(anchors[1568 + 392], [0.5 / 7, 0.5 / 7])
    assert np.allclose(anchors[-1], [6.5 / 7, 6.5 / 7])
    assert anchors.min() > 0 and anchors.max() < 1


def test_decode_offsets_boxes_and_keypoints_from_anchors() -> None:
    anchors = np.array([[0.25, 0.5], [0.75, 0.5]], np.float32)
    spec = DecodeSpec(num_keypoints=1, scale=100.0, min_score=0.5)
    raw = np.array(
        [
            [10, -5, 20, 40, 0, 10],  # centre +0.1, -0.05; size 0.2 x 0.4; keypoint (0, +0.1)
            [0, 0, 10, 10, 0, 0],
        ],
        np.float32,
    )
    logits = np.array([[2.0], [-3.0]], np.float32)  # sigmoid 0.88 kept, 0.047 dropped
    dets = decode_detections(raw, logits, anchors, spec)
    assert len(dets) == 1
    assert dets.scores[0] == pytest.approx(1 / (1 + math.exp(-2.0)), abs=1e-6)
    assert np.allclose(dets.boxes[0], [0.25, 0.25, 0.45, 0.65], atol=1e-6)
    assert np.allclose(dets.keypoints[0, 0], [0.25, 0.6], atol=1e-6)


def test_decode_clips_huge_logits_without_warnings() -> None:
    anchors = np.array([[0.5, 0.5]], np.float32)
    spec = DecodeSpec(num_keypoints=0, scale=1.0, min_score=0.5)
    with np.errstate(all="raise"):
        dets = decode_detections(np.zeros((1, 4)), np.array([[1e4]]), anchors, spec)
        none = decode_detections(np.zeros((1, 4)), np.array([[-1e4]]), anchors, spec)
    assert dets.scores[0] == pytest.approx(1.0)
    assert len(none) == 0


# --- NMS -------------------------------------------------------------------------------------


def _dets(boxes: list[list[float]], scores: list[float]) -> RawDetections:
    b = np.array(boxes, np.float32)
    kp = np.stack([b[:, :2], b[:, 2:]], axis=1)  # keypoints = the corners, to check averaging
    return RawDetections(b, kp, np.array(scores, np.float32))


def test_box_iou() -> None:
    a = np.array([0, 0, 2, 2], np.float32)
    others = np.array([[0, 0, 2, 2], [1, 0, 3, 2], [5, 5, 6, 6]], np.float32)
    assert np.allclose(box_iou(a, others), [1.0, 2 / 6, 0.0])


def test_weighted_nms_merges_overlaps_by_score_and_keeps_the_rest() -> None:
    dets = _dets(
        [[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [3.0, 3.0, 4.0, 4.0]],
        [0.6, 0.9, 0.7],
    )
    out = weighted_nms(dets, 0.3)
    assert len(out) == 2
    # best cluster first, with the best member's score and the score-weighted mean box
    assert out.scores.tolist() == pytest.approx([0.9, 0.7])
    expected = (np.array([0.1, 0.0, 1.1, 1.0]) * 0.9 + np.array([0, 0, 1, 1]) * 0.6) / 1.5
    assert np.allclose(out.boxes[0], expected, atol=1e-6)
    assert np.allclose(out.keypoints[0].ravel(), expected, atol=1e-6)
    assert np.allclose(out.boxes[1], [3, 3, 4, 4])


def test_weighted_nms_threshold_is_strict_and_empty_input_is_fine() -> None:
    # IoU exactly 1/3 (> 0.3) merges; with threshold 0.5 both stay
    dets = _dets([[0, 0, 2, 2], [1, 0, 3, 2]], [0.8, 0.7])
    assert len(weighted_nms(dets, 0.3)) == 1
    assert len(weighted_nms(dets, 0.5)) == 2
    empty = _dets([[0, 0, 1, 1]], [0.5])
    empty = RawDetections(empty.boxes[:0], empty.keypoints[:0], empty.scores[:0])
    assert len(weighted_nms(empty)) == 0


# --- rotation and ROI maths ------------------------------------------------------------------


def test_normalize_radians() -> None:
    assert normalize_radians(0.0) == 0.0
    assert normalize_radians(3 * math.pi / 2) == pytest.approx(-math.pi / 2)
    assert normalize_radians(-3 * math.pi / 2) == pytest.approx(math.pi / 2)
    assert -math.pi <= normalize_radians(math.pi) < math.pi


def test_rotation_from_points() -> None:
    # level eyes need no rotation; a face tilted clockwise by 30 degrees in the image
    # (right eye lower) needs a rotation of +30 degrees (clockwise), as in mediapipe
    assert rotation_from_points(np.array([0, 0]), np.array([10, 0]), 0.0) == pytest.approx(0)
    tilt = math.radians(30)
    end = np.array([math.cos(tilt), math.sin(tilt)]) * 10  # y down: lower on the right
    assert rotation_from_points(np.zeros(2), end, 0.0) == pytest.approx(tilt)
    # pose: hip centre -> circle point straight up is upright for a target of 90 degrees
    assert rotation_from_points(np.array([5, 50]), np.array([5, 0]), math.pi / 2) == (
        pytest.approx(0.0)
    )
    # leaning right (top of the body to the image right) is a clockwise rotation
    assert rotation_from_points(np.array([0, 10]), np.array([10, 0]), math.pi / 2) == (
        pytest.approx(math.pi / 4)
    )


def test_alignment_rect_and_transform() -> None:
    r = alignment_rect(np.array([100.0, 200.0]), np.array([100.0, 150.0]), math.pi / 2)
    assert (r.x_center, r.y_center, r.width, r.height) == (100, 200, 100, 100)
    assert r.rotation == pytest.approx(0.0)
    t = transform_rect(Rect(10, 20, 30, 60, 0.3), 1.5)
    assert (t.width, t.height, t.rotation) == (90, 90, 0.3)
    assert transform_rect(Rect(0, 0, 30, 60), 2.0, square_long=False).width == 60


def test_rect_from_landmarks_uses_bbox_centre_and_corner_rotation() -> None:
    pts = np.array([[0.0, 0.0, 0.0], [40.0, 40.0, 0.0], [20.0, 10.0, 0.0]])
    r = rect_from_landmarks(pts, 0, 1, 0.0, 1.5)
    assert (r.x_center, r.y_center) == (20, 20)
    assert r.width == r.height == 60
    assert r.rotation == pytest.approx(math.pi / 4)


def test_face_roi_from_landmarks_rotates_with_the_eye_line() -> None:
    rng = np.random.default_rng(0)
    mesh = rng.uniform(100, 200, size=(468, 3))
    mesh[33, :2] = (120, 150)
    mesh[263, :2] = (180, 150)
    assert face_roi_from_landmarks(mesh).rotation == pytest.approx(0.0)
    # rotate every point by 20 degrees about (150, 150): the ROI follows
    a = math.radians(20)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    turned = mesh.copy()
    turned[:, :2] = (mesh[:, :2] - 150) @ rot.T + 150
    assert face_roi_from_landmarks(turned).rotation == pytest.approx(a)


def test_eye_roi_is_2_3_times_the_corner_distance() -> None:
    r = eye_roi(np.array([10.0, 50.0]), np.array([30.0, 50.0]))
    assert (r.x_center, r.y_center) == (20, 50)
    assert r.width == r.height == pytest.approx(46.0)


def test_pose_roi_from_auxiliary_points() -> None:
    aux = np.zeros((6, 3))
    aux[0, :2] = (300, 400)  # hip centre
    aux[1, :2] = (300, 100)  # full-body circle point, straight above
    r = pose_roi_from_landmarks(aux)
    assert (r.x_center, r.y_center, r.rotation) == (300, 400, pytest.approx(0.0))
    assert r.width == r.height == pytest.approx(2 * 300 * 1.25)


# --- crops and projections -------------------------------------------------------------------


def _test_image(h: int = 60, w: int = 80) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_axis_aligned_crop_at_scale_one_equals_slicing() -> None:
    img = _test_image()
    # OpenCV convention: output index j samples x = corner + j, so a rect whose corner sits on
    # pixel 10 samples pixels 10..29 exactly
    r = Rect(x_center=10 + 10, y_center=5 + 8, width=20, height=16)
    out = crop_rect(img, r, 20, 16)
    assert out.dtype == np.float32
    assert np.array_equal(out, img[5:21, 10:30].astype(np.float32))


def test_rotated_crop_by_90_degrees_is_rot90() -> None:
    img = _test_image(40, 40)
    # rotation pi/2 about the centre of pixels 0..39: corner (index 0) maps to pixel 39 in x
    r = Rect(x_center=20, y_center=20, width=40, height=40, rotation=math.pi / 2)
    out = crop_rect(img, r, 40, 40)
    # sample (j, i) reads x = 20 - (i - 20), y = 20 + (j - 20): image[j, 40 - i]
    expected = np.zeros_like(out)
    for i in range(40):
        for j in range(40):
            x = 40 - i
            expected[i, j] = img[j, min(x, 39)]
    assert np.array_equal(out, expected)


def test_flipped_crop_mirrors_and_points_mirror_back() -> None:
    img = _test_image(32, 32)
    r = Rect(16, 16, 32, 32)
    plain = crop_rect(img, r, 32, 32)
    flipped = crop_rect(img, r, 32, 32, flip_horizontally=True)
    # column j of the flipped crop is column (32 - j) of the plain one (clamped at the edge)
    assert np.array_equal(flipped[:, 1:], plain[:, :0:-1])


def test_bilinear_sampling_half_pixel() -> None:
    img = np.zeros((2, 2, 3), np.uint8)
    img[:, 1] = 100
    out = crop_rect(img, Rect(0.5 + 0.5, 0.5, 1, 1), 1, 1)  # samples x = 0.5, y = 0
    assert out[0, 0, 0] == 50


def test_border_modes() -> None:
    img = np.full((10, 10, 3), 200, np.uint8)
    r = Rect(x_center=5, y_center=5, width=20, height=20)  # twice the image, centred
    zero = crop_rect(img, r, 20, 20, border="zero")
    rep = crop_rect(img, r, 20, 20, border="replicate")
    assert zero[0, 0, 0] == 0 and zero[10, 10, 0] == 200
    assert np.all(rep == 200)


def _reference_crop(img: np.ndarray, r: Rect, ow: int, oh: int, border: str, flip: bool
                    ) -> np.ndarray:
    """OpenCV's fixed-point bilinear warp written out pixel by pixel: positions quantised to
    1/32 pixel, four taps weighted in 1/32 steps, rounded half up from 1/1024."""
    h, w = img.shape[:2]
    c, s = math.cos(r.rotation), math.sin(r.rotation)
    out = np.zeros((oh, ow, 3), np.float32)
    for i in range(oh):
        for j in range(ow):
            u = ((ow - j if flip else j) / ow - 0.5) * r.width
            v = (i / oh - 0.5) * r.height
            xq = int(np.rint((r.x_center + c * u - s * v) * 32.0))
            yq = int(np.rint((r.y_center + s * u + c * v) * 32.0))
            x0, y0, fx, fy = xq >> 5, yq >> 5, xq & 31, yq & 31

            def tap(y: int, x: int) -> np.ndarray:
                if border == "zero" and not (0 <= x < w and 0 <= y < h):
                    return np.zeros(3, np.int64)
                return img[min(max(y, 0), h - 1), min(max(x, 0), w - 1)].astype(np.int64)

            acc = ((tap(y0, x0) * (32 - fx) + tap(y0, x0 + 1) * fx) * (32 - fy)
                   + (tap(y0 + 1, x0) * (32 - fx) + tap(y0 + 1, x0 + 1) * fx) * fy)
            out[i, j] = (acc + 512) >> 10
    return out


@pytest.mark.parametrize("border", ["zero", "replicate"])
def test_crop_matches_the_pixel_by_pixel_rule_on_random_rects(border: str) -> None:
    # The vectorised crop blends in float32 for speed; it must stay bit-identical to the
    # integer rule, rects reaching over every edge and flipped ones included.
    rng = np.random.default_rng(5)
    for _ in range(12):
        h, w = int(rng.integers(3, 40)), int(rng.integers(3, 40))
        img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        r = Rect(rng.uniform(-10, w + 10), rng.uniform(-10, h + 10), rng.uniform(1, 80),
                 rng.uniform(1, 80), rng.uniform(-math.pi, math.pi))
        ow, oh = int(rng.integers(1, 24)), int(rng.integers(1, 24))
        flip = bool(rng.integers(2))
        got = crop_rect(img, r, ow, oh, border=border, flip_horizontally=flip)  # type: ignore[arg-type]
        assert got.shape == (oh, ow, 3) and got.dtype == np.float32
        assert np.array_equal(got, _reference_crop(img, r, ow, oh, border, flip))


def test_letterbox_rect_pads_the_short_side() -> None:
    wide = letterbox_rect(640, 480, 128, 128)
    assert (wide.x_center, wide.y_center, wide.width, wide.height) == (320, 240, 640, 640)
    tall = letterbox_rect(512, 600, 224, 224)
    assert (tall.width, tall.height) == (600, 600)
    # black bars: 80 of 640 rows above and below -> 16 of 128 tensor rows
    img = np.full((480, 640, 3), 255, np.uint8)
    t = crop_rect(img, wide, 128, 128, border="zero")
    assert np.all(t[:16] == 0) and np.all(t[112:] == 0) and np.all(t[16:112] == 255)


@pytest.mark.parametrize(
    "rect",
    [letterbox_rect(640, 480, 128, 128), letterbox_rect(512, 600, 224, 224),
     Rect(300, 200, 150, 150, 0.7), Rect(50, 80, 40, 90, -2.5)],
)
def test_unletterbox_and_projection_round_trip(rect: Rect) -> None:
    rng = np.random.default_rng(2)
    pts = rng.uniform(0, 600, size=(50, 3))
    norm = image_to_rect(rect, pts)
    back = rect_to_image(rect, norm)
    assert np.allclose(back, pts, atol=1e-9)
    # the third column (z) is passed through untouched
    assert np.array_equal(norm[:, 2], pts[:, 2])


def test_unletterbox_maps_tensor_edges_to_the_padded_image() -> None:
    rect = letterbox_rect(640, 480, 128, 128)
    corners = rect_to_image(rect, np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.125]]))
    assert np.allclose(corners, [[0, -80], [640, 560], [320, 0]])


def test_crop_and_projection_agree_on_a_bright_dot() -> None:
    img = np.zeros((200, 300, 3), np.uint8)
    img[120, 170] = 255
    rect = Rect(160, 110, 64, 64, 0.4)
    crop = crop_rect(img, rect, 64, 64)
    i, j = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    # the crop's brightest sample, projected back, lands on the dot
    back = rect_to_image(rect, np.array([[j / 64, i / 64]]))[0]
    assert np.hypot(back[0] - 170, back[1] - 120) < 1.0


def test_rect_from_box_and_bounds() -> None:
    r = rect_from_box(np.array([10, 20, 50, 40]))
    assert (r.x_center, r.y_center, r.width, r.height) == (30, 30, 40, 20)
    assert r.bounds() == pytest.approx((10, 20, 50, 40))
    turned = Rect(0, 0, 2, 2, math.pi / 4).bounds()
    assert turned == pytest.approx((-math.sqrt(2), -math.sqrt(2), math.sqrt(2), math.sqrt(2)))


# --- heatmap refinement ----------------------------------------------------------------------


def test_refine_from_heatmap_moves_to_a_confident_peak() -> None:
    hm = np.full((64, 64, 2), -10.0, np.float32)
    hm[20, 30, 0] = 10.0  # confident peak for point 0 at col 30, row 20
    hm[40, 10, 1] = -0.5  # point 1: window max sigmoid < 0.5 -> not refined
    pts = np.array([[31.5 / 64, 21.2 / 64], [10.3 / 64, 40.7 / 64]])
    out = refine_from_heatmap(pts, hm, kernel=9)
    assert out[0] == pytest.approx([30 / 64, 20 / 64], abs=1e-3)
    assert np.array_equal(out[1], pts[1])


def test_refine_from_heatmap_leaves_points_outside_the_map() -> None:
    hm = np.full((64, 64, 1), 5.0, np.float32)
    for p in ([-0.1, 0.5], [1.2, 0.5], [0.5, -0.2]):
        assert np.array_equal(refine_from_heatmap(np.array([p]), hm), np.array([p]))


def test_bilinear_sampling_rounds_half_up_like_opencv() -> None:
    img = np.zeros((2, 2, 3), np.uint8)
    img[:, 1] = 1
    out = crop_rect(img, Rect(1.0, 0.5, 1, 1), 1, 1)  # 0.5 between 0 and 1
    assert out[0, 0, 0] == 1


def test_crop_rejects_non_uint8_rgb() -> None:
    with pytest.raises(ValueError):
        crop_rect(np.zeros((4, 4), np.uint8), Rect(2, 2, 4, 4), 4, 4)
    with pytest.raises(ValueError):
        crop_rect(np.zeros((4, 4, 3), np.float32), Rect(2, 2, 4, 4), 4, 4)


# --- merging the face detection passes -------------------------------------------------------


def _det(box: tuple[float, float, float, float], score: float = 0.9) -> FaceDetection:
    return FaceDetection(box=box, score=score, keypoints=np.zeros((6, 2), np.float32))


def test_same_face_by_overlap_or_centre() -> None:
    big = _det((100, 100, 200, 200))
    assert same_face(big, _det((110, 105, 205, 210)))  # IoU well over 0.3
    assert same_face(big, _det((140, 140, 170, 170)))  # small box inside: low IoU, centre in
    assert same_face(_det((140, 140, 170, 170)), big)  # symmetric
    assert not same_face(big, _det((300, 100, 340, 140)))  # beside it
    assert not same_face(big, _det((190, 190, 260, 260)))  # corners touch, centres outside


def test_merge_keeps_the_first_pass_and_adds_new_faces_best_first() -> None:
    first = [_det((100, 100, 200, 200), 0.8)]
    extra = [_det((102, 98, 204, 199), 0.95), _det((400, 150, 440, 190), 0.6),
             _det((500, 150, 530, 180), 0.7)]
    merged = merge_detections(first, extra)
    assert merged[0] is first[0]  # the first pass's box is kept for a face both found
    assert [d.box for d in merged[1:]] == [(500, 150, 530, 180), (400, 150, 440, 190)]
    assert merge_detections([], extra[1:2]) == extra[1:2]
    assert merge_detections(first, []) == first


def test_half_regions_cover_the_frame_with_overlap() -> None:
    left, right = half_regions(640, 480)
    assert left.bounds() == (0.0, 0.0, 480.0, 480.0)
    assert right.bounds() == (160.0, 0.0, 640.0, 480.0)
    assert left.rotation == right.rotation == 0.0
    # a wide frame: windows of 60 % of the width, letterboxed vertically
    left, right = half_regions(1000, 300)
    assert left.bounds() == (0.0, -150.0, 600.0, 450.0)
    assert right.bounds() == (400.0, -150.0, 1000.0, 450.0)
    # a portrait frame: both windows are the whole width
    left, right = half_regions(300, 600)
    assert left.bounds() == right.bounds() == (0.0, 150.0, 300.0, 450.0)
