"""Per-question language signals from the final transcript of one answer.

:func:`analyze_answer` takes the final segments of one question (anything with ``.words``, each
word with ``.word``, ``.start_s``, ``.end_s``, e.g. :class:`analyzers.speech.Final`), the
question's text and live duration, and the keywords of the dimensions linked to the question,
and returns :class:`LanguageSignals`. Pure and cheap (a few ms for a long answer).

Definitions (a "word" is one ASR token; Vosk's Korean model often makes particles and endings
tokens of their own, so Korean counts run higher than eojeol counts: compare rates within one
language and model only):

* ``answer_seconds``: first word's start to last word's end.
* ``pause_count`` / ``longest_pause_s``: silences longer than ``pause_threshold_s`` (0.7 s)
  between consecutive words, across utterances.
* ``speaking_seconds``: ``answer_seconds`` minus those pauses; ``speech_rate_wpm`` is
  ``word_count`` per minute of it (fillers included: they take speaking time too).
* ``filler_ratio``: filler tokens / words; which tokens are fillers, and why, is documented in
  :mod:`analyzers.fillers` (hesitation sounds always; Korean 그/저 only when followed by a
  pause, repeated or utterance-final; English "like"/"you know" by context).
* ``keyword_hits``: per keyword, case-insensitive, non-overlapping occurrences. Keywords with a
  character from a script written without reliable spaces (Hangul, CJK, kana, Thai) are
  matched as substrings of the utterance text with all spaces removed, so "절차" hits
  "절차를", and "안전 절차" hits "안전절차를" as well as "안전 절차 를". Other keywords
  (Latin, Cyrillic, ...) match where a word begins, so "procedure" hits "procedures" but
  "art" does not hit "start". Each hit keeps its evidence: the utterance, the word span and
  its start/end times. ``keyword_density``: hits per 100 words.
* ``coherence`` in [0, 1], a lexical-cohesion measure that needs no word segmentation:
  1. The answer is cut into units: each utterance, with long utterances split into runs of at
     most ``UNIT_WORDS`` words (ASR has no sentence punctuation).
  2. Each unit becomes a set of character n-grams taken inside its content words (fillers,
     function words and common Korean particles/endings removed): 2-3-grams for syllabic
     scripts (a Hangul/CJK character is a syllable or morpheme), 3-4-grams for alphabetic ones.
     The question text is turned into grams the same way.
  3. Three parts: *topic* = share of the question's grams that the answer uses (x2, capped at
     1); *connectedness* = mean over units of the share of a unit's grams found in the question
     or in another unit (an off-topic digression shares little); *chaining* = mean over
     consecutive units of their overlap coefficient (x3, capped at 1), i.e. whether each unit
     picks up the thread of the previous one. Weights 0.3/0.4/0.3, renormalised over the parts
     that exist (no question text: no topic; one unit: no chaining).
  4. Repetition penalty: the base is multiplied by ``1 - clamp((r - 0.15) / 0.7, 0, 1)``,
     where ``r`` is the share of word trigrams that already occurred earlier in the answer, so
     saying the same thing over and over cannot score high by overlapping with itself.
  A single unit with no question text has nothing to relate to and gets 0.5; no words gets 0.
  It does not judge grammar or word order within an utterance (that would need a language
  model), only whether the answer stays on the question's subject and holds together.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from analyzers.fillers import filler_flags

logger = logging.getLogger(__name__)

PAUSE_THRESHOLD_S = 0.7
UNIT_WORDS = 12

# Function words ignored by the coherence measure (not by counts or keywords).
EN_STOPWORDS = frozenset("""
a an the and or but so if then than that this these those there here it its it's i me my we
our us you your he him his she her they them their is am are was were be been being do does
did done have has had having will would can could should shall may might must to of in on at
by for with from as about into over after before under again very just also not no yes all
any some more most such only own same too what which who whom when where why how because
while until up down out off i'm i've i'd we're we've they're you're don't didn't doesn't
""".split())
KO_STOPWORDS = frozenset("""
그리고 그래서 그런데 하지만 그러면 그러나 그래도 또 또한 및 것 거 수 때 등 저는 제가 저희
저의 나는 내가 우리 우리는 우리가 이것 그것 저것 이런 그런 저런 있습니다 없습니다 합니다
했습니다 입니다 했어요 해요 있어요 없어요 있는 없는 하는 한 할 했던 하고 해서 하면 같은
같습니다 생각합니다 생각해요 것입니다 겁니다 거예요 것이 것을 것은
""".split())
# Common particles and endings stripped from Korean tokens for the coherence grams only,
# longest first; a token is stripped only if two or more characters remain.
KO_ENDINGS = tuple(sorted("""
하시겠습니까 하겠습니다 겠습니까 겠습니다 했습니다 하였습니다 합니다 습니까 습니다 입니다 니까
니다 하겠어요 겠어요 했어요 했고 해요 어요 아요 에요 예요 세요 하고 해서 하면 하는 하지 으면
에서 에게 으로 로서 로 를 을 은 는 이 가 에 의 도 와 과 고 서 요 다 면 며 지 게
""".split(), key=len, reverse=True))


class WordLike(Protocol):
    @property
    def word(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...


class SegmentLike(Protocol):
    @property
    def words(self) -> Sequence[WordLike]: ...


@dataclass(frozen=True, slots=True)
class KeywordHit:
    """One occurrence of a keyword: which utterance, which words, when."""

    keyword: str
    text: str  # the words that contain the match, as said
    segment_index: int
    first_word: int  # index into that segment's words
    last_word: int  # inclusive
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class FillerHit:
    word: str
    segment_index: int
    word_index: int
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class LanguageSignals:
    word_count: int
    answer_seconds: float
    speaking_seconds: float
    speech_rate_wpm: float
    pause_count: int
    longest_pause_s: float
    filler_count: int
    filler_ratio: float
    keyword_hits: dict[str, int]  # every requested keyword, 0 when absent
    keyword_density: float
    coherence: float
    live_seconds: float | None = None  # the question's live time, as given
    speaking_ratio: float | None = None  # speaking_seconds / live_seconds
    keyword_evidence: tuple[KeywordHit, ...] = ()
    fillers: tuple[FillerHit, ...] = field(default=())

    def signals(self) -> dict[str, float]:
        """The rule-usable signal names of the design (``keyword_hits:<keyword>`` etc.)."""
        out: dict[str, float] = {
            "word_count": float(self.word_count),
            "speech_rate_wpm": self.speech_rate_wpm,
            "filler_ratio": self.filler_ratio,
            "answer_seconds": self.answer_seconds,
            "keyword_density": self.keyword_density,
            "pause_count": float(self.pause_count),
            "longest_pause_s": self.longest_pause_s,
            "coherence": self.coherence,
        }
        for keyword, count in self.keyword_hits.items():
            out[f"keyword_hits:{keyword}"] = float(count)
        return out


def normalise_token(token: str) -> str:
    """Casefold, NFC, and strip punctuation/symbols at both ends."""
    token = unicodedata.normalize("NFC", token).casefold()
    start, end = 0, len(token)
    while start < end and _is_punct(token[start]):
        start += 1
    while end > start and _is_punct(token[end - 1]):
        end -= 1
    return token[start:end]


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PSZ"


def _is_unspaced_script(ch: str) -> bool:
    """Hangul, CJK ideographs, kana, Thai/Lao/Khmer/Myanmar: scripts where keywords are
    glued to particles or written without spaces."""
    o = ord(ch)
    return (0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F or 0xAC00 <= o <= 0xD7AF
            or 0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF
            or 0xF900 <= o <= 0xFAFF or 0x0E00 <= o <= 0x0EFF or 0x1000 <= o <= 0x109F
            or 0x1780 <= o <= 0x17FF)


def flatten_keywords(keywords: Iterable[str] | Mapping[str, Iterable[str]]) -> list[str]:
    """Keywords from a list or from {dimension: [keywords]}, first spelling kept, no dupes."""
    if isinstance(keywords, Mapping):
        items: Iterable[str] = (k for ks in keywords.values() for k in ks)
    else:
        items = keywords
    seen: set[str] = set()
    out: list[str] = []
    for k in items:
        key = " ".join(normalise_token(part) for part in str(k).split()).strip()
        if key and key not in seen:
            seen.add(key)
            out.append(str(k).strip())
    return out


def analyze_answer(
    segments: Sequence[SegmentLike],
    *,
    question_text: str = "",
    live_seconds: float | None = None,
    keywords: Iterable[str] | Mapping[str, Iterable[str]] = (),
    pause_threshold_s: float = PAUSE_THRESHOLD_S,
) -> LanguageSignals:
    """Language signals of one answer (see the module docstring for every definition)."""
    # (segment index, word index, raw word, normalised token, start, end), artefacts dropped
    rows: list[tuple[int, int, str, str, float, float]] = []
    for si, seg in enumerate(segments):
        for wi, w in enumerate(seg.words):
            raw = w.word.strip()
            if raw[:1] in "[<" and raw[-1:] in "]>":
                continue  # decoder artefacts such as [unk], <unk>
            tok = normalise_token(raw)
            if tok:
                rows.append((si, wi, w.word, tok, float(w.start_s), float(w.end_s)))
    rows.sort(key=lambda r: (r[4], r[0], r[1]))
    kw_list = flatten_keywords(keywords)
    n = len(rows)
    if n == 0:
        return LanguageSignals(
            word_count=0, answer_seconds=0.0, speaking_seconds=0.0, speech_rate_wpm=0.0,
            pause_count=0, longest_pause_s=0.0, filler_count=0, filler_ratio=0.0,
            keyword_hits={k: 0 for k in kw_list}, keyword_density=0.0, coherence=0.0,
            live_seconds=live_seconds, speaking_ratio=0.0 if live_seconds else None)

    # Timing: pauses between consecutive words, across utterances.
    gaps = [max(0.0, rows[i + 1][4] - rows[i][5]) for i in range(n - 1)]
    long_gaps = [g for g in gaps if g > pause_threshold_s]
    answer_seconds = max(0.0, max(r[5] for r in rows) - rows[0][4])
    speaking_seconds = max(0.0, answer_seconds - sum(long_gaps))
    wpm = n / speaking_seconds * 60.0 if speaking_seconds > 0 else 0.0

    # Fillers: a gap is "after" a token only inside one utterance.
    tokens = [r[3] for r in rows]
    gaps_after: list[float | None] = [
        gaps[i] if i < n - 1 and rows[i + 1][0] == rows[i][0] else None for i in range(n)]
    flags = filler_flags(tokens, gaps_after)
    fillers = tuple(FillerHit(r[2], r[0], r[1], r[4], r[5]) for r, f in zip(rows, flags, strict=True) if f)

    hits, evidence = _keyword_hits(segments, kw_list)
    total_hits = sum(hits.values())
    content: list[list[str]] = [[] for _ in segments]
    for r, f in zip(rows, flags, strict=True):
        if not f:
            content[r[0]].append(r[3])
    coherence = _coherence([c for c in content if c], [t for t, f in zip(tokens, flags, strict=True) if not f],
                           question_text)
    return LanguageSignals(
        word_count=n,
        answer_seconds=round(answer_seconds, 3),
        speaking_seconds=round(speaking_seconds, 3),
        speech_rate_wpm=round(wpm, 2),
        pause_count=len(long_gaps),
        longest_pause_s=round(max(long_gaps, default=0.0), 3),
        filler_count=len(fillers),
        filler_ratio=round(len(fillers) / n, 4),
        keyword_hits=hits,
        keyword_density=round(total_hits * 100.0 / n, 3),
        coherence=round(coherence, 4),
        live_seconds=live_seconds,
        speaking_ratio=(round(min(1.0, speaking_seconds / live_seconds), 4)
                        if live_seconds and live_seconds > 0 else None),
        keyword_evidence=evidence,
        fillers=fillers,
    )


# -- keywords -------------------------------------------------------------------------------

def _keyword_hits(segments: Sequence[SegmentLike],
                  keywords: list[str]) -> tuple[dict[str, int], tuple[KeywordHit, ...]]:
    hits = {k: 0 for k in keywords}
    evidence: list[KeywordHit] = []
    if not keywords:
        return hits, ()
    for si, seg in enumerate(segments):
        words = list(seg.words)
        norm = [normalise_token(w.word) for w in words]
        # Spaced text (single spaces) and unspaced text, each with char -> word index.
        spaced_chars: list[str] = []
        spaced_owner: list[int] = []
        unspaced_chars: list[str] = []
        unspaced_owner: list[int] = []
        word_starts: set[int] = set()  # positions in the spaced text where a word begins
        for wi, tok in enumerate(norm):
            if not tok:
                continue
            if spaced_chars:
                spaced_chars.append(" ")
                spaced_owner.append(wi)
            word_starts.add(len(spaced_chars))
            for ch in tok:
                spaced_chars.append(ch)
                spaced_owner.append(wi)
                if not ch.isspace():
                    unspaced_chars.append(ch)
                    unspaced_owner.append(wi)
        spaced = "".join(spaced_chars)
        unspaced = "".join(unspaced_chars)
        for keyword in keywords:
            parts = [normalise_token(p) for p in keyword.split()]
            parts = [p for p in parts if p]
            if not parts:
                continue
            if any(_is_unspaced_script(ch) for p in parts for ch in p):
                needle, text, owner, anchored = "".join(parts), unspaced, unspaced_owner, False
            else:
                needle, text, owner, anchored = " ".join(parts), spaced, spaced_owner, True
            pos = text.find(needle)
            while pos >= 0:
                if not anchored or pos in word_starts:
                    first, last = owner[pos], owner[pos + len(needle) - 1]
                    hits[keyword] += 1
                    evidence.append(KeywordHit(
                        keyword=keyword,
                        text=" ".join(w.word for w in words[first:last + 1]),
                        segment_index=si, first_word=first, last_word=last,
                        start_s=float(words[first].start_s), end_s=float(words[last].end_s)))
                    pos = text.find(needle, pos + len(needle))
                else:
                    pos = text.find(needle, pos + 1)
    evidence.sort(key=lambda h: (h.start_s, h.keyword))
    return hits, tuple(evidence)


# -- coherence ------------------------------------------------------------------------------

def _strip_korean(token: str) -> str:
    for ending in KO_ENDINGS:
        if token.endswith(ending) and len(token) - len(ending) >= 2:
            return token[:-len(ending)]
    return token


def _grams(tokens: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for tok in tokens:
        if tok in EN_STOPWORDS or tok in KO_STOPWORDS:
            continue
        word = "".join(ch for ch in tok if ch.isalnum())
        if not word:
            continue
        if any(_is_unspaced_script(ch) for ch in word):
            word = _strip_korean(word)
            sizes = (2, 3)
        else:
            sizes = (3, 4)
        if len(word) < sizes[0]:
            continue
        if len(word) <= sizes[1]:
            out.add(word)  # a short word is one gram of its own
        for size in sizes:
            for i in range(len(word) - size + 1):
                out.add(word[i:i + size])
    return out


def _units(segments: list[list[str]]) -> list[list[str]]:
    units: list[list[str]] = []
    for seg in segments:
        count = max(1, math.ceil(len(seg) / UNIT_WORDS))
        size = math.ceil(len(seg) / count)
        units.extend(seg[i:i + size] for i in range(0, len(seg), size))
    return units


def _question_tokens(text: str) -> list[str]:
    return [t for t in (normalise_token(p) for p in text.split()) if t]


def _coherence(segments: list[list[str]], tokens: list[str], question_text: str) -> float:
    if not tokens:
        return 0.0
    units = [g for g in (_grams(u) for u in _units(segments)) if g]
    question = _grams(_question_tokens(question_text))
    if not units:
        return 0.0
    answer = set().union(*units)
    parts: list[tuple[float, float]] = []  # (weight, value)
    if question:
        parts.append((0.3, min(1.0, 2.0 * len(answer & question) / len(question))))
    if len(units) > 1 or question:
        linked = []
        for i, g in enumerate(units):
            others = set(question)
            for j, h in enumerate(units):
                if j != i:
                    others |= h
            linked.append(len(g & others) / len(g))
        parts.append((0.4, sum(linked) / len(linked)))
    if len(units) > 1:
        chain = [min(1.0, 3.0 * len(a & b) / min(len(a), len(b)))
                 for a, b in zip(units, units[1:], strict=False)]
        parts.append((0.3, sum(chain) / len(chain)))
    if not parts:
        base = 0.5
    else:
        base = sum(w * v for w, v in parts) / sum(w for w, _ in parts)
    trigrams = [tuple(tokens[i:i + 3]) for i in range(len(tokens) - 2)]
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    for tri in trigrams:
        if tri in seen:
            repeats += 1
        seen.add(tri)
    r = repeats / len(trigrams) if trigrams else 0.0
    penalty = min(1.0, max(0.0, (r - 0.15) / 0.7))
    return max(0.0, min(1.0, base * (1.0 - penalty)))
