"""What a session shows: the candidate's question message, the progress event and the snapshot a
late HR panel draws from. Read-only views of an InterviewSession."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from server.interview_machine import State

if TYPE_CHECKING:
    from server.session import InterviewSession


def _numbers(session: InterviewSession) -> tuple[int, int]:
    """(this question's number among those asked, how many questions there are) with the
    follow-ups skipped by rule left out of both (server/follow_ups.py)."""
    ruled_out = session.attempts.ruled_out()
    before = sum(1 for i in ruled_out if i < session.question_index)
    return session.question_index + 1 - before, len(session.plan.questions) - len(ruled_out)


def progress(session: InterviewSession) -> dict[str, Any]:
    q = session.question
    number, count = _numbers(session)
    return {"question_index": session.question_index, "question_count": count, "question_number": number,
            "skipped_by_rule": session.attempts.ruled_out(),
            "answered": session.answered(), "elapsed_s": round(session.elapsed_s(), 1),
            "time_limit_s": session.time_limit_s(), "question_text": q.text if q else None}


def state(session: InterviewSession) -> dict[str, Any]:
    """Where the interview stands: the answer to an HR command."""
    return {"state": session.state.value, "question_index": session.question_index,
            "question_count": len(session.plan.questions), "remaining_s": round(session.remaining_s(), 1)}


def question_message(session: InterviewSession) -> dict[str, Any] | None:
    q = session.question
    if q is None:
        return None
    number, count = _numbers(session)
    return {"type": "question", "index": q.index, "number": number, "count": count, "text": q.text,
            "kind": q.kind, "scenario": q.scenario, "last": q.index + 1 >= len(session.plan.questions),
            "time_limit_s": session.time_limit_s(), "remaining_s": round(session.remaining_s(), 1)}


def describe(session: InterviewSession) -> dict[str, Any]:
    """Everything a panel that connects late needs to draw this interview."""
    s = session
    return {
        "interview_id": s.id, "job_id": s.plan.job_id, "job_title": s.plan.job_title,
        "candidate": s.plan.candidate_name, "state": s.state.value, "reason": s.reason, "code": s.code,
        "consent": s.consent, **progress(s),
        "transcript": list(s.samples.transcript_tail), "partial": s.samples.partial,
        "signals": s.samples.last_signals, "scores": s.scores_payload(s.last_scores) if s.last_scores else None,
        "connection": s.last_connection, "interventions": list(s.interventions),
        "interrupted_for_s": None if s.interrupted_at is None or s.state != State.INTERRUPTED
        else round(time.monotonic() - s.interrupted_at, 1),
    }
