"""Per-question signals: what was said (from final transcript segments) and seen (from vision
samples) while one attempt at a question was live."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from typing import TYPE_CHECKING

from analyzers.language import analyze_answer
from analyzers.speech import Word

if TYPE_CHECKING:
    from analyzers.vision import VisionSample


@dataclass(slots=True)
class VisionTally:
    """Running counts over the analysed frames of one question attempt (cheap to update per
    frame; ratios only on demand)."""

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

    def add(self, s: VisionSample) -> None:
        self.frames += 1
        if s.faces >= 1:
            self.face += 1
        if s.faces >= 2:
            self.multiple += 1
        if s.eye_contact is not None:
            self.eye_contact_frames += 1
            self.eye_contact += int(s.eye_contact)
        if s.smile is not None:
            self.smile_frames += 1
            self.smile += int(s.smile)
        if s.upright is not None:
            self.pose_frames += 1
            self.upright += int(s.upright)
        if s.motion is not None:
            self.motion_frames += 1
            self.motion_sum += s.motion

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
        return {"analysed_frames": self.frames, "face_frames": self.face, "multiple_face_frames": self.multiple,
                "eye_contact_frames": self.eye_contact, "smile_frames": self.smile, "upright_frames": self.upright}


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
                     live_seconds: float) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Signals named as in DESIGN.md (usable in rules), and the keyword hits as evidence."""
    result = analyze_answer(segments, question_text=question_text, live_seconds=live_seconds,
                            keywords=keywords)
    signals: dict[str, float] = {
        "word_count": float(result.word_count),
        "speech_rate_wpm": round(result.speech_rate_wpm, 2),
        "filler_ratio": round(result.filler_ratio, 4),
        "answer_seconds": round(result.answer_seconds, 2),
        "keyword_density": round(result.keyword_density, 3),
        "coherence": round(result.coherence, 4),
        "pause_count": float(result.pause_count),
        "longest_pause_s": round(result.longest_pause_s, 2),
    }
    for keyword, count in result.keyword_hits.items():
        signals[f"keyword_hits:{keyword}"] = float(count)
    evidence = [{"keyword": h.keyword, "text": h.text, "start_s": round(h.start_s, 2),
                 "end_s": round(h.end_s, 2)} for h in result.keyword_evidence]
    return signals, evidence
