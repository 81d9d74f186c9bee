"""Invitations: one unguessable link per candidate and interview, valid until its deadline or
until the interview is finished. Creating one also freezes that candidate's question weights.

A link's token is shown once, when it is issued; only its hash is stored. HR who needs the link
again re-issues it: a new token, the old link stops working at once (audited)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlmodel import Session, select

from server import audit, session_store
from server.auth import Principal, token_digest
from server.errors import Conflict, Gone, Invalid, NotFound
from server.interview_machine import FINISHED, Event, Facts, Refused
from server.interview_templates import get_template, questions_of
from server.jobs import dimensions_of, get_job
from server.mail_delivery import delivery_of
from server.schemas import InvitationIn
from server.sealing import Sealer
from server.store import stored_id
from server.tables import (
    Candidate, Interview, InterviewWeight, Invitation, Template, utcnow,
)
from server.versions import check_invitable, interview_versions

# States after which the link no longer opens (one definition: server/interview_machine.py).
FINISHED_STATES = frozenset(s.value for s in FINISHED)


def to_utc(value: datetime) -> datetime:
    """A time without zone is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def resume_matches(resume: str, keywords: list[str]) -> list[str]:
    """Keywords of a dimension found in the resume: case-insensitive substring match, so it also
    works for languages written without spaces."""
    text = resume.lower()
    return [k for k in keywords if k.lower() in text]


@dataclass(frozen=True, slots=True)
class Issued:
    """An invitation with its link's token, which exists only here (the database has its hash)."""

    invitation: Invitation
    interview: Interview
    token: str

    def url(self, base_url: str) -> str:
        return f"{base_url}/i/{self.token}"


def _new_token(invitation: Invitation, sealer: Sealer | None) -> str:
    token = secrets.token_urlsafe(32)  # 256 bits
    invitation.token_sha256 = token_digest(token)
    # Sealed only when mail is on: the outbox must put the link in messages later.
    invitation.token_sealed = sealer.seal(token) if sealer is not None else None
    invitation.token_issued_at = utcnow()
    invitation.link_revoked_at = None
    return token


def create_invitations(db: Session, who: Principal, body: InvitationIn, boost: float,
                       sealer: Sealer | None = None) -> list[Issued]:
    template, job = get_template(db, who, body.template_id)
    check_invitable(db, template, job)  # 409: archived, or linking a retired dimension
    deadline = to_utc(body.deadline)
    if deadline <= utcnow():
        raise Invalid("deadline must be in the future")
    ids = list(dict.fromkeys(body.candidate_ids))
    if len(ids) != len(body.candidate_ids):
        raise Invalid("candidate_ids lists a candidate twice")
    candidates = {c.id: c for c in db.exec(select(Candidate).where(Candidate.id.in_(ids)))}  # type: ignore[union-attr]
    missing = [i for i in ids if i not in candidates]
    if missing:
        raise NotFound(f"candidates not found: {', '.join(map(str, missing))}")
    open_ones = db.exec(
        select(Invitation, Interview)
        .join(Interview, Interview.invitation_id == Invitation.id)  # type: ignore[arg-type]
        .where(Invitation.template_id == template.id)
        .where(Invitation.candidate_id.in_(ids))  # type: ignore[attr-defined]
        .where(Invitation.deadline > utcnow())
        .where(Interview.state.not_in(FINISHED_STATES))  # type: ignore[attr-defined]
    ).all()
    if open_ones:
        already = ", ".join(str(inv.candidate_id) for inv, _ in open_ones)
        raise Conflict(f"already invited to this template with an open link: candidates {already}")

    questions = questions_of(db, template.id)  # type: ignore[arg-type]
    keywords = {d.id: d.keywords for d in dimensions_of(db, job.id)}  # type: ignore[arg-type]
    created: list[Issued] = []
    for cid in ids:
        candidate = candidates[cid]
        invitation = Invitation(
            token_sha256="",
            template_id=template.id,  # type: ignore[arg-type]
            candidate_id=cid,
            deadline=deadline,
            created_by=who.id,
        )
        token = _new_token(invitation, sealer)
        db.add(invitation)
        db.flush()
        interview = Interview(
            invitation_id=invitation.id,  # type: ignore[arg-type]
            candidate_id=cid,
            template_id=template.id,  # type: ignore[arg-type]
            job_id=job.id,  # type: ignore[arg-type]
            question_count=len(questions),
            # The newest versions, frozen: later edits make new versions, never change this one.
            job_version=job.version,
            template_version=template.version,
        )
        db.add(interview)
        db.flush()
        for question, links in questions:
            for link in links:
                matched = resume_matches(candidate.resume_text, keywords.get(link.dimension_id, []))
                db.add(
                    InterviewWeight(
                        interview_id=interview.id,  # type: ignore[arg-type]
                        question_id=question.id,  # type: ignore[arg-type]
                        dimension_id=link.dimension_id,
                        base_weight=link.weight,
                        weight=link.weight * boost if matched else link.weight,
                        matched_keywords=matched,
                    )
                )
        if candidate.status == "new":
            candidate.status = "invited"
            db.add(candidate)
        audit.record(
            db, "hr", who.id, "invitation.create", "interview", interview.id,
            candidate_id=cid, template_id=template.id, deadline=deadline.isoformat(),
            job_version=job.version, template_version=template.version,
        )
        created.append(Issued(invitation, interview, token))
    db.flush()
    return created


def reissue_link(db: Session, who: Principal, interview_id: int, sealer: Sealer | None = None) -> Issued:
    """A new link for an interview that can still be taken; the old one stops working (409 when
    the interview is finished or its deadline passed: a new link would not open either)."""
    link = _changeable(db, who, interview_id, "no new link")
    token = _new_token(link.invitation, sealer)
    db.add(link.invitation)
    audit.record(db, "hr", who.id, "invitation.reissue", "interview", interview_id,
                 candidate_id=link.invitation.candidate_id)
    return Issued(link.invitation, link.interview, token)


def _changeable(db: Session, who: Principal, interview_id: int, what: str) -> OpenLink:
    """The interview's link, when it can still be changed (409 once the interview is finished or
    its deadline passed)."""
    link = open_link_of(db, visible_interview(db, who, interview_id))
    if link.closed:
        raise Conflict(f"{what}: {link.closed.replace('; the link no longer works', '')}")
    return link


def revoke_link(db: Session, who: Principal, interview_id: int) -> Invitation:
    """The link stops working (e.g. sent to the wrong address); the interview itself stays as it
    is, and a new link may be issued later (audited)."""
    link = _changeable(db, who, interview_id, "nothing to revoke")
    invitation = link.invitation
    # Nobody holds a token for this hash: the old link is as unknown as a mistyped one.
    invitation.token_sha256 = token_digest(secrets.token_urlsafe(32))
    invitation.token_sealed = None
    invitation.link_revoked_at = utcnow()
    db.add(invitation)
    audit.record(db, "hr", who.id, "invitation.revoke", "interview", interview_id,
                 candidate_id=invitation.candidate_id)
    return invitation


def change_deadline(db: Session, who: Principal, interview_id: int, deadline: datetime) -> Invitation:
    """A later (or earlier) deadline for a link that still works (audited, old and new)."""
    link = _changeable(db, who, interview_id, "the deadline cannot change")
    invitation = link.invitation
    old = invitation.deadline
    invitation.deadline = to_utc(deadline)
    db.add(invitation)
    audit.record(db, "hr", who.id, "invitation.deadline", "interview", interview_id,
                 old=to_utc(old).isoformat(), new=invitation.deadline.isoformat())
    return invitation


@dataclass(frozen=True, slots=True)
class OpenLink:
    invitation: Invitation
    interview: Interview
    closed: str | None = None  # why the link no longer works

    def check(self) -> OpenLink:
        """Raise 410 when the link is closed (call after the lookup's transaction committed,
        so that marking an interview expired is kept)."""
        if self.closed:
            raise Gone(self.closed)
        return self


def open_link(db: Session, token: str) -> OpenLink:
    """The interview behind a candidate's link: 404 when unknown. Past its deadline an
    interview not yet begun becomes `expired` (the state machine's DEADLINE, recorded)."""
    if not token or len(token) > 64:
        raise NotFound("this interview link is not valid")
    invitation = db.exec(select(Invitation).where(Invitation.token_sha256 == token_digest(token))).first()
    if invitation is None:
        raise NotFound("this interview link is not valid (a link HR replaced by a new one no longer works)")
    interview = db.exec(select(Interview).where(Interview.invitation_id == invitation.id)).one()
    return open_link_of(db, interview, invitation)


def open_link_of(db: Session, interview: Interview, invitation: Invitation | None = None) -> OpenLink:
    """Whether the interview's link opens (see `open_link`)."""
    if invitation is None:
        invitation = db.get(Invitation, interview.invitation_id)
        assert invitation is not None
    if interview.state in FINISHED_STATES:
        return OpenLink(invitation, interview, f"this interview is {interview.state}; the link no longer works")
    if invitation.deadline <= utcnow():
        try:
            session_store.apply(db, interview, Event.DEADLINE, Facts(deadline_passed=True), "system")
        except Refused:
            pass  # begun before the deadline: the candidate may finish it
        else:
            return OpenLink(invitation, interview,
                            "the deadline of this interview has passed; the link no longer works")
    return OpenLink(invitation, interview)


def visible_interview(db: Session, who: Principal, interview_id: int) -> Interview:
    """The interview, or 404 when it does not exist or its job is not visible to this user."""
    interview = db.get(Interview, interview_id)
    if interview is None:
        raise NotFound(f"interview {interview_id} not found")
    try:
        get_job(db, who, interview.job_id)
    except NotFound:
        raise NotFound(f"interview {interview_id} not found") from None
    return interview


def interview_detail(db: Session, who: Principal, interview_id: int) -> dict[str, Any]:
    interview = visible_interview(db, who, interview_id)
    job = get_job(db, who, interview.job_id)
    invitation = db.get(Invitation, interview.invitation_id)
    candidate = db.get(Candidate, interview.candidate_id)
    weights = db.exec(select(InterviewWeight).where(InterviewWeight.interview_id == interview.id)).all()
    job_data, template_data = interview_versions(db, interview)  # as invited, whatever edits came later
    question_pos = {q["id"]: q["index"] for q in template_data["questions"]}
    template = db.get(Template, interview.template_id)
    return {
        "id": interview.id,
        "invitation_id": interview.invitation_id,
        "state": interview.state,
        "question_index": interview.question_index,
        "question_count": interview.question_count,
        "consent": interview.consent,
        "job": {"id": job.id, "title": job.title, "language": job.language, "version": interview.job_version,
                "title_at_version": job_data["title"], "current_version": job.version},
        "template_id": interview.template_id,
        # The versions the interview was invited with (GET /api/jobs/{id}?version=N shows one).
        "job_version": interview.job_version,
        "template_version": interview.template_version,
        "template": {"id": interview.template_id, "name": template_data["name"],
                     "version": interview.template_version,
                     "current_version": template.version if template is not None else None},
        "candidate": {"id": candidate.id, "name": candidate.name, "email": candidate.email},  # type: ignore[union-attr]
        "deadline": invitation.deadline,  # type: ignore[union-attr]
        # The link itself is not kept (only its hash): POST .../link issues a new one.
        "link_issued_at": invitation.token_issued_at,  # type: ignore[union-attr]
        "link_revoked_at": invitation.link_revoked_at,  # type: ignore[union-attr]
        # With mail on: the latest message's state (server/mail_delivery.py); null when none.
        "delivery": delivery_of(db, [stored_id(invitation)]).get(stored_id(invitation)),  # type: ignore[arg-type]
        "created_at": interview.created_at,
        "started_at": interview.started_at,
        "completed_at": interview.completed_at,
        "weights": [
            {
                "question_index": question_pos.get(w.question_id),
                "dimension_id": w.dimension_id,
                "base_weight": w.base_weight,
                "weight": w.weight,
                "matched_keywords": w.matched_keywords,
            }
            for w in sorted(weights, key=lambda w: (question_pos.get(w.question_id, 0), w.dimension_id))
        ],
    }
