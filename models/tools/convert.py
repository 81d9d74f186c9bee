"""Convert mediapipe 0.10.21's bundled .tflite models to the ONNX files in models/onnx/.

Run once by a maintainer, never at set-up or in CI: it needs tensorflow-cpu and tf2onnx
(a ~1.7 GB throwaway venv, see models/README.md). The results are committed.

    python models/tools/convert.py [--wheel mediapipe-0.10.21-...whl] [--out models]

Steps: take the six .tflite files (and the licence) from the official wheel, check their
sha256, densify sparse weights (pose_detection and face_detection_full_range store their
convolution weights as sparse fp16 tensors followed by DENSIFY ops, which tf2onnx cannot
convert), convert with tf2onnx, check the ONNX output against TensorFlow Lite on random input,
and record everything in manifest.json. ``--only NAME`` (repeatable) converts just those models
and leaves the other ONNX files and manifest entries as they are.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("convert")

MEDIAPIPE_VERSION = "0.10.21"
OPSET = 17


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    wheel_path: str
    sha256: str
    input_range: tuple[float, float]


SOURCES: tuple[Source, ...] = (
    Source("face_detection_short_range",
           "mediapipe/modules/face_detection/face_detection_short_range.tflite",
           "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8", (-1.0, 1.0)),
    Source("face_detection_full_range",
           "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
           "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1", (-1.0, 1.0)),
    Source("face_landmark",
           "mediapipe/modules/face_landmark/face_landmark.tflite",
           "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814", (0.0, 1.0)),
    Source("iris_landmark",
           "mediapipe/modules/iris_landmark/iris_landmark.tflite",
           "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f", (0.0, 1.0)),
    Source("pose_detection",
           "mediapipe/modules/pose_detection/pose_detection.tflite",
           "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c", (-1.0, 1.0)),
    Source("pose_landmark_full",
           "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
           "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f", (0.0, 1.0)),
)
LICENSE_PATH = f"mediapipe-{MEDIAPIPE_VERSION}.dist-info/LICENSE"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                    "--only-binary=:all:", "--python-version", "3.11",
                    "--platform", "manylinux_2_28_x86_64",
                    "-d", str(dest), f"mediapipe=={MEDIAPIPE_VERSION}"], check=True)
    wheels = sorted(dest.glob(f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"))
    if not wheels:
        raise SystemExit("pip download produced no mediapipe wheel")
    return wheels[0]


# --- densify -----------------------------------------------------------------------------

# The TFLite schema objects (tensorflow.lite.python.schema_py_generated) are untyped: Any.

def _index_vector(kind: int, vec: Any) -> np.ndarray:
    if kind == 0 or vec is None:
        raise ValueError("sparse dimension without an index vector")
    return np.asarray(vec.values, dtype=np.int64)


def densify_values(values: np.ndarray, shape: list[int], sparsity: Any) -> np.ndarray:
    """Dense array from TFLite SparsityParameters (traversal order, block map, CSR levels).

    Walks the traversal levels breadth-first with numpy: each level maps every parent
    position to its children (all of them for DENSE, the CSR segment for SPARSE_CSR), so the
    leaves come out in storage order, one per stored value.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    order = [int(x) for x in sparsity.traversalOrder]
    block_map = [int(x) for x in (sparsity.blockMap if sparsity.blockMap is not None else [])]
    levels = sparsity.dimMetadata
    n = len(shape)
    if len(order) != n + len(block_map) or len(levels) != len(order):
        raise ValueError("inconsistent sparsity parameters")

    prev = np.zeros(1, dtype=np.int64)
    coords: list[np.ndarray] = []
    for level in levels:
        if level.format == schema.DimensionType.DENSE:
            size = int(level.denseSize)
            coords = [np.repeat(c, size) for c in coords]
            coords.append(np.tile(np.arange(size, dtype=np.int64), len(prev)))
            prev = (prev[:, None] * size + np.arange(size, dtype=np.int64)[None, :]).ravel()
        else:
            segments = _index_vector(level.arraySegmentsType, level.arraySegments)
            indices = _index_vector(level.arrayIndicesType, level.arrayIndices)
            starts = segments[prev]
            counts = segments[prev + 1] - starts
            parent = np.repeat(np.arange(len(prev)), counts)
            offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            pos = starts[parent] + offsets
            coords = [c[parent] for c in coords]
            coords.append(indices[pos])
            prev = pos
    if len(prev) != values.size:
        raise ValueError(f"sparsity describes {len(prev)} values, buffer holds {values.size}")

    expanded: list[np.ndarray] = [np.empty(0)] * len(order)
    for level_index, dim in enumerate(order):
        expanded[dim] = coords[level_index]
    original = []
    for dim in range(n):
        if dim in block_map:
            j = block_map.index(dim)
            block = int(levels[order.index(n + j)].denseSize)
            original.append(expanded[dim] * block + expanded[n + j])
        else:
            original.append(expanded[dim])
    dense = np.zeros(shape, dtype=values.dtype)
    dense[tuple(original)] = values
    return dense


def densify_model(src: Path, dst: Path) -> int:
    """Rewrite DENSIFY(sparse const) as a dense const; returns how many ops were replaced."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    np_types = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.FLOAT16: np.float16,
                schema.TensorType.INT8: np.int8, schema.TensorType.UINT8: np.uint8,
                schema.TensorType.INT32: np.int32}
    model = flatbuffer_utils.read_model(str(src))
    replaced = 0
    for graph in model.subgraphs:
        kept = []
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
            if builtin != schema.BuiltinOperator.DENSIFY:
                kept.append(op)
                continue
            sparse_t = graph.tensors[op.inputs[0]]
            dense_t = graph.tensors[op.outputs[0]]
            raw = np.asarray(model.buffers[sparse_t.buffer].data, dtype=np.uint8).tobytes()
            values = np.frombuffer(raw, dtype=np_types[sparse_t.type])
            dense = densify_values(values, [int(d) for d in sparse_t.shape], sparse_t.sparsity)
            if list(dense.shape) != [int(d) for d in dense_t.shape] or sparse_t.type != dense_t.type:
                raise ValueError(f"DENSIFY {sparse_t.name!r}: shape/type mismatch")
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(dense.tobytes(), dtype=np.uint8)
            model.buffers.append(buffer)
            dense_t.buffer = len(model.buffers) - 1
            # The sparse tensor is now unused; detach its data so no converter reads it.
            sparse_t.buffer = 0
            sparse_t.sparsity = None
            replaced += 1
        graph.operators = kept
    flatbuffer_utils.write_model(model, str(dst))
    return replaced


# --- convert and check ------------------------------------------------------------------

def convert(tflite: Path, onnx_out: Path) -> None:
    import onnx
    import tf2onnx

    proto, _ = tf2onnx.convert.from_tflite(str(tflite), opset=OPSET)
    canonical_names(proto)
    onnx.checker.check_model(proto)
    onnx_out.write_bytes(proto.SerializeToString(deterministic=True))


def canonical_names(proto: Any) -> None:
    """Renumber tf2onnx's generated names (`conv2d_1__536`) in order of appearance.

    tf2onnx numbers the names it makes from a process-wide counter, so two runs give
    different bytes for the same graph; renumbering makes the output reproducible.
    """
    import re

    graph = proto.graph
    pattern = re.compile(r"__\d+")
    mapping: dict[str, str] = {}

    def rename(name: str) -> str:
        if not pattern.search(name):
            return name
        if name not in mapping:
            mapping[name] = pattern.sub(f"__{len(mapping)}", name)
        return mapping[name]

    first_use: dict[str, int] = {}
    for node in graph.node:  # topological order: stable across runs
        node.name = rename(node.name)
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
        for n in node.input:
            first_use.setdefault(n, len(first_use))
    inits = sorted(graph.initializer, key=lambda t: first_use.get(rename(t.name), len(first_use)))
    for init in inits:
        init.name = rename(init.name)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    for info in graph.value_info:
        info.name = rename(info.name)


def compare_random(tflite: Path, onnx_file: Path, lo: float, hi: float) -> float:
    """Worst error over all outputs on a seeded random input, relative to each output's scale.

    Error of one output: max |onnx - tflite| / max(max |tflite|, 1). The floor of 1 makes it an
    absolute error for outputs that are probabilities (e.g. a presence score near 0).
    """
    import onnxruntime as ort
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_path=str(tflite))
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    x = np.random.default_rng(0).uniform(lo, hi, size=inp["shape"]).astype(np.float32)
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    ref = [interp.get_tensor(d["index"]) for d in interp.get_output_details()]
    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: x}), strict=True))
    worst = 0.0
    for detail, r in zip(interp.get_output_details(), ref, strict=True):
        g = got[detail["name"]].reshape(r.shape)
        worst = max(worst, float(np.abs(r - g).max() / max(float(np.abs(r).max()), 1.0)))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="mediapipe wheel (default: pip download)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1],
                        help="models folder to write onnx/ and manifest.json into")
    parser.add_argument("--only", action="append", choices=[s.name for s in SOURCES],
                        help="convert only this model (repeatable; default: all)")
    args = parser.parse_args(argv)
    sources = [s for s in SOURCES if not args.only or s.name in args.only]
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    out_dir: Path = args.out
    (out_dir / "onnx").mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    manifest: dict[str, Any] = (json.loads(manifest_path.read_text()) if manifest_path.exists()
                else {"format": 1, "models": []})
    entries = {m["name"]: m for m in manifest["models"]}

    with tempfile.TemporaryDirectory(prefix="candor-convert-") as tmp_name:
        tmp = Path(tmp_name)
        wheel = args.wheel or download_wheel(tmp)
        logger.info("wheel %s", wheel.name)
        with zipfile.ZipFile(wheel) as zf:
            (out_dir / "onnx" / "LICENSE").write_bytes(zf.read(LICENSE_PATH))
            for src in sources:
                data = zf.read(src.wheel_path)
                if sha256_bytes(data) != src.sha256:
                    raise SystemExit(f"{src.wheel_path}: sha256 differs from the pinned one")
                tflite = tmp / f"{src.name}.tflite"
                tflite.write_bytes(data)
                densified = tmp / f"{src.name}.dense.tflite"
                n = densify_model(tflite, densified)
                to_convert = densified if n else tflite
                onnx_file = out_dir / "onnx" / f"{src.name}.onnx"
                convert(to_convert, onnx_file)
                err = compare_random(tflite, onnx_file, *src.input_range)
                logger.info("%s: %d DENSIFY ops replaced, %d bytes, rel err vs TFLite %.2e",
                            src.name, n, onnx_file.stat().st_size, err)
                if err > 1e-3:
                    raise SystemExit(f"{src.name}: ONNX output differs from TFLite ({err:.2e})")
                entries[src.name] = {
                    "name": src.name,
                    "kind": "onnx",
                    "language": None,
                    "files": [f"onnx/{src.name}.onnx"],
                    "sha256": sha256_bytes(onnx_file.read_bytes()),
                    "size": onnx_file.stat().st_size,
                    "source": {"package": "mediapipe", "version": MEDIAPIPE_VERSION,
                               "path": src.wheel_path, "sha256": src.sha256,
                               "converted_with": f"tf2onnx opset {OPSET}"
                                                 + (", sparse weights densified" if n else "")},
                    "license": "Apache-2.0",
                    "license_file": "onnx/LICENSE",
                }
    order = [s.name for s in SOURCES]
    manifest["models"] = ([entries[n] for n in order]
                          + [m for k, m in entries.items() if k not in order])
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    logger.info("wrote %s", manifest_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
