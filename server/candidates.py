"""The candidate pool, shared by the company's HR users (an email is one candidate)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from server import audit
from server.auth import Principal
from server.errors import Conflict, NotFound
from server.schemas import CandidateIn
from server.tables import Candidate


def create_candidate(db: Session, who: Principal, body: CandidateIn) -> Candidate:
    if db.exec(select(Candidate).where(Candidate.email == body.email)).first() is not None:
        raise Conflict(f"a candidate with email {body.email} already exists")
    candidate = Candidate(
        name=body.name, email=body.email, resume_text=body.resume_text, time_zone=body.time_zone,
        created_by=who.id,
    )
    db.add(candidate)
    db.flush()
    audit.record(db, "hr", who.id, "candidate.create", "candidate", candidate.id)
    return candidate


def search_candidates(db: Session, query: str = "", limit: int = 200) -> list[Candidate]:
    """Every word of `query` must appear in the name, email or resume (case-insensitive)."""
    stmt = select(Candidate)
    for term in query.lower().split():
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        stmt = stmt.where(
            or_(
                func.lower(Candidate.name).like(like, escape="\\"),
                func.lower(Candidate.email).like(like, escape="\\"),
                func.lower(Candidate.resume_text).like(like, escape="\\"),
            )
        )
    return list(db.exec(stmt.order_by(col(Candidate.id).desc()).limit(limit)))


def get_candidate(db: Session, candidate_id: int) -> Candidate:
    candidate = db.get(Candidate, candidate_id)
    if candidate is None:
        raise NotFound(f"candidate {candidate_id} not found")
    return candidate


def candidate_out(candidate: Candidate, with_resume: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": candidate.id,
        "name": candidate.name,
        "email": candidate.email,
        "time_zone": candidate.time_zone or None,
        "status": candidate.status,
        "created_at": candidate.created_at,
    }
    if with_resume:
        out["resume_text"] = candidate.resume_text
    return out
