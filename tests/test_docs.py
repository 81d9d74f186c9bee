"""The repository explains itself: the state table in docs/ARCHITECTURE.md is the machine's, and
no document links outside the repository."""
from __future__ import annotations

import re
from pathlib import Path

from server.state_doc import markdown

ROOT = Path(__file__).resolve().parent.parent


def test_the_documented_state_table_is_the_one_the_server_runs() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    start = text.index("tests/test_docs.py keeps it equal -->\n") + len("tests/test_docs.py keeps it equal -->\n")
    end = text.index("<!-- end of states table -->")
    assert text[start:end] == markdown(), "run: python -m server.state_doc, and paste it into docs/ARCHITECTURE.md"


def test_docs_link_only_inside_the_repository() -> None:
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)", doc.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            resolved = (doc.parent / target).resolve()
            assert ROOT in resolved.parents or resolved == ROOT, f"{doc.name} links outside: {target}"
            assert resolved.exists(), f"{doc.name} links to a missing file: {target}"
