"""Shapes of the HR API's request and response bodies (validated at the edge; OpenAPI is
generated from these)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from server.review_schemas import ClipOut, QuestionRecordingOut, ReviewOut
from server.signal_names import (
    KEYWORD_PREFIX, LANGUAGE_SIGNALS, MENTIONS_PREFIX, VISION_SIGNALS, valid_signals_text,
)

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
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
    signal: Annotated[str, AfterValidator(_signal_name)] = Field(
        max_length=120,
        description="A signal name (see DESIGN.md): " + valid_signals_text(),
    )
    op: Literal[">=", ">", "<=", "<", "=="]
    value: float
    points: float = Field(ge=-100, le=100)
    scope: Literal["answer", "interview"] = Field(
        default="answer",
        description='"answer": checked on each answer; "interview": on the signal over all counted answers '
                    "linked to the dimension (the mean; for mentions: the share of those answers that mention "
                    "the phrase, 0-1)")


def _signal_name(signal: str) -> str:
    """A known signal name (a mentions: phrase trimmed), or ValueError naming the valid ones.
    Whether a keyword_hits: keyword is the dimension's is checked by DimensionIn."""
    if signal in LANGUAGE_SIGNALS or signal in VISION_SIGNALS:
        return signal
    if signal.startswith(KEYWORD_PREFIX) and signal[len(KEYWORD_PREFIX):].strip():
        return signal
    if signal.startswith(MENTIONS_PREFIX) and signal[len(MENTIONS_PREFIX):].strip():
        return MENTIONS_PREFIX + signal[len(MENTIONS_PREFIX):].strip()
    raise ValueError(f"unknown signal {signal!r}; valid signals: {valid_signals_text()}")


def _keyword_signal(signal: str, keywords: list[str]) -> str:
    """A keyword_hits: signal spelt as the dimension spells the keyword, or ValueError."""
    if not signal.startswith(KEYWORD_PREFIX):
        return signal
    wanted = signal[len(KEYWORD_PREFIX):].strip().lower()
    match = next((k for k in keywords if k.lower() == wanted), None)
    if match is None:
        have = ", ".join(keywords) or "none"
        raise ValueError(f"unknown signal {signal!r}: keyword_hits: needs one of the dimension's keywords "
                         f"({have}); valid signals: {valid_signals_text()}")
    return KEYWORD_PREFIX + match


class DimensionIn(Body):
    name: Annotated[Text, Field(max_length=100)]
    description: str = Field(default="", max_length=2000)
    keywords: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=200),
                        AfterValidator(_keywords)] = []
    rules: list[RuleIn] = Field(default=[], max_length=50)
    weight: float = Field(default=1.0, gt=0, le=1000,
                          description="Relative weight of the dimension in the overall score")

    @model_validator(mode="after")
    def _signals_known(self) -> DimensionIn:
        for n, rule in enumerate(self.rules, start=1):
            try:
                rule.signal = _keyword_signal(rule.signal, self.keywords)
            except ValueError as exc:
                raise ValueError(f"rule {n}: {exc}") from None
        return self


class JobIn(Body):
    title: Annotated[Text, Field(max_length=200)]
    language: Optional[str] = Field(default=None, pattern=LANGUAGE_RE)
    dimensions: list[DimensionIn] = Field(min_length=1, max_length=30)
    analyze_expression: bool = True
    analyze_eye_contact: bool = True
    analyze_posture: bool = True
    jurisdiction: str = Field(default="default", max_length=32,
                              description="Jurisdiction profile id (GET /api/jurisdictions): notice, consent, "
                                          "which analyses may run, retention")
    family: Annotated[str, Field(max_length=40, description="Job family (e.g. engineering): validity is also "
                                                           "analysed across the jobs of one family")] = ""


class DimensionRef(BaseModel):
    id: int
    name: str


class JobFamilyIn(Body):
    family: Annotated[str, Field(max_length=40, description="The job family; \"\" for none")]


class JobCreated(BaseModel):
    id: int
    dimensions: list[DimensionRef]


class QuestionDimensionIn(Body):
    dimension_id: Id
    weight: float = Field(gt=0, le=100)


QUESTION_KINDS = ("structured", "situational", "follow_up")
QuestionKind = Literal["structured", "situational", "follow_up"]


class QuestionIn(Body):
    text: Annotated[Text, Field(max_length=2000)]
    time_limit_s: int = Field(ge=10, le=3600)
    dimensions: list[QuestionDimensionIn] = Field(min_length=1, max_length=3)
    kind: QuestionKind = Field(
        default="structured",
        description="structured: asked as written; situational: `scenario` is shown before the question; "
                    "follow_up: asked only when the answer to the question before it mentioned none of the "
                    "keywords of this question's dimensions (else skipped by rule, not held against the "
                    "candidate)")
    scenario: str = Field(default="", max_length=4000,
                          description="The situation the candidate reads first (situational questions only)")

    @model_validator(mode="after")
    def _kind_fits(self) -> QuestionIn:
        self.scenario = self.scenario.strip()
        if self.kind == "situational" and not self.scenario:
            raise ValueError("a situational question needs its scenario text")
        if self.kind != "situational" and self.scenario:
            raise ValueError("only a situational question has a scenario")
        return self


class TemplateIn(Body):
    job_id: Id
    name: Annotated[Text, Field(max_length=200)]
    questions: list[QuestionIn] = Field(min_length=1, max_length=50)


class Created(BaseModel):
    id: int


def _time_zone(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone name (e.g. Europe/Berlin, Asia/Seoul, UTC)") from None
    return value


class CandidateIn(Body):
    name: Annotated[Text, Field(max_length=200)]
    email: Email
    resume_text: str = Field(default="", max_length=100_000)
    time_zone: Annotated[str, AfterValidator(_time_zone)] = Field(
        default="", max_length=64,
        description="IANA time zone for the deadline in messages to the candidate (e.g. Europe/Berlin); "
                    "empty: the server's CANDOR_MAIL_TIME_ZONE")


class InvitationIn(Body):
    template_id: Id
    candidate_ids: list[Id] = Field(min_length=1, max_length=500)
    deadline: Deadline = Field(description="ISO 8601; a time without zone is taken as UTC; in the "
                                           "future and before the year 3000")


class DeadlineIn(Body):
    deadline: Deadline = Field(description="ISO 8601; a time without zone is taken as UTC; in the future "
                                           "and before the year 3000")


class InvitationOut(BaseModel):
    id: int
    candidate_id: int
    interview_id: int
    url: str
    deadline: datetime
    # With mail on (CANDOR_SMTP_URL): {state: queued|sent|failed, error?, ...}; null with mail off.
    delivery: Optional[dict[str, Any]] = None


class InvitationsCreated(BaseModel):
    invitations: list[InvitationOut]


class AccessIn(Body):
    email: Email


class ErrorOut(BaseModel):
    error: str


# --- the report (GET /api/interviews/{id}/report; built in server/reports.py) ---------------------

class PercentileOut(BaseModel):
    value: Optional[float] = Field(description="Share (0-100) of the compared interviews scored lower, ties "
                                               "counting half; null when too few to compare or not compared")
    count: int = Field(description="Completed, sufficiently covered interviews of the job compared with")


class OverallPercentileOut(PercentileOut):
    text: str


class ResumeBoostOut(BaseModel):
    dimension_id: int
    name: str
    factor: float = Field(description="The dimension's weight in this candidate's overall is multiplied by this "
                                      "(CANDOR_RESUME_BOOST when invited)")
    keywords: list[str] = Field(description="The dimension's keywords found in the resume")


class OverallOut(BaseModel):
    score: Optional[float] = Field(description="0-100: mean of the assessed dimensions weighted by the job's "
                                               "dimension weights (x the resume boost); null when none assessed")
    coverage: float = Field(description="0-1: share of the job's dimension weight (of the dimensions the "
                                        "interview asks about) that was assessed")
    min_coverage: float = Field(description="CANDOR_MIN_COVERAGE: below it, no recommendation and no percentile")
    sufficient: bool
    resume_boosts: list[ResumeBoostOut]
    text: str


class DimensionBoostOut(BaseModel):
    factor: float
    keywords: list[str]


class DimensionReportOut(BaseModel):
    id: int
    name: str
    weight: float = Field(description="The job's relative weight of the dimension")
    boost: Optional[DimensionBoostOut] = Field(description="Set when the resume matched: applies to the overall "
                                                           "only; the dimension score is not boosted")
    status: Literal["assessed", "not_assessed"]
    score: Optional[float] = Field(description="0-100; null when not assessed (no counted answer with evidence)")
    reason: Optional[str] = Field(description="Why the dimension was not assessed")
    answers: int = Field(description="Counted answers behind the score")
    percentile: PercentileOut
    evidence: list[dict[str, Any]]


class WarningOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: Literal["no_speech", "no_face", "no_video", "insufficient_evidence", "not_assessed", "not_reached",
                  "network_fault"]
    text: str


class RecommendationOut(BaseModel):
    decision: Literal["recommend", "second_interview", "not_recommended", "insufficient_evidence"]
    reason: str


class ReportOut(BaseModel):
    """A completed interview's report. `warnings` come first: answers without usable evidence
    (nothing recognised, no face, no frames), too little assessed, questions never reached."""

    model_config = ConfigDict(extra="allow")
    interview_id: int
    warnings: list[WarningOut]
    overall: OverallOut
    overall_score: Optional[float] = Field(description="The same as overall.score")
    dimensions: list[DimensionReportOut]
    questions: list[QuestionRecordingOut] = Field(description="Per question and attempt: its signals, scores, "
                                                             "gaps and full recording (more fields than listed)")
    clips: list[ClipOut]
    review: ReviewOut
    percentile: OverallPercentileOut = Field(description="The overall's percentile among the job's completed, "
                                                         "sufficiently covered interviews")
    recommendation: RecommendationOut
    interventions: list[dict[str, Any]]


# --- editing and versions (server/versions.py) ----------------------------------------------

class DimensionEdit(DimensionIn):
    id: Optional[Id] = Field(default=None, description="An existing dimension of the job (kept, possibly "
                                                       "renamed, with its id); none: a new dimension (or the "
                                                       "retired one of the same name, brought back)")


class JobEdit(Body):
    """A new version of a job: what is left out stays as it was. `dimensions`, when given, is the
    whole new list: a dimension of the job not listed is retired (kept for older interviews)."""

    title: Optional[Annotated[Text, Field(max_length=200)]] = None
    dimensions: Optional[list[DimensionEdit]] = Field(default=None, min_length=1, max_length=30)
    note: str = Field(default="", max_length=500, description="Why it changed (shown in the version history)")


class QuestionEdit(QuestionIn):
    id: Optional[Id] = Field(default=None, description="An existing question of the template (kept with its "
                                                       "id, possibly reworded or moved); none: a new question")


class TemplateEdit(Body):
    """A new version of a template; `questions`, when given, is the whole new list in order: a
    question not listed is removed from the new version (kept for older interviews)."""

    name: Optional[Annotated[Text, Field(max_length=200)]] = None
    questions: Optional[list[QuestionEdit]] = Field(default=None, min_length=1, max_length=50)
    note: str = Field(default="", max_length=500, description="Why it changed (shown in the version history)")


class TemplateCopyIn(Body):
    job_id: Id = Field(description="The job to copy the template into; each question's dimensions are mapped "
                                   "to the dimensions of the same name there")
    name: Optional[Annotated[Text, Field(max_length=200)]] = Field(default=None,
                                                                   description="Default: the source's name")


class VersionSaved(BaseModel):
    id: int
    version: int
    changed: bool = Field(description="False: the edit changed nothing, so no version was saved")
    changes: list[str]
    # Templates whose newest version links a dimension this edit retired: they refuse new
    # invitations (409) until edited.
    templates_to_update: list[dict[str, Any]] = []


class BankQuestionIn(Body):
    """HR's own question saved to the question bank (server/question_bank.py)."""

    family: Annotated[Text, Field(max_length=40, description="Job family, e.g. engineering, sales, "
                                                              "customer_service, manufacturing_safety, management")]
    language: str = Field(default="en", pattern=LANGUAGE_RE, max_length=20)
    text: Annotated[Text, Field(max_length=2000)]
    kind: QuestionKind = "structured"
    scenario: str = Field(default="", max_length=4000)
    dimensions: list[Annotated[Text, Field(max_length=100)]] = Field(
        min_length=1, max_length=3, description="Typical dimension names the question assesses")
    time_limit_s: int = Field(default=120, ge=10, le=3600)

    @model_validator(mode="after")
    def _kind_fits(self) -> BankQuestionIn:
        self.scenario = self.scenario.strip()
        self.family = self.family.strip().lower().replace(" ", "_").replace("-", "_")
        if self.kind == "situational" and not self.scenario:
            raise ValueError("a situational question needs its scenario text")
        if self.kind != "situational" and self.scenario:
            raise ValueError("only a situational question has a scenario")
        return self
