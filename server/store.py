"""The database: engine set-up (SQLite WAL or PostgreSQL), DDL, and an executor that keeps
blocking database work off the event loop.

Every unit of work runs as one transaction in `Store.run`: it commits when the function returns
and rolls back when it raises, so a failed request never leaves a half-written row.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Protocol, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import Session, SQLModel, create_engine

from server import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

logger = logging.getLogger(__name__)
T = TypeVar("T")
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"


class _Stored(Protocol):
    @property
    def id(self) -> int | None: ...


def stored_id(row: _Stored) -> int:
    """The id of a row that is in the database (only a row never flushed has None)."""
    assert row.id is not None, f"{type(row).__name__} has no id: not flushed yet"
    return row.id


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def schema_ddl(dialect_engine: Engine | None = None) -> str:
    """The canonical DDL (schema.sql) as generated from the SQLModel tables."""
    engine = dialect_engine or create_engine("sqlite://")
    parts = ["-- Candor database schema. Generated from server/tables.py by\n"
             "-- `python run.py schema`; tests/test_schema.py keeps the two equal.\n"]
    for table in SQLModel.metadata.sorted_tables:
        ddl = "\n".join(
            line.rstrip() for line in str(CreateTable(table).compile(engine)).strip().splitlines()
        )
        parts.append(ddl + ";\n")
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            parts.append(str(CreateIndex(index).compile(engine)).strip() + ";\n")
    return "\n".join(parts)


def create_schema(engine: Engine) -> None:
    from server.audit_chain import install as install_audit_chain
    from server.schema_upgrade import add_missing_columns, hash_invitation_tokens

    SQLModel.metadata.create_all(engine)
    hash_invitation_tokens(engine)  # before columns are added: it renames one
    add_missing_columns(engine)  # a database made by an earlier version gets the new columns
    install_audit_chain(engine)  # the audit chain's head, old rows chained once, append-only triggers


class Store:
    """Owns the engine and the threads that talk to it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        create_schema(self.engine)
        # SQLite has one writer at a time: one thread serialises work without lock waits.
        workers = 1 if url.startswith("sqlite") else 4
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="store")

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def run_sync(self, fn: Callable[[Session], T]) -> T:
        with self.session() as session:
            try:
                result = fn(session)
                session.commit()
                return result
            except BaseException:
                session.rollback()
                raise

    async def run(self, fn: Callable[[Session], T]) -> T:
        loop = asyncio.get_running_loop()
        # In the caller's context, so the work sees the request's language (server/i18n.py).
        context = contextvars.copy_context()
        return await loop.run_in_executor(self._executor, context.run, self.run_sync, fn)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()
