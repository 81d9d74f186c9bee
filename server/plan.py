"""What a live session needs to know about its interview, read once from the store when the
session starts: questions, the candidate's weights, the job's dimensions and rules."""
from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from server.interview_templates import questions_of
from server.jobs import dimensions_of, rules_of
from server.store import stored_id
from server.tables import Candidate, Interview, InterviewWeight, Job


@dataclass(frozen=True, slots=True)
class Rule:
    signal: str
    op: str
    value: float
    points: float

    def holds(self, actual: float) -> bool:
        return {
            ">=": actual >= self.value, ">": actual > self.value, "<=": actual <= self.value,
            "<": actual < self.value, "==": actual == self.value,
        }[self.op]

    def describe(self) -> str:
        return f"{self.signal} {self.op} {self.value:g} -> {self.points:+g}"


@dataclass(frozen=True, slots=True)
class DimensionPlan:
    id: int
    name: str
    keywords: tuple[str, ...]
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class QuestionPlan:
    index: int
    question_id: int
    text: str
    time_limit_s: int
    weights: tuple[tuple[int, float], ...]  # (dimension_id, weight for this candidate)


@dataclass(frozen=True, slots=True)
class InterviewPlan:
    interview_id: int
    job_id: int
    job_title: str
    language: str
    candidate_name: str
    questions: tuple[QuestionPlan, ...]
    dimensions: tuple[DimensionPlan, ...]
    analyze_expression: bool
    analyze_eye_contact: bool
    analyze_posture: bool

    def dimension(self, dimension_id: int) -> DimensionPlan:
        return next(d for d in self.dimensions if d.id == dimension_id)

    def keywords_for(self, question: QuestionPlan) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for dim_id, _ in question.weights:
            for k in self.dimension(dim_id).keywords:
                seen.setdefault(k, None)
        return tuple(seen)


def load_plan(db: Session, interview_id: int) -> InterviewPlan:
    interview = db.get(Interview, interview_id)
    assert interview is not None
    job = db.get(Job, interview.job_id)
    candidate = db.get(Candidate, interview.candidate_id)
    assert job is not None and candidate is not None
    dims = dimensions_of(db, stored_id(job))
    rules = rules_of(db, [stored_id(d) for d in dims])
    weights: dict[tuple[int, int], float] = {
        (w.question_id, w.dimension_id): w.weight
        for w in db.exec(select(InterviewWeight).where(InterviewWeight.interview_id == interview_id))
    }
    questions = tuple(
        QuestionPlan(
            index=q.position,
            question_id=stored_id(q),
            text=q.text,
            time_limit_s=q.time_limit_s,
            weights=tuple(
                (link.dimension_id, weights.get((stored_id(q), link.dimension_id), link.weight))
                for link in links
            ),
        )
        for q, links in questions_of(db, interview.template_id)
    )
    return InterviewPlan(
        interview_id=interview_id,
        job_id=stored_id(job),
        job_title=job.title,
        language=job.language,
        candidate_name=candidate.name,
        questions=questions,
        dimensions=tuple(
            DimensionPlan(stored_id(d), d.name, tuple(d.keywords),
                          tuple(Rule(r.signal, r.op, r.value, r.points) for r in rules[stored_id(d)]))
            for d in dims
        ),
        analyze_expression=job.analyze_expression,
        analyze_eye_contact=job.analyze_eye_contact,
        analyze_posture=job.analyze_posture,
    )
