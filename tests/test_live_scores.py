"""Live signals and scores through the real session: an open answer's language signals take each
final transcript segment once (incrementally), never again once a second; a closed answer is
analysed in full once and never again (server/answers.py); `mentions:` rules get their phrases
at that call site."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlmodel import select

from conftest import Api, make_job_and_template
from analyzers.language_live import LiveAnswer
from analyzers.speech import Word
from server.bus import Bus
from server.plan import Rule, load_plan
from server.question_signals import Segment, language_signals
from server.session import InterviewSession, State
from server.tables import Interview, TranscriptSegment

PHRASE = "Two Weeks Early"  # a mentions: rule's phrase, not one of the dimension's keywords


class Link:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def close(self, code: str) -> None:
        pass


class Counting:
    """The real language_signals, counting its calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []  # how many segments each call analysed

    def __call__(self, segments: list[Segment], *args: Any) -> tuple[dict[str, float], list[dict[str, Any]]]:
        self.calls.append(len(segments))
        return language_signals(segments, *args)


async def live_session(hr: Api, store: Any, analyse: Counting) -> InterviewSession:
    _, _, tpl_id = await make_job_and_template(hr)
    _, c = await hr.call("POST", "/api/candidates", json={"name": "Ada", "email": "ada@example.com"}, expect=201)
    _, inv = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl_id, "candidate_ids": [c["id"]],
        "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, expect=201)
    iid = inv["invitations"][0]["interview_id"]
    interview, plan = store.run_sync(lambda db: (db.get(Interview, iid), load_plan(db, iid)))
    # A mentions: rule on the first dimension (linked to question 0).
    first = plan.dimensions[0]
    dims = (replace(first, rules=(*first.rules, Rule(f"mentions:{PHRASE}", ">=", 1, 5))), *plan.dimensions[1:])
    plan = replace(plan, dimensions=dims)
    assert plan.phrases_for(plan.questions[0]) == (PHRASE,) and plan.phrases_for(plan.questions[1]) == ()
    session = InterviewSession(plan, interview, store, Bus(), analyse)
    await session.attach_candidate(Link())
    await session.start(consent=True)
    await session.media_up()
    assert session.state == State.LIVE
    return session


def say(session: InterviewSession, text: str) -> None:
    t = session.clock()
    words = tuple(Word(w, t + 0.4 * i, t + 0.4 * i + 0.3, 0.9) for i, w in enumerate(text.split()))
    session.on_transcript(text, True, words[0].start_s, words[-1].end_s, words)


async def test_live_scores_compute_each_answer_once_per_final_segment(hr: Api, store: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    analyse = Counting()  # full analyses of an answer
    added: list[str] = []  # final segments taken into an open answer's running signals
    add = LiveAnswer.add

    def counting_add(self: LiveAnswer, segment: Any) -> None:
        added.append(" ".join(w.word for w in segment.words))
        add(self, segment)

    monkeypatch.setattr(LiveAnswer, "add", counting_add)
    session = await live_session(hr, store, analyse)
    first = session.current_attempt()
    assert first is not None
    say(session, "we planned the schedule for a large project with three teams")
    for _ in range(5):  # five ticks' worth
        signals, _ = session.signals_of(first)
        session.live_scores()
    assert len(added) == 1 and analyse.calls == []  # the one new segment, once
    assert signals["keyword_hits:schedule"] == 1.0 and signals[f"mentions:{PHRASE}"] == 0.0
    say(session, "and we delivered it two weeks early")
    for _ in range(5):
        signals, evidence = session.signals_of(first)
        session.live_scores()
    assert len(added) == 2 and analyse.calls == []
    assert signals[f"mentions:{PHRASE}"] == 1.0
    assert [e["text"] for e in evidence if e.get("kind") == "mention"] == ["two weeks early"]
    # What the running signals say is what a full analysis says.
    q = session.plan.questions[0]
    fresh, fresh_evidence = language_signals(first.segments, q.text, session.plan.keywords_for(q), 0.0, (PHRASE,))
    assert {k: v for k, v in signals.items() if k in fresh} == pytest.approx(fresh, abs=1.5e-4)
    assert evidence == fresh_evidence

    await session.candidate_next()  # the first answer closes; it is finished in the background
    await session.settled()
    assert first.finished
    assert analyse.calls == [2]  # analysed in full once, when it was over (the stored signals)
    closed_scores = session.answers.score_attempt(first, session.clock())
    second = session.current_attempt()
    assert second is not None and second.index == 1
    for _ in range(30):  # half a minute of ticks on the second question
        session.signals_of(second)
        session.live_scores()
    assert analyse.calls == [2] and len(added) == 2  # nothing new was said: nothing computed
    assert session.answers.score_attempt(first, session.clock()) is closed_scores  # not scored again
    say(session, "I always check the procedure before work")
    for _ in range(30):
        session.signals_of(second)
        session.live_scores()
    # The open answer took its one new segment; the closed one is never analysed again.
    assert added[-1] == "I always check the procedure before work" and len(added) == 3
    assert analyse.calls == [2]
    scores = {s.dimension_id: s.score for s in session.live_scores()}
    assert scores[session.plan.dimensions[0].id] > 0  # the first answer still counts
    await session.close()


async def test_words_begun_at_the_close_but_heard_after_it_go_to_the_next_answer(hr: Api, store: Any) -> None:
    """The recogniser finalises what it heard up to the close before the answer is scored; a
    final that comes later is from later audio, even when its word times start a breath before
    the close (pre-roll, ASR timing). It belongs to the next answer, live, not to the closed one."""
    session = await live_session(hr, store, Counting())
    first = session.current_attempt()
    assert first is not None
    say(session, "we planned the schedule")
    await session.candidate_next()
    closed_at = first.spans[-1][1]
    assert closed_at is not None
    await session.settled()
    assert first.heard and first.finished
    second = session.current_attempt()
    assert second is not None and second.index == 1
    words = (Word("after", closed_at - 0.2, closed_at + 0.2, 0.9), Word("the", closed_at + 0.3, closed_at + 0.5, 0.9))
    session.on_transcript("after the", True, words[0].start_s, words[-1].end_s, words)
    await session.background.drain_writes()
    rows = store.run_sync(lambda db: db.exec(select(TranscriptSegment).where(
        TranscriptSegment.interview_id == session.id, TranscriptSegment.text == "after the")).all())
    assert [(r.question_index, r.live) for r in rows] == [(1, True)]
    assert [s.text for s in second.segments] == ["after the"] and len(first.segments) == 1
    await session.close()
