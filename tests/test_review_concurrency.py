"""Two decisions on one interview at the same moment: exactly one is recorded (200), the other
is a conflict (409), never a 500, on SQLite and on a real PostgreSQL (where the store runs
four database threads, so both requests really are in flight together)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from conftest import Api
from server.settings import Settings
from server.tables import AuditLog, Candidate, Decision, Interview
from tests.test_report_page import record
from tests.test_reports import completed_interview


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_db_url")
    return Settings(data_dir=tmp_path / "data", load_models=False, public_url="http://candor.test",
                    database_url=url)


async def reviewed(client: Any, hr: Api, settings: Settings) -> int:
    """A completed interview this HR user has fully reviewed: every answer's recording opened
    and a note written."""
    iid = await completed_interview(client, hr)
    record(settings.data_dir, iid)
    _, report = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    for q in report["questions"]:
        resp = await client.get(q["media_url"].replace("http://candor.test", ""), headers=hr.headers)
        assert resp.status == 200, await resp.text()
        await resp.read()
    await hr.call("POST", f"/api/interviews/{iid}/notes", json={"text": "Seen it all."}, expect=201)
    return iid


@pytest.mark.parametrize("decisions", [("hire", "hire"), ("hire", "talent_pool")])
async def test_two_concurrent_decisions_give_one_200_and_one_409(
        client: Any, hr: Api, store: Any, settings: Settings, decisions: tuple[str, str]) -> None:
    iid = await reviewed(client, hr, settings)
    results = await asyncio.gather(*(hr.call("POST", f"/api/interviews/{iid}/decision", json={"decision": d})
                                     for d in decisions))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409], results
    winner = next(body for status, body in results if status == 200)
    loser = next(body for status, body in results if status == 409)
    assert "a decision was already made" in loser["error"], loser

    def facts(db: Any) -> tuple[list[str], str, int]:
        made = [d.decision for d in db.exec(select(Decision).where(Decision.interview_id == iid)).all()]
        interview = db.get(Interview, iid)
        status = db.get(Candidate, interview.candidate_id).status
        audits = len(db.exec(select(AuditLog).where(AuditLog.action == "review.decision",
                                                    AuditLog.target_id == iid)).all())
        return made, status, audits

    made, status, audits = store.run_sync(facts)
    assert made == [winner["decision"]] and status == winner["candidate_status"] and audits == 1
    # Later, the same decision again is a conflict too: a decision is made once.
    status_again, body = await hr.call("POST", f"/api/interviews/{iid}/decision", json={"decision": made[0]})
    assert status_again == 409 and f"already made: {made[0]}" in body["error"]
