"""Vision signals (analyzers/vision.py, analyzers/head_pose.py) on real photos with the real
ONNX models, and on landmark sets with a known head pose made from those photos' meshes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from skimage.transform import resize, rotate

from analyzers.face import FaceMesh
from analyzers.head_pose import (
    RIGID,
    TEMPLATE,
    build_template,
    head_pose,
    rotation_matrix,
)
from analyzers.posture import LEFT_SHOULDER, LEFT_WRIST, RIGHT_ELBOW, Pose, PoseLandmarks
from analyzers.vision import (
    MAX_SHOULDER_TILT_DEG,
    SMILE_THRESHOLD,
    VisionAnalyzer,
    VisionSample,
    gaze,
    gesture_motion,
    posture,
    smile,
)
from models.registry import DEFAULT_MODELS_DIR, onnx_path
from tests.test_vision_pipeline import PHOTOS


@pytest.fixture(scope="module")
def face_mesh() -> FaceMesh:
    return FaceMesh(
        onnx_path(DEFAULT_MODELS_DIR, "face_detection_short_range"),
        onnx_path(DEFAULT_MODELS_DIR, "face_landmark"),
        onnx_path(DEFAULT_MODELS_DIR, "iris_landmark"),
    )


@pytest.fixture(scope="module")
def pose_model() -> PoseLandmarks:
    return PoseLandmarks(
        onnx_path(DEFAULT_MODELS_DIR, "pose_detection"),
        onnx_path(DEFAULT_MODELS_DIR, "pose_landmark_full"),
    )


@pytest.fixture(scope="module")
def meshes(face_mesh: FaceMesh) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each photo's mesh (468, 3) and iris centres (2, 3), as float64."""
    out = {}
    for name, image in PHOTOS.items():
        face = face_mesh.detect(image).faces[0]
        assert face.left_eye is not None and face.right_eye is not None
        irises = np.stack([face.left_eye.iris[0], face.right_eye.iris[0]]).astype(np.float64)
        out[name] = (face.landmarks.astype(np.float64), irises)
    return out


@pytest.fixture(params=sorted(PHOTOS))
def photo(request: pytest.FixtureRequest) -> str:
    return request.param


def _turned(points: np.ndarray, centre: np.ndarray, yaw: float = 0.0, pitch: float = 0.0,
            roll: float = 0.0, scale: float = 1.0) -> np.ndarray:
    rot = rotation_matrix(yaw, pitch, roll)
    return (points - centre) @ rot.T * scale + centre


def _rotated(image: np.ndarray, degrees: float) -> np.ndarray:
    """The photo rotated counter-clockwise (skimage's convention) about its centre."""
    out = rotate(image, degrees, mode="edge", preserve_range=True)
    return np.ascontiguousarray(np.clip(out, 0, 255).astype(np.uint8))


def _sample(image: np.ndarray, face_mesh: FaceMesh, pose_model: PoseLandmarks, **kw: object
            ) -> VisionSample:
    return VisionAnalyzer(**kw).analyse(image, face_mesh, pose_model)  # type: ignore[arg-type]


# --- head pose and eye contact on landmark sets with a known pose ----------------------------


def test_template_rebuilds_from_the_photos(meshes: dict) -> None:
    rebuilt = build_template([meshes["astronaut"][0], meshes["grace_hopper"][0]])
    assert rebuilt.shape == TEMPLATE.shape == (len(RIGID), 3)
    assert np.abs(rebuilt - TEMPLATE).max() < 2e-3


def test_head_pose_recovers_known_rotations(meshes: dict, photo: str) -> None:
    mesh, _ = meshes[photo]
    base = head_pose(mesh)
    # both portraits face the camera
    assert abs(base.yaw_deg) < 3 and abs(base.pitch_deg) < 3 and abs(base.roll_deg) < 5
    assert base.residual < 0.02
    centre = mesh.mean(axis=0)
    for yaw, pitch in ((35, 0), (-35, 0), (0, 30), (0, -30), (15, 10)):
        hp = head_pose(_turned(mesh, centre, yaw, pitch))
        assert hp.yaw_deg - base.yaw_deg == pytest.approx(yaw, abs=3.0)
        assert hp.pitch_deg - base.pitch_deg == pytest.approx(pitch, abs=3.0)
    # scale and in-plane rotation change roll and scale only
    hp = head_pose(_turned(mesh, centre, roll=20, scale=0.5))
    assert hp.roll_deg - base.roll_deg == pytest.approx(20, abs=1.0)
    assert hp.yaw_deg == pytest.approx(base.yaw_deg, abs=1.0)
    assert hp.pitch_deg == pytest.approx(base.pitch_deg, abs=1.0)
    assert hp.scale == pytest.approx(base.scale * 0.5, rel=1e-6)


def test_eye_contact_frontal_vs_turned_head(meshes: dict, photo: str) -> None:
    mesh, irises = meshes[photo]
    # The iris model's z is not on the mesh's depth scale; put each iris at the depth of its
    # eyelids (the eye's front surface) so that turning the 3D set moves it as an eye would.
    irises = irises.copy()
    irises[0, 2] = mesh[[159, 145], 2].mean()
    irises[1, 2] = mesh[[386, 374], 2].mean()
    centre = mesh.mean(axis=0)
    frontal = gaze(mesh, irises)
    print(f"{photo}: frontal gaze yaw {frontal.yaw_deg:.1f}, pitch {frontal.pitch_deg:.1f}")
    assert frontal.eye_contact
    assert gaze(mesh).eye_contact  # head pose alone
    assert gaze(_turned(mesh, centre, roll=20, scale=0.6),
                _turned(irises, centre, roll=20, scale=0.6)).eye_contact
    for yaw, pitch in ((35, 0), (-35, 0), (0, 30), (0, -30)):
        turned = gaze(_turned(mesh, centre, yaw, pitch), _turned(irises, centre, yaw, pitch))
        print(f"{photo}: head turned ({yaw}, {pitch}) -> gaze yaw {turned.yaw_deg:.1f}, "
              f"pitch {turned.pitch_deg:.1f}")
        assert not turned.eye_contact, (yaw, pitch)
        assert not gaze(_turned(mesh, centre, yaw, pitch)).eye_contact


def test_eyes_turned_back_to_the_camera_count(meshes: dict) -> None:
    # Head turned 30 degrees to the image's right, eyes looking back at the lens: the irises
    # sit toward the image's left of the eye openings. Gaze = head + eyes ~ 0.
    mesh, irises = meshes["grace_hopper"]
    centre = mesh.mean(axis=0)
    turned = _turned(mesh, centre, 30, 0)
    eyes = _turned(irises, centre, 30, 0)
    head_only = gaze(turned)
    assert not head_only.eye_contact
    for k, (a, b) in enumerate(((33, 133), (362, 263))):
        width = np.hypot(*(turned[b, :2] - turned[a, :2]))
        mid = (turned[a, :2] + turned[b, :2]) / 2
        eyes[k, :2] = mid + (0.18 * np.tan(np.radians(30)) - 0.4 * np.sin(np.radians(30))
                             ) * width * np.array([1.0, 0.0])
    back = gaze(turned, eyes)
    assert back.eye_contact, (back.yaw_deg, back.pitch_deg)


# --- smile ------------------------------------------------------------------------------------


def test_smile_astronaut_vs_hopper(meshes: dict) -> None:
    beaming = smile(meshes["astronaut"][0])
    neutral = smile(meshes["grace_hopper"][0])
    print(f"smile scores: astronaut {beaming.score:.3f} (width {beaming.width:.3f}, lift "
          f"{beaming.lift:.3f}); Grace Hopper {neutral.score:.3f} (width {neutral.width:.3f}, "
          f"lift {neutral.lift:.3f})")
    assert beaming.smiling and not neutral.smiling
    assert beaming.score > SMILE_THRESHOLD + 0.05
    assert neutral.score < SMILE_THRESHOLD - 0.05


def test_smile_neutralised_mouth(meshes: dict) -> None:
    """The astronaut's own mesh with the mouth corners pulled in toward the mouth's centre and
    down to the lip line is no longer a smile."""
    mesh = meshes["astronaut"][0].copy()
    centre = (mesh[13] + mesh[14]) / 2
    for corner in (61, 291):
        mesh[corner, :2] = centre[:2] + (mesh[corner, :2] - centre[:2]) * np.array([0.8, 0.0])
        mesh[corner, 1] += 0.3 * (mesh[14, 1] - mesh[13, 1])
    assert smile(meshes["astronaut"][0]).smiling
    assert not smile(mesh).smiling


def test_smile_is_scale_rotation_invariant(meshes: dict, photo: str) -> None:
    mesh = meshes[photo][0]
    base = smile(mesh).score
    centre = mesh.mean(axis=0)
    for roll, scale in ((25, 1.0), (-25, 0.4), (0, 2.5)):
        assert smile(_turned(mesh, centre, roll=roll, scale=scale)).score == pytest.approx(
            base, abs=1e-6)
    # a moderate head turn keeps the decision (the mouth is measured frontalised)
    assert smile(_turned(mesh, centre, yaw=20)).smiling == smile(mesh).smiling


def test_smile_on_frames(face_mesh: FaceMesh, pose_model: PoseLandmarks) -> None:
    for name, expected in (("astronaut", True), ("grace_hopper", False)):
        image = PHOTOS[name]
        small = np.ascontiguousarray(resize(image, (image.shape[0] // 2, image.shape[1] // 2),
                                            preserve_range=True, anti_aliasing=True
                                            ).astype(np.uint8))
        for frame in (image, small, _rotated(image, 20)):
            s = _sample(frame, face_mesh, pose_model, posture=False)
            assert s.smile is expected, (name, frame.shape, s.smile_score)


# --- whole frames ------------------------------------------------------------------------------


def test_photo_sample(face_mesh: FaceMesh, pose_model: PoseLandmarks, photo: str) -> None:
    s = _sample(PHOTOS[photo], face_mesh, pose_model)
    print(f"{photo}: {s}")
    assert s.faces == 1 and s.detected and s.pose_updated
    assert s.eye_contact is True
    assert s.upright is True
    assert s.motion is None  # one frame: nothing to compare with
    for value in (s.yaw_deg, s.pitch_deg, s.roll_deg, s.gaze_x, s.gaze_y, s.smile_score,
                  s.shoulder_tilt_deg, s.lean, s.neck):
        assert isinstance(value, float)


def test_face_covered(face_mesh: FaceMesh, pose_model: PoseLandmarks, photo: str) -> None:
    image = PHOTOS[photo].copy()
    x0, y0, x1, y1 = face_mesh.detect(image).faces[0].box
    pad = 0.25 * (x1 - x0)
    image[max(0, int(y0 - pad)):int(y1 + pad), max(0, int(x0 - pad)):int(x1 + pad)] = 128
    s = _sample(image, face_mesh, pose_model)
    assert s.faces == 0
    assert s.eye_contact is None and s.smile is None and s.yaw_deg is None


def _two_people() -> np.ndarray:
    """The two photos side by side in one 640x480 frame: each cropped to 2:3 around its
    person (full height) and resized to 320x480."""
    halves = []
    for name, x0 in (("astronaut", 50), ("grace_hopper", 56)):
        image = PHOTOS[name]
        width = round(image.shape[0] * 2 / 3)
        crop = image[:, x0:x0 + width].astype(np.float64)
        halves.append(resize(crop, (480, 320), preserve_range=True, anti_aliasing=True))
    both = np.concatenate(halves, axis=1)
    return np.ascontiguousarray(np.clip(both, 0, 255).astype(np.uint8))


def test_two_faces_side_by_side(face_mesh: FaceMesh, pose_model: PoseLandmarks) -> None:
    frame = _two_people()
    analyzer = VisionAnalyzer()
    first = analyzer.analyse(frame, face_mesh, pose_model)
    assert first.detected and first.faces == 2
    second = analyzer.analyse(frame, face_mesh, pose_model)  # tracked: both kept
    assert not second.detected and second.faces == 2
    # the face that enters later is found on the next detection frame
    analyzer = VisionAnalyzer(detect_every=3)
    alone = frame.copy()
    alone[:, 320:] = 90
    counts = [analyzer.analyse(f, face_mesh, pose_model).faces
              for f in (alone, alone, frame, frame, frame)]
    assert counts == [1, 1, 1, 2, 2]


def test_rotated_frame_is_not_upright(face_mesh: FaceMesh, pose_model: PoseLandmarks) -> None:
    cases = [("astronaut", -20), ("grace_hopper", 20), ("grace_hopper", -20)]
    for name, degrees in cases:
        straight = _sample(PHOTOS[name], face_mesh, pose_model)
        tilted = _sample(_rotated(PHOTOS[name], degrees), face_mesh, pose_model)
        print(f"{name}: shoulder tilt {straight.shoulder_tilt_deg:.1f} -> "
              f"{tilted.shoulder_tilt_deg:.1f} after rotating {degrees} degrees")
        assert straight.upright is True
        assert tilted.upright is False
        assert tilted.shoulder_tilt_deg is not None
        assert abs(tilted.shoulder_tilt_deg) > MAX_SHOULDER_TILT_DEG
        # the head rolls with the frame but still faces the camera
        assert tilted.eye_contact is True


def test_posture_needs_visible_shoulders(pose_model: PoseLandmarks) -> None:
    pose = pose_model.detect(PHOTOS["astronaut"])
    assert pose is not None and posture(pose) is not None
    hidden = np.array(pose.visibility)
    hidden[LEFT_SHOULDER] = 0.1
    assert posture(dataclasses.replace(pose, visibility=hidden)) is None


# --- gestures ----------------------------------------------------------------------------------


def test_whole_frame_shift_is_not_a_gesture(face_mesh: FaceMesh, pose_model: PoseLandmarks
                                            ) -> None:
    """The photo on a 640x480 canvas, moved sideways a little each frame. These portraits cut
    the arms off: BlazePose's elbow/wrist guesses jump by tens of pixels even on a still frame,
    so the gate (visibility, presence, inside the image) must drop them or keep them small;
    the normalisation itself is checked exactly on constructed poses below."""
    image = PHOTOS["astronaut"][:480]
    analyzer = VisionAnalyzer(pose_every=1)
    motions = []
    for dx in (0, 0, 6, 12, 18, 24):
        frame = np.full((480, 640, 3), 128, np.uint8)
        frame[:, 40 + dx:552 + dx] = image
        motions.append(analyzer.analyse(frame, face_mesh, pose_model).motion)
    print(f"motion while the frame moves: {motions}")
    assert motions[0] is None
    # measured: [None, None, None, 0.137, None, None] (one elbow guess kept once); a real arm
    # gesture moves wrists by 0.5-2 shoulder widths
    assert sum(m is None for m in motions[1:]) >= 3
    assert all(m is None or m < 0.2 for m in motions[1:])


def test_gesture_motion_measures_arms_relative_to_shoulders(pose_model: PoseLandmarks) -> None:
    pose = pose_model.detect(PHOTOS["astronaut"])
    assert pose is not None
    pts = np.array(pose.landmarks)
    vis = np.array(pose.visibility)
    width = np.hypot(*(pts[11, :2] - pts[12, :2]))
    vis[[13, 14, 15, 16]] = [0.1, 0.9, 0.9, 0.1]  # right elbow and left wrist in view
    before = dataclasses.replace(pose, visibility=vis)
    moved = pts.copy()
    moved[LEFT_WRIST, :2] += (0.3 * width, 0.4 * width)  # the wrist moves half a shoulder width
    after = dataclasses.replace(pose, landmarks=moved, visibility=vis)
    pres = np.array(pose.presence)
    pres[[14, 15]] = 0.9
    before = dataclasses.replace(before, presence=pres)
    after = dataclasses.replace(after, presence=pres)
    assert gesture_motion(before, after) == pytest.approx(0.25, abs=1e-4)  # mean of 0.5 and 0
    assert gesture_motion(before, after, frames=2) == pytest.approx(0.125, abs=1e-4)
    shifted = dataclasses.replace(after, landmarks=moved + (40.0, -25.0, 0.0))
    assert gesture_motion(before, shifted) == pytest.approx(0.25, abs=1e-4)
    none_visible = vis.copy()
    none_visible[[13, 14, 15, 16]] = 0.1
    assert gesture_motion(before, dataclasses.replace(after, visibility=none_visible)) is None


# --- tracking and switches ---------------------------------------------------------------------


def _sequence(n: int) -> list[np.ndarray]:
    image = PHOTOS["astronaut"]
    return [np.roll(image, (i % 3, 2 * i), axis=(0, 1)) for i in range(n)]


def test_detector_runs_every_detect_every_frames(face_mesh: FaceMesh,
                                                 pose_model: PoseLandmarks) -> None:
    analyzer = VisionAnalyzer(detect_every=5)
    samples = [analyzer.analyse(f, face_mesh, pose_model) for f in _sequence(12)]
    assert [i for i, s in enumerate(samples) if s.detected] == [0, 5, 10]
    assert all(s.faces == 1 for s in samples)
    # pose every 2nd frame; the last pose is reused in between (upright kept, no motion)
    assert [s.pose_updated for s in samples] == [i % 2 == 0 for i in range(12)]
    assert all(s.upright is True for s in samples)
    assert all(s.motion is None for s in samples[1::2])
    assert all(s.motion is not None for s in samples[2::2])


class _NoPose:
    """Stands in for PoseLandmarks where the pose model must not run."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"pose model used: {name}")


class _CountingMesh:
    def __init__(self, inner: FaceMesh) -> None:
        self.inner = inner
        self.calls: list[tuple[str, object]] = []

    def detect(self, frame: np.ndarray, *, with_iris: bool = True) -> object:
        self.calls.append(("detect", with_iris))
        return self.inner.detect(frame, with_iris=with_iris)

    def track(self, frame: np.ndarray, previous: object, *, with_iris: bool = True) -> object:
        self.calls.append(("track", with_iris))
        return self.inner.track(frame, previous, with_iris=with_iris)  # type: ignore[arg-type]

    def detect_faces(self, frame: np.ndarray) -> object:
        self.calls.append(("detect_faces", None))
        return self.inner.detect_faces(frame)


def test_switched_off_analyses_are_skipped(face_mesh: FaceMesh) -> None:
    frames = _sequence(3)
    counting = _CountingMesh(face_mesh)
    analyzer = VisionAnalyzer(posture=False)
    samples = [analyzer.analyse(f, counting, _NoPose()) for f in frames]  # type: ignore[arg-type]
    assert all(s.upright is None and s.motion is None and s.shoulder_tilt_deg is None
               and not s.pose_updated for s in samples)
    assert all(s.eye_contact is True and s.smile is True for s in samples)

    counting.calls.clear()
    analyzer = VisionAnalyzer(eye_contact=False, posture=False)
    samples = [analyzer.analyse(f, counting, _NoPose()) for f in frames]  # type: ignore[arg-type]
    assert counting.calls == [("detect", False), ("track", False), ("track", False)]
    assert all(s.eye_contact is None and s.gaze_x is None and s.smile is True for s in samples)

    counting.calls.clear()
    analyzer = VisionAnalyzer(expression=False, posture=False)
    s = analyzer.analyse(frames[0], counting, _NoPose())  # type: ignore[arg-type]
    assert counting.calls == [("detect", True)]
    assert s.smile is None and s.smile_score is None and s.eye_contact is True

    counting.calls.clear()
    analyzer = VisionAnalyzer(eye_contact=False, expression=False, posture=False)
    samples = [analyzer.analyse(f, counting, _NoPose()) for f in frames]  # type: ignore[arg-type]
    assert [c[0] for c in counting.calls] == ["detect_faces"] * 3  # no mesh at all
    assert all(s.faces == 1 and s.eye_contact is None and s.smile is None for s in samples)


def test_samples_are_frozen(face_mesh: FaceMesh, pose_model: PoseLandmarks) -> None:
    s = _sample(PHOTOS["astronaut"], face_mesh, pose_model)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.faces = 3  # type: ignore[misc]
    assert not hasattr(s, "__dict__")


def test_pose_is_a_pose() -> None:
    # guards the dataclasses.replace() use above against a change of Pose's fields
    assert {f.name for f in dataclasses.fields(Pose)} >= {"landmarks", "visibility"}


def test_iris_every_other_frame_keeps_the_eyes_angle_within_the_head(
        face_mesh: FaceMesh, pose_model: PoseLandmarks) -> None:
    """With iris_every=2 the iris model runs on every second frame; in between, eye contact
    comes from the current head pose plus the last eye-in-head angle."""
    frames = _sequence(4)
    every = VisionAnalyzer(posture=False, iris_every=1)
    half = VisionAnalyzer(posture=False, iris_every=2)
    a = [every.analyse(f, face_mesh, pose_model) for f in frames]
    b = [half.analyse(f, face_mesh, pose_model) for f in frames]
    assert [s.eye_contact for s in a] == [s.eye_contact for s in b] == [True] * 4
    # Frames with the iris model agree exactly; in between, within the iris model's own
    # frame-to-frame noise (a few degrees on these shifted frames).
    for i, (x, y) in enumerate(zip(a, b)):
        tolerance = 1e-6 if i % 2 == 0 else 6.0
        assert abs(x.gaze_yaw_deg - y.gaze_yaw_deg) <= tolerance and abs(x.gaze_pitch_deg - y.gaze_pitch_deg) <= tolerance
