"""`python run.py models ...`: list, obtain, verify and add models.

    list                                    table of models (name, kind, language, verified, size, path)
    obtain                                  make the models folder complete (no downloads)
    verify                                  re-hash every model; exit 1 on any problem
    add PATH --language xx [--name N] [--sha256 HEX] [--replace]
                                            install a Vosk model folder or .zip/.tar.gz archive
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import TextIO

from models.errors import ModelError
from models.registry import ModelInfo, add, list_models, obtain, verify

logger = logging.getLogger(__name__)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


def _table(infos: list[ModelInfo], out: TextIO) -> None:
    rows = [("NAME", "KIND", "LANGUAGE", "VERIFIED", "SIZE", "PATH")]
    rows += [(i.name, i.kind, i.language or "-", "yes" if i.verified else "NO", _size(i.size),
              str(i.path)) for i in infos]
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    for row in rows:
        # widths has no entry for the last column: it is not padded.
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)] + [row[-1]]
        print("  ".join(cells), file=out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py models", description="Manage Candor's models.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list models and whether they verify")
    sub.add_parser("obtain", help="make the models folder complete (copies, no downloads)")
    sub.add_parser("verify", help="re-hash every model and report problems")
    p_add = sub.add_parser("add", help="install a Vosk model folder or archive for a language")
    p_add.add_argument("path", type=Path, help="Vosk model folder, .zip or .tar.gz")
    p_add.add_argument("--language", required=True, help="language code, e.g. en, ko, en-us")
    p_add.add_argument("--name", help="name under vosk/ (default: from the folder or archive)")
    p_add.add_argument("--sha256", help="expected sha256 of the archive or of the model tree")
    p_add.add_argument("--replace", action="store_true",
                       help="replace an installed model of the same name")
    return parser


def main(argv: list[str], models_dir: Path, out: TextIO | None = None) -> int:
    """Run one models command; returns the exit code (0 ok, 1 model problem, 2 usage)."""
    out = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage or help
        return int(exc.code or 0)
    try:
        if args.command == "list":
            infos = list_models(models_dir)
            _table(infos, out)
            return 0 if all(i.verified for i in infos) else 1
        if args.command == "obtain":
            start = time.monotonic()
            infos = obtain(models_dir, progress=lambda line: print(line, file=out, flush=True))
            print(f"obtain: {len(infos)} models ready in {models_dir} "
                  f"({time.monotonic() - start:.1f} s)", file=out)
            return 0
        if args.command == "verify":
            start = time.monotonic()
            problems = verify(models_dir)
            for problem in problems:
                print(f"problem: {problem}", file=out)
            if problems:
                return 1
            print(f"verify: all models in {models_dir} verified "
                  f"({time.monotonic() - start:.1f} s)", file=out)
            return 0
        if args.command == "add":
            info = add(models_dir, args.path, args.language, name=args.name, sha256=args.sha256,
                       replace=args.replace)
            print(f"added {info.name} ({info.language}) at {info.path}, sha256 {info.sha256}",
                  file=out)
            return 0
    except ModelError as exc:
        print(f"error: {exc}", file=out)
        return 1
    raise AssertionError(f"unhandled command {args.command}")
