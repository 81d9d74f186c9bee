"""The interview report: dimension scores with their evidence, a per-question breakdown,
the percentile among the job's completed interviews, key clips, and a recommendation.

Built from what the live session stored (question signals, transcript segments, weights,
interventions), so it can be rebuilt at any time: when weights change or more candidates
complete the same job. The pure parts (percentile, clips, recommendation) are functions of
plain values and tested as such.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Sequence

from sqlmodel import Session, col, select

from analyzers.speech import Word
from server.errors import Conflict, NotFound
from server.plan import load_plan
from server.question_signals import Segment, language_signals
from server.scoring import QuestionResult, score_interview, score_question
from server.tables import (
    Candidate, Decision, Intervention, Interview, QuestionSignals, Report, TranscriptSegment, User, utcnow,
)

MIN_FOR_PERCENTILE = 5  # fewer completed interviews to compare with: no percentile
MIN_HIRES_FOR_PROFILE = 3
CLIP_PAD_S = 2.0
CLIP_MAX_S = 30.0


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


# --- clips ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Clip:
    id: str
    kind: str  # highlight | concern
    question_index: int
    start_s: float
    end_s: float
    text: str
    reason: str

    def to_json(self, media_url: str) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "question_index": self.question_index,
                "start_s": round(self.start_s, 2), "end_s": round(self.end_s, 2), "text": self.text,
                "reason": self.reason, "media_url": media_url}


@dataclass(frozen=True, slots=True)
class QuestionSpan:
    index: int
    start_s: float  # when the answer was live (first span start) ...
    end_s: float  # ... to its end
    text: str  # what was said


def _window(start: float, end: float, span: QuestionSpan) -> tuple[float, float]:
    """Pad a hit, keep it inside the question's live time and at most CLIP_MAX_S long."""
    lo = max(span.start_s, start - CLIP_PAD_S)
    hi = min(span.end_s, end + CLIP_PAD_S)
    if hi - lo > CLIP_MAX_S:
        hi = lo + CLIP_MAX_S
    return lo, max(hi, lo)


def _merge(clips: list[Clip]) -> list[Clip]:
    """Overlapping clips of the same kind and question become one (reasons joined)."""
    out: list[Clip] = []
    for clip in sorted(clips, key=lambda c: (c.question_index, c.kind, c.start_s)):
        last = out[-1] if out else None
        if (last and last.kind == clip.kind and last.question_index == clip.question_index
                and clip.start_s <= last.end_s):
            reasons = last.reason if clip.reason in last.reason else f"{last.reason}; {clip.reason}"
            texts = last.text if clip.text in last.text else f"{last.text} … {clip.text}"
            out[-1] = Clip(last.id, last.kind, last.question_index, last.start_s, max(last.end_s, clip.end_s),
                           texts, reasons)
        else:
            out.append(clip)
    return out


def select_clips(spans: Sequence[QuestionSpan], evidence: dict[int, list[dict[str, Any]]],
                 signals: dict[int, dict[str, float]], eye_contact_on: bool = True) -> list[Clip]:
    """Highlights: every keyword heard and every rule that fired. Concerns: a question where eye
    contact is far below the candidate's own average, the face is often missing, or someone
    else is in view."""
    by_index = {s.index: s for s in spans}
    clips: list[Clip] = []
    for qi, items in evidence.items():
        span = by_index.get(qi)
        if span is None:
            continue
        for item in items:
            if item.get("kind") == "keyword_hit":
                lo, hi = _window(item["start_s"], item["end_s"], span)
                clips.append(Clip(f"h{qi}-{int(lo * 10)}", "highlight", qi, lo, hi, item["text"],
                                  f"said \u201c{item['keyword']}\u201d"))
            elif item.get("kind") == "rule":
                signal = str(item.get("signal", ""))
                spans_of_rule = [h for h in items if h.get("kind") == "keyword_hit"
                                 and signal == f"keyword_hits:{h['keyword']}"]
                if signal.startswith("keyword_hits:"):
                    for hit in spans_of_rule:  # the words that made the rule fire
                        lo, hi = _window(hit["start_s"], hit["end_s"], span)
                        clips.append(Clip(f"h{qi}-{int(lo * 10)}", "highlight", qi, lo, hi, hit["text"],
                                          f"rule {item['rule']}"))
                else:  # a rule on frame or answer statistics: the start of the answer shows it
                    lo, hi = span.start_s, min(span.end_s, span.start_s + 10.0)
                    clips.append(Clip(f"h{qi}-{int(lo * 10)}", "highlight", qi, lo, hi, span.text[:200],
                                      f"rule {item['rule']} (value {item['value']})"))
    eye = {qi: s["eye_contact_ratio"] for qi, s in signals.items() if "eye_contact_ratio" in s}
    own = statistics.fmean(eye.values()) if len(eye) >= 2 else None
    for qi, sig in signals.items():
        span = by_index.get(qi)
        if span is None:
            continue
        lo, hi = span.start_s, min(span.end_s, span.start_s + 15.0)
        reasons = []
        if eye_contact_on and own is not None and qi in eye and eye[qi] < 0.6 * own and own - eye[qi] >= 0.2:
            reasons.append(f"eye contact {eye[qi]:.0%}, far below this candidate's average {own:.0%}")
        if sig.get("face_present_ratio", 1.0) < 0.7:
            reasons.append(f"face visible in only {sig['face_present_ratio']:.0%} of frames")
        if sig.get("multiple_faces_ratio", 0.0) > 0.05:
            reasons.append(f"another face in view in {sig['multiple_faces_ratio']:.0%} of frames")
        if reasons:
            clips.append(Clip(f"c{qi}-{int(lo * 10)}", "concern", qi, lo, hi, span.text[:200], "; ".join(reasons)))
    return _merge(clips)


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
