"""Each committed ONNX model computes what its mediapipe .tflite original computes.

Both run on the same real-photo inputs (scikit-image's astronaut, matplotlib's Grace Hopper),
cropped and scaled the way the analyzers feed them. The ONNX side runs here (onnxruntime in
.venv); the TFLite side runs models/tools/run_tflite.py in the tools venv (.venv-tools, made
by models/tools/make_tools_venv.sh), which loads the .tflite files from the mediapipe 0.10.21
package after checking their sha256 against models/manifest.json.

Error of one output: max |onnx - tflite| / max(max |tflite|, 1), i.e. relative to the
output's scale, and absolute for outputs below 1 such as presence scores.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from models import DEFAULT_MODELS_DIR, ONNX_MODELS, onnx_path

REPO = Path(__file__).resolve().parents[1]
TOOLS_VENV = Path(os.environ.get("CANDOR_TOOLS_VENV", REPO / ".venv-tools"))
RUN_TFLITE = REPO / "models" / "tools" / "run_tflite.py"
TOLERANCE = 1e-3

# Square crops (x0, y0, x1, y1) in pixels, from mediapipe's own face mesh and pose output.
CROPS = {
    "astronaut": {"face": (145, 44, 305, 204), "eye": (184, 82, 224, 122),
                  "body": (10, 50, 410, 450)},
    "grace_hopper": {"face": (124, 93, 404, 373), "eye": (184, 153, 264, 233),
                     "body": (30, 90, 510, 570)},
}
# model -> (region, input side, value range); region None = whole image, letterboxed.
INPUTS = {
    "face_detection_short_range": (None, 128, (-1.0, 1.0)),
    "face_detection_full_range": (None, 192, (-1.0, 1.0)),
    "face_landmark": ("face", 192, (0.0, 1.0)),
    "iris_landmark": ("eye", 64, (0.0, 1.0)),
    "pose_detection": (None, 224, (-1.0, 1.0)),
    "pose_landmark_full": ("body", 256, (0.0, 1.0)),
}
# Outputs that must be confident on these photos (logit or probability, threshold), so that
# parity is not two models agreeing on nonsense.
CONFIDENCE = {
    "face_detection_short_range": ("classificators", "logit"),
    "face_detection_full_range": ("Identity_1", "logit"),
    "face_landmark": ("conv2d_31", "logit"),
    "pose_detection": ("Identity_1", "logit"),
    "pose_landmark_full": ("Identity_1", "probability"),
}


def load_photo(name: str) -> np.ndarray:
    if name == "astronaut":
        import skimage.data

        return np.asarray(skimage.data.astronaut())
    from matplotlib import cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as img:
        return np.asarray(img.convert("RGB"))


def model_input(photo: np.ndarray, image: str, model: str) -> np.ndarray:
    region, side, (lo, hi) = INPUTS[model]
    if region is None:  # letterbox to a square, padding right/bottom with black
        h, w = photo.shape[:2]
        square = np.zeros((max(h, w), max(h, w), 3), np.uint8)
        square[:h, :w] = photo
        crop = square
    else:
        x0, y0, x1, y1 = CROPS[image][region]
        crop = photo[y0:y1, x0:x1]
    resized = np.asarray(Image.fromarray(crop).resize((side, side), Image.BILINEAR))
    x = resized.astype(np.float32) / 255.0 * (hi - lo) + lo
    return x[None]


@pytest.fixture(scope="module")
def tools_python() -> Path:
    python = TOOLS_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"tools venv missing at {TOOLS_VENV}: create it with "
                    f"`bash models/tools/make_tools_venv.sh {TOOLS_VENV}` (about 30 s)")
    return python


@pytest.fixture(scope="module")
def cases(tools_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """(model, image) -> (input, tflite outputs by name)."""
    job = tmp_path_factory.mktemp("tflite-job")
    inputs = {}
    for image in CROPS:
        photo = load_photo(image)
        for model in ONNX_MODELS:
            inputs[(model, image)] = model_input(photo, image, model)
            np.save(job / f"{model}__{image}.npy", inputs[(model, image)])
    proc = subprocess.run([str(tools_python), str(RUN_TFLITE), str(job)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"run_tflite.py failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    out = {}
    for key, x in inputs.items():
        with np.load(job / f"{key[0]}__{key[1]}.out.npz") as z:
            out[key] = (x, {name: z[name] for name in z.files})
    return out


def run_onnx(model: str, x: np.ndarray) -> dict[str, np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path(DEFAULT_MODELS_DIR, model)), opts,
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: x}), strict=True))


@pytest.mark.parametrize("image", list(CROPS))
@pytest.mark.parametrize("model", ONNX_MODELS)
def test_onnx_matches_tflite(model: str, image: str, cases: dict) -> None:
    x, reference = cases[(model, image)]
    got = run_onnx(model, x)
    assert set(got) == set(reference), f"output names differ: {sorted(got)} vs {sorted(reference)}"
    errors = {}
    for name, ref in reference.items():
        value = got[name].reshape(ref.shape)
        errors[name] = float(np.abs(value - ref).max() / max(float(np.abs(ref).max()), 1.0))
    sys.stderr.write(f"{model} on {image}: " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
                     + "\n")
    assert max(errors.values()) <= TOLERANCE, errors

    if model in CONFIDENCE:
        name, kind = CONFIDENCE[model]
        score = float(np.max(reference[name]))
        probability = 1 / (1 + np.exp(-score)) if kind == "logit" else score
        assert probability > 0.5, f"{model} is not confident on {image} ({probability:.3f})"
