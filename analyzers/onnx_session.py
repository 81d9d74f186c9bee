"""Small ONNX Runtime sessions for the vision models: CPU, one thread, sequential.

Each analyzer owns its sessions and is driven by one executor thread of the server's, so a
session never needs more than one intra-op thread; several analyzers then share the machine's
cores instead of fighting over them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

logger = logging.getLogger(__name__)


def load_session(path: str | os.PathLike[str]) -> ort.InferenceSession:
    """Load an ONNX model for single-threaded CPU inference. Raises FileNotFoundError early."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX model not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(
        os.fspath(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    logger.debug("loaded %s", path)
    return session


@dataclass(frozen=True, slots=True)
class ImageModel:
    """One image-in model: feeds an (H, W, 3) float32 tensor, returns its outputs by name.

    The converted models take NHWC input like the TFLite originals; an NCHW conversion works
    too (detected from the input's shape).
    """

    session: ort.InferenceSession
    input_name: str
    width: int
    height: int
    channels_first: bool
    output_names: tuple[str, ...]
    output_shapes: tuple[tuple[int | str | None, ...], ...]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ImageModel:
        session = load_session(path)
        inp = session.get_inputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4:
            raise ValueError(f"{path}: expected a 4-D image input, got {shape}")
        channels_first = shape[1] == 3 and shape[3] != 3
        h, w = (shape[2], shape[3]) if channels_first else (shape[1], shape[2])
        # the batch dimension may be symbolic; the spatial ones must be fixed
        if not isinstance(h, int) or not isinstance(w, int):
            raise ValueError(f"{path}: input size must be fixed, got {shape}")
        outs = session.get_outputs()
        return cls(
            session=session,
            input_name=inp.name,
            width=w,
            height=h,
            channels_first=channels_first,
            output_names=tuple(o.name for o in outs),
            output_shapes=tuple(tuple(o.shape) for o in outs),
        )

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Run on one (H, W, 3) float32 tensor; outputs in the model's order."""
        x = tensor[None].astype(np.float32, copy=False)
        if self.channels_first:
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return self.session.run(None, {self.input_name: x})

    def output_index(self, size: int) -> int:
        """Index of the output whose element count is ``size`` (names differ across converters;
        sizes do not)."""
        for i, shape in enumerate(self.output_shapes):
            dims = [d if isinstance(d, int) else 1 for d in shape]  # symbolic batch -> 1
            if int(np.prod(dims)) == size:
                return i
        raise ValueError(f"no output with {size} elements among {self.output_shapes}")
