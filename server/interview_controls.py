"""HR's controls over a live interview (pause, resume, intervene, reopen, a new link) and its
thumbnail.
Each action is checked against who may see the interview, recorded (intervention row, audit log,
`intervention` event) by the session, and refused clearly when it makes no sense."""
from __future__ import annotations

import base64
import time
from collections import defaultdict, deque
from typing import Any, Literal, Optional

from aiohttp import web
from pydantic import Field, model_validator
from sqlmodel import Session

from server import session_store, session_views
from server.api import router
from server.api_router import Call
from server.auth import Principal
from server.errors import ApiError, Conflict, NotFound
from server.interview_machine import FINISHED, TEXT, Event, Facts, Refused
from server.invitations import change_deadline, reissue_link, revoke_link, visible_interview
from server.mail_sender import link_sealer
from server.schemas import Body, DeadlineIn, InvitationOut
from server.web import base_url, store_key
from server.ownership import HeldElsewhere
from server.session import InterviewSession
from server.sessions import bus_key, sessions_key
from server.tables import Invitation, utcnow

# HR commands per user per interview: a burst is fine, a flood is refused.
COMMANDS_PER_10_S = 20


class PauseIn(Body):
    reason: str = Field(default="", max_length=500)


class ResumeIn(Body):
    pass


class InterveneIn(Body):
    action: Literal["message", "extend", "skip", "redo", "end"]
    note: str = Field(default="", max_length=2000)
    seconds: Optional[float] = Field(default=None, gt=0, le=3600)

    @model_validator(mode="after")
    def _needs(self) -> InterveneIn:
        if self.action == "extend" and self.seconds is None:
            raise ValueError("extend needs seconds (> 0)")
        if self.action == "message" and not self.note.strip():
            raise ValueError("message needs a note: the text the candidate will see")
        return self


class ReopenIn(Body):
    note: str = Field(default="", max_length=2000)


class StateOut(Body):
    state: str
    question_index: int
    question_count: int
    remaining_s: float


class Throttle:
    """Recent command times per (user, interview), owned by the app."""

    def __init__(self) -> None:
        self._recent: dict[tuple[int, int], deque[float]] = defaultdict(deque)

    def check(self, user_id: int, interview_id: int) -> None:
        window = self._recent[(user_id, interview_id)]
        now = time.monotonic()
        while window and now - window[0] > 10:
            window.popleft()
        if len(window) >= COMMANDS_PER_10_S:
            raise ApiError("too many commands for this interview; wait a few seconds", status=429)
        window.append(now)


throttle_key = web.AppKey("command_throttle", Throttle)


async def _live_session(call: Call) -> InterviewSession:
    """The interview's session in this process (raises HeldElsewhere when another holds it)."""
    interview_id = call.int_param("interview_id")

    interview = await call.request.app[store_key].run(lambda db: visible_interview(db, call.who, interview_id))
    call.request.app[throttle_key].check(call.who.id, interview_id)
    manager = call.request.app[sessions_key]
    if interview_id not in manager.sessions and interview.state in {s.value for s in FINISHED}:
        raise Conflict(f"the interview is {interview.state}")
    return await manager.session_for(interview_id)


async def _command(call: Call, event: Event, note: str = "", seconds: float | None = None) -> StateOut:
    try:
        session = await _live_session(call)
    except HeldElsewhere as held:  # another process holds it: it runs the command and answers
        reply = await call.request.app[sessions_key].forward(
            held.owner, "dispatch", call.int_param("interview_id"), event=event.value, actor_id=call.who.id,
            note=note, user=call.who.email, seconds=seconds)
        return StateOut(**{k: reply[k] for k in StateOut.model_fields})
    try:
        await session.dispatch(event, "hr", call.who.id, note=note, user=call.who.email, seconds=seconds)
    except Refused as refused:
        raise ApiError(refused.reason, status=refused.status) from None
    return StateOut(**session_views.state(session))


@router.route("POST", "/api/interviews/{interview_id}/pause", summary="Pause a live interview",
              body=PauseIn, response=StateOut, errors=(404, 409, 429), tag="interviews")
async def pause(call: Call) -> StateOut:
    return await _command(call, Event.PAUSE, call.body.reason.strip())


@router.route("POST", "/api/interviews/{interview_id}/resume", summary="Resume a paused interview",
              body=ResumeIn, response=StateOut, errors=(404, 409, 429), tag="interviews")
async def resume(call: Call) -> StateOut:
    return await _command(call, Event.RESUME)


@router.route("POST", "/api/interviews/{interview_id}/intervene",
              summary="Message the candidate, extend, skip or redo the question, or end the interview",
              body=InterveneIn, response=StateOut, errors=(404, 409, 429), tag="interviews")
async def intervene(call: Call) -> StateOut:
    body: InterveneIn = call.body
    return await _command(call, Event(body.action), body.note.strip(), body.seconds)


@router.route("POST", "/api/interviews/{interview_id}/reopen",
              summary="Reopen an abandoned interview before its deadline", body=ReopenIn,
              errors=(404, 409, 410), tag="interviews")
async def reopen(call: Call) -> dict[str, Any]:
    body: ReopenIn = call.body
    return await reopen_interview(call.request.app, call.who, call.int_param("interview_id"), body.note.strip())


async def reopen_interview(app: web.Application, who: Principal, interview_id: int, note: str) -> dict[str, Any]:
    """Abandoned -> interrupted before the deadline (recorded, announced, watched again)."""
    manager = app[sessions_key]
    await manager.settled(interview_id)  # an abandoned session still finishing its last answer

    def work(db: Session) -> dict[str, Any]:
        interview = visible_interview(db, who, interview_id)
        invitation = db.get(Invitation, interview.invitation_id)
        facts = Facts(deadline_passed=invitation is None or invitation.deadline <= utcnow())
        try:
            session_store.apply(db, interview, Event.REOPEN, facts, "hr", who.id, note)
        except Refused as refused:
            raise ApiError(refused.reason, status=refused.status) from None
        session_store.store_intervention(db, interview_id, who.id, "reopen", interview.question_index, None, note)
        return {"state": interview.state, "question_index": interview.question_index}

    result = await app[store_key].run(work)
    bus = app[bus_key]
    bus.publish("state", interview_id, state=result["state"], previous="abandoned", code="reopened",
                reason=TEXT["reopened"] + (f": {note}" if note else ""))
    bus.publish("intervention", interview_id, action="reopen", note=note, seconds=None, user=who.email,
                question_index=result["question_index"])
    try:
        await manager.session_for(interview_id)  # watched again: abandoned on time unless the candidate returns
    except HeldElsewhere:
        pass  # another process already watches it
    return result


class LinkIn(Body):
    pass


@router.route("POST", "/api/interviews/{interview_id}/link",
              summary="Issue a new link for the interview; the old link stops working at once",
              body=LinkIn, response=InvitationOut, errors=(404, 409), tag="interviews")
async def new_link(call: Call) -> InvitationOut:
    """Links are stored as hashes, so this is how HR shows a link again (audited)."""
    interview_id = call.int_param("interview_id")
    base = base_url(call.request)  # an unknown Host is refused before the old link is revoked
    sealer = link_sealer(call.request.app)
    issued = await call.request.app[store_key].run(lambda db: reissue_link(db, call.who, interview_id, sealer))
    await call.request.app[sessions_key].link_changed(interview_id, revoked=True)
    inv = issued.invitation
    return InvitationOut(id=inv.id, candidate_id=inv.candidate_id, interview_id=interview_id,  # type: ignore[arg-type]
                         url=issued.url(base), deadline=inv.deadline)


class RevokeIn(Body):
    pass


@router.route("POST", "/api/interviews/{interview_id}/revoke",
              summary="Revoke the interview's link (it stops working; a new one may be issued later)",
              body=RevokeIn, errors=(404, 409), tag="interviews")
async def revoke(call: Call) -> dict[str, Any]:
    interview_id = call.int_param("interview_id")
    invitation = await call.request.app[store_key].run(lambda db: revoke_link(db, call.who, interview_id))
    await call.request.app[sessions_key].link_changed(interview_id, revoked=True)
    return {"interview_id": interview_id, "link_revoked_at": invitation.link_revoked_at}


@router.route("POST", "/api/interviews/{interview_id}/deadline",
              summary="Change the deadline of an interview whose link still works", body=DeadlineIn,
              errors=(404, 409), tag="interviews")
async def deadline(call: Call) -> dict[str, Any]:
    interview_id = call.int_param("interview_id")
    body: DeadlineIn = call.body
    invitation = await call.request.app[store_key].run(
        lambda db: change_deadline(db, call.who, interview_id, body.deadline))
    await call.request.app[sessions_key].link_changed(interview_id, deadline=invitation.deadline)
    return {"interview_id": interview_id, "deadline": invitation.deadline}


@router.route("GET", "/api/interviews/{interview_id}/thumbnail.jpg",
              summary="A recent frame of the candidate's video (about once a second)", errors=(404,),
              content_type="image/jpeg", tag="interviews")
async def thumbnail(call: Call) -> web.Response:
    interview_id = call.int_param("interview_id")

    await call.request.app[store_key].run(lambda db: visible_interview(db, call.who, interview_id))
    manager = call.request.app[sessions_key]
    session = manager.sessions.get(interview_id)
    jpeg = None if session is None or session.peer is None else session.peer.thumbnail
    owner = await manager.owner_elsewhere(interview_id) if session is None else None
    if owner is not None:  # the process holding the interview has the frame
        jpeg = base64.b64decode((await manager.forward(owner, "thumbnail", interview_id))["jpeg"])
    if jpeg is None:
        raise NotFound("no video frame yet")
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})
