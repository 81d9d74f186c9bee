"""Reference landmarks from mediapipe 0.10.21's own legacy ``solutions`` graphs.

Run with the tools interpreter (``.venv-tools``, which has mediapipe 0.10.21 and numpy<2),
never the server's:

    .venv-tools/bin/python tests/reference/mediapipe_reference.py IMAGE.npy OUT.json [NEXT.npy]

IMAGE.npy (and NEXT.npy) are RGB uint8 arrays of shape (H, W, 3). OUT.json holds every
coordinate in image pixels (mediapipe's normalised x times W, y times H; z times W):

    {"image_size": [W, H],
     "face_mesh": [[[x, y, z], ... 468], ...],        # refine_landmarks=False, one per face
     "face_mesh_refined": [[[x, y, z], ... 478], ...],  # refine_landmarks=True (iris 468..477)
     "face_detection": [{"box": [xmin, ymin, xmax, ymax], "score": s,
                         "keypoints": [[x, y], ... 6]}, ...],
     "pose": [[x, y, z, visibility, presence], ... 33] or null,
     "tracked": {"face_mesh": [...], "pose": [...]}}   # only with NEXT.npy

"tracked" is mediapipe's video mode (static_image_mode=False, one face, no landmark smoothing)
on IMAGE then NEXT: its results for NEXT, where the face and pose ROIs come from IMAGE's
landmarks instead of the detectors.

The parity tests in tests/test_vision_pipeline.py call this through a subprocess, so the
reference is recomputed on every run rather than stored.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def _face_mesh(mp, image: np.ndarray, refine: bool) -> list[list[list[float]]]:
    h, w = image.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True,
        max_num_faces=8,
        refine_landmarks=refine,
        min_detection_confidence=0.5,
    ) as mesh:
        result = mesh.process(image)
    faces = []
    for face in result.multi_face_landmarks or []:
        faces.append([[p.x * w, p.y * h, p.z * w] for p in face.landmark])
    return faces


def _face_detection(mp, image: np.ndarray) -> list[dict[str, object]]:
    h, w = image.shape[:2]
    with mp.solutions.face_detection.FaceDetection(
        model_selection=0, min_detection_confidence=0.5
    ) as detector:
        result = detector.process(image)
    out = []
    for det in result.detections or []:
        box = det.location_data.relative_bounding_box
        out.append(
            {
                "box": [
                    box.xmin * w,
                    box.ymin * h,
                    (box.xmin + box.width) * w,
                    (box.ymin + box.height) * h,
                ],
                "score": float(det.score[0]),
                "keypoints": [
                    [k.x * w, k.y * h] for k in det.location_data.relative_keypoints
                ],
            }
        )
    return out


def _pose(mp, image: np.ndarray) -> list[list[float]] | None:
    h, w = image.shape[:2]
    with mp.solutions.pose.Pose(
        static_image_mode=True, model_complexity=1, min_detection_confidence=0.5
    ) as pose:
        result = pose.process(image)
    if result.pose_landmarks is None:
        return None
    return [
        [p.x * w, p.y * h, p.z * w, p.visibility, p.presence]
        for p in result.pose_landmarks.landmark
    ]


def _tracked(mp, first: np.ndarray, second: np.ndarray) -> dict[str, object]:
    h, w = second.shape[:2]
    out: dict[str, object] = {}
    # one face: with fewer tracked faces than max_num_faces mediapipe would run the detector
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False, max_num_faces=1, refine_landmarks=False
    ) as mesh:
        mesh.process(first)
        result = mesh.process(second)
    out["face_mesh"] = [
        [[p.x * w, p.y * h, p.z * w] for p in face.landmark]
        for face in result.multi_face_landmarks or []
    ]
    with mp.solutions.pose.Pose(
        static_image_mode=False, model_complexity=1, smooth_landmarks=False
    ) as pose:
        pose.process(first)
        result = pose.process(second)
    out["pose"] = None if result.pose_landmarks is None else [
        [p.x * w, p.y * h, p.z * w, p.visibility, p.presence]
        for p in result.pose_landmarks.landmark
    ]
    return out


def _load(path: str) -> np.ndarray | None:
    image = np.ascontiguousarray(np.load(path))
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        print(f"{path}: expected an RGB uint8 (H, W, 3) array, got {image.dtype} "
              f"{image.shape}", file=sys.stderr)
        return None
    return image


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    import mediapipe as mp  # imported here so a bad environment fails with a clear trace

    image = _load(argv[1])
    following = _load(argv[3]) if len(argv) == 4 else None
    if image is None or (len(argv) == 4 and following is None):
        return 2
    h, w = image.shape[:2]
    out = {
        "mediapipe_version": mp.__version__,
        "image_size": [w, h],
        "face_mesh": _face_mesh(mp, image, refine=False),
        "face_mesh_refined": _face_mesh(mp, image, refine=True),
        "face_detection": _face_detection(mp, image),
        "pose": _pose(mp, image),
    }
    if following is not None:
        out["tracked"] = _tracked(mp, image, following)
    with open(argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
