"""Bring an existing database up to the tables' columns: a column added to a table in a later
version is added to the database with its default (SQLite and PostgreSQL both take
`ALTER TABLE ... ADD COLUMN`). Tables are created by SQLModel; nothing is ever dropped."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.schema import Column
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlmodel import SQLModel

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
