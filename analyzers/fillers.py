"""Filler words (Korean and English) and the context rules that decide when a token is one.

A filler is counted per ASR token (Vosk gives one token per word; the Korean model often splits
particles and endings into tokens of their own). Three kinds:

* Hesitation sounds, always fillers: Korean 음, 어, 아, 으, 에, 엄, 흠 (and doubled forms);
  English um, uh, er, erm, hmm, ah, eh (and spelling variants).
* Discourse markers, counted whenever they stand alone as a token: Korean 뭐 ("well/like"),
  그러니까 ("I mean/so"), 약간 ("kind of"), 이제 ("now", in speech mostly a pacing word),
  막 ("like/just"), 뭔가 ("sort of"). They can carry meaning ("이제 시작했다"), but in spoken
  interview answers the filler use dominates; that is the trade-off taken here. Deliberately
  left out: 좀 (politeness softener with real meaning), 그냥 ("just", too often literal),
  그리고/그래서 (real connectives).
* Context-dependent words, counted only when the timing or neighbours show hesitation:
  Korean 그 ("that", a determiner) and 저 ("I" humble, or "that over there"), 저기: a filler
  when repeated ("그 그"), followed by a pause of at least ``HESITATION_GAP_S``, or last in
  an utterance, because the determiner/pronoun is followed at once by its noun or particle.
  English "like": a filler unless a verb/comparison context precedes it ("I like", "would
  like", "looks like", "feel like", "something like") or it is followed by "to"; English
  "you know": two filler tokens unless it is a question or clause ("do you know", "if you
  know", "you know how/what/that/the").
"""

from __future__ import annotations

HESITATION_GAP_S = 0.3

KO_HESITATIONS = frozenset({
    "음", "어", "아", "으", "에", "엄", "흠", "음음", "어어", "아아", "으음", "에에", "흐음", "어음",
})
KO_DISCOURSE = frozenset({"뭐", "그러니까", "약간", "이제", "막", "뭔가"})
KO_CONTEXTUAL = frozenset({"그", "저", "저기"})

EN_HESITATIONS = frozenset({
    "um", "umm", "ummm", "uh", "uhh", "uhm", "er", "erm", "err", "hmm", "hm", "mm", "ah", "eh",
})
EN_LIKE_NOT_FILLER_BEFORE = frozenset({
    "i", "you", "we", "they", "he", "she", "it", "would", "i'd", "we'd", "you'd", "they'd",
    "he'd", "she'd", "do", "does", "did", "don't", "doesn't", "didn't", "to", "really", "also",
    "look", "looks", "looked", "seem", "seems", "seemed", "feel", "feels", "felt", "sound",
    "sounds", "sounded", "something", "anything", "nothing", "things", "much", "more", "just",
    "not", "people", "who", "that", "is", "was", "are", "were", "be", "been",
})
EN_YOU_KNOW_NOT_FILLER_BEFORE = frozenset({
    "do", "did", "don't", "didn't", "if", "as", "would", "will", "can", "could", "whether",
    "what", "how", "when", "let", "so", "might", "may",
})
EN_YOU_KNOW_NOT_FILLER_AFTER = frozenset({
    "how", "what", "that", "the", "about", "why", "where", "when", "who", "which", "it", "him",
    "her", "them", "this", "those", "these", "a", "an", "whether", "if",
})


def filler_flags(tokens: list[str], gaps_after: list[float | None]) -> list[bool]:
    """Which tokens are fillers.

    ``tokens`` are normalised (casefolded, punctuation stripped) ASR tokens in order;
    ``gaps_after[i]`` is the silence in seconds between token i and the next one, or None when
    token i ends an utterance or no times are known.
    """
    n = len(tokens)
    flags = [False] * n
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i > 0 else None
        nxt = tokens[i + 1] if i + 1 < n else None
        if tok in KO_HESITATIONS or tok in EN_HESITATIONS or tok in KO_DISCOURSE:
            flags[i] = True
        elif tok in KO_CONTEXTUAL:
            gap = gaps_after[i]
            flags[i] = (nxt is None or gap is None or gap >= HESITATION_GAP_S
                        or nxt == tok or prev == tok)
        elif tok == "like":
            flags[i] = prev not in EN_LIKE_NOT_FILLER_BEFORE and nxt != "to"
            if prev is None or prev in EN_HESITATIONS:
                flags[i] = True
        elif tok == "you" and nxt == "know":
            after = tokens[i + 2] if i + 2 < n else None
            if prev not in EN_YOU_KNOW_NOT_FILLER_BEFORE and after not in EN_YOU_KNOW_NOT_FILLER_AFTER:
                flags[i] = flags[i + 1] = True
    return flags
