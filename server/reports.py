"""The interview report: dimension scores with their evidence, a per-question breakdown,
the percentile among the job's completed interviews, key clips, and a recommendation.

Built from what the live session stored (question signals, transcript segments, weights,
interventions), so it can be rebuilt at any time: when weights change or more candidates
complete the same job. The pure parts (percentile, recommendation; clips in clip_selection.py)
are functions of plain values and tested as such.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Sequence

from sqlmodel import Session, col, select

from analyzers.speech import Word
from server.errors import Conflict, NotFound
from server.clip_selection import QuestionSpan, select_clips
from server.plan import load_plan
from server.question_signals import Segment, language_signals
from server.scoring import QuestionResult, score_interview, score_question
from server.tables import (
    Candidate, Decision, Intervention, Interview, QuestionSignals, Report, TranscriptSegment, User, utcnow,
)

MIN_FOR_PERCENTILE = 5  # fewer completed interviews to compare with: no percentile
MIN_HIRES_FOR_PROFILE = 3


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Recommendation thresholds used while a job has no hiring history (settings
    CANDOR_RECOMMEND_AT, CANDOR_SECOND_INTERVIEW_AT, CANDOR_WEAK_DIMENSION_AT)."""

    recommend_at: float = 70.0
    second_at: float = 50.0
    weak_dimension: float = 40.0

    @classmethod
    def from_settings(cls, settings: Any) -> Thresholds:
        return cls(settings.recommend_at, settings.second_interview_at, settings.weak_dimension_at)


# --- percentile ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Percentile:
    value: float | None  # share of the others scored lower, ties counting half; None: too few
    count: int  # completed interviews compared with (the candidate not included)


def percentile(score: float, others: Sequence[float], minimum: int = MIN_FOR_PERCENTILE) -> Percentile:
    if len(others) < minimum:
        return Percentile(None, len(others))
    below = sum(1 for o in others if o < score)
    ties = sum(1 for o in others if o == score)
    return Percentile(round(100.0 * (below + 0.5 * ties) / len(others), 1), len(others))


# --- recommendation -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Recommendation:
    decision: str  # recommend | second_interview | not_recommended
    reason: str


def recommend(scores: dict[str, float], hires: Sequence[dict[str, float]],
              thresholds: Thresholds = Thresholds()) -> Recommendation:
    """Against the score profile of the job's past hires when there are enough of them; else
    fixed thresholds. The reason names the numbers."""
    if not scores:
        return Recommendation("second_interview", "no AI scores (a human-only review was asked for): "
                                                  "a person should interview the candidate")
    overall = statistics.fmean(scores.values())
    if len(hires) >= MIN_HIRES_FOR_PROFILE:
        hire_overall = [statistics.fmean(h.values()) for h in hires if h]
        mean = statistics.fmean(hire_overall)
        spread = statistics.pstdev(hire_overall) if len(hire_overall) > 1 else 0.0
        weak = [name for name, v in scores.items()
                if name in _common(hires) and v < min(h[name] for h in hires if name in h) - 10]
        basis = f"past hires for this job averaged {mean:.0f} (n={len(hire_overall)}, sd {spread:.0f})"
        if overall >= mean - 0.5 * spread and not weak:
            return Recommendation("recommend", f"overall {overall:.0f}, in line with {basis}")
        if overall >= mean - 1.5 * spread - 5:
            why = f"; below every past hire on {', '.join(weak)}" if weak else ""
            return Recommendation("second_interview", f"overall {overall:.0f}, a little under {basis}{why}")
        return Recommendation("not_recommended", f"overall {overall:.0f}, well under {basis}")
    t = thresholds
    weak = [name for name, v in scores.items() if v < t.weak_dimension]
    basis = (f"thresholds (no hiring history yet): recommend at {t.recommend_at:.0f}, second interview at "
             f"{t.second_at:.0f}, every dimension at least {t.weak_dimension:.0f}")
    if overall >= t.recommend_at and not weak:
        return Recommendation("recommend", f"overall {overall:.0f}; {basis}")
    if overall >= t.second_at:
        why = f"; weak on {', '.join(weak)}" if weak else ""
        return Recommendation("second_interview", f"overall {overall:.0f}{why}; {basis}")
    return Recommendation("not_recommended", f"overall {overall:.0f}; {basis}")


def _common(hires: Sequence[dict[str, float]]) -> set[str]:
    names = [set(h) for h in hires if h]
    return set.intersection(*names) if names else set()


# --- building ---------------------------------------------------------------------------------

def overall_of(dimensions: list[dict[str, Any]]) -> float | None:
    values = [d["score"] for d in dimensions]
    return round(statistics.fmean(values), 1) if values else None


def build_report(db: Session, interview_id: int, base_url: str,
                 thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
    interview = db.get(Interview, interview_id)
    if interview is None:
        raise NotFound(f"interview {interview_id} not found")
    if interview.state != "completed":
        raise Conflict(f"the report is made when the interview is completed; it is {interview.state}")
    plan = load_plan(db, interview_id)
    rows = db.exec(select(QuestionSignals).where(QuestionSignals.interview_id == interview_id)
                   .order_by(col(QuestionSignals.question_index), col(QuestionSignals.attempt))).all()
    segments = db.exec(select(TranscriptSegment).where(TranscriptSegment.interview_id == interview_id)
                       .order_by(col(TranscriptSegment.start_s))).all()
    results: list[QuestionResult] = []
    questions: list[dict[str, Any]] = []
    evidence_by_q: dict[int, list[dict[str, Any]]] = {}
    signals_by_q: dict[int, dict[str, float]] = {}
    spans: list[QuestionSpan] = []
    for row in rows:
        q = plan.questions[row.question_index]
        said = [s for s in segments if s.question_index == row.question_index and s.attempt == row.attempt]
        live = [Segment(s.text, s.start_s, s.end_s, tuple(Word(w["word"], w["start_s"], w["end_s"], w.get("conf", 1.0))
                                                       for w in s.words)) for s in said if s.live]
        signals = {k: v for k, v in row.signals.items() if not k.startswith("frames:")}
        _, hits = language_signals(live, q.text, plan.keywords_for(q), signals.get("answer_seconds", 0.0))
        scores = {dim_id: score_question(plan.dimension(dim_id), signals, hits, q.index) for dim_id, _ in q.weights}
        results.append(QuestionResult(q.index, q.weights, scores, row.skipped, row.superseded, row.fault, row.paused_s))
        entry = {
            "index": q.index, "attempt": row.attempt, "text": q.text, "skipped": row.skipped,
            "superseded": row.superseded, "fault": row.fault, "paused_s": round(row.paused_s, 1),
            "signals": signals, "frames": {k[7:]: v for k, v in row.signals.items() if k.startswith("frames:")},
            "scores": [{"dimension_id": d, "name": plan.dimension(d).name, "weight": w, "score": scores[d].score,
                        "evidence": list(scores[d].evidence)} for d, w in q.weights],
            "transcript": [{"text": s.text, "start_s": s.start_s, "end_s": s.end_s, "live": s.live} for s in said],
            # Vision over time, per 2 s of interview clock: {"t": s, "face"|"eye"|"smile"|"upright": 0-1 or None}.
            "timeline": list(row.timeline or []),
        }
        questions.append(entry)
        if row.superseded or row.skipped:
            continue
        signals_by_q[q.index] = signals
        evidence_by_q[q.index] = [{"kind": "keyword_hit", **h} for h in hits] + [
            e for s in scores.values() for e in s.evidence if e.get("kind") == "rule"]
        if said or live:
            start = min(s.start_s for s in said)
            end = max(s.end_s for s in said)
            spans.append(QuestionSpan(q.index, start, end, " ".join(s.text for s in said if s.live)))
    dims = score_interview(plan.dimensions, results) if interview.consent else []
    dimensions: list[dict[str, Any]] = [
        {"id": d.dimension_id, "name": plan.dimension(d.dimension_id).name, "score": d.score,
         "evidence": list(d.evidence)} for d in dims]
    overall = overall_of(dimensions)

    others = _job_overalls(db, interview.job_id, exclude=interview_id)
    pct = percentile(overall, others) if overall is not None else Percentile(None, len(others))
    hires = _hire_profiles(db, interview.job_id, exclude=interview_id)
    rec = recommend({d["name"]: d["score"] for d in dimensions}, hires, thresholds)
    clips = select_clips(spans, evidence_by_q, signals_by_q, plan.analyze_eye_contact) if interview.consent else []
    interventions = db.exec(select(Intervention, User).join(User, col(User.id) == Intervention.user_id)
                            .where(Intervention.interview_id == interview_id).order_by(col(Intervention.id))).all()
    candidate = db.get(Candidate, interview.candidate_id)
    assert candidate is not None, "a foreign key"
    report = {
        "interview_id": interview_id,
        "candidate": {"id": candidate.id, "name": candidate.name, "status": candidate.status},
        "job": {"id": plan.job_id, "title": plan.job_title},
        "consent": interview.consent,
        "completed_at": interview.completed_at,
        "built_at": utcnow(),
        "overall_score": overall,
        "dimensions": dimensions,
        "questions": questions,
        "clips": [c.to_json(f"{base_url}/api/interviews/{interview_id}/clips/{c.id}/media") for c in clips],
        "percentile": {"value": pct.value, "count": pct.count,
                       "text": (f"higher than {pct.value:.0f}% of {pct.count} candidates for this job"
                                if pct.value is not None else
                                f"too few completed interviews for this job to compare ({pct.count}; "
                                f"at least {MIN_FOR_PERCENTILE} needed)")},
        "recommendation": {"decision": rec.decision, "reason": rec.reason},
        "interventions": [{"action": i.action, "note": i.note, "seconds": i.seconds, "question_index": i.question_index,
                           "user": u.email, "ts": i.ts} for i, u in interventions],
    }
    stored = db.get(Report, interview_id) or Report(interview_id=interview_id)
    stored.data = _jsonable(report)
    stored.built_at = utcnow()
    db.add(stored)
    return report


def _jsonable(value: Any) -> Any:
    import json

    from server.web import dumps

    return json.loads(dumps(value))


def _job_overalls(db: Session, job_id: int, exclude: int) -> list[float]:
    """Overall scores of the job's other completed, AI-analysed interviews, from their reports
    (an interview whose report was never built is built here first)."""
    ids = db.exec(select(Interview.id).where(Interview.job_id == job_id, Interview.state == "completed",
                                             Interview.consent == True, Interview.id != exclude)).all()  # noqa: E712
    out: list[float] = []
    for iid in ids:
        assert iid is not None, "a primary key"
        report = db.get(Report, iid)
        value = report.data.get("overall_score") if report else _overall_only(db, iid)
        if value is not None:
            out.append(float(value))
    return out


def _overall_only(db: Session, interview_id: int) -> float | None:
    from server.tables import Score

    scores = db.exec(select(Score.score).where(Score.interview_id == interview_id,
                                               Score.question_index == None)).all()  # noqa: E711
    return round(statistics.fmean(scores), 1) if scores else None


def _hire_profiles(db: Session, job_id: int, exclude: int) -> list[dict[str, float]]:
    hired = db.exec(select(Interview.id).join(Decision, col(Decision.interview_id) == Interview.id)
                    .where(Interview.job_id == job_id, Decision.decision == "hire", Interview.id != exclude)).all()
    profiles = []
    for iid in hired:
        report = db.get(Report, iid)
        if report and report.data.get("dimensions"):
            profiles.append({d["name"]: d["score"] for d in report.data["dimensions"]})
    return profiles
