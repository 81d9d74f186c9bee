"""The session state machine without media: transitions, timers, replacement of a candidate's
window, and what is stored and published."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlmodel import select

from conftest import Api, make_job_and_template
from server.bus import Bus
from server.plan import load_plan
from server.question_signals import language_signals
from server.interview_machine import Event
from server.session import InterviewSession, State
from server.tables import Interview, QuestionSignals, StateChange


class FakeLink:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: str | None = None

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def close(self, reason: str) -> None:
        self.closed = reason


async def make_session(hr: Api, store: Any, time_limit_s: float | None = None) -> tuple[InterviewSession, Bus]:
    _, _, tpl_id = await make_job_and_template(hr)
    _, c = await hr.call("POST", "/api/candidates", json={"name": "Ada", "email": "ada@example.com"}, expect=201)
    _, inv = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl_id, "candidate_ids": [c["id"]],
        "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, expect=201)
    iid = inv["invitations"][0]["interview_id"]
    interview, plan = store.run_sync(lambda db: (db.get(Interview, iid), load_plan(db, iid)))
    if time_limit_s is not None:
        plan = replace(plan, questions=tuple(replace(q, time_limit_s=time_limit_s) for q in plan.questions))
    bus = Bus()
    return InterviewSession(plan, interview, store, bus, language_signals), bus


async def test_states_questions_and_completion(hr: Api, store: Any) -> None:
    session, bus = await make_session(hr, store)
    sub = bus.subscribe()
    link = FakeLink()
    await session.attach_candidate(link)
    await session.start(consent=True)
    assert session.state == State.CONNECTING  # no media yet
    await session.media_up()
    assert session.state == State.LIVE and session.question_index == 0
    question = [m for m in link.sent if m["type"] == "question"][-1]
    assert question["index"] == 0 and question["count"] == 2 and question["remaining_s"] > 59
    await session.candidate_next()
    assert session.question_index == 1 and session.answered() == 1
    await session.candidate_next()
    assert session.state == State.COMPLETED
    assert link.sent[-1] == {"type": "done"}
    await session.settled()  # answers are finished in the background
    changes = store.run_sync(lambda db: [(c.from_state, c.to_state, c.actor_kind) for c in db.exec(
        select(StateChange).where(StateChange.interview_id == session.id).order_by(StateChange.id))])
    assert changes[0] == ("invited", "consented", "candidate")
    assert changes[-1][1] == "completed"
    rows = store.run_sync(lambda db: db.exec(select(QuestionSignals).where(
        QuestionSignals.interview_id == session.id)).all())
    assert sorted(r.question_index for r in rows) == [0, 1]
    row = store.run_sync(lambda db: db.get(Interview, session.id))
    assert row.state == "completed" and row.started_at is not None and row.completed_at is not None
    types = [e.type for e in list(sub._items)]
    assert types.count("state") == len(changes) and "scores" in types and "progress" in types
    # A finished interview does not start again.
    await session.start(consent=True)
    assert session.state == State.COMPLETED
    await session.close()


async def test_time_runs_out_and_the_server_moves_on(hr: Api, store: Any) -> None:
    session, _ = await make_session(hr, store, time_limit_s=0.3)
    await session.attach_candidate(FakeLink())
    await session.start(consent=False)
    assert session.consent is False
    await session.media_up()
    for _ in range(60):
        if session.state == State.COMPLETED:
            break
        await asyncio.sleep(0.05)
    assert session.state == State.COMPLETED
    reasons = store.run_sync(lambda db: [c.reason for c in db.exec(
        select(StateChange).where(StateChange.interview_id == session.id))])
    assert any("time ran out" in r for r in reasons)
    await session.close()


async def test_a_second_window_replaces_the_first(hr: Api, store: Any) -> None:
    session, _ = await make_session(hr, store)
    first, second = FakeLink(), FakeLink()
    await session.attach_candidate(first)
    await session.start(consent=True)
    await session.media_up()
    await session.attach_candidate(second)
    assert first.closed == "opened_elsewhere"
    assert second.sent[0]["state"] == "live"
    assert second.sent[1]["type"] == "question" and second.sent[1]["index"] == 0
    # A late "next" from a stale timer for a question already left changes nothing.
    await session.dispatch(Event.TIME_UP, expect_question=5)
    assert session.question_index == 0
    await session.close()
