"""A report dimension's evidence in plain words, one line per point: what the comparison page,
the comparison API and the PDF report show (the report page draws the same items itself)."""
from __future__ import annotations

from typing import Any, Mapping

NOT_COUNTED = {"skipped": "skipped", "not_reached": "not reached (the interview ended before it)",
               "no_evidence": "no usable evidence"}


def mmss(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _q(item: Mapping[str, Any]) -> str:
    qi = item.get("question_index")
    return f"Q{qi + 1}: " if isinstance(qi, int) else ""


def evidence_line(item: Mapping[str, Any]) -> str | None:
    """One evidence item (server/scoring.py) as a sentence; None for kinds with nothing to say."""
    kind = item.get("kind")
    q = _q(item)
    if kind == "interview_rule":
        fired = "fired" if item.get("fired") else "did not fire"
        return (f"Over the interview: {item.get('rule')} {fired} ({item.get('points', 0):+g}; value "
                f"{item.get('value', 0):g} over {item.get('answers', 0)} answers)")
    if kind == "interview_rule_not_assessed":
        return f"Over the interview: {item.get('rule')} not checked: {item.get('reason')}"
    if kind == "question":
        extra = "; network problem" if item.get("fault") else ""
        extra += f"; paused {item['paused_s']:.0f} s" if item.get("paused_s") else ""
        return f"{q}score {item.get('score', 0):.1f} (weight {item.get('weight', 1):g}{extra})"
    if kind == "not_counted":
        why = NOT_COUNTED.get(str(item.get("reason")), str(item.get("reason")))
        detail = f": {item['detail']}" if item.get("detail") else ""
        return f"{q}not counted, {why}{detail}"
    if kind == "keywords":
        spans = item.get("spans") or []
        said = "; ".join(f"{mmss(s.get('start_s', 0))} “{s.get('text', '')}”" for s in spans[:3])
        return (f"{q}keywords heard: {', '.join(item.get('keywords', []))} ({item.get('points', 0):+g})"
                + (f" at {said}" if said else ""))
    if kind == "substance":
        return (f"{q}substance: {int(item.get('word_count', 0))} words, coherence "
                f"{item.get('coherence', 0):.2f} ({item.get('points', 0):+g})")
    if kind == "rule":
        return f"{q}rule {item.get('rule')} fired ({item.get('points', 0):+g}; value {item.get('value', 0):g})"
    if kind == "rule_not_assessed":
        return f"{q}rule {item.get('rule')} not checked: {item.get('reason')}"
    if kind == "not_assessed":
        return f"{q}not assessed: {item.get('reason')}"
    return None


def evidence_lines(dimension: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dimension's evidence as {kind, question_index, points, text}, in the report's order
    (interview-wide items first, then question by question)."""
    out = []
    for item in dimension.get("evidence") or []:
        text = evidence_line(item)
        if text is not None:
            out.append({"kind": item.get("kind"), "question_index": item.get("question_index"),
                        "points": item.get("points"), "text": text})
    return out


def counted_questions(dimension: Mapping[str, Any]) -> set[int]:
    """The questions whose answers count towards the dimension (their clips show it)."""
    return {int(e["question_index"]) for e in dimension.get("evidence") or []
            if e.get("kind") == "question" and isinstance(e.get("question_index"), int)}
