"""The comparison pool's one query (server/reports.py job_pool) and the not-assessed path on
PostgreSQL too (grouping and outer joins are where the two databases differ)."""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from conftest import Api
from server import session_store
from server.settings import Settings
from server.tables import Score
from tests import test_scores_hold_up as scores


@pytest.fixture
def settings(tmp_path: Path, postgres_db_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", load_models=False, public_url="http://candor.test",
                    database_url=postgres_db_url)


async def test_not_assessed_and_pools_on_postgres(client: Any, hr: Api, store: Any) -> None:
    await scores.test_skipped_and_unreached_questions_leave_dimensions_not_assessed(client, hr, store)


async def test_resume_boost_and_percentiles_on_postgres(client: Any, hr: Api, store: Any) -> None:
    await scores.test_resume_boost_moves_the_overall_by_the_factor_not_the_dimension_scores(client, hr, store)


async def test_answers_finished_together_leave_one_set_of_overall_scores(
        client: Any, hr: Api, store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL runs several writes at once. Each finished answer replaces the interview's
    overall scores; two answers finishing together must not both do it at once (two sets of
    overall scores) nor out of turn (the older set last). Each store is held open a while, so
    without the ordering they would overlap every time."""
    stored = session_store.store_attempt

    def held_open(db: Any, *args: Any, **kwargs: Any) -> None:
        stored(db, *args, **kwargs)
        db.flush()
        time.sleep(0.3)

    monkeypatch.setattr(session_store, "store_attempt", held_open)
    _, dims, tpl = await scores.new_job(hr, scores.THREE, scores.THREE_QUESTIONS)
    iid = await scores.invite(hr, tpl, "Quick Answers")
    session, peer = await scores.go_live(client, iid)
    await scores.say(session, peer, "I keep the schedule in a shared plan every week")
    await session.candidate_next()
    await scores.say(session, peer, "I check the site and the safety procedure first")
    await session.candidate_next()  # answers 1 and 2 finish at the same time
    await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "skip"}, expect=200)
    await session.settled()
    rows = store.run_sync(lambda db: db.exec(select(Score).where(
        Score.interview_id == iid, col(Score.question_index).is_(None))).all())
    assert rows and max(Counter(r.dimension_id for r in rows).values()) == 1
    # and they are the newest: what the session holds after its last answer
    assert {r.dimension_id: r.score for r in rows} == {s.dimension_id: s.score for s in session.last_scores}
