"""Editing by versions on PostgreSQL too: renames and reorders move rows under unique indexes
(names, question positions) in two steps, and PostgreSQL checks those per statement."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import Api
from server.settings import Settings
from tests import test_versions as versions


@pytest.fixture
def settings(tmp_path: Path, postgres_db_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", load_models=False, public_url="http://candor.test",
                    database_url=postgres_db_url)


async def test_edit_keeps_old_reports_on_postgres(client: Any, hr: Api, store: Any) -> None:
    await versions.test_an_edit_leaves_old_reports_byte_identical_and_new_interviews_get_the_new_version(
        client, hr, store)


async def test_dimension_renames_and_swaps_on_postgres(client: Any, hr: Api, store: Any) -> None:
    await versions.test_dimensions_rename_swap_retire_and_come_back_with_their_ids(client, hr, store)


async def test_copy_on_postgres(client: Any, hr: Api, store: Any) -> None:
    await versions.test_copy_template_into_another_job_maps_dimensions_by_name(client, hr, store)


async def test_template_reorders_on_postgres(client: Any, hr: Api, store: Any) -> None:
    await versions.test_template_edits_reorder_remove_and_add_questions(client, hr, store)
