"""Key clips of a report: where in the recording HR should look. Highlights show the words that
earned points (keyword hits, `mentions` items) or the stretch where a rule's signal was at its
best; concerns show where a signal dropped, found in the answer's 2 s vision timeline. Every
clip lies within its answer and lasts at least CLIP_MIN_S; an answer shorter than that gets no
clip (its full recording serves). Pure functions of plain values."""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

CLIP_PAD_S = 2.0
CLIP_MAX_S = 30.0
CLIP_MIN_S = 3.0  # shorter is no use to a person watching (a 0.04 s clip plays as 0:00)
CONCERN_MAX_S = 15.0
STRETCH_PAD_S = 1.0  # around a timeline stretch: a moment before and after it
BUCKET_S = 2.0  # the timeline's step (server/question_signals.py TIMELINE_BUCKET_S)
# Frame-statistics signals and their series in the timeline.
TIMELINE_KEYS = {"eye_contact_ratio": "eye", "face_present_ratio": "face", "smile_ratio": "smile",
                 "upright_ratio": "upright"}
EYE_DROP = 0.6  # eye contact below this share of the candidate's own average is a concern
FACE_MISSING = 0.7  # face visible in less than this share of frames is a concern

Timeline = Sequence[Mapping[str, Any]]


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


def _fit(lo: float, hi: float, span: QuestionSpan, max_s: float = CLIP_MAX_S,
         centre: float | None = None) -> tuple[float, float] | None:
    """[lo, hi] inside the answer, at most `max_s` (kept around `centre` when given, else from
    lo) and at least CLIP_MIN_S (widened around its middle); None if the answer is shorter."""
    if span.end_s - span.start_s < CLIP_MIN_S:
        return None
    if hi - lo > max_s:
        if centre is None:
            hi = lo + max_s
        else:  # around the centre, shifted (not cut) where it meets an end of the answer
            lo = min(max(centre - max_s / 2, span.start_s, lo), span.end_s - max_s, hi - max_s)
            hi = lo + max_s
    lo, hi = max(span.start_s, lo), min(span.end_s, hi)
    if hi - lo < CLIP_MIN_S:
        mid = (lo + hi) / 2 if hi > lo else min(max(lo, span.start_s), span.end_s)
        lo = min(max(span.start_s, mid - CLIP_MIN_S / 2), span.end_s - CLIP_MIN_S)
        hi = lo + CLIP_MIN_S
    return round(lo, 3), round(hi, 3)


def _label(item: Mapping[str, Any]) -> str | None:
    """The words an evidence item stands for: a keyword hit's keyword, a mention's phrase."""
    for key in ("keyword", "phrase"):
        if isinstance(item.get(key), str):
            return str(item[key])
    return None


def _is_words(item: Mapping[str, Any]) -> bool:
    return (item.get("kind") in ("keyword_hit", "mention", "mentions") or "phrase" in item) \
        and _label(item) is not None and "start_s" in item and "end_s" in item


def _words_signal(signal: str) -> str | None:
    """`keyword_hits:<kw>` or `mentions:<phrase>`: the words a rule counted."""
    for prefix in ("keyword_hits:", "mentions:"):
        if signal.startswith(prefix):
            return signal[len(prefix):]
    return None


def stretch(timeline: Timeline, key: str, span: QuestionSpan, *, low: bool,
            threshold: float | None = None) -> tuple[float, float, float] | None:
    """The stretch of the answer where series `key` was lowest (`low`) or highest: the extreme
    2 s bucket, extended over neighbouring buckets that are as bad (or good) as `threshold`.
    `(start_s, end_s, centre of the extreme bucket)`, or None without data in the answer."""
    points = sorted((float(b["t"]), float(b[key])) for b in timeline
                    if b.get(key) is not None and span.start_s - BUCKET_S < float(b["t"]) <= span.end_s)
    if not points:
        return None
    sign = 1.0 if low else -1.0
    worst = min(range(len(points)), key=lambda k: (sign * points[k][1], k))
    limit = points[worst][1] if threshold is None else threshold

    def beyond(v: float) -> bool:
        return v <= limit if low else v >= limit

    a = b = worst
    while a > 0 and beyond(points[a - 1][1]) and points[a][0] - points[a - 1][0] <= BUCKET_S + 1e-6:
        a -= 1
    while b < len(points) - 1 and beyond(points[b + 1][1]) and points[b + 1][0] - points[b][0] <= BUCKET_S + 1e-6:
        b += 1
    return points[a][0], points[b][0] + BUCKET_S, points[worst][0] + BUCKET_S / 2


def _timeline_window(timeline: Timeline, key: str, span: QuestionSpan, *, low: bool, threshold: float | None,
                     max_s: float) -> tuple[float, float] | None:
    found = stretch(timeline, key, span, low=low, threshold=threshold)
    if found is None:
        return None
    a, b, centre = found
    return _fit(a - STRETCH_PAD_S, b + STRETCH_PAD_S, span, max_s, centre)


_RULE_OP = re.compile(r"\s(>=|<=|==|>|<)\s*(-?[\d.]+)")


def _rule_direction(rule: str) -> tuple[bool, float | None]:
    """(whether the rule rewards low values, its threshold) from its text, e.g.
    `eye_contact_ratio >= 0.6 -> +20`."""
    m = _RULE_OP.search(rule)
    if m is None:
        return False, None
    try:
        value = float(m.group(2))
    except ValueError:
        value = None
    return m.group(1).startswith("<"), value


def _extents(spans: Sequence[QuestionSpan], timelines: Mapping[int, Timeline],
             live: Mapping[int, tuple[float, float]]) -> dict[int, QuestionSpan]:
    """Each answer's extent: what was said, and when the answer was live (`live`), else the
    2 s buckets where it was seen (frames count in the attempt that was live, so a silent
    stretch of the answer still counts; a bucket may start up to 2 s before the answer)."""
    out = {s.index: s for s in spans}
    for qi in {*timelines, *live}:
        if qi in live:
            lo, hi = live[qi]
        else:
            ts = sorted(float(b["t"]) for b in timelines[qi] if b.get("t") is not None)
            if not ts:
                continue
            lo, hi = ts[0], ts[-1] + BUCKET_S
        span = out.get(qi)
        out[qi] = QuestionSpan(qi, lo, hi, "") if span is None else \
            QuestionSpan(qi, min(span.start_s, lo), max(span.end_s, hi), span.text)
    return out


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
                 signals: dict[int, dict[str, float]], eye_contact_on: bool = True, *,
                 timelines: Mapping[int, Timeline] | None = None,
                 live: Mapping[int, tuple[float, float]] | None = None) -> list[Clip]:
    """Highlights: every keyword or phrase heard, and every rule that fired (on the words it
    counted, or on the stretch where its signal was best). Concerns: a question where eye
    contact is far below the candidate's own average, the face is often missing, or someone
    else is in view, centred on where that happened (`timelines`: per question, the stored 2 s
    vision timeline `[{"t", "face", "eye", "smile", "upright"}]`; without it, or for another
    face in view, which the timeline does not count, the start of the answer). `live`: per
    question, when its counted attempt was live (QuestionSignals.live_start_s/live_end_s); the
    answer's extent is that and what was said (without it, the timeline's extent)."""
    timelines = timelines or {}
    by_index = _extents(spans, timelines, live or {})
    clips: list[Clip] = []

    def add(kind: str, qi: int, window: tuple[float, float] | None, text: str, reason: str) -> None:
        if window is not None:
            lo, hi = window
            clips.append(Clip(f"{kind[0]}{qi}-{int(lo * 10)}", kind, qi, lo, hi, text, reason))

    for qi, items in evidence.items():
        span = by_index.get(qi)
        if span is None:
            continue
        timeline = timelines.get(qi, ())
        for item in items:
            if _is_words(item):
                said = _label(item)
                add("highlight", qi, _fit(item["start_s"] - CLIP_PAD_S, item["end_s"] + CLIP_PAD_S, span),
                    str(item.get("text") or said), f"said \u201c{said}\u201d")
            elif item.get("kind") == "rule":
                signal = str(item.get("signal", ""))
                words = _words_signal(signal)
                if words is not None:
                    for hit in (h for h in items if _is_words(h) and _label(h) == words):  # what made it fire
                        add("highlight", qi, _fit(hit["start_s"] - CLIP_PAD_S, hit["end_s"] + CLIP_PAD_S, span),
                            str(hit.get("text") or words), f"rule {item['rule']}")
                    continue
                low, threshold = _rule_direction(str(item.get("rule", "")))
                window = None
                if signal in TIMELINE_KEYS:  # where the signal was at its best (for this rule)
                    window = _timeline_window(timeline, TIMELINE_KEYS[signal], span, low=low,
                                              threshold=threshold, max_s=10.0)
                if window is None:  # a rule on answer statistics: the start of the answer shows it
                    window = _fit(span.start_s, span.start_s + 10.0, span)
                add("highlight", qi, window, span.text[:200], f"rule {item['rule']} (value {item['value']})")
    eye = {qi: s["eye_contact_ratio"] for qi, s in signals.items() if "eye_contact_ratio" in s}
    own = statistics.fmean(eye.values()) if len(eye) >= 2 else None
    for qi, sig in signals.items():
        span = by_index.get(qi)
        if span is None:
            continue
        timeline = timelines.get(qi, ())
        start_window = _fit(span.start_s, span.start_s + CONCERN_MAX_S, span)
        text = span.text[:200]
        if eye_contact_on and own is not None and qi in eye and eye[qi] < EYE_DROP * own and own - eye[qi] >= 0.2:
            window = _timeline_window(timeline, "eye", span, low=True, threshold=EYE_DROP * own,
                                      max_s=CONCERN_MAX_S)
            add("concern", qi, window or start_window, text,
                f"eye contact {eye[qi]:.0%}, far below this candidate's average {own:.0%}")
        if sig.get("face_present_ratio", 1.0) < FACE_MISSING:
            window = _timeline_window(timeline, "face", span, low=True, threshold=FACE_MISSING,
                                      max_s=CONCERN_MAX_S)
            add("concern", qi, window or start_window, text,
                f"face visible in only {sig['face_present_ratio']:.0%} of frames")
        if sig.get("multiple_faces_ratio", 0.0) > 0.05:
            add("concern", qi, start_window, text,
                f"another face in view in {sig['multiple_faces_ratio']:.0%} of frames")
    return _merge(clips)
