"""Voice-activity detectors for the speech gate in front of the recogniser (analyzers/speech.py).

A detector classifies fixed frames of 16 kHz mono audio as voiced or not; the gate feeds Kaldi
only voiced audio plus a little either side, so a room's noise floor is neither transcribed nor
paid for.

- :class:`SileroDetector`: Silero VAD v5/v6 (MIT; ``models/vad/silero_vad.onnx``, taken from
  the pinned ``silero-vad`` wheel by ``models obtain``) on onnxruntime. Frames of 512 samples
  (32 ms); the network also sees the previous frame's last 64 samples and carries an LSTM
  state, so a detector is per stream, while the loaded model (:class:`SileroModel`) is shared.
  A frame is speech once the probability reaches ``threshold`` and stays speech until it falls
  below ``threshold - 0.15`` (the hysteresis of Silero's own ``VADIterator``). ~0.2 ms of one
  core per frame: ~0.6 % of a core per stream.
- :class:`EnergyDetector`: RMS level above a dBFS threshold in 10 ms frames. Cheap, and the
  fallback when the Silero model is missing; a noise floor above the threshold counts as speech.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
SILERO_FRAME = 512
SILERO_CONTEXT = 64


class VoiceDetector(Protocol):
    frame_samples: int  # samples per decision

    def voiced(self, frames: np.ndarray) -> np.ndarray:
        """frames: float32 [k, frame_samples] in int16 units, in stream order -> bool [k]."""
        ...


class EnergyDetector:
    def __init__(self, threshold_dbfs: float = -50.0, frame_samples: int = SAMPLE_RATE // 100) -> None:
        self.frame_samples = frame_samples
        # Mean square of an int16 frame at the threshold level (compared without a log).
        self._threshold_ms = (32768.0 * 10.0 ** (threshold_dbfs / 20.0)) ** 2

    def voiced(self, frames: np.ndarray) -> np.ndarray:
        if not len(frames):
            return np.zeros(0, bool)
        power: np.ndarray = np.mean(np.square(frames, dtype=np.float64), axis=1)
        return power > self._threshold_ms


class SileroModel:
    """One loaded Silero ONNX model, shared by every stream's detector (onnxruntime's run is
    thread-safe; each detector keeps its own state)."""

    def __init__(self, path: str | Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # a 32 ms frame is too small to split across threads
        options.inter_op_num_threads = 1
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = {i.name for i in self.session.get_inputs()}
        if not {"input", "state"} <= names:
            raise ValueError(f"{path} is not a Silero VAD v5/v6 model (inputs {sorted(names)})")
        self._needs_sr = "sr" in names
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)

    def probability(self, window: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        """window: float32 [1, 64 + 512] in [-1, 1]; state: float32 [2, 1, 128]."""
        feeds = {"input": window, "state": state}
        if self._needs_sr:
            feeds["sr"] = self._sr
        out, new_state = self.session.run(None, feeds)
        return float(out[0][0]), new_state

    def detector(self, threshold: float = 0.5) -> SileroDetector:
        return SileroDetector(self, threshold)


class SileroDetector:
    frame_samples = SILERO_FRAME

    def __init__(self, model: SileroModel, threshold: float = 0.5) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"Silero threshold must be between 0 and 1, got {threshold}")
        self.model = model
        self.threshold = threshold
        self._off_below = max(0.01, threshold - 0.15)
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros(SILERO_CONTEXT, np.float32)
        self._speaking = False
        self.last_probability = 0.0

    def voiced(self, frames: np.ndarray) -> np.ndarray:
        out = np.zeros(len(frames), bool)
        for i, frame in enumerate(frames):
            x = frame.astype(np.float32) / 32768.0
            window = np.concatenate([self._context, x])[None, :]
            p, self._state = self.model.probability(window, self._state)
            self._context = x[-SILERO_CONTEXT:]
            self.last_probability = p
            if p >= self.threshold:
                self._speaking = True
            elif p < self._off_below:
                self._speaking = False
            out[i] = self._speaking
        return out


_models: dict[str, SileroModel] = {}
_models_lock = threading.Lock()


def silero_model(path: str | Path) -> SileroModel:
    """The process's one loaded copy of the Silero model at path."""
    key = str(Path(path).resolve())
    with _models_lock:
        model = _models.get(key)
        if model is None:
            model = _models[key] = SileroModel(key)
            logger.info("loaded the Silero VAD model %s", key)
        return model
