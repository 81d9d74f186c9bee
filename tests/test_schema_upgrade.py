"""A database made by an earlier version (without the newest columns) opens and gets them, with
their defaults on the rows it already had."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from server.store import Store


def test_missing_columns_are_added_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    Store(f"sqlite:///{path}").close()
    db = sqlite3.connect(path)
    db.execute("insert into state_changes (interview_id, ts, from_state, to_state, reason, code, actor_kind) "
               "values (1, '2026-01-01 00:00:00', 'invited', 'consented', 'r', 'x', 'candidate')")
    db.execute("alter table state_changes drop column code")  # as the previous version made it
    db.execute("alter table interviews drop column question_used_s")
    db.commit()
    db.close()

    Store(f"sqlite:///{path}").close()
    db = sqlite3.connect(path)
    columns = {r[1] for r in db.execute("pragma table_info(interviews)")}
    code = db.execute("select code from state_changes").fetchone()
    db.close()
    assert "question_used_s" in columns
    assert code == ("",)
