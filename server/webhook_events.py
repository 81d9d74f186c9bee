"""Events other systems (an ATS) can subscribe to. `emit` stores one delivery per subscribed hook
in the caller's transaction, so an event exists exactly when the change it reports was committed;
server/webhooks.py sends them (signed, retried)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlmodel import Session, select

from server.tables import Candidate, Interview, Job, Webhook, WebhookDelivery

INVITATION_SENT = "invitation.sent"  # the message was accepted by SMTP, or (mail off) the link was issued
INTERVIEW_COMPLETED = "interview.completed"
DECISION_MADE = "decision.made"
EVENTS = (INVITATION_SENT, INTERVIEW_COMPLETED, DECISION_MADE)


def emit(db: Session, event: str, data: dict[str, Any]) -> int:
    """Queue `event` for every active hook that subscribed to it; the number queued."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    hooks = db.exec(select(Webhook).where(Webhook.active == True)).all()  # noqa: E712
    queued = 0
    for hook in hooks:
        if event in hook.events:
            db.add(WebhookDelivery(webhook_id=hook.id, event=event, payload=data))  # type: ignore[arg-type]
            queued += 1
    return queued


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z (the database gives naive UTC times back)."""
    if moment is None:
        return None
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def about_interview(db: Session, interview_id: int) -> dict[str, Any]:
    """What every interview event carries, so an ATS can match it: the ids, the candidate's
    name and email, the job's title."""
    interview = db.get(Interview, interview_id)
    if interview is None:
        raise LookupError(f"interview {interview_id} is gone")
    candidate = db.get(Candidate, interview.candidate_id)
    job = db.get(Job, interview.job_id)
    # The same keys as `invitation.sent` (server/mail_outbox.py sent_event): name and email
    # are the candidate's.
    return {"interview_id": interview_id, "invitation_id": interview.invitation_id, "job_id": interview.job_id,
            "job_title": job.title if job else None, "template_id": interview.template_id,
            "candidate_id": interview.candidate_id, "name": candidate.name if candidate else None,
            "email": candidate.email if candidate else None}
