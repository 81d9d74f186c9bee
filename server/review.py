"""Reports and HR's review: the report JSON, key clips and every answer's full recording
(opening one marks it seen by that HR user; one that cannot be played is acknowledged instead),
notes, and the decision, which is refused until this user has watched every answer (its clips
or its recording, server/review_gate.py) and written a note. The candidate's status follows the
decision; everything goes to the audit log."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from datetime import datetime
from typing import Annotated, Any, AsyncIterator, Literal, Optional

import av
from aiohttp import web
from pydantic import BeforeValidator, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from server import audit, clips, employees, recording, webhook_events
from server.clips import MIN_MEDIA_S
from server.api import router
from server.api_router import Call
from server.auth import Principal
from server.errors import Conflict, Invalid, NotFound
from server.invitations import visible_interview
from server.reports import Thresholds, build_report
from server.review_gate import answer_ranges, gate, recording_id, times
from server.review_schemas import AcknowledgedOut
from server.schemas import Body, Created
from server.store import stored_id
from server.tables import AuditLog, Candidate, ClipView, Decision, DecisionChange, Report, ReviewNote, utcnow
from server.web import base_url, settings_key, store_key
from server.sessions import sessions_key

logger = logging.getLogger(__name__)

Ranges = dict[tuple[int, int], tuple[float, float] | None]

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


# A hire's first working day: an ISO date (YYYY-MM-DD) or date and time; 422 when it is not one.
StartDate = Annotated[Optional[datetime], BeforeValidator(employees.parse_start_date)]


class DecisionIn(Body):
    decision: Literal["second_interview", "talent_pool", "not_recommended", "hire"]
    note: str = Field(default="", max_length=5000)
    start_date: StartDate = Field(default=None, description="For a hire: the first working day (YYYY-MM-DD)")


class DecisionChangeIn(Body):
    decision: Literal["second_interview", "talent_pool", "not_recommended", "hire"]
    reason: str = Field(min_length=1, max_length=2000, description="Why the decision changes (kept in the audit log)")
    start_date: StartDate = Field(default=None, description="For a change to hire: the first working day (YYYY-MM-DD)")


def seen_items(db: Session, who: Principal, interview_id: int) -> dict[str, ClipView]:
    """What this user opened (clips, answers' recordings) or acknowledged as unplayable."""
    return {v.clip_id: v for v in db.exec(select(ClipView).where(ClipView.interview_id == interview_id,
                                                                 ClipView.user_id == who.id)).all()}


def review_status(db: Session, who: Principal, interview_id: int, report: dict[str, Any],
                  ranges: Ranges | None = None) -> dict[str, Any]:
    """This user's review of a built report: what is seen, what is left (`missing`, in HR's
    words), the notes, and the decision."""
    ranges = answer_ranges(db, interview_id) if ranges is None else ranges
    seen = seen_items(db, who, interview_id)
    clip_ids = [c["id"] for c in report["clips"]]
    status = gate(report, ranges, seen)
    notes = db.exec(select(ReviewNote).where(ReviewNote.interview_id == interview_id)
                    .order_by(col(ReviewNote.id))).all()
    decision = db.exec(select(Decision).where(Decision.interview_id == interview_id)).first()
    noted = any(n.user_id == who.id for n in notes)
    missing = [m for m in (status.missing_text(), None if noted else "write a review note first") if m]
    return {
        "clips_seen": [c for c in clip_ids if c in seen],
        "clips_unseen": [c for c in clip_ids if c not in seen],
        "acknowledged": sorted(k for k, v in seen.items() if v.acknowledged),
        "answers": status.to_json(),
        "complete": not missing,
        "missing": missing,
        "noted": noted,
        "notes": [{"user_id": n.user_id, "text": n.text, "created_at": n.created_at} for n in notes],
        "decision": None if decision is None else {"decision": decision.decision, "note": decision.note,
                                                   "user_id": decision.user_id, "created_at": decision.created_at,
                                                   "changes": decision_changes(db, interview_id)},
    }


def decision_changes(db: Session, interview_id: int) -> list[dict[str, Any]]:
    """Every change of the decision, oldest first (who, when, from, to, why). Versions before
    `decision_changes` kept the reason in the audit log: those changes are read from there."""
    legacy = db.exec(select(AuditLog).where(AuditLog.action == "review.decision_change",
                                            AuditLog.target_kind == "interview",
                                            AuditLog.target_id == interview_id).order_by(col(AuditLog.id))).all()
    out = [{"user_id": r.actor_id, "ts": r.ts, "from": r.detail.get("old"), "to": r.detail.get("new"),
            "reason": r.detail.get("reason", "")} for r in legacy if "change_id" not in r.detail]
    changes = db.exec(select(DecisionChange).where(DecisionChange.interview_id == interview_id)
                      .order_by(col(DecisionChange.id))).all()
    out += [{"user_id": c.user_id, "ts": c.ts, "from": c.old, "to": c.new, "reason": c.reason} for c in changes]
    return out


def change_decision(db: Session, who: Principal, interview_id: int, body: DecisionChangeIn, base: str,
                    thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
    """A decision made can be changed, with the reason (audited, old and new); the one changing
    it must have reviewed the interview like anyone deciding (409 with `missing` otherwise)."""
    interview = visible_interview(db, who, interview_id)
    decision = db.exec(select(Decision).where(Decision.interview_id == interview_id)).first()
    if decision is None:
        raise Conflict("there is no decision to change yet: record one first")
    reason = body.reason.strip()
    if not reason:
        raise Invalid("say why the decision changes")
    if decision.decision == body.decision:
        raise Invalid(f"the decision already is {body.decision}")
    report = build_report(db, interview_id, base, thresholds)
    status = review_status(db, who, interview_id, report)
    if status["missing"]:
        raise Conflict("review not complete: " + "; ".join(status["missing"]), missing=status["missing"])
    old = decision.decision
    decision.decision = body.decision
    db.add(decision)
    candidate = db.get(Candidate, interview.candidate_id)
    assert candidate is not None
    candidate.status = CANDIDATE_STATUS[body.decision]
    db.add(candidate)
    change = DecisionChange(interview_id=interview_id, user_id=who.id, old=old, new=body.decision, reason=reason)
    db.add(change)
    db.flush()
    if body.decision == "hire":  # the employee archive (server/employees.py)
        employees.on_hire(db, who, interview, report, reason, body.start_date)
    elif old == "hire":
        employees.on_unhire(db, who, interview)
    audit.record(db, "hr", who.id, "review.decision_change", "interview", interview_id,
                 old=old, new=body.decision, change_id=change.id, reason_sha256=audit.text_digest(reason))
    _emit_decision(db, who, interview_id, body.decision, reason, previous=old)
    return {"decision": body.decision, "previous": old, "candidate_status": candidate.status}


def attach_media(report: dict[str, Any], ranges: Ranges, root: Path, base: str) -> None:
    """Per answer its full recording (`questions[].media_url` and `.recording`) and per clip
    whether it can be played (`clips[].unavailable`: the reason, or None). Reads the
    recording's headers and indexes only (no rendering)."""
    iid = int(report["interview_id"])
    for q in report["questions"]:
        rng = ranges.get((q["index"], q["attempt"]))
        url = f"{base}/api/interviews/{iid}/questions/{q['index']}/attempts/{q['attempt']}/media"
        if rng is None:
            problem: str | None = ("the question was skipped before anything was said or seen" if q["skipped"]
                                   else "the time of this answer was not kept (an interview from an earlier version)")
        elif rng[1] - rng[0] < MIN_MEDIA_S:
            problem = f"the answer lasted {max(0.0, rng[1] - rng[0]):.1f} s: nothing to watch"
        else:
            problem = clips.media_problem(root, iid, rng[0], rng[1])
        q["media_url"] = url
        q["recording"] = {"id": recording_id(q["index"], q["attempt"]), "media_url": url,
                          "start_s": None if rng is None else round(rng[0], 2),
                          "end_s": None if rng is None else round(rng[1], 2), "unavailable": problem}
    for c in report["clips"]:
        c["unavailable"] = clips.media_problem(root, iid, c["start_s"], c["end_s"])


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


def _already(db: Session, interview_id: int) -> Conflict | None:
    existing = db.exec(select(Decision).where(Decision.interview_id == interview_id)).first()
    if existing is None:
        return None
    return Conflict(f"a decision was already made: {existing.decision}", decision=existing.decision)


def decide(db: Session, who: Principal, interview_id: int, body: DecisionIn, base: str,
           thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
    """The decision; Conflict (with `missing`) until this user has opened every answer's key
    clips or full recording (or acknowledged what cannot be played) and written a note. Once
    made, any other decision is a conflict, also one made at the same moment elsewhere (the
    database's unique decision per interview settles it, on SQLite and PostgreSQL alike)."""
    interview = visible_interview(db, who, interview_id)
    try:
        refused = _already(db, interview_id)
        if refused is not None:
            raise refused
        report = build_report(db, interview_id, base, thresholds)  # 409 unless completed
        status = review_status(db, who, interview_id, report)
        if status["missing"]:
            raise Conflict("review not complete: " + "; ".join(status["missing"]), missing=status["missing"])
        db.add(Decision(interview_id=interview_id, user_id=who.id, decision=body.decision, note=body.note.strip()))
        candidate = db.get(Candidate, interview.candidate_id)
        assert candidate is not None
        candidate.status = CANDIDATE_STATUS[body.decision]
        db.add(candidate)
        db.flush()  # the unique decision: a concurrent one fails here (or waits, then fails)
    except IntegrityError:
        logger.info("interview %s: a concurrent decision or report update won; this one is refused", interview_id)
        db.rollback()
        raise _already(db, interview_id) or Conflict(
            "this interview changed at the same moment (another review or decision); try again") from None
    if body.decision == "hire":  # the employee archive (server/employees.py), in this transaction
        employees.on_hire(db, who, interview, report, body.note.strip(), body.start_date)
    audit.record(db, "hr", who.id, "review.decision", "interview", interview_id, decision=body.decision,
                 note_sha256=audit.text_digest(body.note), recommendation=report["recommendation"]["decision"])
    _emit_decision(db, who, interview_id, body.decision, body.note.strip(), previous=None)
    return {"decision": body.decision, "candidate_status": candidate.status, "decided_at": utcnow()}


def _emit_decision(db: Session, who: Principal, interview_id: int, decision: str, note: str,
                   previous: str | None) -> None:
    """`decision.made` for hooks (server/webhook_events.py): the first decision, or a change
    (`changed`, with the previous decision; `note` is then the reason for the change)."""
    webhook_events.emit(db, webhook_events.DECISION_MADE, {
        **webhook_events.about_interview(db, interview_id), "decision": decision, "note": note,
        "changed": previous is not None, "previous_decision": previous,
        "decided_by": who.email, "decided_at": webhook_events.iso(utcnow())})


# --- media: key clips and answers' recordings -------------------------------------------------

@dataclass(frozen=True, slots=True)
class MediaTarget:
    """A stretch of the recording HR can open: a key clip or an answer's full recording."""

    id: str  # the clip's id or recording_id(...)
    label: str  # for HR: "the key clip at 0:05–0:10 of question 1"
    range: tuple[float, float] | None  # None: the answer's time was not kept


def clip_target(db: Session, who: Principal, interview_id: int, clip_id: str) -> MediaTarget:
    visible_interview(db, who, interview_id)
    stored = db.get(Report, interview_id)
    data = stored.data if stored is not None else build_report(db, interview_id, "")
    clip = next((c for c in data.get("clips", []) if c["id"] == clip_id), None)
    if clip is None:
        raise NotFound(f"clip {clip_id} not found in this interview's report")
    return MediaTarget(clip_id, f"the key clip at {times(clip['start_s'], clip['end_s'])} of question "
                                f"{clip['question_index'] + 1}", (clip["start_s"], clip["end_s"]))


def answer_target(db: Session, who: Principal, interview_id: int, question_index: int, attempt: int) -> MediaTarget:
    interview = visible_interview(db, who, interview_id)
    if interview.state != "completed":
        raise Conflict(f"answers are reviewed once the interview is completed; this one is {interview.state}")
    ranges = answer_ranges(db, interview_id)
    if (question_index, attempt) not in ranges:
        raise NotFound(f"question {question_index + 1} has no attempt {attempt + 1} in this interview")
    return MediaTarget(recording_id(question_index, attempt), f"the recording of question {question_index + 1}",
                       ranges[(question_index, attempt)])


def _mark(db: Session, who: Principal, interview_id: int, target: MediaTarget, reason: str | None,
          opened: bool = False) -> None:
    """Seen by this user: opened (reason None) or acknowledged as unplayable (the reason).
    `opened`: a new playback (not a later byte range of one): audited every time."""
    if db.get(ClipView, (interview_id, target.id, who.id)) is not None:
        if opened:
            audit.record(db, "hr", who.id, "clip.view", "interview", interview_id, clip_id=target.id, reason=None)
        return
    db.add(ClipView(interview_id=interview_id, clip_id=target.id, user_id=who.id,
                    acknowledged=reason is not None, reason=(reason or "")[:500]))
    audit.record(db, "hr", who.id, "clip.acknowledge" if reason is not None else "clip.view", "interview",
                 interview_id, clip_id=target.id, reason=reason)


async def _render(app: web.Application, interview_id: int, target: MediaTarget) -> Path:
    """The target's media (rendered or cached); MediaProblem with the reason if it cannot be."""
    if target.range is None:
        raise clips.MediaProblem("the time of this answer was not kept (an interview from an earlier version)")
    settings = app[settings_key]
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(app[renderer_key], clips.render_clip,
                                          recording.recordings_root(settings.data_dir), interview_id,
                                          target.range[0], target.range[1])
    except clips.MediaProblem:
        raise
    except (ValueError, OSError, av.FFmpegError) as exc:
        logger.warning("interview %s: %s cannot be rendered: %s", interview_id, target.id, exc)
        raise clips.MediaProblem(f"the recording could not be read ({type(exc).__name__})") from None


async def serve_media(call: Call, interview_id: int, target: MediaTarget) -> web.StreamResponse:
    try:
        path = await _render(call.request.app, interview_id, target)
    except clips.MediaProblem as exc:
        raise Conflict(f"{target.label} cannot be played: {exc}; acknowledge it to count it as seen",
                       unavailable=str(exc)) from None
    opened = call.request.headers.get("Range", "bytes=0-").replace(" ", "").startswith("bytes=0-")  # not a later range
    await call.request.app[store_key].run(lambda db: _mark(db, call.who, interview_id, target, None, opened))
    return await clips.media_response(call.request, path, {"Cache-Control": "private, max-age=3600"})  # sealed


async def acknowledge(app: web.Application, who: Principal, interview_id: int,
                      target: MediaTarget) -> dict[str, Any]:
    """Counts `target` as seen by `who` when it really cannot be played (it is rendered here
    to find out); a target that plays is a conflict: open it instead."""
    try:
        await _render(app, interview_id, target)
    except clips.MediaProblem as exc:
        reason = str(exc)
    else:
        raise Conflict(f"{target.label} can be played: open it instead of acknowledging it")
    await app[store_key].run(lambda db: _mark(db, who, interview_id, target, reason))
    return {"id": target.id, "acknowledged": True, "reason": reason}


# A report read right after the interview waits this long for the last answers' scores.
REPORT_WAIT_S = 60.0


@router.route("GET", "/api/interviews/{interview_id}/report", summary="The report of a completed interview",
              errors=(404, 409), tag="reports")
async def get_report(call: Call) -> dict[str, Any]:
    iid = call.int_param("interview_id")
    base = base_url(call.request)
    settings = call.request.app[settings_key]
    await call.request.app[sessions_key].settled(iid, REPORT_WAIT_S)  # the last answers' scores

    def work(db: Session) -> dict[str, Any]:
        visible_interview(db, call.who, iid)
        report = build_report(db, iid, base, Thresholds.from_settings(settings))
        audit.record(db, "hr", call.who.id, "report.view", "interview", iid, via="api")
        ranges = answer_ranges(db, iid)
        report["review"] = review_status(db, call.who, iid, report, ranges)
        attach_media(report, ranges, recording.recordings_root(settings.data_dir), base)
        return report

    return await call.request.app[store_key].run(work)


@router.route("GET", "/api/interviews/{interview_id}/clips/{clip_id}/media",
              summary="A key clip's media (opening it marks the clip seen by this HR user); 409 with the "
                      "reason when it cannot be played", errors=(404, 409), content_type="video/webm", tag="reports")
async def clip_media(call: Call) -> web.StreamResponse:
    iid = call.int_param("interview_id")
    clip_id = call.request.match_info["clip_id"]
    target = await call.request.app[store_key].run(lambda db: clip_target(db, call.who, iid, clip_id))
    return await serve_media(call, iid, target)


@router.route("GET", "/api/interviews/{interview_id}/questions/{question_index}/attempts/{attempt}/media",
              summary="An answer's full recording (opening it marks the answer seen by this HR user); 409 "
                      "with the reason when it cannot be played", errors=(404, 409), content_type="video/webm",
              tag="reports")
async def answer_media(call: Call) -> web.StreamResponse:
    iid, qi, attempt = _answer_params(call)
    target = await call.request.app[store_key].run(lambda db: answer_target(db, call.who, iid, qi, attempt))
    return await serve_media(call, iid, target)


@router.route("POST", "/api/interviews/{interview_id}/clips/{clip_id}/acknowledge",
              summary="Acknowledge that a key clip cannot be played: it then counts as seen by this HR user "
                      "(409 if it can be played)", response=AcknowledgedOut, errors=(404, 409), tag="reports")
async def acknowledge_clip(call: Call) -> dict[str, Any]:
    iid = call.int_param("interview_id")
    clip_id = call.request.match_info["clip_id"]
    target = await call.request.app[store_key].run(lambda db: clip_target(db, call.who, iid, clip_id))
    return await acknowledge(call.request.app, call.who, iid, target)


@router.route("POST", "/api/interviews/{interview_id}/questions/{question_index}/attempts/{attempt}/acknowledge",
              summary="Acknowledge that an answer's recording cannot be played: the answer then counts as seen "
                      "by this HR user (409 if it can be played)", response=AcknowledgedOut, errors=(404, 409),
              tag="reports")
async def acknowledge_answer(call: Call) -> dict[str, Any]:
    iid, qi, attempt = _answer_params(call)
    target = await call.request.app[store_key].run(lambda db: answer_target(db, call.who, iid, qi, attempt))
    return await acknowledge(call.request.app, call.who, iid, target)


def _answer_params(call: Call) -> tuple[int, int, int]:
    """Interview id, question index and attempt (both from 0) of an answer's route."""
    iid = call.int_param("interview_id")
    values = []
    for name in ("question_index", "attempt"):
        raw = call.request.match_info[name]
        if not raw.isdigit() or len(raw) > 6:
            raise NotFound(f"{name} {raw!r} not found")
        values.append(int(raw))
    return iid, values[0], values[1]


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
              summary="Decide; refused (409, `missing` in words) until this user has opened every answer's key "
                      "clips or full recording (or acknowledged what cannot be played) and written a note; any "
                      "decision once one is made is a conflict",
              body=DecisionIn, errors=(404, 409), tag="reports")
async def post_decision(call: Call) -> dict[str, Any]:
    iid = call.int_param("interview_id")
    body: DecisionIn = call.body
    base = base_url(call.request)

    thresholds = Thresholds.from_settings(call.request.app[settings_key])
    return await call.request.app[store_key].run(lambda db: decide(db, call.who, iid, body, base, thresholds))


@router.route("POST", "/api/interviews/{interview_id}/decision/change",
              summary="Change a decision already made, with the reason (audited); the one changing it must "
                      "have reviewed the interview", body=DecisionChangeIn, errors=(404, 409, 422), tag="reports")
async def post_decision_change(call: Call) -> dict[str, Any]:
    iid = call.int_param("interview_id")
    body: DecisionChangeIn = call.body
    base = base_url(call.request)
    thresholds = Thresholds.from_settings(call.request.app[settings_key])
    return await call.request.app[store_key].run(lambda db: change_decision(db, call.who, iid, body, base, thresholds))
