"""The comparison pool's one query (server/reports.py job_pool) and the not-assessed path on
PostgreSQL too (grouping and outer joins are where the two databases differ)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import Api
from server.settings import Settings
from tests import test_scores_hold_up as scores


@pytest.fixture
def settings(tmp_path: Path, postgres_db_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", load_models=False, public_url="http://candor.test",
                    database_url=postgres_db_url)


async def test_not_assessed_and_pools_on_postgres(client: Any, hr: Api, store: Any) -> None:
    await scores.test_skipped_and_unreached_questions_leave_dimensions_not_assessed(client, hr, store)


async def test_resume_boost_and_percentiles_on_postgres(client: Any, hr: Api, store: Any) -> None:
    await scores.test_resume_boost_moves_the_overall_by_the_factor_not_the_dimension_scores(client, hr, store)
