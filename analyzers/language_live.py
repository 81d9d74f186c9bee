"""Language signals of an answer that grows one final segment at a time, at a cost that does not
grow with the answer.

:class:`LiveAnswer` gives what :func:`analyzers.language.analyze_answer` gives for the same
segments (tests compare them on random answers), but :meth:`LiveAnswer.add` only works on the
new segment and a bounded tail before it. What a new segment can change in the past is bounded:

* filler flags look at most two tokens around a token;
* an echo is a stretch at most as long as the question (``EchoIndex.units`` matching units,
  so at most that many tokens), so a token's echo mark depends only on tokens within that
  distance;
* everything else is a sum over segments (words, pauses, fillers, keyword and phrase hits,
  coherence units and their grams, consecutive-unit pairs, word trigrams).

So every segment keeps its part of those sums; a new segment takes the parts of the last
segments within ``2 x question length + 4`` content tokens back out, recomputes their flags and
echo marks (the echo scan restarts one question length earlier still, where nothing before can
reach), and adds them back with the new one. Coherence is kept as sums: per gram the number of
units holding it and the sum of their inverse sizes, so a unit's "linked" share (grams that the
question or another unit has) needs no pass over the other units.

Segments arrive in time order from one recogniser; one that starts before the last word so far
(a replaced connection's late final) switches this answer to recomputing in full, which is
always right.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from analyzers.fillers import filler_flags
from analyzers.language import (
    MIN_RATE_SECONDS, MIN_RATE_WORDS, PAUSE_THRESHOLD_S, EchoIndex, EchoSpan, FillerHit,
    KeywordHit, LanguageSignals, Row, SegmentLike, _grams, _question_tokens, _units, analyze_answer, chain_link,
    coherence_of, echo_runs, echo_span, flatten_keywords, keyword_needles, normalise_token, segment_hits,
    split_hits,
)

FILLER_CONTEXT = 2  # tokens each side that a filler flag looks at


@dataclass(slots=True)
class _Part:
    """One segment's share of the sums, as computed with its context."""

    fillers: list[FillerHit] = field(default_factory=list)
    hits: list[KeywordHit] = field(default_factory=list)
    lost: list[KeywordHit] = field(default_factory=list)
    mentions: list[KeywordHit] = field(default_factory=list)
    lost_mentions: list[KeywordHit] = field(default_factory=list)
    own: list[str] = field(default_factory=list)  # content tokens that are not echo, in order
    units: list[frozenset[str]] = field(default_factory=list)
    chain: float = 0.0  # chain links ending at this segment's units
    trigrams: list[tuple[str, str, str]] = field(default_factory=list)  # ending in this segment
    echo_words: int = 0


class LiveAnswer:
    """One answer's language signals, kept up to date: `add` each final segment, read `result`."""

    def __init__(self, *, question_text: str = "", keywords: Iterable[str] | Mapping[str, Iterable[str]] = (),
                 phrases: Iterable[str] = (), pause_threshold_s: float = PAUSE_THRESHOLD_S) -> None:
        self.question_text = question_text
        self.keywords = flatten_keywords(keywords)
        self.phrases = list(dict.fromkeys(p for p in phrases if p.strip()))
        self.pause_threshold_s = pause_threshold_s
        self._kw_needles = keyword_needles(self.keywords)
        self._ph_needles = keyword_needles(self.phrases)
        self._echo = EchoIndex(question_text)
        reach = len(self._echo.units) if self._echo.active else 0  # longest possible echo, in tokens
        self._echo_reach = reach
        self._margin = 2 * reach + 2 * FILLER_CONTEXT  # content tokens re-examined before a new segment
        self._question = _grams(_question_tokens(question_text))
        self.segments: list[SegmentLike] = []
        self.full = False  # out of order once: recompute in full from then on
        self.recomputed_rows = 0  # rows the last add() worked on (tests: bounded)
        # Rows in time order, per segment [start, end); flags and echo marks per row.
        self._rows: list[Row] = []
        self._bounds: list[tuple[int, int]] = []
        self._flags: list[bool] = []
        self._echoed: list[bool] = []
        self._raw: list[tuple[list[KeywordHit], list[KeywordHit]]] = []  # keyword, phrase hits
        self._parts: list[_Part] = []
        self._content: list[int] = []  # row index of each content (non-filler) token
        self._spans: list[tuple[int, int, EchoSpan]] = []  # content index range, span
        # Timing (append-only).
        self._long_gaps = 0
        self._gap_sum = 0.0
        self._gap_max = 0.0
        self._max_end = float("-inf")
        # Sums over the parts.
        self._fillers = 0
        self._kw: Counter[str] = Counter()
        self._ph: Counter[str] = Counter()
        self._own = 0
        self._echo_words = 0
        self._units = 0
        self._chain = 0.0
        self._gram_count: Counter[str] = Counter()
        self._gram_inv: dict[str, float] = {}  # sum of 1/len(unit) over the units holding the gram
        self._lonely = 0.0  # sum of _gram_inv over grams in one unit only and not in the question
        self._used = 0  # question grams the answer has
        self._tri: Counter[tuple[str, str, str]] = Counter()
        self._tri_total = 0

    # -- adding ---------------------------------------------------------------------------

    def add(self, segment: SegmentLike) -> None:
        si = len(self.segments)
        self.segments.append(segment)
        if self.full:
            return
        new: list[Row] = []
        for wi, w in enumerate(segment.words):
            raw = w.word.strip()
            if raw[:1] in "[<" and raw[-1:] in "]>":
                continue  # decoder artefacts such as [unk], <unk>
            tok = normalise_token(raw)
            if tok:
                new.append((si, wi, w.word, tok, float(w.start_s), float(w.end_s)))
        new.sort(key=lambda r: (r[4], r[1]))
        if new and self._rows and new[0][4] < self._rows[-1][4]:
            self.full = True  # it belongs before words already placed
            return
        first_new = len(self._rows)
        for r in new:
            if self._rows:
                gap = max(0.0, r[4] - self._rows[-1][5])
                if gap > self.pause_threshold_s:
                    self._long_gaps += 1
                    self._gap_sum += gap
                    self._gap_max = max(self._gap_max, gap)
            self._rows.append(r)
            self._max_end = max(self._max_end, r[5])
        self._bounds.append((first_new, len(self._rows)))
        self._raw.append((segment_hits(si, segment, self._kw_needles), segment_hits(si, segment, self._ph_needles)))
        self._parts.append(_Part())
        self._flags.extend([False] * len(new))
        self._echoed.extend([False] * len(new))
        # The segments to redo: the new one and those within the margin before it.
        seen, first_seg = 0, si
        while first_seg > 0 and seen < self._margin:
            a, b = self._bounds[first_seg - 1]
            seen += sum(1 for i in range(a, b) if not self._flags[i])
            first_seg -= 1
        for s in range(first_seg, si):
            self._apply(self._parts[s], -1)
        self._redo(first_seg)
        for s in range(first_seg, si + 1):
            self._apply(self._parts[s], +1)

    def _redo(self, first_seg: int) -> None:
        rows, flags = self._rows, self._flags
        r0 = self._bounds[first_seg][0]
        self.recomputed_rows = len(rows) - r0
        # Filler flags from r0 on, with the tokens before as context.
        s0 = max(0, r0 - FILLER_CONTEXT)
        n = len(rows)
        gaps_after: list[float | None] = [
            max(0.0, rows[i + 1][4] - rows[i][5]) if i < n - 1 and rows[i + 1][0] == rows[i][0] else None
            for i in range(s0, n)]
        flags[r0:] = filler_flags([r[3] for r in rows[s0:]], gaps_after)[r0 - s0:]
        # Content tokens from r0 on; echo marks rescanned from one echo length before them.
        c0 = next((k for k in range(len(self._content) - 1, -1, -1) if self._content[k] < r0), -1) + 1
        self._content[c0:] = [i for i in range(r0, n) if not flags[i]]
        scan = max(0, c0 - self._echo_reach)
        marks = self._echo.marks([rows[i][3] for i in self._content[scan:]])
        for i in range(r0, n):
            self._echoed[i] = False
        for k in range(c0, len(self._content)):
            self._echoed[self._content[k]] = marks[k - scan]
        # Each segment's part, in order (chain links and trigrams reach into the previous ones).
        for s in range(first_seg, len(self._bounds)):
            self._parts[s] = self._part(s)
        self._redo_spans(c0)

    def _part(self, s: int) -> _Part:
        rows, flags, echoed = self._rows, self._flags, self._echoed
        a, b = self._bounds[s]
        part = _Part()
        part.fillers = [FillerHit(rows[i][2], rows[i][0], rows[i][1], rows[i][4], rows[i][5])
                        for i in range(a, b) if flags[i]]
        gone = {(rows[i][0], rows[i][1]) for i in range(a, b) if echoed[i]}
        part.echo_words = len(gone)
        raw_kw, raw_ph = self._raw[s]
        part.hits, part.lost = split_hits(raw_kw, gone)
        part.mentions, part.lost_mentions = split_hits(raw_ph, gone)
        part.own = [rows[i][3] for i in range(a, b) if not flags[i] and not echoed[i]]
        part.units = [frozenset(g) for g in (_grams(u) for u in _units([part.own])) if g] if part.own else []
        before = self._previous(s)
        prev_unit = before[1]
        for unit in part.units:
            if prev_unit is not None:
                part.chain += chain_link(prev_unit, unit)
            prev_unit = unit
        tail = before[0] + part.own
        lead = len(before[0])
        part.trigrams = [(tail[i], tail[i + 1], tail[i + 2]) for i in range(max(0, lead - 2), len(tail) - 2)]
        return part

    def _previous(self, s: int) -> tuple[list[str], frozenset[str] | None]:
        """The last two own tokens and the last unit before segment s."""
        tokens: list[str] = []
        unit: frozenset[str] | None = None
        for k in range(s - 1, -1, -1):
            p = self._parts[k]
            if len(tokens) < 2:
                tokens = p.own[-(2 - len(tokens)):] + tokens if p.own else tokens
            if unit is None and p.units:
                unit = p.units[-1]
            if len(tokens) >= 2 and unit is not None:
                break
        return tokens, unit

    def _redo_spans(self, c0: int) -> None:
        """Echo spans again from the first one that reaches content token c0 - 1 (the marks
        before c0 did not change; a span ending at c0 - 1 may go on)."""
        keep = 0
        while keep < len(self._spans) and self._spans[keep][1] < c0 - 1:
            keep += 1
        start = min(c0, self._spans[keep][0]) if keep < len(self._spans) else c0
        runs = [(k + start, end + start)
                for k, end in echo_runs([self._echoed[i] for i in self._content[start:]])]
        lost: list[KeywordHit] = []
        if runs:
            tail = self._parts[self._rows[self._content[start]][0]:]
            lost = [h for p in tail for h in p.lost] + [h for p in tail for h in p.lost_mentions]
        self._spans[keep:] = [(k, end, echo_span(self._rows, self._content, k, end, lost)) for k, end in runs]

    def _apply(self, part: _Part, sign: int) -> None:
        self._fillers += sign * len(part.fillers)
        for h in part.hits:
            self._kw[h.keyword] += sign
        for h in part.mentions:
            self._ph[h.keyword] += sign
        self._own += sign * len(part.own)
        self._echo_words += sign * part.echo_words
        self._units += sign * len(part.units)
        self._chain += sign * part.chain
        for unit in part.units:
            self._unit(unit, sign)
        for tri in part.trigrams:
            self._tri[tri] += sign
            if not self._tri[tri]:
                del self._tri[tri]
        self._tri_total += sign * len(part.trigrams)

    def _unit(self, unit: frozenset[str], sign: int) -> None:
        inv = 1.0 / len(unit)
        count, held, question = self._gram_count, self._gram_inv, self._question
        for g in unit:
            c = count[g]
            if sign > 0:
                if g in question:
                    self._used += c == 0
                elif c == 0:
                    self._lonely += inv
                elif c == 1:
                    self._lonely -= held[g]
                held[g] = held.get(g, 0.0) + inv
                count[g] = c + 1
            else:
                rest = held[g] - inv
                if g in question:
                    self._used -= c == 1
                elif c == 1:
                    self._lonely -= inv
                elif c == 2:
                    self._lonely += rest
                if c == 1:
                    del count[g], held[g]
                else:
                    count[g], held[g] = c - 1, rest

    # -- reading ----------------------------------------------------------------------------

    def result(self, live_seconds: float | None = None) -> LanguageSignals:
        if self.full:
            return analyze_answer(self.segments, question_text=self.question_text, live_seconds=live_seconds,
                                  keywords=self.keywords, phrases=self.phrases,
                                  pause_threshold_s=self.pause_threshold_s)
        n = len(self._rows)
        if n == 0:
            return LanguageSignals(
                word_count=0, answer_seconds=0.0, speaking_seconds=0.0, speech_rate_wpm=None,
                pause_count=0, longest_pause_s=0.0, filler_count=0, filler_ratio=None,
                keyword_hits={k: 0 for k in self.keywords}, keyword_density=None, coherence=None,
                live_seconds=live_seconds, speaking_ratio=0.0 if live_seconds else None,
                mention_hits={p: 0 for p in self.phrases})
        answer_seconds = max(0.0, self._max_end - self._rows[0][4])
        speaking_seconds = max(0.0, answer_seconds - self._gap_sum)
        enough_speech = n >= MIN_RATE_WORDS and speaking_seconds >= MIN_RATE_SECONDS
        evidence = sorted((h for p in self._parts for h in p.hits), key=lambda h: (h.start_s, h.keyword))
        mentions = sorted((h for p in self._parts for h in p.mentions), key=lambda h: (h.start_s, h.keyword))
        total_hits = sum(self._kw.values())
        coherence = None
        if self._own >= MIN_RATE_WORDS:
            coherence = round(coherence_of(self._units, len(self._question), self._used, self._units - self._lonely,
                                           self._chain, self._tri_total, len(self._tri)), 4)
        return LanguageSignals(
            word_count=n,
            answer_seconds=round(answer_seconds, 3),
            speaking_seconds=round(speaking_seconds, 3),
            speech_rate_wpm=round(n / speaking_seconds * 60.0, 2) if enough_speech else None,
            pause_count=self._long_gaps,
            longest_pause_s=round(self._gap_max, 3),
            filler_count=self._fillers,
            filler_ratio=round(self._fillers / n, 4) if n >= MIN_RATE_WORDS else None,
            keyword_hits={k: self._kw[k] for k in self.keywords},
            keyword_density=round(total_hits * 100.0 / n, 3) if n >= MIN_RATE_WORDS else None,
            coherence=coherence,
            live_seconds=live_seconds,
            speaking_ratio=(round(min(1.0, speaking_seconds / live_seconds), 4)
                            if live_seconds and live_seconds > 0 else None),
            keyword_evidence=tuple(evidence),
            fillers=tuple(f for p in self._parts for f in p.fillers),
            echo_word_count=self._echo_words,
            echoes=tuple(sp for _, _, sp in self._spans),
            mention_hits={p: self._ph[p] for p in self.phrases},
            mention_evidence=tuple(mentions),
        )


__all__ = ["LiveAnswer"]
