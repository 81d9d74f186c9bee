"""Key clips of a report: where in the recording HR should look. Highlights show the words that
earned points; concerns show where a signal dropped. Pure functions of plain values."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Sequence

CLIP_PAD_S = 2.0
CLIP_MAX_S = 30.0


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
