"""The report's computed sentences (warnings, recommendation reasons, percentile text, why a
dimension or rule was not assessed, clip reasons, evidence gaps; also a job's version history
lines) in the reader's language.

A report is built once, in English, and stored: the API returns it as it is (API clients read
stable English words) and an interview's report never changes afterwards. The HTML pages show
those sentences through `translated()`, which recognises each English sentence by the pattern
that wrote it (the msgids below, written exactly as server/reports.py, server/scoring.py and
server/clip_selection.py word them) and writes it again in the request's language, its numbers
and names kept. A sentence made of clauses ("…; …") is translated clause by clause; a
placeholder's value that is itself one of these sentences is translated too. Words no pattern
recognises (a report from an older release, data) are shown as they are.
"""
from __future__ import annotations

import functools
import re

from server.i18n import N_, _, current_locale

PATTERNS: tuple[str, ...] = (
    # server/reports.py: recommendation reasons
    N_("no AI scores (a human-only review was asked for): a person should interview the candidate"),
    N_("only %(pct)s of the job's dimension weight could be assessed (at least %(min)s needed): a person "
       "should review the answers or interview the candidate again"),
    N_("none of the job's dimension weight could be assessed (at least %(min)s needed): a person should "
       "review the answers or interview the candidate again"),
    N_("only %(pct)s of the job's dimension weight could be assessed (at least %(min)s needed)"),
    N_("none of the job's dimension weight could be assessed (at least %(min)s needed)"),
    N_("not assessed: %(why)s"),  # an evidence line (server/evidence_words.py); the why is recognised
    N_("not assessed: %(names)s: a person should review the answers or interview the candidate again"),
    N_("not assessed: %(names)s"),
    N_("overall %(overall)s, in line with %(basis)s"),
    N_("overall %(overall)s, a little under %(basis)s"),
    N_("overall %(overall)s, well under %(basis)s"),
    N_("past hires for this job averaged %(mean)s (n=%(n)s, sd %(sd)s)"),
    N_("below every past hire on %(names)s"),
    N_("overall %(overall)s"),
    N_("weak on %(names)s"),
    N_("thresholds (no hiring history yet): recommend at %(recommend)s, second interview at %(second)s, every "
       "dimension at least %(weak)s"),
    # server/reports.py: warnings
    N_("its keywords, substance and language-based rules were not assessed (not scored as 0). This may be a "
       "technical fault rather than the candidate: check the recording."),
    N_("vision-based rules were not checked (not counted either way). This may be a technical fault rather "
       "than the candidate: check the recording."),
    N_("Only %(pct)s of the job's dimension weight was assessed (at least %(min)s needed): no recommendation is "
       "made and the interview is left out of other candidates' percentiles. Not assessed: %(names)s."),
    N_("Only %(pct)s of the job's dimension weight was assessed (at least %(min)s needed): no recommendation is "
       "made and the interview is left out of other candidates' percentiles."),
    N_("Not assessed (left out of the overall, not scored as 0): %(items)s."),
    N_("The interview ended before %(questions)s."),
    N_("Network problems during %(questions)s: the answers count, flagged in the evidence."),
    N_("Question %(numbers)s"),
    N_("Questions %(numbers)s"),
    N_("question %(numbers)s"),
    N_("questions %(numbers)s"),
    # server/reports.py: the percentile and the overall
    N_("not compared: too little of this interview could be assessed (and it is left out of other candidates' "
       "comparisons)"),
    N_("higher than %(pct)s of %(n)s candidates for this job"),
    N_("too few completed interviews for this job to compare (%(n)s; at least %(min)s needed)"),
    N_("no dimension could be assessed"),
    # server/scoring.py: evidence gaps and why a dimension or rule was not assessed
    N_("nothing was recognised in the answer (silence, a microphone problem or lost audio)"),
    N_("no video frames were analysed (camera off or lost video)"),
    N_("no face in the analysed frames"),
    N_("no question of this interview is linked to it"),
    N_("no counted answer: %(why)s"),
    N_("no counted answer"),
    N_("question %(n)s skipped"),
    N_("question %(n)s not reached (the interview ended before it)"),
    N_("question %(n)s: %(why)s"),
    N_("no counted answer measured this signal"),
    # server/compare.py: a comparison cell without a score
    N_("no AI scores: the candidate asked for a human-only review"),
    N_("not a dimension of this candidate's interview"),
    # server/clips.py: why a clip or recording cannot be played
    N_("the range %(range)s is empty"),
    N_("the recording cannot be decrypted (%(error)s)"),
    N_("nothing was recorded for this interview (no audio or video reached the server)"),
    N_("nothing was recorded at %(range)s: the recording covers %(covered)s"),
    N_("only %(seconds)s s of %(range)s was recorded"),
    N_("no audio or video was received at %(range)s (the connection was lost then)"),
    # server/evidence_words.py: a comparison's evidence lines (after an optional "Q<n>: ")
    N_("Over the interview: %(rule)s fired (%(points)s; value %(value)s over %(answers)s answers)"),
    N_("Over the interview: %(rule)s did not fire (%(points)s; value %(value)s over %(answers)s answers)"),
    N_("Over the interview: %(rule)s not checked: %(why)s"),
    N_("score %(score)s (weight %(weight)s)"),
    N_("score %(score)s (weight %(weight)s; network problem)"),
    N_("score %(score)s (weight %(weight)s; paused %(seconds)s s)"),
    N_("score %(score)s (weight %(weight)s; network problem; paused %(seconds)s s)"),
    N_("not counted, skipped"),
    N_("not counted, not reached (the interview ended before it)"),
    N_("not counted, no usable evidence: %(why)s"),
    N_("not counted, no usable evidence"),
    N_("keywords heard: %(names)s (%(points)s) at %(said)s"),
    N_("keywords heard: %(names)s (%(points)s)"),
    N_("substance: %(words)s words, coherence %(value)s (%(points)s)"),
    N_("rule %(rule)s fired (%(points)s; value %(value)s)"),
    N_("rule %(rule)s not checked: %(why)s"),
    # server/versions.py: a job's version history (the job page)
    N_("created"),
    N_("title: %(old)s → %(new)s"),
    N_("added dimension %(name)s"),
    N_("renamed dimension %(old)s → %(new)s"),
    N_("retired dimension %(name)s"),
    N_("dimensions reordered"),
    # server/versions.py: a template's version history (the template page)
    N_("name: %(old)s → %(new)s"),
    N_("added question %(n)s: %(text)s"),
    N_("question %(n)s: %(fields)s changed"),
    N_("removed question %(n)s: %(text)s"),
    N_("questions reordered"),
    N_("%(name)s: %(fields)s changed"),  # a job's dimension
    # server/clip_selection.py: why a clip was chosen
    N_("said “%(words)s”"),
    N_("rule %(rule)s (value %(value)s)"),
    N_("rule %(rule)s"),
    N_("eye contact %(pct)s, far below this candidate's average %(average)s"),
    N_("face visible in only %(pct)s of frames"),
    N_("another face in view in %(pct)s of frames"),
    # Last, being the loosest: a warning's "Questions 1, 2: <gap>" (server/reports.py).
    N_("%(questions)s: %(gap)s"),
)
# Placeholders whose values are lists of "name (why)" joined by "; " (the why is translated).
_ITEM_LISTS = {"items", "said"}
# What a version changed, as server/versions.py lists it ("text, time limit"): each word must
# be one of these, or the sentence is not recognised.
_FIELDS = "fields"
FIELD_WORDS: dict[str, str] = {
    "text": N_("text"), "time limit": N_("time limit"), "dimensions and weights": N_("dimensions and weights"),
    "kind": N_("kind"), "scenario": N_("scenario"), "description": N_("description"),
    "keywords": N_("keywords"), "weight": N_("weight"), "rules": N_("rules"),
}
# Placeholders that are data (names, numbers, rules): never looked up.
_DATA = {"names", "numbers", "pct", "min", "n", "overall", "mean", "sd", "recommend", "second", "weak",
         "words", "rule", "value", "average", "range", "error", "covered", "seconds", "old", "new", "name",
         "points", "answers", "score", "weight", "text"}
# What a placeholder's value may be, where narrower than "anything but a new clause".
_VALUE = {"numbers": r"\d+(?:, \d+)*", "n": r"\d+", **{name: r".+?" for name in _ITEM_LISTS}}
_QUESTION = re.compile(r"^Q(\d+): (.+)$", re.S)
_HOLE = re.compile(r"%\((\w+)\)s")
_ITEM = re.compile(r"^(.*) \(([^()]*(?:\([^()]*\)[^()]*)*)\)$")


@functools.cache
def _compiled() -> tuple[tuple[re.Pattern[str], str], ...]:
    out = []
    for msgid in PATTERNS:
        parts = _HOLE.split(msgid)  # literal, name, literal, name, ...
        # A value never spans clauses ("; "), but a list of items does.
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>{_VALUE.get(p, r'(?:(?!; ).)+?')})"
                        for i, p in enumerate(parts))
        out.append((re.compile(f"^{regex}$", re.S), msgid))
    return tuple(out)


def _sentence(text: str) -> str | None:
    """The sentence in the request's language when a pattern wrote it and every placeholder's
    value that is not data is recognised too (so a loose pattern never half-matches); else None."""
    question = _QUESTION.match(text)
    if question is not None:  # an evidence line about one question
        rest = _sentence(question.group(2))
        return None if rest is None else _("Q%(n)s", n=question.group(1)) + _colon() + rest
    for regex, msgid in _compiled():
        m = regex.match(text)
        if m is None:
            continue
        params: dict[str, str] = {}
        for name, value in m.groupdict().items():
            if name in _DATA:
                params[name] = value
            elif name in _ITEM_LISTS:
                params[name] = _separator().join(_item(v) for v in value.split("; "))
            elif name == _FIELDS:
                words = value.split(", ")
                if any(w not in FIELD_WORDS for w in words):
                    break
                params[name] = ("、" if current_locale() == "zh_CN" else ", ").join(_(FIELD_WORDS[w]) for w in words)
            else:
                inner = _recognised(value)
                if inner is None:
                    break
                params[name] = inner
        else:
            return _(msgid, **params)
    return None


def _recognised(text: str) -> str | None:
    """A whole sentence, or one of clauses ("…; …") each recognised; else None."""
    whole = _sentence(text)
    if whole is not None or "; " not in text:
        return whole
    clauses = [_sentence(c) for c in text.split("; ")]
    return None if None in clauses else _separator().join(c for c in clauses if c is not None)


def _item(text: str) -> str:
    m = _ITEM.match(text)
    if m is None:
        return text
    return f"{m.group(1)} ({_recognised(m.group(2)) or m.group(2)})"


def _colon() -> str:
    return "：" if current_locale() == "zh_CN" else ": "


def _separator() -> str:
    return "；" if current_locale() == "zh_CN" else "; "


def translated(text: str | None) -> str:
    """A report sentence in the request's language (English: as it is); clauses no pattern
    recognises are kept as they are."""
    if not text or current_locale() == "en":
        return text or ""
    whole = _recognised(text)
    if whole is not None:
        return whole
    return _separator().join(_sentence(c) or c for c in text.split("; "))
