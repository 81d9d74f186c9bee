"""Bring an existing database up to the tables' columns: a column added to a table in a later
version is added to the database with its default (SQLite and PostgreSQL both take
`ALTER TABLE ... ADD COLUMN`). Tables are created by SQLModel; nothing is ever dropped, except
secrets that an earlier version kept in clear (invitation tokens, replaced by their hashes)."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.schema import Column
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlmodel import SQLModel

from server.auth import token_digest

logger = logging.getLogger(__name__)


def _default_sql(column: Column[Any], engine: Engine) -> str:
    scalar = column.default if isinstance(column.default, ScalarElementColumnDefault) else None
    default = scalar.arg if scalar is not None else None
    if default is None:
        if column.nullable:
            return ""
        raise RuntimeError(f"column {column.table.name}.{column.name} needs a default to be added to existing rows")
    if isinstance(default, bool):
        literal = ("1" if default else "0") if engine.dialect.name == "sqlite" else ("TRUE" if default else "FALSE")
    elif isinstance(default, (int, float)):
        literal = repr(default)
    else:
        literal = "'" + str(default).replace("'", "''") + "'"
    return f" NOT NULL DEFAULT {literal}"


def add_missing_columns(engine: Engine) -> list[str]:
    """The columns added, as `table.column`."""
    inspector = inspect(engine)
    added = []
    with engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in have:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}'
                                  f'{_default_sql(column, engine)}'))
                added.append(f"{table.name}.{column.name}")
    for name in added:
        logger.warning("database upgraded: added column %s", name)
    return added


def hash_invitation_tokens(engine: Engine) -> int:
    """Versions before 0.3 stored invitation tokens in clear (`invitations.token`): rename the
    column to `token_sha256` and replace each token by its hash, so the links sent keep working
    and the database no longer holds them. The number of links hashed."""
    inspector = inspect(engine)
    if not inspector.has_table("invitations"):
        return 0
    have = {c["name"] for c in inspector.get_columns("invitations")}
    if "token" not in have or "token_sha256" in have:
        return 0
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, token FROM invitations")).all()
        conn.execute(text("DROP INDEX IF EXISTS ix_invitations_token"))
        conn.execute(text("ALTER TABLE invitations RENAME COLUMN token TO token_sha256"))
        for row_id, token in rows:
            conn.execute(text("UPDATE invitations SET token_sha256 = :h WHERE id = :id"),
                         {"h": token_digest(token), "id": row_id})
        conn.execute(text("CREATE UNIQUE INDEX ix_invitations_token_sha256 ON invitations (token_sha256)"))
        if "token_issued_at" not in have:
            conn.execute(text("ALTER TABLE invitations ADD COLUMN token_issued_at TIMESTAMP"))
            conn.execute(text("UPDATE invitations SET token_issued_at = created_at"))
    logger.warning("database upgraded: %d invitation links now stored as hashes only", len(rows))
    return len(rows)
