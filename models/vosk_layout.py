"""What a Vosk model directory must contain, and unpacking official model archives.

Vosk (Kaldi) accepts two layouts:
- current: ``am/final.mdl``, ``conf/mfcc.conf``, and a decoding graph in ``graph/``: either
  ``HCLG.fst``, or ``HCLr.fst`` + ``Gr.fst`` (lookahead models such as the small ones);
- old (2019 models): ``final.mdl``, ``mfcc.conf`` and the graph files at the top level.
"""
from __future__ import annotations

import logging
import tarfile
import zipfile
from pathlib import Path

from models.errors import ModelError

logger = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


def layout_problems(root: Path) -> list[str]:
    """Why root is not a Vosk model directory; empty when it is one."""
    if not root.is_dir():
        return [f"{root} is not a directory"]
    if (root / "am" / "final.mdl").is_file():
        am, conf, graph = root / "am", root / "conf", root / "graph"
    elif (root / "final.mdl").is_file():
        am = conf = graph = root
    else:
        return [f"{root}: no acoustic model (am/final.mdl)"]
    problems = []
    if not (am / "final.mdl").stat().st_size:
        problems.append(f"{root}: acoustic model {am / 'final.mdl'} is empty")
    if not (conf / "mfcc.conf").is_file():
        where = "mfcc.conf" if conf == root else "conf/mfcc.conf"
        problems.append(f"{root}: no feature configuration ({where})")
    has_hclg = (graph / "HCLG.fst").is_file()
    has_lookahead = (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file()
    if not (has_hclg or has_lookahead):
        problems.append(f"{root}: no decoding graph (graph/HCLG.fst, or graph/HCLr.fst + graph/Gr.fst)")
    return problems


def find_model_root(folder: Path) -> Path:
    """folder itself if it is a model, else its only sub-folder (up to two levels) that is one."""
    if not layout_problems(folder):
        return folder
    candidates = [p for p in sorted(folder.glob("*")) + sorted(folder.glob("*/*"))
                  if p.is_dir() and not p.is_symlink() and not layout_problems(p)]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise ModelError(f"{folder} holds several Vosk models ({', '.join(p.name for p in candidates)});"
                         " add them one at a time")
    raise ModelError("not a Vosk model: " + "; ".join(layout_problems(folder)))


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def extract_archive(archive: Path, dest: Path) -> None:
    """Unpack a .zip / .tar(.gz) into dest, refusing members that would land outside it."""
    name = archive.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.infolist():
                    target = (dest / member.filename).resolve()
                    if not target.is_relative_to(dest.resolve()):
                        raise ModelError(f"{archive}: member {member.filename!r} escapes the archive")
                zf.extractall(dest)
        else:
            with tarfile.open(archive) as tf:
                # The "data" filter refuses absolute paths, "..", links out of dest and devices.
                tf.extractall(dest, filter="data")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise ModelError(f"cannot unpack {archive}: {exc}") from exc
    logger.info("unpacked %s", archive)
