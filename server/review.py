"""Reports and HR's review: the report JSON, key clips (opening one marks it seen by that HR
user), notes, and the decision, which is refused until this user has seen every key clip and
written a note. The candidate's status follows the decision; everything goes to the audit log."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Literal

from aiohttp import web
from pydantic import Field
from sqlmodel import Session, col, select

from server import audit
from server.api import router
from server.api_router import Call
from server.auth import Principal
from server.errors import Conflict, Invalid, NotFound
from server.invitations import visible_interview
from server.reports import Thresholds, build_report
from server.schemas import Body, Created
from server.store import stored_id
from server.tables import Candidate, ClipView, Decision, Report, ReviewNote, utcnow
from server.web import base_url, settings_key, store_key
from server.sessions import sessions_key

logger = logging.getLogger(__name__)

# Clip rendering is CPU-bound (VP8 encoding): one thread, so reviews never starve live interviews.
renderer_key = web.AppKey("clip_renderer", ThreadPoolExecutor)


async def renderer_ctx(app: web.Application) -> AsyncIterator[None]:
    app[renderer_key] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-render")
    yield
    app[renderer_key].shutdown(wait=False, cancel_futures=True)


CANDIDATE_STATUS = {"hire": "hired", "second_interview": "second_interview", "talent_pool": "talent_pool",
                    "not_recommended": "not_recommended"}


class NoteIn(Body):
    text: str = Field(min_length=1, max_length=5000)


class DecisionIn(Body):
    decision: Literal["second_interview", "talent_pool", "not_recommended", "hire"]
    note: str = Field(default="", max_length=5000)


def review_status(db: Session, who: Principal, interview_id: int, clip_ids: list[str]) -> dict[str, Any]:
    seen = set(db.exec(select(ClipView.clip_id).where(ClipView.interview_id == interview_id,
                                                      ClipView.user_id == who.id)).all())
    notes = db.exec(select(ReviewNote).where(ReviewNote.interview_id == interview_id)
                    .order_by(col(ReviewNote.id))).all()
    decision = db.exec(select(Decision).where(Decision.interview_id == interview_id)).first()
    return {
        "clips_seen": sorted(seen & set(clip_ids)),
        "clips_unseen": [c for c in clip_ids if c not in seen],
        "noted": any(n.user_id == who.id for n in notes),
        "notes": [{"user_id": n.user_id, "text": n.text, "created_at": n.created_at} for n in notes],
        "decision": None if decision is None else {"decision": decision.decision, "note": decision.note,
                                                   "user_id": decision.user_id, "created_at": decision.created_at},
    }


# --- the rules, shared by the JSON API below and the report page (server/pages/reports.py) ---

def add_note(db: Session, who: Principal, interview_id: int, text: str) -> ReviewNote:
    """A review note by this user on a completed interview it may see."""
    text = text.strip()
    if not text:
        raise Invalid("text: the note is empty")
    interview = visible_interview(db, who, interview_id)
    if interview.state != "completed":
        raise Conflict(f"notes are for completed interviews; this one is {interview.state}")
    note = ReviewNote(interview_id=interview_id, user_id=who.id, text=text)
    db.add(note)
    db.flush()
    audit.record(db, "hr", who.id, "review.note", "interview", interview_id, note_id=note.id)
    return note


def decide(db: Session, who: Principal, interview_id: int, body: DecisionIn, base: str,
           thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
    """The decision; Conflict (with `missing`) until this user has seen every key clip and
    written a note. The same decision again is a no-op; a different one is a conflict."""
    interview = visible_interview(db, who, interview_id)
    existing = db.exec(select(Decision).where(Decision.interview_id == interview_id)).first()
    if existing is not None:
        if existing.decision == body.decision:
            return {"decision": existing.decision, "candidate_status": CANDIDATE_STATUS[existing.decision]}
        raise Conflict(f"a decision was already made: {existing.decision}")
    report = build_report(db, interview_id, base, thresholds)  # 409 unless completed
    status = review_status(db, who, interview_id, [c["id"] for c in report["clips"]])
    missing = []
    if status["clips_unseen"]:
        missing.append(f"open every key clip first ({len(status['clips_unseen'])} not seen: "
                       f"{', '.join(status['clips_unseen'])})")
    if not status["noted"]:
        missing.append("write a review note first")
    if missing:
        raise Conflict("review not complete: " + "; ".join(missing), missing=missing)
    db.add(Decision(interview_id=interview_id, user_id=who.id, decision=body.decision, note=body.note.strip()))
    candidate = db.get(Candidate, interview.candidate_id)
    assert candidate is not None
    candidate.status = CANDIDATE_STATUS[body.decision]
    db.add(candidate)
    audit.record(db, "hr", who.id, "review.decision", "interview", interview_id, decision=body.decision,
                 note=body.note.strip(), recommendation=report["recommendation"]["decision"])
    return {"decision": body.decision, "candidate_status": candidate.status, "decided_at": utcnow()}

# A report read right after the interview waits this long for the last answers' scores.
REPORT_WAIT_S = 60.0


@router.route("GET", "/api/interviews/{interview_id}/report", summary="The report of a completed interview",
              errors=(404, 409), tag="reports")
async def get_report(call: Call) -> dict[str, Any]:
    iid = call.int_param("interview_id")
    base = base_url(call.request)
    await call.request.app[sessions_key].settled(iid, REPORT_WAIT_S)  # the last answers' scores

    def work(db: Session) -> dict[str, Any]:
        visible_interview(db, call.who, iid)
        report = build_report(db, iid, base, Thresholds.from_settings(call.request.app[settings_key]))
        report["review"] = review_status(db, call.who, iid, [c["id"] for c in report["clips"]])
        return report

    return await call.request.app[store_key].run(work)


@router.route("GET", "/api/interviews/{interview_id}/clips/{clip_id}/media",
              summary="A key clip's media (opening it marks the clip seen by this HR user)",
              errors=(404, 409), content_type="video/webm", tag="reports")
async def clip_media(call: Call) -> web.StreamResponse:
    iid = call.int_param("interview_id")
    clip_id = call.request.match_info["clip_id"]
    settings = call.request.app[settings_key]

    def find(db: Session) -> dict[str, Any]:
        visible_interview(db, call.who, iid)
        stored = db.get(Report, iid)
        data = stored.data if stored is not None else build_report(db, iid, "")
        clip = next((c for c in data.get("clips", []) if c["id"] == clip_id), None)
        if clip is None:
            raise NotFound(f"clip {clip_id} not found in this interview's report")
        return clip

    def mark_seen(db: Session) -> None:
        if db.get(ClipView, (iid, clip_id, call.who.id)) is None:
            db.add(ClipView(interview_id=iid, clip_id=clip_id, user_id=call.who.id))
            audit.record(db, "hr", call.who.id, "clip.view", "interview", iid, clip_id=clip_id)

    store = call.request.app[store_key]
    clip = await store.run(find)
    from server import clips, recording

    loop = asyncio.get_running_loop()
    try:
        path = await loop.run_in_executor(call.request.app[renderer_key], clips.render_clip,
                                          recording.recordings_root(settings.data_dir), iid,
                                          clip["start_s"], clip["end_s"])
    except ValueError as exc:
        raise NotFound(f"no recording for this clip: {exc}") from None
    await store.run(mark_seen)  # seen only once there was something to see
    return web.FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


@router.route("POST", "/api/interviews/{interview_id}/notes", summary="Add a review note",
              body=NoteIn, response=Created, status=201, errors=(404, 409), tag="reports")
async def post_note(call: Call) -> Created:
    iid = call.int_param("interview_id")
    body: NoteIn = call.body
    if not body.text.strip():
        raise Invalid("text: the note is empty")

    return await call.request.app[store_key].run(
        lambda db: Created(id=stored_id(add_note(db, call.who, iid, body.text))))


@router.route("POST", "/api/interviews/{interview_id}/decision",
              summary="Decide; refused until this user has seen every key clip and written a note",
              body=DecisionIn, errors=(404, 409), tag="reports")
async def post_decision(call: Call) -> dict[str, Any]:
    iid = call.int_param("interview_id")
    body: DecisionIn = call.body
    base = base_url(call.request)

    thresholds = Thresholds.from_settings(call.request.app[settings_key])
    return await call.request.app[store_key].run(lambda db: decide(db, call.who, iid, body, base, thresholds))
