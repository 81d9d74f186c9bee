"""Dimension scores, explainable by construction.

For one answer (question) and one linked dimension the score (0-100) is the sum of:
- keyword coverage, up to 60 points: 20 for each distinct keyword of the dimension heard in the
  answer (each hit cites its transcript span and times);
- substance, up to 20 points: 20 x coherence x min(1, words / 40), so a short or rambling answer
  earns less (cites word count and coherence);
- the dimension's answer-scope rules: `signal op value -> points` for each rule that holds (cites
  the signal's value);
clamped to 0-100.

An answer without usable evidence is not scored as 0: with nothing recognised it is "not
assessed" for the dimension (keywords and substance come from the words); with no face in the
analysed frames (or no frames at all) its vision-based rules are not checked. Either way the gap
is named in the evidence.

The interview's score on a dimension is the mean of its counted answers' scores weighted by the
template's question-dimension weights (never by the resume boost, so scores stay comparable
across candidates), plus the dimension's interview-scope rules (the signal over all counted
answers: the mean, or for `mentions:` the share of answers that mention the phrase), clamped to
0-100. Skipped, never reached and superseded attempts do not count (a follow-up skipped by rule
is not even named: its keywords were already heard); a dimension left with no
counted answer is "not assessed" (score None), never 0. An answer hit by a network fault or a
pause counts with its flag shown in the evidence.

The overall is the mean of the assessed dimensions weighted by the job's dimension weights, a
resume-matched dimension's weight multiplied by its boost; `coverage` is the share of the job
weight (of the dimensions the interview asks about) that was assessed.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from server.plan import DimensionPlan, Rule
from server.signal_names import MENTIONS_PREFIX, is_vision

KEYWORD_POINTS = 20.0
KEYWORD_CAP = 60.0
SUBSTANCE_POINTS = 20.0
SUBSTANCE_WORDS = 40.0


@dataclass(frozen=True, slots=True)
class EvidenceGap:
    """What an answer could not measure: `family` language (nothing recognised) or vision (no
    frames, no face)."""

    family: str
    code: str  # no_speech | no_video | no_face
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"family": self.family, "code": self.code, "reason": self.reason}


def evidence_gaps(signals: Mapping[str, float]) -> tuple[EvidenceGap, ...]:
    gaps = []
    if signals.get("word_count", 0.0) <= 0:
        gaps.append(EvidenceGap("language", "no_speech", "nothing was recognised in the answer (silence, "
                                                         "a microphone problem or lost audio)"))
    if not any(is_vision(name) for name in signals):
        gaps.append(EvidenceGap("vision", "no_video", "no video frames were analysed (camera off or lost video)"))
    elif signals.get("face_present_ratio", 1.0) <= 0:
        gaps.append(EvidenceGap("vision", "no_face", "no face in the analysed frames"))
    return tuple(gaps)


@dataclass(frozen=True, slots=True)
class DimensionScore:
    dimension_id: int
    score: float
    evidence: tuple[dict[str, Any], ...] = field(default=())
    # False: the answer had no usable evidence for this dimension (`reason` says why); its score
    # is not a measurement and does not count.
    assessed: bool = True
    reason: str = ""
    # The answer's values of the signals the dimension's interview-scope rules use (those it
    # could measure): aggregated over the interview by score_interview.
    measures: tuple[tuple[str, float], ...] = ()


def score_question(
    dim: DimensionPlan,
    signals: Mapping[str, float],
    keyword_evidence: Sequence[Mapping[str, Any]] = (),
    question_index: int | None = None,
    low_confidence: Mapping[str, str] | None = None,
) -> DimensionScore:
    """`low_confidence`: signal -> reason, for vision signals left out of every frame as low
    confidence (server/signal_confidence.py): their rules are not checked, and say why."""
    gaps = {g.family: g for g in evidence_gaps(signals)}
    if "language" in gaps:
        reason = gaps["language"].reason
        return DimensionScore(dim.id, 0.0, ({"kind": "not_assessed", "question_index": question_index,
                                             "code": gaps["language"].code, "reason": reason},),
                              assessed=False, reason=reason)
    evidence: list[dict[str, Any]] = []
    total = 0.0
    heard = [k for k in dim.keywords if signals.get(f"keyword_hits:{k}", 0) > 0]
    keyword_points = min(KEYWORD_CAP, KEYWORD_POINTS * len(heard))
    if heard:
        total += keyword_points
        spans = [dict(e) for e in keyword_evidence if e.get("keyword") in heard]
        evidence.append({
            "kind": "keywords", "question_index": question_index, "points": keyword_points,
            "keywords": heard, "spans": spans,
            "rule": f"{KEYWORD_POINTS:g} per distinct keyword heard, at most {KEYWORD_CAP:g}",
        })
    words = signals.get("word_count", 0.0)
    coherence = signals.get("coherence", 0.0)
    substance = round(SUBSTANCE_POINTS * coherence * min(1.0, words / SUBSTANCE_WORDS), 2)
    if substance > 0:
        total += substance
        evidence.append({
            "kind": "substance", "question_index": question_index, "points": substance,
            "word_count": words, "coherence": round(coherence, 3),
            "rule": f"{SUBSTANCE_POINTS:g} x coherence x min(1, words/{SUBSTANCE_WORDS:g})",
        })
    measures: dict[str, float] = {}
    for rule in dim.rules:
        if is_vision(rule.signal) and "vision" in gaps:
            evidence.append({"kind": "rule_not_assessed", "question_index": question_index, "signal": rule.signal,
                             "rule": rule.describe(), "code": gaps["vision"].code, "reason": gaps["vision"].reason})
            continue
        if rule.signal not in signals:
            if low_confidence and rule.signal in low_confidence:
                evidence.append({"kind": "rule_not_assessed", "question_index": question_index,
                                 "signal": rule.signal, "rule": rule.describe(), "code": "low_confidence",
                                 "reason": low_confidence[rule.signal]})
            continue
        value = signals[rule.signal]
        if rule.scope == "interview":
            measures[rule.signal] = value
            continue
        if rule.holds(value):
            total += rule.points
            evidence.append({
                "kind": "rule", "question_index": question_index, "points": rule.points,
                "signal": rule.signal, "value": round(value, 4), "rule": rule.describe(),
            })
    return DimensionScore(dim.id, round(max(0.0, min(100.0, total)), 1), tuple(evidence),
                          measures=tuple(measures.items()))


@dataclass(frozen=True, slots=True)
class QuestionResult:
    index: int
    weights: tuple[tuple[int, float], ...]
    scores: Mapping[int, DimensionScore]
    skipped: bool = False
    superseded: bool = False
    fault: bool = False
    paused_s: float = 0.0
    reached: bool = True  # False: the interview ended before this question was asked
    by_rule: bool = False  # a follow-up skipped by rule (server/follow_ups.py): neither evidence nor missing


@dataclass(frozen=True, slots=True)
class DimensionResult:
    """A dimension's interview score, or None with the reason when no answer could assess it."""

    dimension_id: int
    score: float | None
    evidence: tuple[dict[str, Any], ...]
    reason: str = ""
    answers: int = 0  # counted answers

    @property
    def status(self) -> str:
        return "assessed" if self.score is not None else "not_assessed"


NOT_COUNTED_WHY = {"skipped": "skipped", "not_reached": "not reached (the interview ended before it)"}


def assess_interview(dims: Sequence[DimensionPlan], questions: Sequence[QuestionResult]) -> list[DimensionResult]:
    out = []
    for dim in dims:
        total = weight_sum = 0.0
        evidence: list[dict[str, Any]] = []
        why_not: list[str] = []
        measures: list[dict[str, float]] = []
        linked = False
        for q in questions:
            weight = dict(q.weights).get(dim.id)
            if weight is None or q.superseded or q.by_rule:
                continue
            linked = True
            if not q.reached or q.skipped:
                reason = "skipped" if q.reached else "not_reached"
                evidence.append({"kind": "not_counted", "question_index": q.index, "reason": reason})
                why_not.append(f"question {q.index + 1} {NOT_COUNTED_WHY[reason]}")
                continue
            score = q.scores.get(dim.id)
            if score is None:
                continue
            if not score.assessed:
                evidence.append({"kind": "not_counted", "question_index": q.index, "reason": "no_evidence",
                                 "detail": score.reason, "fault": q.fault})
                why_not.append(f"question {q.index + 1}: {score.reason}")
                continue
            total += weight * score.score
            weight_sum += weight
            measures.append(dict(score.measures))
            item: dict[str, Any] = {"kind": "question", "question_index": q.index,
                                    "score": score.score, "weight": weight}
            if q.fault:
                item["fault"] = True
            if q.paused_s:
                item["paused_s"] = round(q.paused_s, 1)
            evidence.append(item)
            evidence.extend(score.evidence)
        if not weight_sum:
            reason = ("no question of this interview is linked to it" if not linked
                      else "no counted answer: " + "; ".join(why_not) if why_not else "no counted answer")
            out.append(DimensionResult(dim.id, None, tuple(evidence), reason))
            continue
        value = total / weight_sum
        interview_items = []
        for rule in dim.rules:
            if rule.scope != "interview":
                continue
            item = _interview_rule(rule, measures)
            interview_items.append(item)
            if item["kind"] == "interview_rule" and item["fired"]:
                value += rule.points
        value = round(max(0.0, min(100.0, value)), 1)
        # Interview-wide evidence first: the rest is grouped by question.
        out.append(DimensionResult(dim.id, value, (*interview_items, *evidence), answers=len(measures)))
    return out


def interview_signal(signal: str, values: Sequence[float]) -> float:
    """A signal over the interview's counted answers: for mentions: the share of answers that
    mention the phrase at least once, for any other signal the mean."""
    if signal.startswith(MENTIONS_PREFIX):
        return sum(1 for v in values if v > 0) / len(values)
    return statistics.fmean(values)


def _interview_rule(rule: Rule, measures: Sequence[Mapping[str, float]]) -> dict[str, Any]:
    values = [m[rule.signal] for m in measures if rule.signal in m]
    if not values:
        return {"kind": "interview_rule_not_assessed", "signal": rule.signal, "rule": rule.describe(),
                "reason": "no counted answer measured this signal"}
    value = round(interview_signal(rule.signal, values), 4)
    fired = rule.holds(value)
    return {"kind": "interview_rule", "signal": rule.signal, "rule": rule.describe(), "value": value,
            "answers": len(values), "of_answers": len(measures), "fired": fired,
            "points": rule.points if fired else 0.0}


def score_interview(dims: Sequence[DimensionPlan], questions: Sequence[QuestionResult]) -> list[DimensionScore]:
    """The assessed dimensions' scores (what the live session stores and streams); a dimension
    not assessed is left out rather than stored as 0."""
    return [DimensionScore(r.dimension_id, r.score, r.evidence)
            for r in assess_interview(dims, questions) if r.score is not None]


@dataclass(frozen=True, slots=True)
class Overall:
    score: float | None  # None: no dimension assessed
    coverage: float  # share of the job weight asked about that was assessed (0-1)
    weights: Mapping[int, float]  # the weight each assessed dimension had in the score


def overall_score(scores: Mapping[int, float | None], job_weights: Mapping[int, float],
                  boosts: Mapping[int, float] | None = None) -> Overall:
    """`scores`: the dimensions the interview asks about (None: not assessed). Weighted by the
    job's weights, a boosted dimension's weight multiplied by its factor; the coverage counts
    the job weights only (a boost changes how much a dimension counts, not how much was seen)."""
    boosts = boosts or {}
    total_weight = sum(job_weights.get(d, 1.0) for d in scores)
    assessed = {d: s for d, s in scores.items() if s is not None}
    coverage = sum(job_weights.get(d, 1.0) for d in assessed) / total_weight if total_weight else 0.0
    weights = {d: job_weights.get(d, 1.0) * boosts.get(d, 1.0) for d in assessed}
    weight_sum = sum(weights.values())
    score = round(sum(weights[d] * s for d, s in assessed.items()) / weight_sum, 1) if weight_sum else None
    return Overall(score, round(coverage, 3), weights)
