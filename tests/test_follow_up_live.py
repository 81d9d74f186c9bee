"""Follow-up questions in a live interview (issue 13): a follow-up is asked only when the answer
before it mentioned none of its dimensions' keywords, else it is skipped by rule: not shown, not
counted as unanswered, not held against coverage, and progress counts it out. The recogniser's
output is stood in for (final transcripts on the session's clock, as tests/test_versions.py
does); the session, store, scoring and report are real. A situational question's scenario goes
to the candidate with the question, and the candidate's page (real Chromium) shows it."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from analyzers.speech import Word
from conftest import Api
from server import session_store, session_views
from server.attempts import AttemptLog
from server.session import State
from server.sessions import sessions_key
from server.tables import QuestionSignals
from tests.test_candidate_page import (  # noqa: F401  (invitation is a fixture)
    invitation, join, scripted_page, server_says, server_state, wait_state,
)
from test_pages_hr import text_of
from tests.test_controls import FakePeer
from tests.test_report_page import page_login
from tests.test_session import FakeLink
from tests.test_versions import add_candidate, invite, new_job

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.test_candidate_page import Invitation

SCENARIO = "A crane operator wants to start lifting before the site check is finished."


async def follow_up_template(hr: Api) -> int:
    """Planning question, its follow-up (Planning: schedule, budget), a situational Safety one."""
    job_id, (planning, safety, _) = await new_job(hr)
    _, tpl = await hr.call("POST", "/api/templates", json={"job_id": job_id, "name": "With a follow-up", "questions": [
        {"text": "Tell us about a project you led.", "time_limit_s": 60,
         "dimensions": [{"dimension_id": planning, "weight": 1}]},
        {"text": "How did you plan its time and money?", "time_limit_s": 60, "kind": "follow_up",
         "dimensions": [{"dimension_id": planning, "weight": 1}]},
        {"text": "What do you tell the operator?", "time_limit_s": 60, "kind": "situational", "scenario": SCENARIO,
         "dimensions": [{"dimension_id": safety, "weight": 1}]},
    ]}, expect=201)
    return int(tpl["id"])


def say(session: Any, text: str) -> None:
    t = session.clock()
    words = tuple(Word(w, t + 0.3 * i, t + 0.3 * i + 0.2, 1.0) for i, w in enumerate(text.split()))
    session.on_transcript(text, True, t, words[-1].end_s, words)


async def live(client: Any, hr: Api, name: str, peer: Any = None) -> tuple[Any, FakeLink, int]:
    iid = await invite(hr, await follow_up_template(hr), await add_candidate(hr, name))
    session = await client.app[sessions_key].session_for(iid)
    link, peer = FakeLink(), peer or FakePeer()
    await session.attach_candidate(link)
    await session.start(consent=True)
    peer.media()
    await session.offer(peer)
    await session.media_up()
    assert session.state == State.LIVE and session.question_index == 0
    return session, link, iid


def questions_sent(link: FakeLink) -> list[dict[str, Any]]:
    return [m for m in link.sent if m["type"] == "question"]


async def test_the_follow_up_is_skipped_when_the_answer_had_its_keywords(client: Any, hr: Api, store: Any) -> None:
    session, link, iid = await live(client, hr, "Ann Planner")
    assert questions_sent(link)[-1]["number"] == 1 and questions_sent(link)[-1]["count"] == 3
    say(session, "I led the new depot and we kept the schedule and the budget every week")
    await session.drain_writes()
    await session.candidate_next()
    # Straight to question 3: the follow-up was not needed.
    assert session.question_index == 2 and session.state == State.LIVE
    shown = questions_sent(link)[-1]
    assert (shown["index"], shown["number"], shown["count"]) == (2, 2, 2)
    assert shown["kind"] == "situational" and shown["scenario"] == SCENARIO
    assert [m["index"] for m in questions_sent(link)] == [0, 2]  # the follow-up never reached the candidate
    assert session.answered() == 1  # a follow-up skipped by rule is not an answer
    progress = session_views.progress(session)  # what HR's live panel gets
    assert (progress["answered"], progress["question_number"], progress["question_count"]) == (1, 2, 2)
    assert progress["skipped_by_rule"] == [1]
    say(session, "stop the lift and follow the procedure and wear a helmet")
    await session.drain_writes()
    await session.candidate_next()
    assert session.state == State.COMPLETED
    await session.settled()
    await session.drain_writes()

    row = store.run_sync(lambda db: db.exec(select(QuestionSignals).where(
        QuestionSignals.interview_id == iid, QuestionSignals.question_index == 1)).one())
    assert row.skipped_by_rule and row.skipped and row.live_start_s is None
    # After a restart the session knows it too (progress and answers as before).
    log = AttemptLog()
    for attempt in store.run_sync(lambda db: session_store.restore_attempts(db, iid, 2, True, 0.0)):
        log.add(attempt)
    assert log.ruled_out() == [1] and log.answered() == 2
    _, report = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    by_index = {q["index"]: q for q in report["questions"]}
    assert by_index[1]["skipped_by_rule"] and not by_index[0]["skipped_by_rule"]
    assert by_index[1]["scores"] == [] and by_index[1]["transcript"] == []
    assert by_index[2]["scenario"] == SCENARIO and by_index[2]["kind"] == "situational"
    # Neither missing nor evidence: no "not reached" warning, no "not counted" entry, full coverage.
    assert not [w for w in report["warnings"] if w["code"] == "not_reached"]
    planning = next(d for d in report["dimensions"] if d["name"] == "Planning")
    assert planning["status"] == "assessed" and planning["answers"] == 1
    assert not [e for e in planning["evidence"] if e.get("question_index") == 1]
    assert report["overall"]["coverage"] == 1.0
    # The job page's progress leaves the follow-up out as well.
    _, itv = await hr.call("GET", f"/api/interviews/{iid}", expect=200)
    await page_login(client)
    page = text_of(await (await client.get(f"/jobs/{itv['job']['id']}")).text())
    assert "2 of 2 answered" in page and "skipped" not in page.split("2 of 2 answered")[1][:20]
    await session.close()


async def test_the_follow_up_is_asked_when_the_keywords_were_missing(client: Any, hr: Api, store: Any) -> None:
    session, link, iid = await live(client, hr, "Bo Vague")
    # "schedule" only read back from the question would not count either: here it is never said.
    say(session, "it was a big project and the team was great to work with")
    await session.drain_writes()
    await session.candidate_next()
    assert session.question_index == 1
    shown = questions_sent(link)[-1]
    assert (shown["index"], shown["number"], shown["count"], shown["kind"]) == (1, 2, 3, "follow_up")
    assert shown["text"] == "How did you plan its time and money?" and shown["scenario"] == ""
    say(session, "we set a weekly schedule and a budget review")
    await session.drain_writes()
    await session.candidate_next()
    assert session.question_index == 2 and session.answered() == 2
    await session.candidate_next()
    assert session.state == State.COMPLETED
    await session.settled()
    rows = store.run_sync(lambda db: db.exec(select(QuestionSignals).where(
        QuestionSignals.interview_id == iid)).all())
    assert sorted(r.question_index for r in rows) == [0, 1, 2] and not any(r.skipped_by_rule for r in rows)
    _, report = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    planning = next(d for d in report["dimensions"] if d["name"] == "Planning")
    assert planning["answers"] == 2  # the follow-up's answer is evidence like any other
    await session.close()


class LateSpeech:
    """A recogniser still working on the answer when the candidate presses Next: its final
    transcript arrives only when the session asks it to catch up (`barrier`)."""

    def __init__(self) -> None:
        self.session: Any = None
        self.pending: str | None = None
        self.barriers = 0

    def barrier(self) -> asyncio.Future[None]:
        self.barriers += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        text, self.pending = self.pending, None

        async def finish() -> None:
            await asyncio.sleep(0.2)
            if text:
                say(self.session, text)
            done.set_result(None)

        asyncio.get_running_loop().create_task(finish())
        return done


async def test_the_decision_waits_for_the_recogniser_to_finish_the_answer(client: Any, hr: Api) -> None:
    peer = FakePeer()
    peer.speech = LateSpeech()  # type: ignore[assignment]
    session, link, _ = await live(client, hr, "Cy Late", peer)
    peer.speech.session = session  # type: ignore[attr-defined]
    peer.speech.pending = "we tracked the budget and the schedule weekly"  # type: ignore[attr-defined]
    await session.candidate_next()
    # The keywords came in only once the recogniser caught up, and still the follow-up was skipped.
    assert session.question_index == 2 and [m["index"] for m in questions_sent(link)] == [0, 2]
    assert peer.speech.barriers >= 1  # type: ignore[attr-defined]
    await session.candidate_next()
    assert session.state == State.COMPLETED
    await session.close()


def test_the_candidates_page_shows_the_scenario_before_the_question(browser: Browser,
                                                                     invitation: Invitation) -> None:  # noqa: F811
    page = scripted_page(browser, invitation.url)
    try:
        join(page, consent=True)
        server_says(page, server_state("live", "live"))
        # The message as server/session_views.py sends it after a follow-up was skipped by rule.
        server_says(page, {"type": "question", "index": 2, "number": 2, "count": 2, "text": "What do you tell him?",
                           "kind": "situational", "scenario": SCENARIO, "last": True, "time_limit_s": 60,
                           "remaining_s": 60})
        wait_state(page, "live")
        page.wait_for_function("() => !document.getElementById('question-scenario').hidden")
        assert page.inner_text("#question-scenario-text") == SCENARIO
        assert page.inner_text("#question-progress") == "Question 2 of 2"
        assert page.inner_text("#next") == "Finish"
        # The scenario comes before the question on the page.
        assert page.evaluate("""() => Boolean(document.getElementById('question-scenario').compareDocumentPosition(
            document.getElementById('question-text')) & Node.DOCUMENT_POSITION_FOLLOWING)""")
        server_says(page, {"type": "question", "index": 0, "number": 1, "count": 3, "text": "Next one.",
                           "kind": "structured", "scenario": "", "last": False, "time_limit_s": 60,
                           "remaining_s": 60})
        page.wait_for_function("() => document.getElementById('question-scenario').hidden")
        assert page.inner_text("#next") == "Next"
    finally:
        page.close()
