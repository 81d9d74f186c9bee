"""Candor's models: locating, verifying (sha256), obtaining and adding them.

The server imports only this package's public names; see models/README.md.
"""
from __future__ import annotations

from models.errors import ModelError
from models.registry import (
    DEFAULT_MODELS_DIR,
    DEFAULT_VOSK_MODEL,
    ONNX_MODELS,
    VAD_MODEL,
    ModelInfo,
    add,
    list_models,
    obtain,
    onnx_path,
    verify,
    vosk_model_path,
)

__all__ = [
    "DEFAULT_MODELS_DIR", "DEFAULT_VOSK_MODEL", "ONNX_MODELS", "VAD_MODEL", "ModelError", "ModelInfo",
    "add", "list_models", "obtain", "onnx_path", "verify", "vosk_model_path",
]
