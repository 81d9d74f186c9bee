"""The candidate pool, shared by the company's HR users (an email is one candidate)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from server import audit
from server.auth import Principal
from server.errors import Conflict, Invalid, Malformed, NotFound
from server.resume_fields import EDUCATION_LEVELS, MAX_YEARS, levels_at_least
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


@dataclass(frozen=True, slots=True)
class PoolFilter:
    """The pool's filters on the structured fields (server/resume_fields.py); unknown values
    never pass a filter that is set."""

    education_min: str = ""  # a level of EDUCATION_LEVELS: that one or higher
    experience_min: float | None = None  # years, at least
    title: str = ""  # a part of the current title (case-insensitive)

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> PoolFilter:
        """From `education_min`, `experience_min` and `title` (empty = no filter)."""
        education = query.get("education_min", "").strip()
        if education and education not in EDUCATION_LEVELS:
            raise Invalid(f"education_min must be one of {', '.join(EDUCATION_LEVELS)}, got {education[:50]!r}")
        raw = query.get("experience_min", "").strip()
        years = None
        if raw:
            try:
                years = float(raw)
            except ValueError:
                raise Malformed(f"experience_min must be a number of years, got {raw[:50]!r}") from None
            if not 0 <= years <= MAX_YEARS:
                raise Invalid(f"experience_min must be between 0 and {MAX_YEARS:g}")
        return cls(education, years, query.get("title", "").replace("\x00", "").strip()[:200])


def _like(term: str) -> str:
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_candidates(db: Session, query: str = "", limit: int = 200,
                      pool_filter: PoolFilter | None = None) -> list[Candidate]:
    """Every word of `query` must appear in the name, email or resume (case-insensitive), and
    the candidate must pass `pool_filter`."""
    stmt = select(Candidate)
    f = pool_filter or PoolFilter()
    if f.education_min:
        stmt = stmt.where(col(Candidate.education_level).in_(levels_at_least(f.education_min)))
    if f.experience_min is not None:
        stmt = stmt.where(col(Candidate.years_experience) >= f.experience_min)
    if f.title:
        stmt = stmt.where(func.lower(Candidate.current_title).like(_like(f.title), escape="\\"))
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
        "education_level": candidate.education_level or None,
        "years_experience": candidate.years_experience,
        "current_title": candidate.current_title or None,
        "status": candidate.status,
        "created_at": candidate.created_at,
    }
    if with_resume:
        out["resume_text"] = candidate.resume_text
    return out
