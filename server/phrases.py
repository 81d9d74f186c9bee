"""Words and two-word phrases top performers used in their interviews more than the other hires,
offered as keyword and `mentions:` rule suggestions (`GET /api/jobs/{id}/phrases`).

The statistic is the weighted log-odds ratio with an informative Dirichlet prior (Monroe,
Colaresi & Quinn 2008, "Fightin' Words", eq. 16-22): for a term w with counts y_t (top) and y_r
(rest) out of n_t and n_r, and prior pseudo-counts a_w (a0 in all),

    delta_w = log((y_t + a_w) / (n_t + a0 - y_t - a_w)) - log((y_r + a_w) / (n_r + a0 - y_r - a_w))
    z_w     = delta_w / sqrt(1/(y_t + a_w) + 1/(y_r + a_w))

The prior follows the pooled rate of each term with a total strength a0 = min(PRIOR_STRENGTH, n_t +
n_r): a term's difference must outweigh what its overall frequency already explains, and a rare
term is shrunk toward no difference (raw counts would crown whatever one talkative person said).

Counts are of answers, not tokens: a term counts once per answer (an interview's question)
that says it, as `mentions:` rules see answers, so one person repeating a word does not make it
a pattern. A suggestion needs MIN_COUNT such answers among top performers, from at least two
of them, and z >= Z_MIN.

Text is normalised as the scoring matches phrases (analyzers/language.py: NFC, casefold, end
punctuation stripped; a Korean token loses a trailing particle, since phrases in Hangul and CJK
match inside words there); stop words and hesitations are dropped (small per-language lists).
Top performers are the top 10% of the job's rated hires (server/validity.py), compared with
the other rated hires; only live interviews have transcripts (imported history has none)."""
from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from sqlmodel import Session, col, select

from analyzers.fillers import EN_HESITATIONS, KO_HESITATIONS
from analyzers.language import EN_STOPWORDS, KO_ENDINGS, KO_STOPWORDS, normalise_token
from server.auth import Principal
from server.jobs import get_job
from server.reports import Thresholds
from server.store import stored_id
from server.tables import Interview, TranscriptSegment
from server.validity import MIN_GROUP, TOP_SHARE
from server.validity_data import job_people
from server.versions import interview_versions

logger = logging.getLogger(__name__)

PRIOR_STRENGTH = 500.0
MIN_COUNT = 3  # answers of top performers that say the term
MIN_PEOPLE = 2  # distinct top performers who say it
Z_MIN = 1.96
MAX_SUGGESTIONS = 20
RULE_POINTS = 10

ZH_STOPWORDS = frozenset("""
的 了 是 我 你 他 她 它 我们 你们 他们 这 那 这个 那个 就 也 都 和 与 及 在 有 没有 不 很 还 又 把 被
给 对 从 到 为 为了 因为 所以 但是 但 而 如果 然后 那么 就是 一个 一些 什么 怎么 这样 那样 可以 会
要 能 说 吧 呢 吗 啊 呀 嗯 哦 呃 那个 这些 那些 自己 之 以 其 或 或者 等 等等
""".split())
STOP_WORDS: dict[str, frozenset[str]] = {
    "en": EN_STOPWORDS | EN_HESITATIONS,
    "ko": KO_STOPWORDS | KO_HESITATIONS,
    "zh": ZH_STOPWORDS,
}


@dataclass(frozen=True, slots=True)
class Term:
    phrase: str
    z: float
    delta: float
    count_top: int
    count_rest: int
    people_top: int


def language_key(language: str) -> str:
    return (language or "en").replace("-", "_").split("_")[0].lower()


def _strip_korean(token: str) -> str:
    for ending in KO_ENDINGS:
        if token.endswith(ending) and len(token) - len(ending) >= 2:
            return token[:-len(ending)]
    return token


def _unspaced(token: str) -> bool:
    """Han ideographs or kana only."""
    return all(0x3040 <= ord(ch) <= 0x30FF or 0x3400 <= ord(ch) <= 0x9FFF or 0xF900 <= ord(ch) <= 0xFAFF
               for ch in token)


def tokens(words: Iterable[str], language: str) -> list[str | None]:
    """Normalised tokens of one utterance; a stop word (or nothing left) is None, so that no
    phrase spans it."""
    stop = STOP_WORDS.get(language_key(language), frozenset())
    out: list[str | None] = []
    for raw in words:
        for part in raw.split():
            token = normalise_token(part)
            if token and token not in stop and any("\uac00" <= ch <= "\ud7af" for ch in token):  # Hangul
                token = _strip_korean(token)
            if not token or token in stop or token.isdigit() or (len(token) == 1 and token.isascii()):
                out.append(None)
            else:
                out.append(token)
    return out


def answer_terms(utterances: Iterable[Iterable[str]], language: str) -> set[str]:
    """The words and two-word phrases of one answer (each once)."""
    terms: set[str] = set()
    for words in utterances:
        toks = tokens(words, language)
        for i, tok in enumerate(toks):
            if tok is None:
                continue
            terms.add(tok)
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            if nxt is not None:
                # Chinese and Japanese are written without spaces (the match ignores them anyway).
                terms.add(f"{tok}{nxt}" if _unspaced(tok) and _unspaced(nxt) else f"{tok} {nxt}")
    return terms


def log_odds(top: Counter[str], rest: Counter[str],
             prior_strength: float = PRIOR_STRENGTH) -> dict[str, tuple[float, float]]:
    """term -> (delta, z) of top against rest (Monroe et al. 2008, informative Dirichlet prior)."""
    n_top, n_rest = sum(top.values()), sum(rest.values())
    total = n_top + n_rest
    if n_top == 0 or n_rest == 0:
        return {}
    a0 = min(prior_strength, float(total))
    out: dict[str, tuple[float, float]] = {}
    for term in set(top) | set(rest):
        yt, yr = top.get(term, 0), rest.get(term, 0)
        a = a0 * (yt + yr) / total
        delta = (math.log((yt + a) / (n_top + a0 - yt - a)) - math.log((yr + a) / (n_rest + a0 - yr - a)))
        out[term] = (delta, delta / math.sqrt(1.0 / (yt + a) + 1.0 / (yr + a)))
    return out


def over_represented(top_answers: Sequence[tuple[int, set[str]]], rest_answers: Sequence[tuple[int, set[str]]],
                     *, min_count: int = MIN_COUNT, min_people: int = MIN_PEOPLE,
                     z_min: float = Z_MIN) -> list[Term]:
    """Terms over-represented in the top group's answers; each answer is (person, its terms)."""
    top, rest = Counter[str](), Counter[str]()
    people: dict[str, set[int]] = {}
    for person, terms in top_answers:
        top.update(terms)
        for t in terms:
            people.setdefault(t, set()).add(person)
    for _, terms in rest_answers:
        rest.update(terms)
    scored = log_odds(top, rest)
    found = [Term(t, round(z, 3), round(d, 3), top[t], rest.get(t, 0), len(people.get(t, ())))
             for t, (d, z) in scored.items()
             if z >= z_min and top[t] >= min_count and len(people.get(t, ())) >= min_people]
    # A word heard only inside a suggested phrase (same top count) adds nothing to the phrase.
    phrases = [t for t in found if " " in t.phrase]
    found = [t for t in found if " " in t.phrase or not any(
        t.phrase in p.phrase.split(" ") and p.count_top == t.count_top for p in phrases)]
    found.sort(key=lambda t: (-t.z, t.phrase))
    return found[:MAX_SUGGESTIONS]


def rule_for(phrase: str) -> dict[str, Any]:
    return {"signal": f"mentions:{phrase}", "op": ">=", "value": 1, "points": RULE_POINTS}


# --- the job's suggestions --------------------------------------------------------------------------

def job_phrases(db: Session, who: Principal, job_id: int, thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
    """Suggestions for the job (404 for a job this user cannot see)."""
    job = get_job(db, who, job_id)
    jp = job_people(db, who, job_id, thresholds)
    language = language_key(job.language)
    rated = [p for p in jp.people if p.hired and p.mean_rating is not None]
    out: dict[str, Any] = {"job_id": job_id, "language": language, "n_top": 0, "n_rest": 0, "threshold_rating": None,
                           "enough": False, "min_count": MIN_COUNT, "suggestions": []}
    if not rated:
        return out
    ordered = sorted((p.mean_rating or 0.0 for p in rated), reverse=True)
    threshold = ordered[max(1, math.ceil(len(rated) * TOP_SHARE - 1e-9)) - 1]
    live = [p for p in rated if p.interview_id is not None]
    top_ids = {int(p.interview_id) for p in live if (p.mean_rating or 0.0) >= threshold}  # type: ignore[arg-type]
    rest_ids = {int(p.interview_id) for p in live} - top_ids  # type: ignore[arg-type]
    out.update(n_top=len(top_ids), n_rest=len(rest_ids), threshold_rating=round(threshold, 2),
               enough=len(top_ids) >= MIN_PEOPLE and len(rest_ids) >= MIN_GROUP)
    if not out["enough"]:
        return out
    answers = _answers(db, top_ids | rest_ids, language)
    top_answers = [(iid, terms) for (iid, _), terms in answers.items() if iid in top_ids]
    rest_answers = [(iid, terms) for (iid, _), terms in answers.items() if iid in rest_ids]
    found = over_represented(top_answers, rest_answers)
    linked = _linked_dimensions(db, top_ids)
    names = {stored_id(d): d for d in jp.dimensions}
    suggestions = []
    for term in found:
        dims: Counter[int] = Counter()
        for (iid, qi), terms in answers.items():
            if iid in top_ids and term.phrase in terms:
                dims.update(d for d in linked.get((iid, qi), ()) if d in names)
        keyword_for = [{"id": d, "name": names[d].name} for d, _ in dims.most_common()
                       if not _has_keyword(names[d].keywords, term.phrase)]
        suggestions.append({"phrase": term.phrase, "z": term.z, "delta": term.delta, "count_top": term.count_top,
                            "count_rest": term.count_rest, "people_top": term.people_top,
                            "dimensions": keyword_for, "rule": rule_for(term.phrase)})
    out["suggestions"] = suggestions
    return out


def _has_keyword(keywords: Iterable[str], phrase: str) -> bool:
    wanted = " ".join(normalise_token(p) for p in phrase.split())
    return any(" ".join(normalise_token(p) for p in k.split()) == wanted for k in keywords)


def _answers(db: Session, interview_ids: set[int], language: str) -> dict[tuple[int, int], set[str]]:
    """(interview, question index) -> the answer's terms, from the live transcript (every attempt)."""
    utterances: dict[tuple[int, int], list[list[str]]] = {}
    if not interview_ids:
        return {}
    for seg in db.exec(select(TranscriptSegment).where(col(TranscriptSegment.interview_id).in_(interview_ids),
                                                       TranscriptSegment.live == True)  # noqa: E712
                       .order_by(col(TranscriptSegment.id))):
        words = [str(w.get("word", "")) for w in seg.words] if seg.words else seg.text.split()
        utterances.setdefault((seg.interview_id, seg.question_index), []).append(words)
    return {key: answer_terms(utts, language) for key, utts in utterances.items()}


def _linked_dimensions(db: Session, interview_ids: set[int]) -> dict[tuple[int, int], list[int]]:
    """(interview, question index) -> the dimensions its question assessed, from the template
    version the interview was invited with."""
    cache: dict[tuple[int, int, int], dict[int, list[int]]] = {}
    out: dict[tuple[int, int], list[int]] = {}
    if not interview_ids:
        return out
    for interview in db.exec(select(Interview).where(col(Interview.id).in_(interview_ids))):
        key = (interview.job_version, interview.template_id, interview.template_version)
        if key not in cache:
            _, template = interview_versions(db, interview)
            cache[key] = {int(q["index"]): [int(link["dimension_id"]) for link in q["dimensions"]]
                          for q in template["questions"]}
        for qi, dims in cache[key].items():
            out[(stored_id(interview), qi)] = dims
    return out
