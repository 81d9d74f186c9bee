"""schema.sql is the canonical DDL: it must equal what the SQLModel tables generate."""
from __future__ import annotations

from server.store import SCHEMA_PATH, schema_ddl


def test_schema_sql_matches_models() -> None:
    assert SCHEMA_PATH.read_text() == schema_ddl(), (
        "schema.sql is out of date with server/tables.py: run `python run.py schema --write`"
    )
