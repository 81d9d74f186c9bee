"""Dimension scores, explainable by construction.

For one question and one linked dimension the score (0-100) is the sum of:
- keyword coverage, up to 60 points: 20 for each distinct keyword of the dimension heard in the
  answer (each hit cites its transcript span and times);
- substance, up to 20 points: 20 x coherence x min(1, words / 40), so a short or rambling answer
  earns less (cites word count and coherence);
- the dimension's rules: `signal op value -> points` for each rule that holds (cites the signal's
  value);
clamped to 0-100. The interview's score on a dimension is the mean of its question scores
weighted by the candidate's question-dimension weights. Questions that were skipped or
superseded by a redo do not count; a question hit by a network fault or a pause counts with its
flag shown in the evidence, so a reviewer sees it rather than a silently lower score.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from server.plan import DimensionPlan

KEYWORD_POINTS = 20.0
KEYWORD_CAP = 60.0
SUBSTANCE_POINTS = 20.0
SUBSTANCE_WORDS = 40.0


@dataclass(frozen=True, slots=True)
class DimensionScore:
    dimension_id: int
    score: float
    evidence: tuple[dict[str, Any], ...] = field(default=())


def score_question(
    dim: DimensionPlan,
    signals: Mapping[str, float],
    keyword_evidence: Sequence[Mapping[str, Any]] = (),
    question_index: int | None = None,
) -> DimensionScore:
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
    for rule in dim.rules:
        if rule.signal not in signals:
            continue
        value = signals[rule.signal]
        if rule.holds(value):
            total += rule.points
            evidence.append({
                "kind": "rule", "question_index": question_index, "points": rule.points,
                "signal": rule.signal, "value": round(value, 4), "rule": rule.describe(),
            })
    return DimensionScore(dim.id, round(max(0.0, min(100.0, total)), 1), tuple(evidence))


@dataclass(frozen=True, slots=True)
class QuestionResult:
    index: int
    weights: tuple[tuple[int, float], ...]
    scores: Mapping[int, DimensionScore]
    skipped: bool = False
    superseded: bool = False
    fault: bool = False
    paused_s: float = 0.0


def score_interview(dims: Sequence[DimensionPlan], questions: Sequence[QuestionResult]) -> list[DimensionScore]:
    out = []
    for dim in dims:
        total = weight_sum = 0.0
        evidence: list[dict[str, Any]] = []
        for q in questions:
            weight = dict(q.weights).get(dim.id)
            if weight is None or q.superseded:
                continue
            if q.skipped:
                evidence.append({"kind": "not_counted", "question_index": q.index, "reason": "skipped"})
                continue
            score = q.scores.get(dim.id)
            if score is None:
                continue
            total += weight * score.score
            weight_sum += weight
            item: dict[str, Any] = {"kind": "question", "question_index": q.index,
                                    "score": score.score, "weight": weight}
            if q.fault:
                item["fault"] = True
            if q.paused_s:
                item["paused_s"] = round(q.paused_s, 1)
            evidence.append(item)
            evidence.extend(score.evidence)
        value = round(total / weight_sum, 1) if weight_sum else 0.0
        out.append(DimensionScore(dim.id, value, tuple(evidence)))
    return out
