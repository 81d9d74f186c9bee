"""Demo data: a job, a template and a candidate with an open invitation, so a newcomer sees a
working interview link at once. Idempotent: running it again reuses what it made."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select

from server import auth
from server.jobs import create_job, dimensions_of
from server.interview_templates import create_template
from server.invitations import FINISHED_STATES, create_invitations, reissue_link
from server.candidates import create_candidate
from server.schemas import CandidateIn, InvitationIn, JobIn, TemplateIn
from server.store import stored_id
from server.tables import Candidate, Interview, Invitation, Job, Template, User, utcnow

DEMO_HR_EMAIL = "hr@demo.candor.example"
DEMO_CANDIDATE_EMAIL = "candidate@demo.candor.example"
DEMO_JOB_TITLE = "Demo: Site Project Engineer"


@dataclass(frozen=True, slots=True)
class DemoLogin:
    email: str
    password: str | None  # None when the account existed and its password was kept
    job_id: int
    template_id: int
    candidate_id: int
    interview_id: int
    token: str
    job_title: str


def _job_body(language: str) -> JobIn:
    return JobIn.model_validate({
        "title": DEMO_JOB_TITLE,
        "language": language,
        # Safety is the core dimension (weight 4 of 10: 40% of the overall).
        "dimensions": [
            {"name": "Project management", "description": "Plans and delivers large projects", "weight": 3,
             "keywords": ["large project", "project", "schedule", "프로젝트", "일정", "계획"],
             "rules": [{"signal": "keyword_hits:일정", "op": ">=", "value": 1, "points": 10}]},
            {"name": "Teamwork", "description": "Works with and through others", "weight": 3,
             "keywords": ["team", "colleague", "팀", "동료", "협업"],
             "rules": [{"signal": "eye_contact_ratio", "op": ">=", "value": 0.6, "points": 10}]},
            {"name": "Safety", "description": "Follows procedure on site", "weight": 4,
             "keywords": ["procedure", "safety", "절차", "안전"],
             "rules": [{"signal": "keyword_hits:절차", "op": ">=", "value": 1, "points": 10},
                       # Mentions operating procedures in more than 80% of its answers: +10.
                       {"signal": "mentions:follow operating procedures", "op": ">", "value": 0.8,
                        "points": 10, "scope": "interview"},
                       {"signal": "mentions:작업 절차", "op": ">", "value": 0.8, "points": 10,
                        "scope": "interview"}]},
        ],
    })


def seed(db: Session, language: str, boost: float, reset_password: bool = True) -> DemoLogin:
    password: str | None = None
    user = db.exec(select(User).where(User.email == DEMO_HR_EMAIL)).first()
    if user is None:
        password = secrets.token_urlsafe(12)
        user = auth.create_user(db, DEMO_HR_EMAIL, password, "hr")
    elif reset_password:
        password = secrets.token_urlsafe(12)
        user.password_hash = auth._hasher.hash(password)
        db.add(user)
    who = auth.Principal(id=stored_id(user), email=user.email, role=user.role)

    job = db.exec(select(Job).where(Job.title == DEMO_JOB_TITLE, Job.created_by == user.id)).first()
    if job is None:
        job = create_job(db, who, _job_body(language), language)
    dims = {d.name: d.id for d in dimensions_of(db, stored_id(job))}
    template = db.exec(select(Template).where(Template.job_id == job.id)).first()
    if template is None:
        template = create_template(db, who, TemplateIn.model_validate({
            "job_id": job.id,
            "name": "Demo interview (3 questions)",
            "questions": [
                {"text": "자기소개와 가장 큰 프로젝트 경험을 말씀해 주세요. "
                         "(Introduce yourself and your largest project.)",
                 "time_limit_s": 90,
                 "dimensions": [{"dimension_id": dims["Project management"], "weight": 2},
                                {"dimension_id": dims["Teamwork"], "weight": 1}]},
                {"text": "팀에서 갈등을 해결한 경험을 말씀해 주세요. "
                         "(Tell us how you resolved a conflict in your team.)",
                 "time_limit_s": 90,
                 "dimensions": [{"dimension_id": dims["Teamwork"], "weight": 1}]},
                {"text": "현장에서 안전 절차를 어떻게 지키십니까? "
                         "(How do you follow safety procedure on site?)",
                 "time_limit_s": 60,
                 "dimensions": [{"dimension_id": dims["Safety"], "weight": 1}]},
            ],
        }))
    candidate = db.exec(select(Candidate).where(Candidate.email == DEMO_CANDIDATE_EMAIL)).first()
    if candidate is None:
        candidate = create_candidate(db, who, CandidateIn(
            name="Demo Candidate", email=DEMO_CANDIDATE_EMAIL,
            resume_text="Site engineer, 6 years. Led a large project (a 40-storey tower) "
                        "with a team of 30; wrote the safety procedure for the crane crew.",
        ))
    row = db.exec(
        select(Invitation, Interview)
        .join(Interview, col(Interview.invitation_id) == Invitation.id)
        .where(Invitation.candidate_id == candidate.id, Invitation.template_id == template.id)
        .where(Invitation.deadline > utcnow())
        .where(col(Interview.state).not_in(FINISHED_STATES))
    ).first()
    if row is None:
        issued = create_invitations(db, who, InvitationIn(
            template_id=stored_id(template), candidate_ids=[stored_id(candidate)],
            deadline=utcnow() + timedelta(days=14),
        ), boost=boost)[0]
    else:  # links are stored as hashes: printing it again means issuing a new one
        issued = reissue_link(db, who, stored_id(row[1]))
    return DemoLogin(DEMO_HR_EMAIL, password, stored_id(job), stored_id(template), stored_id(candidate),
                     stored_id(issued.interview), issued.token, job.title)
