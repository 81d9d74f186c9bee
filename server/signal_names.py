"""The per-answer signal names that scoring rules may use, and which family measures each:
language signals come from what was recognised, vision signals from the analysed frames (an
answer without usable evidence of one family is "not assessed" for it, never 0)."""
from __future__ import annotations

LANGUAGE_SIGNALS = (
    "word_count", "keyword_density", "speech_rate_wpm", "filler_ratio", "answer_seconds",
    "coherence", "pause_count", "longest_pause_s",
)
VISION_SIGNALS = (
    "face_present_ratio", "multiple_faces_ratio", "eye_contact_ratio", "smile_ratio",
    "upright_ratio", "gesture_activity",
)
KEYWORD_PREFIX = "keyword_hits:"  # + one of the dimension's keywords
MENTIONS_PREFIX = "mentions:"  # + any phrase: how often the answer mentions it


def is_vision(signal: str) -> bool:
    return signal in VISION_SIGNALS


def valid_signals_text() -> str:
    """The valid rule signals, for error messages and help."""
    return ", ".join((*LANGUAGE_SIGNALS, *VISION_SIGNALS, f"{KEYWORD_PREFIX}<one of the dimension's keywords>",
                      f"{MENTIONS_PREFIX}<phrase>"))
