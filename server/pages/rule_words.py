"""Scoring rules in HR's words: the choices of the new-job form's rule builder (signal, operator,
scope) and the sentence a rule means ("In each answer: when eye contact is at least 0.6, add 20
points"). The same words are used on the job page."""
from __future__ import annotations

from typing import Any, Mapping

# (signal or prefix, what HR reads, what the value is). A prefix ending in ":" takes an argument:
# the keyword or the phrase.
SIGNALS: tuple[tuple[str, str, str], ...] = (
    ("keyword_hits:", "times the keyword is said", "a count"),
    ("mentions:", "the phrase is mentioned", "a count in an answer; over the interview the share of answers, 0-1"),
    ("keyword_density", "keywords per 100 words", "a number"),
    ("word_count", "words in the answer", "a count"),
    ("answer_seconds", "length of the answer in seconds", "seconds"),
    ("speech_rate_wpm", "speaking rate in words a minute", "words a minute"),
    ("filler_ratio", "share of filler words", "0-1"),
    ("coherence", "coherence of the answer", "0-1"),
    ("pause_count", "pauses longer than 0.7 s", "a count"),
    ("longest_pause_s", "longest pause in seconds", "seconds"),
    ("face_present_ratio", "share of frames with the face in view", "0-1"),
    ("multiple_faces_ratio", "share of frames with another face", "0-1"),
    ("eye_contact_ratio", "eye contact (share of frames)", "0-1"),
    ("smile_ratio", "smiling (share of frames)", "0-1"),
    ("upright_ratio", "upright posture (share of frames)", "0-1"),
    ("gesture_activity", "gesture activity", "shoulder widths a frame"),
)
LABELS = {signal: label for signal, label, _ in SIGNALS}
OPS: tuple[tuple[str, str], ...] = (
    (">=", "is at least"), (">", "is more than"), ("<=", "is at most"), ("<", "is less than"), ("==", "is exactly"),
)
OP_WORDS = dict(OPS)
SCOPES: tuple[tuple[str, str], ...] = (("answer", "In each answer"), ("interview", "Over the whole interview"))


def split_signal(signal: str) -> tuple[str, str]:
    """("keyword_hits:", "procedure") for "keyword_hits:procedure"; (name, "") for the others."""
    for prefix in ("keyword_hits:", "mentions:"):
        if signal.startswith(prefix):
            return prefix, signal[len(prefix):]
    return signal, ""


def signal_words(signal: str, scope: str = "answer") -> str:
    kind, arg = split_signal(signal)
    if kind == "keyword_hits:":
        return f"the times “{arg}” is said" + (" (mean over the answers)" if scope == "interview" else "")
    if kind == "mentions:":
        if scope == "interview":
            return f"the share of answers that mention “{arg}”"
        return f"the times “{arg}” is mentioned"
    label = LABELS.get(signal, signal)
    return f"the {label}" + (" (mean over the answers)" if scope == "interview" else "")


def rule_sentence(rule: Mapping[str, Any]) -> str:
    """A rule in words, e.g. 'Over the whole interview: when the share of answers that mention
    “follow operating procedures” is more than 0.8, add 10 points.'"""
    scope = str(rule.get("scope") or "answer")
    points = float(rule["points"])
    verb = f"add {points:g}" if points >= 0 else f"take away {-points:g}"
    where = dict(SCOPES).get(scope, scope)
    return (f"{where}: when {signal_words(str(rule['signal']), scope)} {OP_WORDS.get(str(rule['op']), rule['op'])} "
            f"{float(rule['value']):g}, {verb} point{'' if abs(points) == 1 else 's'}.")
