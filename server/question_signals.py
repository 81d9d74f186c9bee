"""Per-question signals: what was said (from final transcript segments) and seen (from vision
samples) while one attempt at a question was live."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from typing import TYPE_CHECKING

from analyzers.conditions import low_confidence
from analyzers.language import LanguageSignals, analyze_answer
from analyzers.language_live import LiveAnswer
from analyzers.speech import Word

if TYPE_CHECKING:
    from analyzers.vision import VisionSample


TIMELINE_BUCKET_S = 2  # seconds of interview clock per timeline point
TIMELINE_MAX_BUCKETS = 600  # per attempt (20 minutes); later frames count in the ratios only


def _ratio(hits: int, n: int, on: bool = True) -> float | None:
    return round(hits / n, 3) if on and n else None


@dataclass(slots=True)
class VisionTally:
    """Running counts over the analysed frames of one question attempt (cheap to update per
    frame; ratios only on demand), and a compact timeline: per TIMELINE_BUCKET_S bucket of the
    interview clock, the same counts (closed buckets as tuples, the open one as a list)."""

    frames: int = 0
    face: int = 0
    multiple: int = 0
    eye_contact: int = 0
    eye_contact_frames: int = 0
    smile: int = 0
    smile_frames: int = 0
    upright: int = 0
    pose_frames: int = 0
    motion_sum: float = 0.0
    motion_frames: int = 0
    # Timeline counts: (bucket, frames, face, eye, eye_frames, smile, smile_frames, upright, pose_frames).
    buckets: list[tuple[int, ...]] = field(default_factory=list)
    _open: list[int] | None = None
    # Frames a signal was measured in but left out as low confidence: per signal ("eye_contact")
    # and per signal and condition ("eye_contact:poor_light").
    low_confidence: dict[str, int] = field(default_factory=dict)

    def add(self, s: VisionSample, clock_s: float | None = None) -> None:
        # A face signal under a condition the evaluation found it unreliable in (poor light, a
        # small face, a turned head: analyzers/conditions.py) is left out of its ratio, as if
        # not measured, and counted apart with the condition, for the report's "low confidence".
        conditions = getattr(s, "conditions", ())  # samples from fakes and older callers have none
        eye = self._confident("eye_contact", s.eye_contact, conditions)
        smile = self._confident("smile", s.smile, conditions)
        upright = self._confident("upright", s.upright, conditions)
        if clock_s is not None:
            self._add_to_timeline(s.faces, eye, smile, upright, clock_s)
        self.frames += 1
        if s.faces >= 1:
            self.face += 1
        if s.faces >= 2:
            self.multiple += 1
        if eye is not None:
            self.eye_contact_frames += 1
            self.eye_contact += int(eye)
        if smile is not None:
            self.smile_frames += 1
            self.smile += int(smile)
        if upright is not None:
            self.pose_frames += 1
            self.upright += int(upright)
        if s.motion is not None:
            self.motion_frames += 1
            self.motion_sum += s.motion

    def _confident(self, signal: str, value: bool | None, conditions: tuple[str, ...]) -> bool | None:
        """`value`, or None when a condition of the frame makes `signal` low confidence (then
        counted in `low_confidence` under the signal and under each such condition)."""
        if value is None:
            return None
        why = low_confidence(signal, conditions)
        if not why:
            return value
        self.low_confidence[signal] = self.low_confidence.get(signal, 0) + 1
        for condition in why:
            key = f"{signal}:{condition}"
            self.low_confidence[key] = self.low_confidence.get(key, 0) + 1
        return None

    def _add_to_timeline(self, faces: int, eye: bool | None, smile: bool | None, upright: bool | None,
                         clock_s: float) -> None:
        b = self._open
        bucket = int(max(clock_s, 0.0) // TIMELINE_BUCKET_S)
        if b is None or bucket > b[0]:  # a frame arriving late counts in the open bucket
            if b is not None:
                self.buckets.append(tuple(b))
            if len(self.buckets) >= TIMELINE_MAX_BUCKETS:
                self._open = None
                return
            b = self._open = [bucket, 0, 0, 0, 0, 0, 0, 0, 0]
        b[1] += 1
        b[2] += faces >= 1
        if eye is not None:
            b[3] += bool(eye)
            b[4] += 1
        if smile is not None:
            b[5] += bool(smile)
            b[6] += 1
        if upright is not None:
            b[7] += bool(upright)
            b[8] += 1

    def timeline(self, eye_contact: bool = True, expression: bool = True,
                 posture: bool = True) -> list[dict[str, Any]]:
        """`[{"t": bucket start in s, "face"|"eye"|"smile"|"upright": ratio or None}]`: None
        where the bucket had no such value, or its analysis is off."""
        rows = [*self.buckets, *([tuple(self._open)] if self._open is not None else [])]
        return [{"t": b * TIMELINE_BUCKET_S, "face": _ratio(face, n), "eye": _ratio(eye, eye_n, eye_contact),
                 "smile": _ratio(smile, smile_n, expression), "upright": _ratio(up, pose_n, posture)}
                for b, n, face, eye, eye_n, smile, smile_n, up, pose_n in rows[:TIMELINE_MAX_BUCKETS]]

    def signals(self, eye_contact: bool = True, expression: bool = True, posture: bool = True) -> dict[str, float]:
        if not self.frames:
            return {}
        out = {
            "face_present_ratio": self.face / self.frames,
            "multiple_faces_ratio": self.multiple / self.frames,
        }
        if eye_contact and self.eye_contact_frames:
            out["eye_contact_ratio"] = self.eye_contact / self.eye_contact_frames
        if expression and self.smile_frames:
            out["smile_ratio"] = self.smile / self.smile_frames
        if posture and self.pose_frames:
            out["upright_ratio"] = self.upright / self.pose_frames
        if posture and self.motion_frames:
            out["gesture_activity"] = self.motion_sum / self.motion_frames
        return {k: round(v, 4) for k, v in out.items()}

    def stats(self) -> dict[str, Any]:
        """Frame counts, stored with the signals (as `frames:<key>`). `<signal>_measured`: frames
        the signal counted in; `low_confidence:<signal>[:<condition>]`: frames it was left out
        of (server/signal_confidence.py turns these into the report's words)."""
        return {"analysed_frames": self.frames, "face_frames": self.face, "multiple_face_frames": self.multiple,
                "eye_contact_frames": self.eye_contact, "smile_frames": self.smile, "upright_frames": self.upright,
                "eye_contact_measured": self.eye_contact_frames, "smile_measured": self.smile_frames,
                "upright_measured": self.pose_frames,
                **{f"low_confidence:{k}": v for k, v in sorted(self.low_confidence.items())}}


@dataclass(frozen=True, slots=True)
class Segment:
    """A final utterance on the interview clock."""

    text: str
    start_s: float
    end_s: float
    words: tuple[Word, ...] = ()

    def words_json(self) -> list[dict[str, Any]]:
        return [{"word": w.word, "start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3),
                 "conf": round(w.conf, 3)} for w in self.words]


def language_signals(segments: list[Segment], question_text: str, keywords: tuple[str, ...],
                     live_seconds: float, phrases: tuple[str, ...] = ()
                     ) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Signals named as in DESIGN.md (usable in rules), and the evidence behind them.

    Signals: see analyzers/language.py; `mentions:<phrase>` for each of `phrases` (how often
    the answer says it, echo excluded, 0.0 when never); rates and ratios without enough speech
    are left out. Evidence, in time order within each kind (JSON-serialisable):
    - `{"keyword", "text", "start_s", "end_s"}`: a keyword heard (no "kind": the report labels
      these "keyword_hit");
    - `{"kind": "mention", "phrase", "text", "start_s", "end_s"}`: a phrase heard;
    - `{"kind": "echo", "text", "start_s", "end_s", "words", "discounted"}`: a stretch that
      read the question back and earned nothing; `discounted` lists the keywords and phrases
      said inside it that were not counted.
    """
    return _as_json(analyze_answer(segments, question_text=question_text, live_seconds=live_seconds,
                                   keywords=keywords, phrases=phrases))


class LiveLanguage:
    """The same signals and evidence for an answer still being given, updated per new final
    segment at a cost that does not grow with the answer (analyzers/language_live.py)."""

    def __init__(self, question_text: str, keywords: tuple[str, ...], phrases: tuple[str, ...] = ()) -> None:
        self.answer = LiveAnswer(question_text=question_text, keywords=keywords, phrases=phrases)

    def update(self, segments: Sequence[Segment]) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """Signals and evidence over `segments`, which extend the ones given before."""
        for seg in segments[len(self.answer.segments):]:
            self.answer.add(seg)
        return _as_json(self.answer.result())


def _as_json(result: LanguageSignals) -> tuple[dict[str, float], list[dict[str, Any]]]:
    signals = result.signals()
    for name, digits in (("answer_seconds", 2), ("longest_pause_s", 2)):
        signals[name] = round(signals[name], digits)
    evidence: list[dict[str, Any]] = [
        {"keyword": h.keyword, "text": h.text, "start_s": round(h.start_s, 2), "end_s": round(h.end_s, 2)}
        for h in result.keyword_evidence]
    evidence += [{"kind": "mention", "phrase": h.keyword, "text": h.text, "start_s": round(h.start_s, 2),
                  "end_s": round(h.end_s, 2)} for h in result.mention_evidence]
    evidence += [{"kind": "echo", "text": e.text, "start_s": round(e.start_s, 2), "end_s": round(e.end_s, 2),
                  "words": e.words, "discounted": list(e.discounted)} for e in result.echoes]
    return signals, evidence
