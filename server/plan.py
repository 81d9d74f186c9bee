"""What a live session needs to know about its interview, read once from the store when the
session starts: questions, the question-dimension weights, the job's dimensions (with their
weights in the overall) and rules, and where the candidate's resume matched a dimension."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlmodel import Session, select

from server.tables import Candidate, Interview, InterviewWeight
from server.versions import interview_versions


@dataclass(frozen=True, slots=True)
class Rule:
    signal: str
    op: str
    value: float
    points: float
    # "answer": the rule is checked on each answer's signals; "interview": on the signal over all
    # counted answers linked to the dimension (mentions: the share of answers that mention it).
    scope: str = "answer"

    def holds(self, actual: float) -> bool:
        return {
            ">=": actual >= self.value, ">": actual > self.value, "<=": actual <= self.value,
            "<": actual < self.value, "==": actual == self.value,
        }[self.op]

    def describe(self) -> str:
        where = " over the interview" if self.scope == "interview" else ""
        return f"{self.signal}{where} {self.op} {self.value:g} -> {self.points:+g}"


@dataclass(frozen=True, slots=True)
class DimensionPlan:
    id: int
    name: str
    keywords: tuple[str, ...]
    rules: tuple[Rule, ...]
    weight: float = 1.0  # the job's relative weight of this dimension in the overall


@dataclass(frozen=True, slots=True)
class QuestionPlan:
    index: int
    question_id: int
    text: str
    time_limit_s: int
    # (dimension_id, the template's weight): a dimension's score is comparable across candidates,
    # so the resume boost is not in it (see InterviewPlan.resume_boosts).
    weights: tuple[tuple[int, float], ...]
    # structured | situational (`scenario` shown first) | follow_up (server/follow_ups.py).
    kind: str = "structured"
    scenario: str = ""


@dataclass(frozen=True, slots=True)
class ResumeBoost:
    """The candidate's resume matched the dimension's keywords: its weight in this candidate's
    overall is multiplied by `factor` (CANDOR_RESUME_BOOST, frozen at invitation time)."""

    dimension_id: int
    factor: float
    keywords: tuple[str, ...]


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
    resume_boosts: tuple[ResumeBoost, ...] = ()
    # The versions the interview was invited with (server/versions.py).
    job_version: int = 1
    template_id: int = 0
    template_name: str = ""
    template_version: int = 1

    def dimension(self, dimension_id: int) -> DimensionPlan:
        return next(d for d in self.dimensions if d.id == dimension_id)

    def keywords_for(self, question: QuestionPlan) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for dim_id, _ in question.weights:
            for k in self.dimension(dim_id).keywords:
                seen.setdefault(k, None)
        return tuple(seen)

    def phrases_for(self, question: QuestionPlan) -> tuple[str, ...]:
        """The phrases of every `mentions:<phrase>` rule of the dimensions linked to the
        question, each exactly as its rule spells it (the rule looks up `mentions:<phrase>`)."""
        seen: dict[str, None] = {}
        for dim_id, _ in question.weights:
            for rule in self.dimension(dim_id).rules:
                if rule.signal.startswith("mentions:"):
                    phrase = rule.signal[len("mentions:"):]  # as written: the signal's name
                    if phrase.strip():
                        seen.setdefault(phrase, None)
        return tuple(seen)


def load_plan(db: Session, interview_id: int) -> InterviewPlan:
    """From the job and template versions the interview was invited with (server/versions.py),
    never from later edits."""
    interview = db.get(Interview, interview_id)
    assert interview is not None
    candidate = db.get(Candidate, interview.candidate_id)
    assert candidate is not None
    job, template = interview_versions(db, interview)
    frozen = db.exec(select(InterviewWeight).where(InterviewWeight.interview_id == interview_id)).all()
    weights = {(w.question_id, w.dimension_id): w.base_weight for w in frozen}
    questions = tuple(
        QuestionPlan(
            index=q["index"],
            question_id=q["id"],
            text=q["text"],
            time_limit_s=q["time_limit_s"],
            weights=tuple(
                (link["dimension_id"], weights.get((q["id"], link["dimension_id"]), link["weight"]))
                for link in q["dimensions"]
            ),
            # Versions saved before question kinds hold none: structured.
            kind=q.get("kind", "structured"),
            scenario=q.get("scenario", ""),
        )
        for q in template["questions"]
    )
    return InterviewPlan(
        interview_id=interview_id,
        job_id=interview.job_id,
        job_title=job["title"],
        language=job["language"],
        candidate_name=candidate.name,
        questions=questions,
        dimensions=tuple(
            DimensionPlan(d["id"], d["name"], tuple(d["keywords"]),
                          tuple(Rule(r["signal"], r["op"], r["value"], r["points"], r["scope"]) for r in d["rules"]),
                          d["weight"])
            for d in job["dimensions"]
        ),
        analyze_expression=job["analyze_expression"],
        analyze_eye_contact=job["analyze_eye_contact"],
        analyze_posture=job["analyze_posture"],
        resume_boosts=_resume_boosts(frozen),
        job_version=interview.job_version,
        template_id=interview.template_id,
        template_name=template["name"],
        template_version=interview.template_version,
    )


def _resume_boosts(frozen: Sequence[InterviewWeight]) -> tuple[ResumeBoost, ...]:
    """Per dimension, the factor frozen at invitation (weight / base weight where the resume
    matched) and the keywords that matched."""
    factors: dict[int, float] = {}
    keywords: dict[int, dict[str, None]] = {}
    for w in frozen:
        if not w.matched_keywords or w.base_weight <= 0:
            continue
        factors[w.dimension_id] = max(factors.get(w.dimension_id, 1.0), w.weight / w.base_weight)
        for k in w.matched_keywords:
            keywords.setdefault(w.dimension_id, {}).setdefault(k, None)
    return tuple(ResumeBoost(d, round(f, 4), tuple(keywords[d])) for d, f in sorted(factors.items()) if f != 1.0)
