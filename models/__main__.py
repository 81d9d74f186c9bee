"""`python -m models ...`: the same commands as `python run.py models ...`.

Uses CANDOR_MODELS_DIR when set, else the repo's models/ folder.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from models.cli import main
from models.registry import DEFAULT_MODELS_DIR

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    folder = Path(os.environ.get("CANDOR_MODELS_DIR") or DEFAULT_MODELS_DIR)
    raise SystemExit(main(sys.argv[1:], folder))
