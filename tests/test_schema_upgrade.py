"""A database made by an earlier version (without the newest columns) opens and gets them, with
their defaults on the rows it already had."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlmodel import select

from server.auth import token_digest
from server.store import Store
from server.tables import Invitation


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


def test_links_stored_in_clear_by_an_earlier_version_are_hashed_and_keep_working(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    token = "k" * 43
    db = sqlite3.connect(path)
    # The invitations table as versions before 0.3 made it (token in clear).
    db.executescript(f"""
        CREATE TABLE invitations (id INTEGER NOT NULL, token VARCHAR(64) NOT NULL, template_id INTEGER NOT NULL,
            candidate_id INTEGER NOT NULL, deadline DATETIME NOT NULL, created_by INTEGER NOT NULL,
            created_at DATETIME NOT NULL, PRIMARY KEY (id));
        CREATE UNIQUE INDEX ix_invitations_token ON invitations (token);
        INSERT INTO invitations VALUES (1, '{token}', 1, 1, '2999-01-01 00:00:00', 1, '2026-11-01 10:00:00');
    """)
    db.commit()
    db.close()

    store = Store(f"sqlite:///{path}")
    row = store.run_sync(lambda db: db.exec(select(Invitation)).one())
    store.close()
    assert row.token_sha256 == token_digest(token)
    assert row.token_issued_at is not None
    for file in tmp_path.glob("old.sqlite3*"):
        assert token.encode() not in file.read_bytes()
    Store(f"sqlite:///{path}").close()  # a second start changes nothing
