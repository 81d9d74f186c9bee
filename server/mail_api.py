"""Mail in the HR API: whether it is on, the wording of each message (with its variables), the
outbox, and sending one message again (an invitation, a reminder, a continue link)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from sqlmodel import Session, col, func, select

from server import audit
from server.api import router
from server.api_router import Call, QueryParam
from server.errors import Conflict, Malformed, NotFound
from server.interview_controls import reopen_interview
from server.invitations import reissue_link, visible_interview
from server.mail_delivery import delivery_view
from server.mail_outbox import check_sendable, message_for
from server.mail_sender import link_sealer, wake
from server.mail_templates import KIND_LABELS, KINDS, VARIABLES, reset, save, wording
from server.schemas import Body
from server.sessions import sessions_key
from server.settings import Settings
from server.tables import Invitation, OutboundMail
from server.web import base_url, settings_key, store_key

MAIL_OFF = "email is off: set CANDOR_SMTP_URL and CANDOR_MAIL_FROM to send mail (until then, copy the links)"


class WordingIn(Body):
    subject: str = Field(max_length=300)
    body: str = Field(max_length=20_000)


class SendIn(Body):
    kind: Literal["invitation", "reminder", "continue"] = "invitation"


def mail_status(db: Session, settings: Settings) -> dict[str, Any]:
    return {
        "on": settings.mail_on,
        "from": settings.mail_from if settings.mail_on else None,
        "reminder_before_h": settings.reminder_before_h,
        "time_zone": settings.mail_time_zone,
        "templates": [_wording_out(db, kind) for kind in KINDS],
        "variables": [{"name": name, "description": text} for name, text in VARIABLES.items()],
    }


def _wording_out(db: Session, kind: str) -> dict[str, Any]:
    w = wording(db, kind)
    return {"kind": kind, "label": KIND_LABELS[kind], "subject": w.subject, "body": w.body, "default": w.is_default}


def _kind(call: Call) -> str:
    kind = call.request.match_info["kind"]
    if kind not in KINDS:
        raise NotFound(f"no message kind {kind!r}: one of {', '.join(KINDS)}")
    return kind


@router.route("GET", "/api/mail", summary="Whether mail is on, the messages' wording and its variables",
              tag="mail")
async def get_mail(call: Call) -> dict[str, Any]:
    settings = call.request.app[settings_key]
    return await call.request.app[store_key].run(lambda db: mail_status(db, settings))


@router.route("PUT", "/api/mail/templates/{kind}", summary="Change the wording of one kind of message",
              body=WordingIn, errors=(404, 422), tag="mail")
async def put_wording(call: Call) -> dict[str, Any]:
    kind = _kind(call)
    body: WordingIn = call.body

    def work(db: Session) -> dict[str, Any]:
        save(db, kind, body.subject, body.body, call.who.id)
        audit.record(db, "hr", call.who.id, "mail.template", "mail_template", None, kind=kind)
        db.flush()
        return _wording_out(db, kind)

    return await call.request.app[store_key].run(work)


@router.route("DELETE", "/api/mail/templates/{kind}", summary="Go back to the default wording",
              errors=(404,), tag="mail")
async def delete_wording(call: Call) -> dict[str, Any]:
    kind = _kind(call)

    def work(db: Session) -> dict[str, Any]:
        reset(db, kind)
        audit.record(db, "hr", call.who.id, "mail.template_reset", "mail_template", None, kind=kind)
        db.flush()
        return _wording_out(db, kind)

    return await call.request.app[store_key].run(work)


@router.route("POST", "/api/interviews/{interview_id}/mail",
              summary="Email the candidate again: the invitation, a reminder, or a continue link "
                      "(a new link is issued first when the current one cannot be mailed)",
              body=SendIn, status=202, errors=(404, 409), tag="mail")
async def post_mail(call: Call) -> dict[str, Any]:
    result = await send_again(call.request.app, call.who, call.int_param("interview_id"), call.body.kind,
                              base_url(call.request))
    return result


async def send_again(app: Any, who: Any, interview_id: int, kind: str, base: str) -> dict[str, Any]:
    """Queue one message; shared by the API and the pages."""
    settings = app[settings_key]
    sealer = link_sealer(app)
    if sealer is None:
        raise Conflict(MAIL_OFF)
    if kind == "continue":
        state = await app[store_key].run(lambda db: visible_interview(db, who, interview_id).state)
        if state == "abandoned":
            # The candidate is asked to continue: the interview must be open again first.
            await reopen_interview(app, who, interview_id, "reopened to send a link to continue")

    def work(db: Session) -> dict[str, Any]:
        interview = visible_interview(db, who, interview_id)
        check_sendable(interview, kind)
        invitation = db.get(Invitation, interview.invitation_id)
        assert invitation is not None
        new_link = False
        if invitation.token_sealed is None:
            # Issued while mail was off, or revoked: only its hash exists, so mail a new link.
            reissue_link(db, who, interview_id, sealer)
            new_link = True
        row = message_for(db, settings, kind, interview, base, who.id)
        audit.record(db, "hr", who.id, f"mail.{kind}", "interview", interview_id, new_link=new_link)
        db.flush()
        return {"delivery": delivery_view(row), "new_link": new_link}

    result = await app[store_key].run(work)
    if result["new_link"]:
        await app[sessions_key].link_changed(interview_id, revoked=True)
    wake(app)
    return result


@router.route("GET", "/api/mail/outbox", summary="The outbox, newest first (admin)", auth="admin",
              query=(QueryParam("state", "queued, sending, sent, failed or cancelled"),
                     QueryParam("limit", "at most this many (1-500, default 100)", "string"),
                     QueryParam("offset", "skip this many", "string")), tag="mail")
async def get_outbox(call: Call) -> dict[str, Any]:
    state = call.request.query.get("state") or None
    if state is not None and state not in ("queued", "sending", "sent", "failed", "cancelled"):
        raise Malformed(f"state {state!r}: one of queued, sending, sent, failed, cancelled")
    limit, offset = _count(call, "limit", 100, 1, 500), _count(call, "offset", 0, 0, 10**9)

    def work(db: Session) -> dict[str, Any]:
        query = select(OutboundMail)
        if state is not None:
            query = query.where(OutboundMail.state == state)
        total = db.exec(select(func.count()).select_from(query.subquery())).one()
        rows = db.exec(query.order_by(col(OutboundMail.id).desc()).offset(offset).limit(limit)).all()
        return {"total": total, "messages": [
            {"id": r.id, "kind": r.kind, "invitation_id": r.invitation_id, "to": r.to_addr, "subject": r.subject,
             "state": r.state, "attempts": r.attempts, "error": r.last_error or None, "queued_at": r.created_at,
             "sent_at": r.sent_at, "retry_at": r.next_attempt_at if r.state == "failed" else None}
            for r in rows]}

    return await call.request.app[store_key].run(work)


def _count(call: Call, name: str, default: int, low: int, high: int) -> int:
    raw = call.request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Malformed(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise Malformed(f"{name} must be between {low} and {high}")
    return value
