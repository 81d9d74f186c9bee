"""Per-question language signals from the final transcript of one answer.

:func:`analyze_answer` takes the final segments of one question (anything with ``.words``, each
word with ``.word``, ``.start_s``, ``.end_s``, e.g. :class:`analyzers.speech.Final`), the
question's text and live duration, the keywords of the dimensions linked to the question and
the phrases their rules ask about, and returns :class:`LanguageSignals`. Pure, and linear in the
answer's length (~1 ms per 100 words on a 2-core VM). For an answer still being given,
:class:`analyzers.language_live.LiveAnswer` gives the same per new final segment at a cost that
does not grow with the answer.

Definitions (a "word" is one ASR token; Vosk's Korean model often makes particles and endings
tokens of their own, so Korean counts run higher than eojeol counts: compare rates within one
language and model only):

* Echo: a stretch of the answer that repeats at least ``ECHO_MIN_WORDS`` (3) consecutive words
  of the question, after the same normalisation (casefold, NFC, end punctuation stripped;
  fillers skipped), earns nothing: its words are left out of keyword and phrase hits and of
  coherence, counted in ``echo_word_count``, and reported in ``echoes`` (what was said, when,
  and which keywords/phrases it contained). Reading the question back is not an answer.
  Matching is on words for spaced scripts and on characters (spaces removed) for Hangul/CJK/kana/Thai, because
  the recogniser splits Korean differently from how the question is written (Vosk's Korean
  vocabulary holds "절차를" but also "지켰"+"습니다", "말씀"+"해"): a stretch is an echo when
  it covers at least half of each of 3+ consecutive question words, and an answer token is
  echoed when most of its characters lie in such a stretch.
* ``word_count``: every ASR token except decoder artefacts (echo included: it is what was
  said; ``word_count - echo_word_count`` are the answer's own words).
* ``answer_seconds``: first word's start to last word's end.
* ``pause_count`` / ``longest_pause_s``: silences longer than ``pause_threshold_s`` (0.7 s)
  between consecutive words, across utterances.
* ``speaking_seconds``: ``answer_seconds`` minus those pauses; ``speech_rate_wpm`` is
  ``word_count`` per minute of it (fillers and echo included: they take speaking time too).
  None (no signal) below ``MIN_RATE_WORDS`` words or ``MIN_RATE_SECONDS`` of speaking
  time: a rate from one word in a fraction of a second is noise, not a speaking rate.
* ``filler_ratio``: filler tokens / words, None below ``MIN_RATE_WORDS`` words
  (one "um" alone is not "100 % fillers"); which tokens are fillers, and why, is documented in
  :mod:`analyzers.fillers` (hesitation sounds always; Korean 그/저 only when followed by a
  pause, repeated or utterance-final; English "like"/"you know" by context).
* ``keyword_hits``: per keyword, case-insensitive, non-overlapping occurrences. Keywords with a
  character from a script written without reliable spaces (Hangul, CJK, kana, Thai) are
  matched as substrings of the utterance text with all spaces removed, so "절차" hits
  "절차를", and "안전 절차" hits "안전절차를" as well as "안전 절차 를". Other keywords
  (Latin, Cyrillic, ...) match where a word begins, so "procedure" hits "procedures" but
  "art" does not hit "start". Each hit keeps its evidence: the utterance, the word span and
  its start/end times. ``keyword_density``: hits per 100 words, None below ``MIN_RATE_WORDS``
  words. Hits inside an echo do not count.
* ``mention_hits``: the same matching for any phrases asked for (the ``mentions:<phrase>`` rule
  signals), so a phrase need not be one of the dimension's keywords.
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
  A single unit with no question text has nothing to relate to and gets 0.5. Fewer than
  ``MIN_RATE_WORDS`` content words (echo and fillers excluded): None, too little to judge.
  Cost is linear in the answer's length (a gram's unit count replaces pairwise unions).
  It does not judge grammar or word order within an utterance (that would need a language
  model), only whether the answer stays on the question's subject and holds together.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from analyzers.fillers import filler_flags

logger = logging.getLogger(__name__)

PAUSE_THRESHOLD_S = 0.7
UNIT_WORDS = 12
# A run of this many consecutive question words said back is an echo, not an answer: two words
# ("safety procedures") are a topic the answer may well name; three are a read-back clause.
ECHO_MIN_WORDS = 3
# Ratios need a denominator: at 5 words over 5 s of speech one word more or less, or one ASR
# word boundary 0.3 s off, moves a rate by ~6-20 %; with 1-2 words or under a second it is
# anything from 0 to 2000 words a minute. Below these the ratio signals are left out.
MIN_RATE_WORDS = 5
MIN_RATE_SECONDS = 5.0

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
class EchoSpan:
    """A stretch of the answer that read the question back (it earned nothing)."""

    text: str  # the words as said
    words: int  # how many tokens were discounted
    start_s: float
    end_s: float
    discounted: tuple[str, ...] = ()  # keywords and phrases said inside it, not counted


@dataclass(frozen=True, slots=True)
class LanguageSignals:
    word_count: int  # every recognised word (echo included)
    answer_seconds: float
    speaking_seconds: float
    speech_rate_wpm: float | None  # None: too little speech for a rate
    pause_count: int
    longest_pause_s: float
    filler_count: int
    filler_ratio: float | None  # None: too few words for a ratio
    keyword_hits: dict[str, int]  # every requested keyword, 0 when absent
    keyword_density: float | None
    coherence: float | None  # None: too few content words to judge
    live_seconds: float | None = None  # the question's live time, as given
    speaking_ratio: float | None = None  # speaking_seconds / live_seconds
    keyword_evidence: tuple[KeywordHit, ...] = ()
    fillers: tuple[FillerHit, ...] = field(default=())
    echo_word_count: int = 0  # words inside echoes (they earned nothing)
    echoes: tuple[EchoSpan, ...] = ()
    mention_hits: dict[str, int] = field(default_factory=dict)  # every requested phrase, as spelt
    mention_evidence: tuple[KeywordHit, ...] = ()  # .keyword is the phrase

    def signals(self) -> dict[str, float]:
        """The rule-usable signal names of the design (``keyword_hits:<keyword>``,
        ``mentions:<phrase>`` etc.); a ratio without enough data is left out."""
        out: dict[str, float] = {
            "word_count": float(self.word_count),
            "echo_word_count": float(self.echo_word_count),
            "answer_seconds": self.answer_seconds,
            "pause_count": float(self.pause_count),
            "longest_pause_s": self.longest_pause_s,
        }
        optional = {"speech_rate_wpm": self.speech_rate_wpm, "filler_ratio": self.filler_ratio,
                    "keyword_density": self.keyword_density, "coherence": self.coherence}
        out.update({k: v for k, v in optional.items() if v is not None})
        for keyword, count in self.keyword_hits.items():
            out[f"keyword_hits:{keyword}"] = float(count)
        for phrase, count in self.mention_hits.items():
            out[f"mentions:{phrase}"] = float(count)
        return out


@lru_cache(maxsize=1 << 16)  # spoken vocabularies are small and repeat: most calls are hits
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
    phrases: Iterable[str] = (),
    pause_threshold_s: float = PAUSE_THRESHOLD_S,
) -> LanguageSignals:
    """Language signals of one answer (see the module docstring for every definition)."""
    rows: list[Row] = []  # in time order, decoder artefacts dropped
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
    phrase_list = list(dict.fromkeys(p for p in phrases if p.strip()))
    n = len(rows)
    if n == 0:
        return LanguageSignals(
            word_count=0, answer_seconds=0.0, speaking_seconds=0.0, speech_rate_wpm=None,
            pause_count=0, longest_pause_s=0.0, filler_count=0, filler_ratio=None,
            keyword_hits={k: 0 for k in kw_list}, keyword_density=None, coherence=None,
            live_seconds=live_seconds, speaking_ratio=0.0 if live_seconds else None,
            mention_hits={p: 0 for p in phrase_list})

    # Timing: pauses between consecutive words, across utterances.
    gaps = [max(0.0, rows[i + 1][4] - rows[i][5]) for i in range(n - 1)]
    long_gaps = [g for g in gaps if g > pause_threshold_s]
    answer_seconds = max(0.0, max(r[5] for r in rows) - rows[0][4])
    speaking_seconds = max(0.0, answer_seconds - sum(long_gaps))
    enough_speech = n >= MIN_RATE_WORDS and speaking_seconds >= MIN_RATE_SECONDS
    wpm = round(n / speaking_seconds * 60.0, 2) if enough_speech else None

    # Fillers: a gap is "after" a token only inside one utterance.
    tokens = [r[3] for r in rows]
    gaps_after: list[float | None] = [
        gaps[i] if i < n - 1 and rows[i + 1][0] == rows[i][0] else None for i in range(n)]
    flags = filler_flags(tokens, gaps_after)
    fillers = tuple(FillerHit(r[2], r[0], r[1], r[4], r[5]) for r, f in zip(rows, flags, strict=True) if f)

    # Echo: runs of the question's words said back (fillers in between do not break a run).
    content_rows = [i for i in range(n) if not flags[i]]
    echoed_content = _echoed([tokens[i] for i in content_rows], question_text)
    echoed_rows = {content_rows[k] for k, e in enumerate(echoed_content) if e}
    echoed_words = {(rows[i][0], rows[i][1]) for i in echoed_rows}

    hits, evidence, lost = _keyword_hits(segments, kw_list, echoed_words)
    mentions, mention_evidence, lost_phrases = _keyword_hits(segments, phrase_list, echoed_words)
    echoes = _echo_spans(rows, content_rows, echoed_content, lost + lost_phrases)
    total_hits = sum(hits.values())
    content: list[list[str]] = [[] for _ in segments]
    own: list[str] = []
    for i in content_rows:
        if i not in echoed_rows:
            content[rows[i][0]].append(rows[i][3])
            own.append(rows[i][3])
    coherence = (round(_coherence([c for c in content if c], own, question_text), 4)
                 if len(own) >= MIN_RATE_WORDS else None)
    return LanguageSignals(
        word_count=n,
        answer_seconds=round(answer_seconds, 3),
        speaking_seconds=round(speaking_seconds, 3),
        speech_rate_wpm=wpm,
        pause_count=len(long_gaps),
        longest_pause_s=round(max(long_gaps, default=0.0), 3),
        filler_count=len(fillers),
        filler_ratio=round(len(fillers) / n, 4) if n >= MIN_RATE_WORDS else None,
        keyword_hits=hits,
        keyword_density=round(total_hits * 100.0 / n, 3) if n >= MIN_RATE_WORDS else None,
        coherence=coherence,
        live_seconds=live_seconds,
        speaking_ratio=(round(min(1.0, speaking_seconds / live_seconds), 4)
                        if live_seconds and live_seconds > 0 else None),
        keyword_evidence=evidence,
        fillers=fillers,
        echo_word_count=len(echoed_rows),
        echoes=echoes,
        mention_hits=mentions,
        mention_evidence=mention_evidence,
    )


# -- echo -----------------------------------------------------------------------------------

@lru_cache(maxsize=1 << 16)
def _token_units(tok: str) -> tuple[str, ...]:
    """A token's matching units: characters (spaces removed) for unspaced scripts, else the word."""
    if any(_is_unspaced_script(ch) for ch in tok):
        return tuple(ch for ch in tok if not ch.isspace())
    return (tok,)


def _echo_units(tokens: Sequence[str]) -> tuple[list[str], list[int]]:
    """Matching units and the token each belongs to."""
    units: list[str] = []
    owner: list[int] = []
    for ti, tok in enumerate(tokens):
        parts = _token_units(tok)
        units.extend(parts)
        owner.extend([ti] * len(parts))
    return units, owner


class EchoIndex:
    """The question prepared for echo matching (see the module docstring)."""

    def __init__(self, question_text: str) -> None:
        question = _question_tokens(question_text)
        self.active = len(question) >= ECHO_MIN_WORDS
        self.units, self.owner = _echo_units(question)
        self.size = [0] * len(question)
        for w in self.owner:
            self.size[w] += 1
        self.where: dict[str, list[int]] = {}
        for j, u in enumerate(self.units):
            self.where.setdefault(u, []).append(j)

    def marks(self, tokens: Sequence[str]) -> list[bool]:
        """Per answer token: inside a stretch that repeats ECHO_MIN_WORDS+ consecutive question
        words. Linear in the answer (one diagonal run per match); a stretch is at most as long
        as the question, so a token's mark depends only on the tokens within that distance."""
        out = [False] * len(tokens)
        if not self.active or not tokens:
            return out
        q_owner, q_size = self.owner, self.size
        a_units, a_owner = _echo_units(tokens)
        in_echo = [False] * len(a_units)

        def close(i_end: int, j_end: int, length: int) -> None:
            if length < ECHO_MIN_WORDS:  # each covered word takes at least one unit
                return
            inside: dict[int, int] = {}
            for j in range(j_end - length + 1, j_end + 1):
                inside[q_owner[j]] = inside.get(q_owner[j], 0) + 1
            if sum(1 for w, c in inside.items() if 2 * c >= q_size[w]) >= ECHO_MIN_WORDS:
                for i in range(i_end - length + 1, i_end + 1):
                    in_echo[i] = True

        run: dict[int, int] = {}  # question unit j -> length of the common run ending at (i-1, j)
        for i, u in enumerate(a_units):
            nxt = {j: run.get(j - 1, 0) + 1 for j in self.where.get(u, ())}
            for j, length in run.items():
                if j + 1 not in nxt:
                    close(i - 1, j, length)
            run = nxt
        for j, length in run.items():
            close(len(a_units) - 1, j, length)
        echoed_units = [0] * len(tokens)
        size = [0] * len(tokens)
        for i, t in enumerate(a_owner):
            size[t] += 1
            echoed_units[t] += in_echo[i]
        return [2 * e > n for e, n in zip(echoed_units, size, strict=True)]


def _echoed(tokens: Sequence[str], question_text: str) -> list[bool]:
    return EchoIndex(question_text).marks(tokens)


Row = tuple[int, int, str, str, float, float]  # segment index, word index, raw, token, start, end


def echo_runs(echoed: Sequence[bool], start: int = 0) -> list[tuple[int, int]]:
    """(first, last) index of each run of consecutive True from `start` on."""
    runs: list[tuple[int, int]] = []
    k = start
    while k < len(echoed):
        if not echoed[k]:
            k += 1
            continue
        end = k
        while end + 1 < len(echoed) and echoed[end + 1]:
            end += 1
        runs.append((k, end))
        k = end + 1
    return runs


def echo_span(rows: Sequence[Row], content_rows: Sequence[int], k: int, end: int,
              lost: Iterable[KeywordHit]) -> EchoSpan:
    """The echo of content tokens k..end (fillers between them included)."""
    first, last = content_rows[k], content_rows[end]
    said = rows[first:last + 1]
    start_s, end_s = said[0][4], max(r[5] for r in said)
    inside = {(r[0], r[1]) for r in said}
    discounted = tuple(dict.fromkeys(
        h.keyword for h in lost if any((h.segment_index, w) in inside for w in range(h.first_word, h.last_word + 1))))
    return EchoSpan(" ".join(r[2] for r in said), end - k + 1, start_s, end_s, discounted)


def _echo_spans(rows: Sequence[Row], content_rows: list[int], echoed: list[bool],
                lost: Sequence[KeywordHit]) -> tuple[EchoSpan, ...]:
    """Consecutive echoed content tokens as spans (fillers between them included)."""
    return tuple(echo_span(rows, content_rows, k, end, lost) for k, end in echo_runs(echoed))


# -- keywords -------------------------------------------------------------------------------

Needle = tuple[str, str, bool]  # keyword as given, normalised needle, unspaced script


def keyword_needles(keywords: Iterable[str]) -> list[Needle]:
    needles: list[Needle] = []
    for keyword in keywords:
        parts = [p for p in (normalise_token(p) for p in keyword.split()) if p]
        if parts:
            unspaced_kw = any(_is_unspaced_script(ch) for p in parts for ch in p)
            needles.append((keyword, ("" if unspaced_kw else " ").join(parts), unspaced_kw))
    return needles


def segment_hits(si: int, seg: SegmentLike, needles: Sequence[Needle]) -> list[KeywordHit]:
    """Every hit of every needle in one utterance, in needle order then position."""
    out: list[KeywordHit] = []
    if not needles:
        return out
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
    for keyword, needle, unspaced_kw in needles:
        if unspaced_kw:
            text, owner, anchored = unspaced, unspaced_owner, False
        else:
            text, owner, anchored = spaced, spaced_owner, True
        pos = text.find(needle)
        while pos >= 0:
            if not anchored or pos in word_starts:
                first, last = owner[pos], owner[pos + len(needle) - 1]
                out.append(KeywordHit(
                    keyword=keyword,
                    text=" ".join(w.word for w in words[first:last + 1]),
                    segment_index=si, first_word=first, last_word=last,
                    start_s=float(words[first].start_s), end_s=float(words[last].end_s)))
                pos = text.find(needle, pos + len(needle))
            else:
                pos = text.find(needle, pos + 1)
    return out


def split_hits(hits: Iterable[KeywordHit],
               echoed: AbstractSet[tuple[int, int]]) -> tuple[list[KeywordHit], list[KeywordHit]]:
    """(counted, lost): a hit is lost when one of its words is echoed."""
    counted: list[KeywordHit] = []
    lost: list[KeywordHit] = []
    for h in hits:
        if any((h.segment_index, w) in echoed for w in range(h.first_word, h.last_word + 1)):
            lost.append(h)
        else:
            counted.append(h)
    return counted, lost


def _keyword_hits(
    segments: Sequence[SegmentLike], keywords: list[str], echoed: AbstractSet[tuple[int, int]] = frozenset(),
) -> tuple[dict[str, int], tuple[KeywordHit, ...], tuple[KeywordHit, ...]]:
    """Hits per keyword (or phrase), their evidence, and the hits not counted because one of
    their words is echoed ((segment index, word index) in `echoed`)."""
    hits = {k: 0 for k in keywords}
    needles = keyword_needles(keywords)
    evidence: list[KeywordHit] = []
    lost: list[KeywordHit] = []
    for si, seg in enumerate(segments):
        counted, dropped = split_hits(segment_hits(si, seg, needles), echoed)
        evidence += counted
        lost += dropped
    for h in evidence:
        hits[h.keyword] += 1
    evidence.sort(key=lambda h: (h.start_s, h.keyword))
    return hits, tuple(evidence), tuple(lost)


# -- coherence ------------------------------------------------------------------------------

@lru_cache(maxsize=1 << 16)
def _strip_korean(token: str) -> str:
    for ending in KO_ENDINGS:
        if token.endswith(ending) and len(token) - len(ending) >= 2:
            return token[:-len(ending)]
    return token


def _grams(tokens: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for tok in tokens:
        out.update(_token_grams(tok))
    return out


@lru_cache(maxsize=1 << 16)
def _token_grams(tok: str) -> frozenset[str]:
    if tok in EN_STOPWORDS or tok in KO_STOPWORDS:
        return frozenset()
    word = "".join(ch for ch in tok if ch.isalnum())
    if not word:
        return frozenset()
    if any(_is_unspaced_script(ch) for ch in word):
        word = _strip_korean(word)
        sizes = (2, 3)
    else:
        sizes = (3, 4)
    if len(word) < sizes[0]:
        return frozenset()
    out = {word} if len(word) <= sizes[1] else set()  # a short word is one gram of its own
    for size in sizes:
        for i in range(len(word) - size + 1):
            out.add(word[i:i + size])
    return frozenset(out)


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
    # A unit's gram is linked when the question has it or another unit does, i.e. when it is
    # in two or more units (linear, where pairwise unions were quadratic).
    in_units = Counter(gram for g in units for gram in g)
    linked = sum(sum(1 for gram in g if gram in question or in_units[gram] > 1) / len(g) for g in units)
    chain = sum(chain_link(a, b) for a, b in zip(units, units[1:], strict=False))
    trigrams = [tuple(tokens[i:i + 3]) for i in range(len(tokens) - 2)]
    return coherence_of(len(units), len(question), len(answer & question), linked, chain,
                        len(trigrams), len(set(trigrams)))


def chain_link(a: AbstractSet[str], b: AbstractSet[str]) -> float:
    """How much a unit picks up the previous one: overlap coefficient x3, capped at 1."""
    return min(1.0, 3.0 * len(a & b) / min(len(a), len(b)))


def coherence_of(units: int, question_grams: int, question_grams_used: int, linked_sum: float,
                 chain_sum: float, trigrams: int, distinct_trigrams: int) -> float:
    """The coherence formula (module docstring) from its sums over units, pairs and trigrams."""
    if not units:
        return 0.0
    parts: list[tuple[float, float]] = []  # (weight, value)
    if question_grams:
        parts.append((0.3, min(1.0, 2.0 * question_grams_used / question_grams)))
    if units > 1 or question_grams:
        parts.append((0.4, linked_sum / units))
    if units > 1:
        parts.append((0.3, chain_sum / (units - 1)))
    base = sum(w * v for w, v in parts) / sum(w for w, _ in parts) if parts else 0.5
    # Repetition: the share of trigrams that already occurred earlier in the answer.
    r = (trigrams - distinct_trigrams) / trigrams if trigrams else 0.0
    penalty = min(1.0, max(0.0, (r - 0.15) / 0.7))
    return max(0.0, min(1.0, base * (1.0 - penalty)))
