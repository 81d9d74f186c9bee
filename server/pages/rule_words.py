"""Scoring rules in HR's words: the choices of the new-job form's rule builder (signal, operator,
scope) and the sentence a rule means ("In each answer: when eye contact is at least 0.6, add 20
points"). The same words are used on the job page."""
from __future__ import annotations

from typing import Any, Mapping

from server.i18n import N_, _

# (signal or prefix, what HR reads, what the value is). A prefix ending in ":" takes an argument:
# the keyword or the phrase.
SIGNALS: tuple[tuple[str, str, str], ...] = (
    ("keyword_hits:", N_("times the keyword is said"), N_("a count")),
    ("mentions:", N_("the phrase is mentioned"),
     N_("a count in an answer; over the interview the share of answers, 0-1")),
    ("keyword_density", N_("keywords per 100 words"), N_("a number")),
    ("word_count", N_("words in the answer"), N_("a count")),
    ("answer_seconds", N_("length of the answer in seconds"), N_("seconds")),
    ("speech_rate_wpm", N_("speaking rate in words a minute"), N_("words a minute")),
    ("filler_ratio", N_("share of filler words"), N_("0-1")),
    ("coherence", N_("coherence of the answer"), N_("0-1")),
    ("pause_count", N_("pauses longer than 0.7 s"), N_("a count")),
    ("longest_pause_s", N_("longest pause in seconds"), N_("seconds")),
    ("face_present_ratio", N_("share of frames with the face in view"), N_("0-1")),
    ("multiple_faces_ratio", N_("share of frames with another face"), N_("0-1")),
    ("eye_contact_ratio", N_("eye contact (share of frames)"), N_("0-1")),
    ("smile_ratio", N_("smiling (share of frames)"), N_("0-1")),
    ("upright_ratio", N_("upright posture (share of frames)"), N_("0-1")),
    ("gesture_activity", N_("gesture activity"), N_("shoulder widths a frame")),
)
LABELS = {signal: label for signal, label, _unit in SIGNALS}
OPS: tuple[tuple[str, str], ...] = (
    (">=", N_("is at least")), (">", N_("is more than")), ("<=", N_("is at most")), ("<", N_("is less than")),
    ("==", N_("is exactly")),
)
OP_WORDS = dict(OPS)
SCOPES: tuple[tuple[str, str], ...] = (("answer", N_("In each answer")), ("interview", N_("Over the whole interview")))


def split_signal(signal: str) -> tuple[str, str]:
    """("keyword_hits:", "procedure") for "keyword_hits:procedure"; (name, "") for the others."""
    for prefix in ("keyword_hits:", "mentions:"):
        if signal.startswith(prefix):
            return prefix, signal[len(prefix):]
    return signal, ""


def signal_words(signal: str, scope: str = "answer") -> str:
    """What a rule looks at, in the request's language (static/hr.js says the same)."""
    kind, arg = split_signal(signal)
    overall = scope == "interview"
    if kind == "keyword_hits:":
        if overall:
            return _("the times “%(word)s” is said (mean over the answers)", word=arg)
        return _("the times “%(word)s” is said", word=arg)
    if kind == "mentions:":
        if overall:
            return _("the share of answers that mention “%(word)s”", word=arg)
        return _("the times “%(word)s” is mentioned", word=arg)
    label = _(LABELS[signal]) if signal in LABELS else signal
    if overall:
        return _("the %(signal)s (mean over the answers)", signal=label)
    return _("the %(signal)s", signal=label)


def rule_sentence(rule: Mapping[str, Any]) -> str:
    """A rule in words, e.g. 'Over the whole interview: when the share of answers that mention
    “follow operating procedures” is more than 0.8, add 10 points.'"""
    scope = str(rule.get("scope") or "answer")
    points = float(rule["points"])
    if points >= 0:
        verb = (_("add %(n)s point", n=f"{points:g}") if abs(points) == 1 else _("add %(n)s points", n=f"{points:g}"))
    else:
        verb = (_("take away %(n)s point", n=f"{-points:g}") if abs(points) == 1
                else _("take away %(n)s points", n=f"{-points:g}"))
    where = dict(SCOPES).get(scope)
    op = OP_WORDS.get(str(rule["op"]))
    return _("%(where)s: when %(what)s %(op)s %(value)s, %(points)s.", where=_(where) if where else scope,
             what=signal_words(str(rule["signal"]), scope), op=_(op) if op else str(rule["op"]),
             value=f"{float(rule['value']):g}", points=verb)
