"""The throwaway PostgreSQL server of tests/support/postgres.py is real and works."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.postgres import running_postgres

pytestmark = pytest.mark.postgres


def test_running_postgres_select_1(tmp_path: Path) -> None:
    with running_postgres(tmp_path) as url:
        assert url.startswith("postgresql+psycopg://")
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                assert conn.execute(sa.text("select 1")).scalar_one() == 1
                assert conn.execute(sa.text("select current_database()")).scalar_one() == "candor"
                address = conn.execute(sa.text("select inet_server_addr()::text")).scalar_one()
                assert address.startswith("127.0.0.1")
        finally:
            engine.dispose()
    # Stopped: nothing listens at that address any more.
    engine = sa.create_engine(url, connect_args={"connect_timeout": 2})
    with pytest.raises(sa.exc.OperationalError):
        engine.connect()
    engine.dispose()


def test_fixtures_session_server_and_fresh_databases(postgres_url: str, postgres_db_url: str) -> None:
    assert postgres_db_url != postgres_url
    engine = sa.create_engine(postgres_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("create table t (id serial primary key, name text not null)"))
            conn.execute(sa.text("insert into t (name) values ('a'), ('b')"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("select count(*) from t")).scalar_one() == 2
    finally:
        engine.dispose()
