"""Stored rows (SQLModel). schema.sql is generated from these; tests keep the two equal.

Times are aware UTC datetimes (SQLModel stores them as UTC and returns them aware, on SQLite
too); JSON columns hold lists and dicts.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)  # admin | hr
    created_at: datetime = Field(default_factory=utcnow)
    disabled: bool = False
    language: Optional[str] = Field(default=None, max_length=16)  # en | zh_CN | ko; None: the browser's


class AuthToken(SQLModel, table=True):
    """A login: a bearer token (API) or a page session (cookie). Only the sha256 is stored."""

    __tablename__ = "auth_tokens"
    id: Optional[int] = Field(default=None, primary_key=True)
    token_sha256: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    kind: str = Field(max_length=16)  # api | session
    csrf_token: Optional[str] = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    id: Optional[int] = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    language: str = Field(max_length=16)
    created_by: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    # Per-job analysis switches: expression analysis (smiles) is forbidden in hiring in some
    # jurisdictions, so each family of signals can be turned off on its own.
    analyze_expression: bool = True
    analyze_eye_contact: bool = True
    analyze_posture: bool = True
    # The jurisdiction profile (server/jurisdictions.py): notice and consent wording, which
    # analyses may run, retention. Unknown ids read as "default".
    jurisdiction: str = Field(default="default", max_length=32)
    # The newest saved version (server/versions.py): each edit saves the next one; interviews
    # keep the one they were invited with. A database from before versions reads 1.
    version: int = 1
    # Archived: kept with its interviews and reports, but no new invitations (nothing is deleted).
    archived_at: Optional[datetime] = None
    # The job family (e.g. "engineering"; "" = none): validity is also analysed across the jobs
    # of one family (server/validity.py), matched without regard to case.
    family: str = Field(default="", max_length=40, index=True)


class JobAccess(SQLModel, table=True):
    """An HR user given access to a job they did not create."""

    __tablename__ = "job_access"
    job_id: int = Field(foreign_key="jobs.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    granted_by: int = Field(foreign_key="users.id")
    granted_at: datetime = Field(default_factory=utcnow)


class Dimension(SQLModel, table=True):
    __tablename__ = "dimensions"
    __table_args__ = (UniqueConstraint("job_id", "name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="jobs.id", index=True)
    position: int
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=2000)
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Relative weight of the dimension in the overall score (> 0).
    weight: float = 1.0
    # Retired by an edit: not in the job's newest version, kept (same id) for the interviews and
    # scores of the versions that had it; adding a dimension of the same name brings it back.
    retired: bool = False


class ScoringRule(SQLModel, table=True):
    """`signal op value` holding for an answer (scope "answer") or over the interview's answers
    (scope "interview") adds `points` to the dimension's score."""

    __tablename__ = "scoring_rules"
    id: Optional[int] = Field(default=None, primary_key=True)
    dimension_id: int = Field(foreign_key="dimensions.id", index=True)
    position: int
    signal: str = Field(max_length=120)
    op: str = Field(max_length=2)
    value: float
    points: float
    scope: str = Field(default="answer", max_length=16)  # answer | interview (server/plan.py Rule)


class Template(SQLModel, table=True):
    __tablename__ = "templates"
    id: Optional[int] = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="jobs.id", index=True)
    name: str = Field(max_length=200)
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow)
    version: int = 1  # the newest saved version (as Job.version)
    archived_at: Optional[datetime] = None  # no new invitations while set


class JobVersion(SQLModel, table=True):
    """One saved version of a job, as it was: title, analyses and its (not retired) dimensions
    with keywords, weights and rules, as JSON (server/versions.py). Never changed once saved."""

    __tablename__ = "job_versions"
    job_id: int = Field(foreign_key="jobs.id", primary_key=True)
    version: int = Field(primary_key=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    note: str = Field(default="", max_length=500)
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow)


class TemplateVersion(SQLModel, table=True):
    """One saved version of a template: its name and questions with time limits and dimension
    links, as JSON. Never changed once saved."""

    __tablename__ = "template_versions"
    template_id: int = Field(foreign_key="templates.id", primary_key=True)
    version: int = Field(primary_key=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    note: str = Field(default="", max_length=500)
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow)


class Question(SQLModel, table=True):
    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("template_id", "position"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="templates.id", index=True)
    position: int
    text: str = Field(max_length=2000)
    time_limit_s: int
    # Removed by an edit: kept (same id) for the interviews of the versions that asked it; its
    # position moves below zero, out of the newest version's order.
    retired: bool = False
    # structured | situational (`scenario` shown first) | follow_up (asked only when the answer
    # before it mentioned none of its dimensions' keywords): server/interview_templates.py.
    kind: str = Field(default="structured", max_length=20)
    scenario: str = Field(default="", max_length=4000)


class QuestionDimension(SQLModel, table=True):
    __tablename__ = "question_dimensions"
    question_id: int = Field(foreign_key="questions.id", primary_key=True)
    dimension_id: int = Field(foreign_key="dimensions.id", primary_key=True)
    weight: float


class Candidate(SQLModel, table=True):
    __tablename__ = "candidates"
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320, unique=True, index=True)
    resume_text: str = Field(default="", max_length=100_000)
    # IANA zone (e.g. "Europe/Berlin") for times in messages to the candidate; "" = the
    # server's CANDOR_MAIL_TIME_ZONE.
    time_zone: str = Field(default="", max_length=64)
    # Structured fields (server/resume_fields.py extracts them from the resume; HR edits them):
    # "" = unknown, else none | high_school | associate | bachelor | master | doctorate.
    education_level: str = Field(default="", max_length=16)
    years_experience: Optional[float] = None  # None = unknown
    current_title: str = Field(default="", max_length=200)
    # new | invited | interviewed | second_interview | talent_pool | not_recommended | hired
    status: str = Field(default="new", max_length=32)
    created_by: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Invitation(SQLModel, table=True):
    __tablename__ = "invitations"
    id: Optional[int] = Field(default=None, primary_key=True)
    # The link's token (256 random bits, url-safe) is shown once, when it is issued; only its
    # sha256 is stored, so a database or backup reader cannot open interviews.
    token_sha256: str = Field(max_length=64, unique=True, index=True)
    token_issued_at: datetime = Field(default_factory=utcnow)
    link_revoked_at: Optional[datetime] = None  # HR revoked the link; a new one may be issued later
    # With mail on, the token sealed with the server's secret key (server/sealing.py), so the
    # outbox and reminders can put the link in a message; None with mail off (hash only).
    token_sealed: Optional[str] = Field(default=None, max_length=512)
    reminder_queued_at: Optional[datetime] = None  # the deadline reminder went to the outbox
    template_id: int = Field(foreign_key="templates.id", index=True)
    candidate_id: int = Field(foreign_key="candidates.id", index=True)
    deadline: datetime
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow)


class Interview(SQLModel, table=True):
    __tablename__ = "interviews"
    id: Optional[int] = Field(default=None, primary_key=True)
    invitation_id: int = Field(foreign_key="invitations.id", unique=True)
    candidate_id: int = Field(foreign_key="candidates.id", index=True)
    template_id: int = Field(foreign_key="templates.id", index=True)
    job_id: int = Field(foreign_key="jobs.id", index=True)
    # invited | consented | connecting | live | paused | interrupted | abandoned | expired | completed
    state: str = Field(default="invited", max_length=16, index=True)
    question_index: int = 0
    question_count: int
    consent: Optional[bool] = None  # False: the candidate asked for a human-only review
    created_at: datetime = Field(default_factory=utcnow)
    started_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None
    # The current question's clock, kept at every state change and every few seconds while
    # live, so a restarted server resumes the question with the time it had.
    question_used_s: float = 0.0
    question_extra_s: float = 0.0
    # The job's and the template's versions frozen by the invitation: the interview is asked,
    # scored and reported with these, whatever later edits do (a database from before versions
    # reads 1).
    job_version: int = 1
    template_version: int = 1


class InterviewWeight(SQLModel, table=True):
    """Question-dimension weights for one candidate: the template's, raised where the resume
    matches the dimension's keywords. Frozen at invitation time so later edits can't change an
    interview that was already sent."""

    __tablename__ = "interview_weights"
    interview_id: int = Field(foreign_key="interviews.id", primary_key=True)
    question_id: int = Field(foreign_key="questions.id", primary_key=True)
    dimension_id: int = Field(foreign_key="dimensions.id", primary_key=True)
    base_weight: float
    weight: float
    matched_keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class StateChange(SQLModel, table=True):
    """Every session transition, with who caused it."""

    __tablename__ = "state_changes"
    id: Optional[int] = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interviews.id", index=True)
    ts: datetime = Field(default_factory=utcnow)
    from_state: str = Field(max_length=16)
    to_state: str = Field(max_length=16)
    reason: str = Field(default="", max_length=500)
    code: str = Field(default="", max_length=32)  # machine-readable (server/interview_machine.py)
    actor_kind: str = Field(max_length=16)  # candidate | hr | system
    actor_id: Optional[int] = None


class TranscriptSegment(SQLModel, table=True):
    """A final recognised utterance; times are seconds from the interview's start."""

    __tablename__ = "transcript_segments"
    id: Optional[int] = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interviews.id", index=True)
    question_index: int
    attempt: int = 0
    text: str
    start_s: float
    end_s: float
    words: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # False: said while the question was paused or interrupted (kept, not scored).
    live: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class QuestionSignals(SQLModel, table=True):
    """Per-question signals of one attempt at a question (a redo makes a new attempt)."""

    __tablename__ = "question_signals"
    __table_args__ = (UniqueConstraint("interview_id", "question_index", "attempt"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interviews.id", index=True)
    question_index: int
    attempt: int = 0
    signals: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Vision ratios over the attempt's time: [{"t", "face", "eye", "smile", "upright"}] per 2 s.
    timeline: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Flags that scoring must treat openly: superseded by a redo, skipped, hit by a network
    # fault, paused for some of its time.
    superseded: bool = False
    skipped: bool = False
    fault: bool = False
    paused_s: float = 0.0
    # A follow-up question left out because the answer before it already mentioned its
    # keywords (also `skipped`): neither evidence nor missing.
    skipped_by_rule: bool = False
    # Interview clock from the attempt's first live moment to its last: the answer's recording.
    # None in rows stored before it was kept.
    live_start_s: Optional[float] = None
    live_end_s: Optional[float] = None
    updated_at: datetime = Field(default_factory=utcnow)


class Score(SQLModel, table=True):
    """A dimension's score, for one question (question_index set) or the whole interview."""

    __tablename__ = "scores"
    id: Optional[int] = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interviews.id", index=True)
    dimension_id: int = Field(foreign_key="dimensions.id")
    question_index: Optional[int] = None
    score: float
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class Intervention(SQLModel, table=True):
    __tablename__ = "interventions"
    id: Optional[int] = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interviews.id", index=True)
    user_id: int = Field(foreign_key="users.id")
    ts: datetime = Field(default_factory=utcnow)
    action: str = Field(max_length=16)  # pause | resume | message | extend | skip | redo | end
    question_index: Optional[int] = None
    seconds: Optional[float] = None
    note: str = Field(default="", max_length=2000)


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: Optional[int] = Field(default=None, primary_key=True)
    ts: datetime = Field(default_factory=utcnow, index=True)
    actor_kind: str = Field(max_length=16)  # hr | candidate | system | cli
    actor_id: Optional[int] = None
    action: str = Field(max_length=64)
    target_kind: str = Field(default="", max_length=32)
    target_id: Optional[int] = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The hash chain (server/audit_chain.py): position from 1, the previous row's digest, this
    # row's digest. Rows of a version before the chain have seq 0 and "" until sealed at start-up.
    seq: int = Field(default=0, index=True, unique=True)
    prev_sha256: str = Field(default="", max_length=64)
    sha256: str = Field(default="", max_length=64)


class Report(SQLModel, table=True):
    """The latest built report of a completed interview (rebuilt whenever it is read, so it
    follows weight changes and new candidates for the percentile)."""

    __tablename__ = "reports"
    interview_id: int = Field(foreign_key="interviews.id", primary_key=True)
    built_at: datetime = Field(default_factory=utcnow)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ReviewNote(SQLModel, table=True):
    __tablename__ = "review_notes"
    id: Optional[int] = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interviews.id", index=True)
    user_id: int = Field(foreign_key="users.id")
    text: str = Field(max_length=5000)
    created_at: datetime = Field(default_factory=utcnow)


class ClipView(SQLModel, table=True):
    """An HR user opened a key clip's media: the review gate counts these."""

    __tablename__ = "clip_views"
    interview_id: int = Field(foreign_key="interviews.id", primary_key=True)
    clip_id: str = Field(max_length=64, primary_key=True)  # a clip's id, or an answer's recording
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    viewed_at: datetime = Field(default_factory=utcnow)
    # True: the media could not be rendered and this user acknowledged that (counts as seen).
    acknowledged: bool = False
    reason: str = Field(default="", max_length=500)  # why it could not be rendered


class Decision(SQLModel, table=True):
    __tablename__ = "decisions"
    id: Optional[int] = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interviews.id", unique=True)
    user_id: int = Field(foreign_key="users.id")
    decision: str = Field(max_length=32)  # second_interview | talent_pool | not_recommended | hire
    note: str = Field(default="", max_length=5000)
    created_at: datetime = Field(default_factory=utcnow)


class MailTemplate(SQLModel, table=True):
    """HR's wording of one kind of message (server/mail_templates.py has the defaults and the
    variables); no row = the default."""

    __tablename__ = "mail_templates"
    kind: str = Field(max_length=16, primary_key=True)  # invitation | reminder | continue
    subject: str = Field(max_length=300)
    body: str = Field(max_length=20_000)
    updated_by: Optional[int] = Field(default=None, foreign_key="users.id")
    updated_at: datetime = Field(default_factory=utcnow)


class OutboundMail(SQLModel, table=True):
    """The outbox: a message is stored before it is sent, so a restart loses none. The link is
    not stored: the body holds a placeholder, filled at send time from the sealed token."""

    __tablename__ = "outbound_mail"
    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # invitation | reminder | continue
    invitation_id: Optional[int] = Field(default=None, foreign_key="invitations.id", index=True)
    to_addr: str = Field(max_length=320)
    subject: str = Field(max_length=300)
    body_text: str = Field(max_length=40_000)
    body_html: str = Field(max_length=80_000)
    link_base: str = Field(default="", max_length=300)  # e.g. https://jobs.example.com (the link's origin)
    # queued | sending | sent | failed | cancelled (the interview finished before it was sent)
    state: str = Field(default="queued", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: Optional[datetime] = Field(default_factory=utcnow, index=True)  # None: no more tries
    last_error: str = Field(default="", max_length=1000)
    created_by: Optional[int] = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: Optional[datetime] = None


class Webhook(SQLModel, table=True):
    """An outbound hook: events POSTed as JSON, signed with HMAC-SHA256 of the secret."""

    __tablename__ = "webhooks"
    id: Optional[int] = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    secret_sealed: str = Field(max_length=512)  # server/sealing.py: the receiver needs it in clear
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow)


class WebhookDelivery(SQLModel, table=True):
    """One event for one hook, stored before it is sent (retried with back-off; the log HR sees)."""

    __tablename__ = "webhook_deliveries"
    id: Optional[int] = Field(default=None, primary_key=True)
    webhook_id: int = Field(foreign_key="webhooks.id", index=True)
    event: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="queued", max_length=16, index=True)  # queued | sending | delivered | failed
    attempts: int = 0
    next_attempt_at: Optional[datetime] = Field(default_factory=utcnow, index=True)  # None: no more tries
    last_status: Optional[int] = None  # the receiver's HTTP status
    last_error: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: Optional[datetime] = None


class SelfIdentification(SQLModel, table=True):
    """A candidate's voluntary self-identification: asked after the interview on its own form, or
    imported (`POST /api/imports/demographics`). One per person. Kept apart from everything
    reviewers see and never an input of any score: only the adverse-impact report
    (server/adverse_impact.py) reads it, in aggregate. "" = not answered or "prefer not to say"."""

    __tablename__ = "demographics"
    candidate_id: int = Field(foreign_key="candidates.id", primary_key=True)
    sex: str = Field(default="", max_length=64)
    race_ethnicity: str = Field(default="", max_length=64)
    age_band: str = Field(default="", max_length=16)
    source: str = Field(default="form", max_length=16)  # form | import
    created_at: datetime = Field(default_factory=utcnow)


class ConsentRecord(SQLModel, table=True):
    """A candidate's answer to one consent question (server/consent.py), stored before any
    analysis: which notice text they were shown (profile, version, language and the text's
    sha256), what they answered and when; `withdrawn_at` once they withdrew it."""

    __tablename__ = "consent_records"
    id: Optional[int] = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interviews.id", index=True)
    kind: str = Field(max_length=16)  # ai_analysis | biometric
    notice_id: str = Field(max_length=32)  # the jurisdiction profile whose notice was shown
    notice_version: str = Field(max_length=32)
    language: str = Field(default="en", max_length=16)
    text_sha256: str = Field(max_length=64)
    answer: bool
    ts: datetime = Field(default_factory=utcnow)
    withdrawn_at: Optional[datetime] = None


class AuditChainHead(SQLModel, table=True):
    """The audit chain's last position and digest (one row, id 1): appends lock it, so writers
    in several threads or processes chain one after the other, and a removed tail shows."""

    __tablename__ = "audit_chain_head"
    id: Optional[int] = Field(default=None, primary_key=True)
    seq: int = 0
    sha256: str = Field(default="", max_length=64)


class AuditAnchor(SQLModel, table=True):
    """Where the audit chain starts after retention removed its oldest rows: the last removed
    row's position and digest, which the first row kept carries as its previous digest."""

    __tablename__ = "audit_anchors"
    id: Optional[int] = Field(default=None, primary_key=True)
    up_to_seq: int
    sha256: str = Field(max_length=64)
    rows_removed: int
    cutoff: datetime
    created_at: datetime = Field(default_factory=utcnow)


class DeletionCertificate(SQLModel, table=True):
    """Proof that a candidate's data (or some of their interviews') was erased: what, when, by
    whom, and a sha256 over the certificate's canonical JSON (server/erasure.py). Holds no
    personal data: the email survives only as a salted sha256, so a later request can be
    matched without keeping it. No foreign keys: the rows it names are gone."""

    __tablename__ = "deletion_certificates"
    id: Optional[int] = Field(default=None, primary_key=True)
    candidate_id: int = Field(index=True)  # the erased candidate's former id
    candidate_ref: str = Field(max_length=64, index=True)  # sha256(ref_salt + lower(email))
    ref_salt: str = Field(max_length=32)
    scope: str = Field(max_length=16)  # candidate | interviews (a retention purge of some interviews)
    interview_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reason: str = Field(max_length=16)  # request | retention
    erased_at: datetime = Field(default_factory=utcnow, index=True)
    erased_by_kind: str = Field(max_length=16)  # hr | system | cli
    erased_by: Optional[int] = None  # the HR user's id (no foreign key: the certificate outlives it)
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    digest: str = Field(max_length=64)


class DecisionChange(SQLModel, table=True):
    """A decision changed after it was made: from, to, and HR's reason. The reason is kept here,
    not in the audit log (which is append-only and holds ids and digests only), so that erasing
    the candidate removes it."""

    __tablename__ = "decision_changes"
    id: Optional[int] = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interviews.id", index=True)
    user_id: int = Field(foreign_key="users.id")
    old: str = Field(max_length=32)
    new: str = Field(max_length=32)
    reason: str = Field(default="", max_length=2000)
    ts: datetime = Field(default_factory=utcnow)


class BankQuestion(SQLModel, table=True):
    """A question HR saved to the question bank (the built-in ones are in
    server/question_bank.json): offered as a suggestion for templates of its job family."""

    __tablename__ = "bank_questions"
    id: Optional[int] = Field(default=None, primary_key=True)
    family: str = Field(max_length=40, index=True)
    language: str = Field(default="en", max_length=20)
    kind: str = Field(default="structured", max_length=20)
    text: str = Field(max_length=2000)
    scenario: str = Field(default="", max_length=4000)
    dimensions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    time_limit_s: int = 120
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow)


# --- the employee archive and predictive validity (server/employees.py, server/validity*.py) ---


class Employee(SQLModel, table=True):
    """A hired candidate: made by a `hire` decision (or a `hire` row of an imported past
    interview). One per person; the candidate row keeps the name and email (erasure follows it)."""

    __tablename__ = "employees"
    id: Optional[int] = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="candidates.id", unique=True)
    job_id: int = Field(foreign_key="jobs.id", index=True)
    # The live interview that led to the hire; None when it came from another system.
    interview_id: Optional[int] = Field(default=None, foreign_key="interviews.id", unique=True)
    past_interview_id: Optional[int] = Field(default=None, foreign_key="past_interviews.id", unique=True)
    hired_at: datetime
    start_date: Optional[datetime] = None  # the first working day, when HR gave one
    # Departure: when and whether the employee chose to leave (imports or the employee page).
    left_at: Optional[datetime] = None
    left_voluntary: Optional[bool] = None
    source: str = Field(default="interview", max_length=16)  # interview | history
    created_at: datetime = Field(default_factory=utcnow)


class RecruitmentRecord(SQLModel, table=True):
    """The interview as it was when the hire was decided: the report (scores, clips, AI
    recommendation), HR's notes and the decision, frozen as JSON so later edits of the job or
    weights never change what the record says."""

    __tablename__ = "recruitment_records"
    employee_id: int = Field(foreign_key="employees.id", primary_key=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class PastInterview(SQLModel, table=True):
    """An interview result from a previous system (`POST /api/imports/history`): dimension
    scores (0-100, by dimension id; None = not assessed), the overall under the job's weights at
    import, and the decision."""

    __tablename__ = "past_interviews"
    id: Optional[int] = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="candidates.id", index=True)
    job_id: int = Field(foreign_key="jobs.id", index=True)
    interviewed_at: datetime
    decision: str = Field(max_length=32)  # second_interview | talent_pool | not_recommended | hire
    scores: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    overall: Optional[float] = None
    imported_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow)


class PerformanceReview(SQLModel, table=True):
    """A performance review for one period: the overall rating on 0-100 (the company's scale
    mapped onto it) and optional per-competency ratings."""

    __tablename__ = "performance_reviews"
    __table_args__ = (UniqueConstraint("employee_id", "period_end"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    employee_id: int = Field(foreign_key="employees.id", index=True)
    period_end: datetime
    rating: float
    competencies: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    source: str = Field(default="import", max_length=16)  # import | api | page
    created_at: datetime = Field(default_factory=utcnow)


class TrainingRecord(SQLModel, table=True):
    __tablename__ = "training_records"
    id: Optional[int] = Field(default=None, primary_key=True)
    employee_id: int = Field(foreign_key="employees.id", index=True)
    course: str = Field(max_length=200)
    completed_at: datetime
    result: Optional[float] = None  # 0-100 when the course is graded
    source: str = Field(default="import", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)


class OutcomeRecord(SQLModel, table=True):
    """A job-specific outcome for one period, e.g. `safety_incidents` = 2 for a quarter."""

    __tablename__ = "outcome_records"
    __table_args__ = (UniqueConstraint("employee_id", "metric", "period_end"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    employee_id: int = Field(foreign_key="employees.id", index=True)
    metric: str = Field(max_length=64, index=True)
    period_end: datetime
    value: float
    source: str = Field(default="import", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)


class ValiditySnapshot(SQLModel, table=True):
    """A job's validity analysis as computed at one moment (on demand or by the schedule)."""

    __tablename__ = "validity_snapshots"
    id: Optional[int] = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="jobs.id", index=True)
    computed_at: datetime = Field(default_factory=utcnow, index=True)
    trigger: str = Field(default="request", max_length=16)  # request | schedule
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Recalibration(SQLModel, table=True):
    """Proposed dimension weights fitted to outcomes, with the validity and adverse-impact
    ratios under today's and the proposed weights. proposed -> shadow (new interviews are also
    scored under it) -> applied (a new job version) -> rolled_back (another version, the old
    weights again)."""

    __tablename__ = "recalibrations"
    id: Optional[int] = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="jobs.id", index=True)
    state: str = Field(default="proposed", max_length=16, index=True)  # proposed | shadow | applied | rolled_back
    base_version: int  # the job version whose weights are "current"
    current: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    proposed: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    analysis: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    allowed: bool = False
    reason: str = Field(default="", max_length=2000)
    override_reason: str = Field(default="", max_length=2000)
    applied_version: Optional[int] = None
    rollback_version: Optional[int] = None
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow)
    applied_at: Optional[datetime] = None
    rolled_back_at: Optional[datetime] = None
