"""Shapes of the HR API's request and response bodies (validated at the edge; OpenAPI is
generated from these)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SIGNAL_RE = re.compile(
    r"^(keyword_hits:.+|keyword_density|word_count|speech_rate_wpm|filler_ratio|answer_seconds"
    r"|face_present_ratio|multiple_faces_ratio|eye_contact_ratio|smile_ratio|upright_ratio"
    r"|gesture_activity|coherence)$"
)
LANGUAGE_RE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"

# Largest id SQLite/PostgreSQL can hold (signed 64-bit); bigger ones cannot name a row, and the
# database driver refuses to bind them (a 500 if they got that far).
MAX_ID = 2**63 - 1
# How far ahead an invitation's deadline may be.
# Far enough for any real invitation (a test or an old client may still say 2099), and far from
# the calendar's end, where time-zone conversion overflows.
LATEST_DEADLINE = datetime(3000, 1, 1, tzinfo=timezone.utc)


def _email(value: str) -> str:
    value = value.strip().lower()
    if not EMAIL_RE.match(value):
        raise ValueError("not a valid email address")
    return value


def _stripped(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _keywords(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        v = v.strip()
        if not v:
            raise ValueError("keywords must not be empty strings")
        if v.lower() not in (o.lower() for o in out):
            out.append(v)
    return out


def _deadline(value: datetime) -> datetime:
    """An aware UTC time in the future and before the year 3000 (a time without zone is UTC).
    A far-off date whose zone conversion overflows is an invalid value, not a crash."""
    try:
        value = (value.replace(tzinfo=timezone.utc) if value.tzinfo is None
                 else value.astimezone(timezone.utc))
    except (OverflowError, ValueError):
        raise ValueError("is out of range (must be in the future and before the year 3000)") from None
    now = datetime.now(timezone.utc)
    if value <= now:
        raise ValueError("must be in the future")
    if value >= LATEST_DEADLINE:
        raise ValueError("must be before the year 3000")
    return value


Email = Annotated[str, Field(max_length=320), AfterValidator(_email)]
Text = Annotated[str, AfterValidator(_stripped)]
# A row id: anything outside 1..2^63-1 cannot name a row (422 in a body, 404 in a path).
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Deadline = Annotated[datetime, AfterValidator(_deadline)]


class Body(BaseModel):
    # allow_inf_nan=False: every float of every request body is finite (NaN would be stored as
    # NULL, Infinity would go back out as non-standard JSON).
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class LoginIn(Body):
    email: Email
    password: str = Field(max_length=1024)


class TokenOut(BaseModel):
    token: str
    expires_at: datetime
    role: str


class UserIn(Body):
    email: Email
    password: str = Field(min_length=12, max_length=1024)
    role: Literal["admin", "hr"] = "hr"


class UserOut(BaseModel):
    id: int
    email: str
    role: str


class RuleIn(Body):
    signal: str = Field(
        max_length=120, pattern=SIGNAL_RE.pattern,
        description="A signal name (see DESIGN.md), e.g. keyword_hits:procedure or eye_contact_ratio",
    )
    op: Literal[">=", ">", "<=", "<", "=="]
    value: float
    points: float = Field(ge=-100, le=100)


class DimensionIn(Body):
    name: Annotated[Text, Field(max_length=100)]
    description: str = Field(default="", max_length=2000)
    keywords: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=200),
                        AfterValidator(_keywords)] = []
    rules: list[RuleIn] = Field(default=[], max_length=50)


class JobIn(Body):
    title: Annotated[Text, Field(max_length=200)]
    language: Optional[str] = Field(default=None, pattern=LANGUAGE_RE)
    dimensions: list[DimensionIn] = Field(min_length=1, max_length=30)
    analyze_expression: bool = True
    analyze_eye_contact: bool = True
    analyze_posture: bool = True


class DimensionRef(BaseModel):
    id: int
    name: str


class JobCreated(BaseModel):
    id: int
    dimensions: list[DimensionRef]


class QuestionDimensionIn(Body):
    dimension_id: Id
    weight: float = Field(gt=0, le=100)


class QuestionIn(Body):
    text: Annotated[Text, Field(max_length=2000)]
    time_limit_s: int = Field(ge=10, le=3600)
    dimensions: list[QuestionDimensionIn] = Field(min_length=1, max_length=3)


class TemplateIn(Body):
    job_id: Id
    name: Annotated[Text, Field(max_length=200)]
    questions: list[QuestionIn] = Field(min_length=1, max_length=50)


class Created(BaseModel):
    id: int


class CandidateIn(Body):
    name: Annotated[Text, Field(max_length=200)]
    email: Email
    resume_text: str = Field(default="", max_length=100_000)


class InvitationIn(Body):
    template_id: Id
    candidate_ids: list[Id] = Field(min_length=1, max_length=500)
    deadline: Deadline = Field(description="ISO 8601; a time without zone is taken as UTC; in the "
                                           "future and before the year 3000")


class InvitationOut(BaseModel):
    id: int
    candidate_id: int
    interview_id: int
    url: str
    deadline: datetime


class InvitationsCreated(BaseModel):
    invitations: list[InvitationOut]


class AccessIn(Body):
    email: Email


class ErrorOut(BaseModel):
    error: str
