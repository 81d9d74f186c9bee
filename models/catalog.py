"""The committed manifest (models/manifest.json) and the local record (<models_dir>/installed.json).

The manifest lists what the project ships or installs by default, with sha256s; it is only
read. installed.json lists the Vosk models installed into one models folder (by `obtain` or
`add`), with each file's stamp (size, mtime, sha256) so a quick check needs no re-hashing.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.errors import ModelError
from models.hashing import FileStamps

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
MANIFEST_PATH = PACKAGE_DIR / "manifest.json"
INSTALLED_NAME = "installed.json"


@dataclass(frozen=True, slots=True)
class Entry:
    """One model as written in the manifest or installed.json."""

    name: str
    kind: str  # "onnx" | "vosk"
    language: str | None
    files: tuple[str, ...]  # relative to the models folder
    sha256: str  # of the file (onnx) or of the tree (vosk, see models.hashing)
    size: int
    source: dict[str, Any]
    license: str
    stamps: FileStamps = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Entry:
        return cls(name=raw["name"], kind=raw["kind"], language=raw.get("language"),
                   files=tuple(raw["files"]), sha256=raw["sha256"], size=int(raw.get("size", 0)),
                   source=dict(raw.get("source", {})), license=raw.get("license", "unknown"),
                   stamps={k: (int(v[0]), int(v[1]), str(v[2]))
                           for k, v in raw.get("stamps", {}).items()})

    def to_json(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"name": self.name, "kind": self.kind, "language": self.language,
                               "files": list(self.files), "sha256": self.sha256,
                               "size": self.size, "source": self.source, "license": self.license}
        if self.stamps:
            raw["stamps"] = {k: list(v) for k, v in sorted(self.stamps.items())}
        return raw

    def source_text(self) -> str:
        src = self.source
        if "package" in src:
            return f"{src['package']}@{src.get('version', '?')}:{src.get('path', '')}"
        if "derived_from" in src:
            return f"built from {src['derived_from']} with {src.get('built_with', '?')}"
        return str(src.get("path", "local"))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path} is not valid JSON ({exc}); fix or delete it") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ModelError(f"{path} has no 'models' list; fix or delete it")
    return data


def manifest() -> list[Entry]:
    if not MANIFEST_PATH.is_file():
        raise ModelError(f"model manifest {MANIFEST_PATH} is missing from the checkout")
    return [Entry.from_json(m) for m in _read_json(MANIFEST_PATH)["models"]]


def installed(models_dir: Path) -> list[Entry]:
    path = models_dir / INSTALLED_NAME
    if not path.is_file():
        return []
    return [Entry.from_json(m) for m in _read_json(path)["models"]]


def save_installed(models_dir: Path, entries: list[Entry]) -> None:
    """Write installed.json atomically (temp file + rename)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"format": 1, "models": [e.to_json() for e in entries]}, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".installed-", suffix=".json", dir=models_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body)
        os.replace(tmp, models_dir / INSTALLED_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
