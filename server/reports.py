"""The interview report: warnings first (answers without usable evidence, too little
assessed), the overall score with its coverage, dimension scores (or "not assessed" with the
reason) with their evidence and percentiles, a per-question breakdown, the percentile among the
job's completed, sufficiently covered interviews, key clips, and a recommendation.

Built from what the live session stored (question signals, transcript segments, weights,
interventions), so it can be rebuilt at any time: when weights change or more candidates
complete the same job. The pure parts (percentile, recommendation; clips in clip_selection.py)
are functions of plain values and tested as such.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from analyzers.speech import Word
from server.errors import Conflict, NotFound
from server.clip_selection import QuestionSpan, select_clips
from server.plan import InterviewPlan, QuestionPlan, load_plan
from server.question_signals import Segment, language_signals
from server.signal_accuracy import signal_accuracy
from server import signal_confidence
from server.scoring import (
    EvidenceGap, Overall, QuestionResult, assess_interview, evidence_gaps, overall_score, score_question,
)
from server.tables import (
    Candidate, Decision, Intervention, Interview, InterviewWeight, QuestionSignals, Recalibration, Report, Score,
    TranscriptSegment, User, utcnow,
)

MIN_FOR_PERCENTILE = 5  # fewer completed interviews to compare with: no percentile
MIN_HIRES_FOR_PROFILE = 3


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Recommendation thresholds used while a job has no hiring history (settings
    CANDOR_RECOMMEND_AT, CANDOR_SECOND_INTERVIEW_AT, CANDOR_WEAK_DIMENSION_AT), and the share of
    the job's dimension weight that must be assessed for any recommendation or comparison
    (CANDOR_MIN_COVERAGE)."""

    recommend_at: float = 70.0
    second_at: float = 50.0
    weak_dimension: float = 40.0
    min_coverage: float = 0.6

    @classmethod
    def from_settings(cls, settings: Any) -> Thresholds:
        return cls(settings.recommend_at, settings.second_interview_at, settings.weak_dimension_at,
                   settings.min_coverage)


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
    decision: str  # recommend | second_interview | not_recommended | insufficient_evidence
    reason: str


def recommend(scores: Mapping[str, float], hires: Sequence[Mapping[str, float]],
              thresholds: Thresholds = Thresholds(), *, overall: float | None = None,
              coverage: float | None = None, not_assessed: Sequence[str] = (),
              weights: Mapping[str, float] | None = None) -> Recommendation:
    """Against the score profile of the job's past hires when there are enough of them; else
    fixed thresholds. The reason names the numbers.

    `scores`: the assessed dimensions by name; `overall`: the candidate's weighted overall (by
    default the plain mean of `scores`); `coverage`: the share of the job's dimension weight
    assessed (None with no scores: a human-only review); `not_assessed`: names of the dimensions
    that could not be assessed (never treated as weak); `weights`: the job's dimension weights by
    name, for the past hires' overall."""
    t = thresholds
    if coverage is None and not scores:
        return Recommendation("second_interview", "no AI scores (a human-only review was asked for): "
                                                  "a person should interview the candidate")
    gap = f"; not assessed: {', '.join(not_assessed)}" if not_assessed else ""
    if not scores or (coverage is not None and coverage < t.min_coverage):
        seen = f"only {coverage:.0%}" if coverage is not None else "none"
        return Recommendation("insufficient_evidence",
                              f"{seen} of the job's dimension weight could be assessed (at least "
                              f"{t.min_coverage:.0%} needed){gap}: a person should review the answers or "
                              f"interview the candidate again")
    if overall is None:
        overall = statistics.fmean(scores.values())
    if len(hires) >= MIN_HIRES_FOR_PROFILE:
        hire_overall = [_weighted_mean(h, weights) for h in hires if h]
        mean = statistics.fmean(hire_overall)
        spread = statistics.pstdev(hire_overall) if len(hire_overall) > 1 else 0.0
        weak = [name for name, v in scores.items()
                if name in _common(hires) and v < min(h[name] for h in hires if name in h) - 10]
        basis = f"past hires for this job averaged {mean:.0f} (n={len(hire_overall)}, sd {spread:.0f})"
        if overall >= mean - 0.5 * spread and not weak:
            return Recommendation("recommend", f"overall {overall:.0f}, in line with {basis}{gap}")
        if overall >= mean - 1.5 * spread - 5:
            why = f"; below every past hire on {', '.join(weak)}" if weak else ""
            return Recommendation("second_interview", f"overall {overall:.0f}, a little under {basis}{why}{gap}")
        return Recommendation("not_recommended", f"overall {overall:.0f}, well under {basis}{gap}")
    weak = [name for name, v in scores.items() if v < t.weak_dimension]
    basis = (f"thresholds (no hiring history yet): recommend at {t.recommend_at:.0f}, second interview at "
             f"{t.second_at:.0f}, every dimension at least {t.weak_dimension:.0f}")
    if overall >= t.recommend_at and not weak:
        return Recommendation("recommend", f"overall {overall:.0f}{gap}; {basis}")
    if overall >= t.second_at:
        why = f"; weak on {', '.join(weak)}" if weak else ""
        return Recommendation("second_interview", f"overall {overall:.0f}{why}{gap}; {basis}")
    return Recommendation("not_recommended", f"overall {overall:.0f}{gap}; {basis}")


def _weighted_mean(scores: Mapping[str, float], weights: Mapping[str, float] | None) -> float:
    w = weights or {}
    total = sum(w.get(name, 1.0) for name in scores)
    return sum(w.get(name, 1.0) * v for name, v in scores.items()) / total


def _common(hires: Sequence[Mapping[str, float]]) -> set[str]:
    names = [set(h) for h in hires if h]
    return set.intersection(*names) if names else set()


# --- the comparison pool -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Pool:
    """Scores of the job's other completed, AI-analysed interviews with enough coverage."""

    overall: list[float]
    dimensions: dict[int, list[float]]  # assessed scores only


def job_pool(db: Session, job_id: int, exclude: int, job_weights: Mapping[int, float],
             min_coverage: float) -> Pool:
    """From the interviews' current dimension scores (the `scores` rows the live sessions keep;
    a dimension with no row was not assessed), in one query: per interview and linked dimension,
    the resume boost frozen at invitation (weight / base weight) and the score; `job_weights`:
    the job's dimension weights. Interviews below `min_coverage` are left out, so a failed
    interview does not move anyone's percentile."""
    boost = func.max(col(InterviewWeight.weight) / col(InterviewWeight.base_weight))
    query = (
        select(InterviewWeight.interview_id, InterviewWeight.dimension_id, boost, Score.score)
        .join(Interview, col(Interview.id) == InterviewWeight.interview_id)
        .outerjoin(Score, and_(col(Score.interview_id) == InterviewWeight.interview_id,
                               col(Score.dimension_id) == InterviewWeight.dimension_id,
                               col(Score.question_index).is_(None)))
        .where(Interview.job_id == job_id, Interview.state == "completed", Interview.consent == True,  # noqa: E712
               Interview.id != exclude)
        .group_by(col(InterviewWeight.interview_id), col(InterviewWeight.dimension_id), col(Score.score))
    )
    per_interview: dict[int, dict[int, tuple[float, float | None]]] = {}
    for iid, dim_id, factor, score in db.exec(query).all():
        per_interview.setdefault(iid, {})[dim_id] = (factor or 1.0, score)
    pool = Pool([], {})
    for dims in per_interview.values():
        result = overall_score({d: v[1] for d, v in dims.items()}, job_weights, {d: v[0] for d, v in dims.items()})
        if result.score is None or result.coverage < min_coverage:
            continue
        pool.overall.append(result.score)
        for d, (_, value) in dims.items():
            if value is not None:
                pool.dimensions.setdefault(d, []).append(value)
    return pool


# --- warnings ----------------------------------------------------------------------------------

def _numbers(indexes: Sequence[int]) -> str:
    listed = ", ".join(str(i + 1) for i in indexes)
    return f"question{'s' if len(indexes) != 1 else ''} {listed}"


_GAP_EFFECT = {
    "language": "its keywords, substance and language-based rules were not assessed (not scored as 0)",
    "vision": "vision-based rules were not checked (not counted either way)",
}


def evidence_warnings(gaps: Mapping[int, Sequence[EvidenceGap]], unreached: Sequence[int],
                      faults: Sequence[int], coverage: float, min_coverage: float,
                      not_assessed: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """What a reader must know before trusting the numbers, most important first: answers
    without usable evidence (a technical fault reads like a weak candidate otherwise), too little
    assessed, questions never reached, network faults."""
    out: list[dict[str, Any]] = []
    found: dict[str, tuple[EvidenceGap, list[int]]] = {}
    for qi in sorted(gaps):
        for g in gaps[qi]:
            found.setdefault(g.code, (g, []))[1].append(qi)
    for code in ("no_speech", "no_face", "no_video"):
        if code in found:
            g, qs = found[code]
            out.append({"code": code, "family": g.family, "question_indexes": qs,
                        "text": f"{_numbers(qs).capitalize()}: {g.reason}; {_GAP_EFFECT[g.family]}. "
                                f"This may be a technical fault rather than the candidate: check the recording."})
    missing = "; ".join(f"{name} ({why})" for name, why in not_assessed)
    if coverage < min_coverage:
        # The reasons are in each dimension (and usually in the warnings above): names suffice.
        names = ", ".join(name for name, _ in not_assessed)
        out.append({"code": "insufficient_evidence", "coverage": coverage,
                    "dimensions": [name for name, _ in not_assessed],
                    "text": f"Only {coverage:.0%} of the job's dimension weight was assessed (at least "
                            f"{min_coverage:.0%} needed): no recommendation is made and the interview is left "
                            f"out of other candidates' percentiles." + (f" Not assessed: {names}." if names else "")})
    elif not_assessed:
        out.append({"code": "not_assessed", "dimensions": [name for name, _ in not_assessed],
                    "text": f"Not assessed (left out of the overall, not scored as 0): {missing}."})
    if unreached:
        out.append({"code": "not_reached", "question_indexes": list(unreached),
                    "text": f"The interview ended before {_numbers(unreached)}."})
    if faults:
        out.append({"code": "network_fault", "question_indexes": list(faults),
                    "text": f"Network problems during {_numbers(faults)}: the answers count, flagged in the "
                            f"evidence."})
    return out


# --- building ---------------------------------------------------------------------------------

def _percentile_json(p: Percentile) -> dict[str, Any]:
    return {"value": p.value, "count": p.count}


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
    gaps_by_q: dict[int, tuple[EvidenceGap, ...]] = {}
    faults: list[int] = []
    spans: list[QuestionSpan] = []
    for row in rows:
        q = plan.questions[row.question_index]
        said = [s for s in segments if s.question_index == row.question_index and s.attempt == row.attempt]
        live = [Segment(s.text, s.start_s, s.end_s, tuple(Word(w["word"], w["start_s"], w["end_s"], w.get("conf", 1.0))
                                                       for w in s.words)) for s in said if s.live]
        signals = {k: v for k, v in row.signals.items() if not k.startswith("frames:")}
        frames = {k[7:]: v for k, v in row.signals.items() if k.startswith("frames:")}
        _, hits = _language_evidence(live, q.text, plan, q, signals.get("answer_seconds", 0.0))
        unsure = signal_confidence.not_assessed(frames)  # vision signals left out of every frame
        scores = {dim_id: score_question(plan.dimension(dim_id), signals, hits, q.index, unsure)
                  for dim_id, _ in q.weights}
        results.append(QuestionResult(q.index, q.weights, scores, row.skipped, row.superseded, row.fault, row.paused_s,
                                      by_rule=row.skipped_by_rule))
        counted = not (row.superseded or row.skipped)
        gaps = evidence_gaps(signals) if counted else ()
        entry = {
            "index": q.index, "attempt": row.attempt, "text": q.text, "skipped": row.skipped,
            # A follow-up not asked because the answer before it already mentioned its keywords.
            "kind": q.kind, "scenario": q.scenario, "skipped_by_rule": row.skipped_by_rule,
            "superseded": row.superseded, "fault": row.fault, "paused_s": round(row.paused_s, 1),
            "signals": signals, "frames": frames,
            # Signals left out of some frames as low confidence (poor light, small face, turned head).
            "low_confidence": signal_confidence.low_confidence(frames),
            # What this answer could not measure (nothing recognised, no face, no frames).
            "gaps": [g.to_json() for g in gaps],
            "scores": [{"dimension_id": d, "name": plan.dimension(d).name, "weight": w,
                        "score": scores[d].score if scores[d].assessed else None,
                        "status": "assessed" if scores[d].assessed else "not_assessed",
                        "evidence": list(scores[d].evidence)} for d, w in q.weights
                       if not row.skipped_by_rule],  # a follow-up not asked scores nothing
            "transcript": [{"text": s.text, "start_s": s.start_s, "end_s": s.end_s, "live": s.live} for s in said],
            # Vision over time, per 2 s of interview clock: {"t": s, "face"|"eye"|"smile"|"upright": 0-1 or None}.
            "timeline": list(row.timeline or []),
        }
        questions.append(entry)
        if not counted:
            continue
        if gaps:
            gaps_by_q[q.index] = gaps
        if row.fault:
            faults.append(q.index)
        signals_by_q[q.index] = signals
        evidence_by_q[q.index] = [{"kind": "keyword_hit", **h} for h in hits] + [
            e for s in scores.values() for e in s.evidence if e.get("kind") == "rule"]
        if said or live:
            start = min(s.start_s for s in said)
            end = max(s.end_s for s in said)
            spans.append(QuestionSpan(q.index, start, end, " ".join(s.text for s in said if s.live)))
    asked = {r.question_index for r in rows}
    unreached = [q.index for q in plan.questions if q.index not in asked]
    results += [QuestionResult(q.index, q.weights, {}, reached=False) for q in plan.questions if q.index in unreached]
    results.sort(key=lambda r: r.index)

    dims = assess_interview(plan.dimensions, results) if interview.consent else []
    # A follow-up skipped by rule asks about nothing: its dimensions are not held against coverage.
    by_rule = {r.question_index for r in rows if r.skipped_by_rule}
    linked = {d for q in plan.questions if q.index not in by_rule for d, _ in q.weights}
    boosts = {b.dimension_id: b for b in plan.resume_boosts}
    job_weights = {d.id: d.weight for d in plan.dimensions}
    linked_scores = {r.dimension_id: r.score for r in dims if r.dimension_id in linked}
    overall = overall_score(linked_scores, job_weights, {d: b.factor for d, b in boosts.items()})
    # Shadow mode (server/recalibration.py): the overall under a recalibration's proposed weights too.
    shadow = (db.exec(select(Recalibration).where(Recalibration.job_id == interview.job_id,
                                                  Recalibration.state == "shadow")).first()
              if interview.consent else None)
    sufficient = overall.score is not None and overall.coverage >= thresholds.min_coverage
    pool = (job_pool(db, interview.job_id, interview_id, job_weights, thresholds.min_coverage)
            if interview.consent else Pool([], {}))
    dimensions: list[dict[str, Any]] = []
    for r in dims:
        dim = plan.dimension(r.dimension_id)
        others = pool.dimensions.get(r.dimension_id, [])
        p = percentile(r.score, others) if r.score is not None and sufficient else Percentile(None, len(others))
        boost = boosts.get(r.dimension_id)
        dimensions.append({
            "id": r.dimension_id, "name": dim.name, "weight": dim.weight,
            "boost": {"factor": boost.factor, "keywords": list(boost.keywords)} if boost else None,
            "status": r.status, "score": r.score, "reason": r.reason or None, "answers": r.answers,
            "percentile": _percentile_json(p), "evidence": list(r.evidence),
        })
    pct = percentile(overall.score, pool.overall) if sufficient and overall.score is not None \
        else Percentile(None, len(pool.overall))
    not_assessed = [(plan.dimension(r.dimension_id).name, r.reason) for r in dims
                    if r.score is None and r.dimension_id in linked]
    hires = _hire_profiles(db, interview.job_id, exclude=interview_id, names={d.id: d.name for d in plan.dimensions})
    if interview.consent:
        rec = recommend({d["name"]: d["score"] for d in dimensions if d["score"] is not None}, hires, thresholds,
                        overall=overall.score, coverage=overall.coverage, not_assessed=[n for n, _ in not_assessed],
                        weights={d.name: d.weight for d in plan.dimensions})
        warnings = evidence_warnings(gaps_by_q, unreached, faults, overall.coverage, thresholds.min_coverage,
                                     not_assessed)
    else:
        rec, warnings = recommend({}, hires, thresholds), []
    boosted = [{"dimension_id": b.dimension_id, "name": plan.dimension(b.dimension_id).name, "factor": b.factor,
                "keywords": list(b.keywords)} for b in plan.resume_boosts]
    clips = select_clips(spans, evidence_by_q, signals_by_q, plan.analyze_eye_contact,
                         timelines={q["index"]: q["timeline"] for q in questions
                                    if not q["superseded"] and not q["skipped"]}) if interview.consent else []
    interventions = db.exec(select(Intervention, User).join(User, col(User.id) == Intervention.user_id)
                            .where(Intervention.interview_id == interview_id).order_by(col(Intervention.id))).all()
    candidate = db.get(Candidate, interview.candidate_id)
    assert candidate is not None, "a foreign key"
    report = {
        "interview_id": interview_id,
        "candidate": {"id": candidate.id, "name": candidate.name, "status": candidate.status},
        # The versions the interview ran with (server/versions.py): later edits never change them.
        "job": {"id": plan.job_id, "title": plan.job_title, "version": plan.job_version},
        "template": {"id": plan.template_id, "name": plan.template_name, "version": plan.template_version},
        "consent": interview.consent,
        "completed_at": interview.completed_at,
        "built_at": utcnow(),
        # Read these first: answers without usable evidence, too little assessed, and the like.
        "warnings": warnings,
        "overall": {
            "score": overall.score, "coverage": overall.coverage, "min_coverage": thresholds.min_coverage,
            "sufficient": sufficient if interview.consent else False,
            # The resume boost: the matched dimension counts more in THIS candidate's overall only.
            "resume_boosts": boosted,
            "text": _overall_text(overall, boosted),
        },
        "overall_score": overall.score,  # the same as overall.score (kept for older clients)
        **({"shadow": {"recalibration_id": shadow.id, "overall": overall_score(
            linked_scores, {d: float(shadow.proposed.get(str(d), w)) for d, w in job_weights.items()},
            {d: b.factor for d, b in boosts.items()}).score}} if shadow is not None else {}),
        "dimensions": dimensions,
        "questions": questions,
        "clips": [c.to_json(f"{base_url}/api/interviews/{interview_id}/clips/{c.id}/media") for c in clips],
        "percentile": {"value": pct.value, "count": pct.count,
                       "text": _percentile_text(pct, sufficient) if interview.consent else
                       "no AI scores to compare (a human-only review was asked for)"},
        "recommendation": {"decision": rec.decision, "reason": rec.reason},
        # How far to trust each video signal (measured on the labelled set: server/signal_accuracy.py).
        "signal_accuracy": signal_accuracy(),
        # Per-job analysis switches: a signal of a switched-off analysis is "off", not "no data".
        "analyses": {"expression": plan.analyze_expression, "eye_contact": plan.analyze_eye_contact,
                     "posture": plan.analyze_posture},
        "interventions": [{"action": i.action, "note": i.note, "seconds": i.seconds, "question_index": i.question_index,
                           "user": u.email, "ts": i.ts} for i, u in interventions],
    }
    stored = db.get(Report, interview_id) or Report(interview_id=interview_id)
    stored.data = _jsonable(report)
    stored.built_at = utcnow()
    db.add(stored)
    return report


def _language_evidence(live: list[Segment], text: str, plan: InterviewPlan, q: QuestionPlan,
                       answer_seconds: float) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The keyword (and mention) hits of an answer, as the live session found them."""
    return language_signals(live, text, plan.keywords_for(q), answer_seconds, phrases=plan.phrases_for(q))


def _overall_text(overall: Overall, boosted: list[dict[str, Any]]) -> str:
    if overall.score is None:
        return "no dimension could be assessed"
    text = (f"weighted mean of the assessed dimensions (job weights); {overall.coverage:.0%} of the job's "
            f"dimension weight assessed")
    for b in boosted:
        text += (f"; {b['name']} counts x{b['factor']:g} in this candidate's overall because the resume mentions "
                 f"{', '.join(b['keywords'])}")
    return text


def _percentile_text(pct: Percentile, sufficient: bool) -> str:
    if not sufficient:
        return ("not compared: too little of this interview could be assessed (and it is left out of other "
                "candidates' comparisons)")
    if pct.value is not None:
        return f"higher than {pct.value:.0f}% of {pct.count} candidates for this job"
    return (f"too few completed interviews for this job to compare ({pct.count}; at least {MIN_FOR_PERCENTILE} "
            f"needed)")


def _jsonable(value: Any) -> Any:
    import json

    from server.web import dumps

    return json.loads(dumps(value))


def _hire_profiles(db: Session, job_id: int, exclude: int,
                   names: Mapping[int, str] | None = None) -> list[dict[str, float]]:
    """Past hires' dimension scores by name; with `names` (dimension id -> name), a dimension
    renamed since a hire's interview goes by the caller's name (the same dimension: its id)."""
    hired = db.exec(select(Interview.id).join(Decision, col(Decision.interview_id) == Interview.id)
                    .where(Interview.job_id == job_id, Decision.decision == "hire", Interview.id != exclude)).all()
    profiles = []
    for iid in hired:
        report = db.get(Report, iid)
        if report and report.data.get("dimensions"):
            profile = {(names or {}).get(d.get("id", 0), d["name"]): d["score"] for d in report.data["dimensions"]
                       if d.get("score") is not None}
            if profile:
                profiles.append(profile)
    return profiles
