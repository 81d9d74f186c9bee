"""sha256 of files and of model directory trees.

A tree's hash covers every regular file under it, in sorted relative-path order, as lines
``<relative posix path>\\0<size>\\0<sha256 of the file>\\n``; empty directories don't count.
The same tree copied or unpacked elsewhere hashes the same.

`FileStamps` remembers (size, mtime_ns, sha256) per file, so a quick check can skip files
whose size and mtime have not changed; a full check (the default) re-reads every byte.
"""
from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

logger = logging.getLogger(__name__)

# (size, mtime_ns, sha256) per relative posix path.
FileStamps = dict[str, tuple[int, int, str]]


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def tree_files(root: Path) -> list[str]:
    """Relative posix paths of the regular files under root, sorted. Symlinks are refused."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in dirnames:
            if (base / name).is_symlink():
                raise ValueError(f"symbolic link in model tree: {base / name}")
        for name in filenames:
            path = base / name
            if path.is_symlink() or not path.is_file():
                raise ValueError(f"not a regular file in model tree: {path}")
            found.append(path.relative_to(root).as_posix())
    return sorted(found)


def tree_sha256(root: Path, stamps: FileStamps | None = None,
                trust_stamps: bool = False) -> tuple[str, FileStamps]:
    """The tree hash of root and fresh stamps of its files.

    With trust_stamps, a file whose size and mtime equal its stamp is not re-read.
    """
    old_stamps = stamps or {}
    rels = tree_files(root)
    stats = {rel: (root / rel).stat() for rel in rels}

    def digest(rel: str) -> str:
        st = stats[rel]
        old = old_stamps.get(rel)
        if trust_stamps and old is not None and (old[0], old[1]) == (st.st_size, st.st_mtime_ns):
            return old[2]
        return file_sha256(root / rel)

    # hashlib releases the GIL while hashing, so a few threads use every core.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        digests = list(pool.map(digest, rels))
    outer = hashlib.sha256()
    fresh: FileStamps = {}
    for rel, hexdigest in zip(rels, digests, strict=True):
        st = stats[rel]
        outer.update(f"{rel}\0{st.st_size}\0{hexdigest}\n".encode())
        fresh[rel] = (st.st_size, st.st_mtime_ns, hexdigest)
    logger.debug("hashed %s: %d files", root, len(rels))
    return outer.hexdigest(), fresh


def stamps_size(stamps: FileStamps) -> int:
    return sum(size for size, _, _ in stamps.values())
