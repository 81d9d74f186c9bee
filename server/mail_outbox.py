"""The outbox: messages to candidates are stored (in the transaction that decides to send them)
before anything is sent, so a restart or a refusing mail server loses none. server/mail_sender.py
sends them; this module decides what is queued and reports each invitation's delivery.

How a delivery looks in the API: server/mail_delivery.py."""
from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, Sequence

from sqlmodel import Session, col, select

from server import webhook_events
from server.errors import Conflict
from server.interview_templates import questions_of
from server.invitations import Issued
from server.i18n import job_locale
from server.mail_templates import Values, render, wording
from server.settings import Settings
from server.store import stored_id
from server.tables import Candidate, Interview, Invitation, Job, OutboundMail, User, utcnow

# Interviews a reminder or a resent invitation may go to: not finished and nobody in it now.
REMINDABLE = ("invited", "consented", "interrupted")
CONTINUABLE = ("interrupted",)


def message_for(db: Session, settings: Settings, kind: str, interview: Interview,
                link_base: str, created_by: int | None) -> OutboundMail:
    """A message of `kind` to the interview's candidate, added to the session (not sent)."""
    invitation = db.get(Invitation, interview.invitation_id)
    candidate = db.get(Candidate, interview.candidate_id)
    job = db.get(Job, interview.job_id)
    assert invitation is not None and candidate is not None and job is not None
    inviter = db.get(User, invitation.created_by)
    questions = questions_of(db, interview.template_id)
    seconds = sum(q.time_limit_s for q, _ in questions)
    values = Values(
        candidate_name=candidate.name,
        job_title=job.title,
        deadline=invitation.deadline,
        time_zone=candidate.time_zone or settings.mail_time_zone,
        question_count=len(questions),
        minutes=max(1, math.ceil(seconds / 60)),
        contact_email=inviter.email if inviter is not None else (settings.mail_from or ""),
        language=job_locale(job.language),  # the candidate reads the job's language (server/i18n.py)
    )
    rendered = render(wording(db, kind, values.language), values)
    row = OutboundMail(
        kind=kind, invitation_id=invitation.id, to_addr=candidate.email, subject=rendered.subject,
        body_text=rendered.text, body_html=rendered.html, link_base=link_base, created_by=created_by,
    )
    db.add(row)
    return row


def announce(db: Session, settings: Settings, issued: Sequence[Issued], link_base: str,
             created_by: int) -> None:
    """Invitations just created: with mail on, one message each (sent by the outbox, which then
    emits `invitation.sent`); with mail off HR copies the links, so they count as sent now."""
    for one in issued:
        if settings.mail_on:
            message_for(db, settings, "invitation", one.interview, link_base, created_by)
        else:
            webhook_events.emit(db, webhook_events.INVITATION_SENT, sent_event(db, one.interview, by_mail=False))


def sent_event(db: Session, interview: Interview, *, by_mail: bool) -> dict[str, Any]:
    invitation = db.get(Invitation, interview.invitation_id)
    assert invitation is not None
    return {**webhook_events.about_interview(db, stored_id(interview)),
            "deadline": webhook_events.iso(invitation.deadline), "by_mail": by_mail}


def check_sendable(interview: Interview, kind: str) -> None:
    """409 unless HR may send `kind` (`invitation`, `reminder` or `continue`) now."""
    if interview.state in (CONTINUABLE if kind == "continue" else REMINDABLE):
        return
    if kind == "continue":
        raise Conflict(f"a link to continue is for an interrupted or abandoned interview; this one is "
                       f"{interview.state}")
    raise Conflict(f"this interview is {interview.state}: "
                   + ("the candidate is in it now" if interview.state in ("connecting", "live", "paused")
                      else "its link no longer works"))


def queue_reminders(db: Session, settings: Settings) -> int:
    """One reminder per unfinished interview once its deadline is within
    CANDOR_REMINDER_BEFORE_H (nobody in it at the moment); the number queued."""
    if not settings.mail_on or settings.reminder_before_h <= 0:
        return 0
    now = utcnow()
    horizon = now + timedelta(hours=settings.reminder_before_h)
    due = db.exec(
        select(Interview, Invitation)
        .join(Invitation, col(Invitation.id) == Interview.invitation_id)
        .where(col(Invitation.reminder_queued_at).is_(None))
        .where(col(Invitation.token_sealed).is_not(None))
        .where(Invitation.deadline > now)
        .where(Invitation.deadline <= horizon)
        .where(col(Interview.state).in_(REMINDABLE))
        .limit(500)
    ).all()
    queued = 0
    for interview, invitation in due:
        base = settings.public_url or _last_link_base(db, invitation.id)  # type: ignore[arg-type]
        invitation.reminder_queued_at = now
        db.add(invitation)
        if base:
            message_for(db, settings, "reminder", interview, base, None)
            queued += 1
    return queued


def _last_link_base(db: Session, invitation_id: int) -> str:
    row = db.exec(select(OutboundMail.link_base).where(OutboundMail.invitation_id == invitation_id)
                  .order_by(col(OutboundMail.id).desc()).limit(1)).first()
    return row or ""
