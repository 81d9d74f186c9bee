"""Run mediapipe's original .tflite models on saved inputs (the reference for ONNX parity).

Runs inside the tools venv (.venv-tools, see make_tools_venv.sh), never in the server's:

    .venv-tools/bin/python models/tools/run_tflite.py JOB_DIR

For every ``JOB_DIR/<model>__<tag>.npy`` (float32, the model's input shape) it writes
``JOB_DIR/<model>__<tag>.out.npz`` with one array per output, keyed by output tensor name.
The .tflite file is taken from the installed mediapipe package at the path recorded in
models/manifest.json, after checking its sha256 against the manifest.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path

import numpy as np

logger = logging.getLogger("run_tflite")

MANIFEST = Path(__file__).resolve().parents[1] / "manifest.json"


def tflite_sources() -> dict[str, Path]:
    import mediapipe
    from importlib.metadata import version

    site = Path(mediapipe.__file__).resolve().parent.parent
    out: dict[str, Path] = {}
    for entry in json.loads(MANIFEST.read_text())["models"]:
        src = entry["source"]
        # Only the models converted from mediapipe's TFLite files (Silero VAD is ONNX from its own wheel).
        if entry["kind"] != "onnx" or src.get("package") != "mediapipe":
            continue
        if version("mediapipe") != src["version"]:
            raise SystemExit(f"mediapipe {version('mediapipe')} installed, "
                             f"manifest wants {src['version']}")
        path = site / src["path"]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != src["sha256"]:
            raise SystemExit(f"{path}: sha256 {digest} differs from the manifest's {src['sha256']}")
        out[entry["name"]] = path
    return out


def run(job_dir: Path) -> int:
    from ai_edge_litert.interpreter import Interpreter

    sources = tflite_sources()
    interpreters: dict[str, Interpreter] = {}
    count = 0
    for npy in sorted(job_dir.glob("*.npy")):
        model = npy.stem.split("__", 1)[0]
        if model not in sources:
            raise SystemExit(f"{npy.name}: unknown model {model!r}")
        if model not in interpreters:
            interpreters[model] = Interpreter(model_path=str(sources[model]), num_threads=1)
            interpreters[model].allocate_tensors()
        interp = interpreters[model]
        x = np.load(npy).astype(np.float32)
        detail = interp.get_input_details()[0]
        if tuple(x.shape) != tuple(detail["shape"]):
            raise SystemExit(f"{npy.name}: shape {x.shape}, model wants {tuple(detail['shape'])}")
        interp.set_tensor(detail["index"], x)
        interp.invoke()
        outputs = {d["name"]: interp.get_tensor(d["index"]).copy()
                   for d in interp.get_output_details()}
        np.savez(npy.with_name(npy.stem + ".out.npz"), **outputs)
        count += 1
    logger.info("ran %d inputs", count)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    raise SystemExit(run(Path(sys.argv[1])))
