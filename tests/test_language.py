"""Language signals from hand-made transcripts (Korean and English); no ASR involved."""
from __future__ import annotations

import random

import pytest

from analyzers.language import analyze_answer, flatten_keywords, normalise_token
from analyzers.speech import Final, Word


def seg(text: str, start: float, step: float = 0.4, dur: float = 0.3,
        gaps: dict[int, float] | None = None) -> Final:
    """An utterance whose i-th word starts at start + i*step (+ extra gaps before word i)."""
    words = []
    t = start
    for i, w in enumerate(text.split()):
        t += (gaps or {}).get(i, 0.0)
        words.append(Word(w, round(t, 3), round(t + dur, 3), 0.9))
        t += step
    return Final(text, words[0].start_s, words[-1].end_s, tuple(words))


def test_empty_answer() -> None:
    s = analyze_answer([], keywords=["절차"], live_seconds=30.0)
    assert s.word_count == 0 and s.speech_rate_wpm is None and s.coherence is None
    assert s.keyword_hits == {"절차": 0} and s.speaking_ratio == 0.0
    # No rate or ratio from nothing: the signals are absent, not 0.
    assert {"speech_rate_wpm", "filler_ratio", "keyword_density", "coherence"}.isdisjoint(s.signals())


def test_rate_pauses_and_answer_time_english() -> None:
    # 10 words 0.4 s apart, then a 2 s pause, then 5 words: gaps > 0.7 s are pauses.
    a = seg("i followed the safety procedure and reported the incident immediately", 10.0)
    b = seg("then we reviewed it together", a.end_s + 2.0)
    s = analyze_answer([a, b], live_seconds=60.0)
    assert s.word_count == 15
    assert s.answer_seconds == pytest.approx(b.end_s - 10.0, abs=1e-3)
    assert s.pause_count == 1
    assert s.longest_pause_s == pytest.approx(2.0, abs=1e-3)
    assert s.speaking_seconds == pytest.approx(s.answer_seconds - 2.0, abs=1e-3)
    assert s.speech_rate_wpm == pytest.approx(15 / s.speaking_seconds * 60, rel=1e-3)
    assert s.speaking_ratio == pytest.approx(s.speaking_seconds / 60.0, abs=1e-3)
    assert s.signals()["speech_rate_wpm"] == s.speech_rate_wpm


def test_pause_inside_an_utterance_counts() -> None:
    a = seg("음 저는 그 절차를 지켰습니다", 0.0, gaps={3: 1.0})
    s = analyze_answer([a])
    assert s.pause_count == 1 and s.longest_pause_s == pytest.approx(1.1, abs=1e-3)


def test_korean_fillers_with_context() -> None:
    # 음, 어: always. 그 before a pause: filler; 그 right before its noun: determiner.
    # 저 as "I" (followed at once by 는-less noun phrase) is not; 저 저 repeated is.
    a = seg("음 그 회의에서 어 저 저 그러니까 그 프로젝트를 이제 막 끝냈어요", 0.0,
            gaps={2: 0.5})
    s = analyze_answer([a])
    said = [f.word for f in s.fillers]
    # 음, 그(pause after), 어, 저, 저, 그러니까, 이제, 막 -> 8; the second 그 (before 프로젝트를) no
    assert said == ["음", "그", "어", "저", "저", "그러니까", "이제", "막"]
    assert s.filler_count == 8
    assert s.filler_ratio == pytest.approx(8 / 12, abs=1e-4)
    assert s.fillers[1].start_s == pytest.approx(0.4)


def test_korean_pronoun_and_determiner_are_not_fillers() -> None:
    s = analyze_answer([seg("저 는 그 일을 맡아서 끝까지 책임졌습니다", 0.0)])
    assert s.filler_count == 0


def test_english_fillers_with_context() -> None:
    a = seg("um so like i like working with people you know and uh do you know what i mean", 0.0)
    s = analyze_answer([a])
    said = [f.word for f in s.fillers]
    # um, like (filler), you know (2 tokens), uh; "i like" and "do you know what" are not
    assert said == ["um", "like", "you", "know", "uh"]
    assert s.filler_ratio == pytest.approx(5 / 18, abs=1e-4)


def test_keyword_substring_hits_korean_with_evidence() -> None:
    a = seg("저는 항상 안전 절차를 지키고 절차가 없으면 팀장에게 보고합니다", 5.0)
    b = seg("안전절차는 모두의 책임입니다", 12.0)
    s = analyze_answer([a, b], keywords={"safety": ["절차", "안전 절차"], "team": ["보고", "협업"]})
    assert s.keyword_hits == {"절차": 3, "안전 절차": 2, "보고": 1, "협업": 0}
    total = 3 + 2 + 1
    assert s.keyword_density == pytest.approx(total * 100 / s.word_count, abs=1e-3)
    first = [h for h in s.keyword_evidence if h.keyword == "절차"][0]
    assert first.text == "절차를" and first.segment_index == 0 and first.first_word == 3
    assert first.start_s == pytest.approx(5.0 + 3 * 0.4) and first.end_s == pytest.approx(5.0 + 3 * 0.4 + 0.3)
    spaced = [h for h in s.keyword_evidence if h.keyword == "안전 절차"]
    assert [h.text for h in spaced] == ["안전 절차를", "안전절차는"]
    assert spaced[0].first_word == 2 and spaced[0].last_word == 3
    assert spaced[1].start_s == pytest.approx(12.0)
    # evidence is in time order
    assert [h.start_s for h in s.keyword_evidence] == sorted(h.start_s for h in s.keyword_evidence)
    assert s.signals()["keyword_hits:안전 절차"] == 2.0


def test_keyword_hits_english_case_insensitive_word_start() -> None:
    a = seg("I always follow the Procedures and start with a Safety check", 0.0)
    s = analyze_answer([a], keywords=["procedure", "art", "SAFETY CHECK", "follow the procedure"])
    assert s.keyword_hits == {"procedure": 1, "art": 0, "SAFETY CHECK": 1,
                              "follow the procedure": 1}
    hit = [h for h in s.keyword_evidence if h.keyword == "follow the procedure"][0]
    assert hit.text == "follow the Procedures" and (hit.first_word, hit.last_word) == (2, 4)


def test_keyword_in_unspaced_language() -> None:
    # Chinese ASR tokens: keyword spans two tokens and sits inside a longer token.
    a = seg("我 总是 遵守 安全 规程 安全规程很 重要", 0.0)
    s = analyze_answer([a], keywords=["安全规程"])
    assert s.keyword_hits == {"安全规程": 2}


def test_flatten_keywords_dedupes_case_insensitively() -> None:
    assert flatten_keywords({"a": ["Safety", "절차"], "b": ["safety", " 절차 "]}) == ["Safety", "절차"]
    assert normalise_token("Procedure,") == "procedure"


KO_QUESTION = "동료가 안전 절차를 지키지 않는 것을 보면 어떻게 하시겠습니까?"
KO_COHERENT = [
    "먼저 동료에게 안전 절차의 중요성을 차분하게 설명하겠습니다",
    "안전 절차를 어기면 사고가 날 수 있다는 점을 구체적으로 이야기하겠습니다",
    "그래도 동료가 절차를 계속 지키지 않는다면 팀장에게 보고하겠습니다",
    "보고한 뒤에는 팀 전체가 안전 교육을 다시 받도록 제안하겠습니다",
]
KO_OFF_TOPIC = [
    "저는 주말에 등산을 자주 다닙니다",
    "어제 저녁에는 친구들과 맛있는 파스타를 먹었습니다",
    "최근에 읽은 소설이 정말 재미있었습니다",
    "여름 휴가로 바다에 가고 싶습니다",
]
EN_QUESTION = "Tell me about a time you resolved a conflict within your team."
EN_COHERENT = [
    "last year two engineers on my team disagreed about the release schedule",
    "i met each engineer separately to understand their concerns about the schedule",
    "then we agreed on a shared release plan that addressed both concerns",
    "the conflict was resolved and the team shipped the release on time",
]
EN_OFF_TOPIC = [
    "my favourite food is spicy noodles with garlic",
    "on weekends i usually go hiking in the mountains",
    "the weather was quite rainy during my holiday",
    "i recently bought a new bicycle for commuting",
]


def _segs(lines: list[str]) -> list[Final]:
    out, t = [], 0.0
    for line in lines:
        s = seg(line, t)
        out.append(s)
        t = s.end_s + 1.0
    return out


@pytest.mark.parametrize("question,coherent,off_topic", [
    (KO_QUESTION, KO_COHERENT, KO_OFF_TOPIC),
    (EN_QUESTION, EN_COHERENT, EN_OFF_TOPIC),
], ids=["ko", "en"])
def test_coherence_orders_answers(question: str, coherent: list[str], off_topic: list[str]) -> None:
    good = analyze_answer(_segs(coherent), question_text=question).coherence
    # Off-topic sentences, and a mix of half on-topic and half off-topic lines.
    off = analyze_answer(_segs(off_topic), question_text=question).coherence
    mixed = analyze_answer(_segs([coherent[0], off_topic[1], off_topic[2], coherent[3]]),
                           question_text=question).coherence
    # Words shuffled across the whole answer: the thread between utterances is lost.
    words = " ".join(coherent + off_topic).split()
    random.Random(7).shuffle(words)
    shuffled_lines = [" ".join(words[i:i + 9]) for i in range(0, len(words), 9)]
    shuffled = analyze_answer(_segs(shuffled_lines), question_text=question).coherence
    # The same sentence over and over: overlaps with itself, but is penalised.
    repetitive = analyze_answer(_segs([coherent[0]] * 5), question_text=question).coherence
    assert 0.0 <= off < mixed < good <= 1.0
    assert shuffled < good
    assert repetitive < good
    assert good > 0.5 and off < 0.25 and repetitive < 0.3, (good, off, repetitive)


def test_coherence_without_question_text() -> None:
    good = analyze_answer(_segs(KO_COHERENT)).coherence
    off = analyze_answer(_segs(KO_OFF_TOPIC)).coherence
    assert off < good
    single = analyze_answer([seg("저는 그 일을 끝까지 맡아서 책임지고 마무리했습니다", 0.0)]).coherence
    assert single == 0.5
    # Too few content words to judge: no coherence at all.
    assert analyze_answer([seg("짧은 대답입니다", 0.0)]).coherence is None


def test_artefact_tokens_are_ignored() -> None:
    a = seg("[unk] 절차를 <unk> 지켰습니다", 0.0)
    s = analyze_answer([a], keywords=["절차"])
    assert s.word_count == 2 and s.keyword_hits["절차"] == 1


# -- echo, mentions, rates with enough data ----------------------------------------------------

KO_ECHO_QUESTION = "팀원과 갈등이 생겼을 때 어떻게 해결했는지 말씀해 주세요."
# The question read back as Vosk's Korean model tokenises it: its vocabulary splits some eojeols
# ("팀원 과", "해결 했는지", "말씀 해") and keeps others whole, unlike the written question.
KO_READ_BACK = "팀원 과 갈등 이 생겼을 때 어떻게 해결 했는지 말씀 해 주세요"


def test_reading_the_question_back_earns_no_keywords_phrases_or_coherence() -> None:
    a = seg(KO_READ_BACK, 0.0)
    s = analyze_answer([a], question_text=KO_ECHO_QUESTION, keywords=["갈등", "해결"], phrases=["어떻게 해결"])
    assert s.keyword_hits == {"갈등": 0, "해결": 0} and s.keyword_evidence == ()
    assert s.mention_hits == {"어떻게 해결": 0}
    assert s.coherence is None  # nothing of its own left to judge
    assert s.word_count == 12 and s.echo_word_count == 12
    (echo,) = s.echoes
    assert echo.text == KO_READ_BACK and echo.words == 12
    assert (echo.start_s, echo.end_s) == (a.words[0].start_s, a.words[-1].end_s)
    assert set(echo.discounted) == {"갈등", "해결", "어떻게 해결"}
    # A hesitation inside the read-back does not make it an answer.
    um = analyze_answer([seg("팀원 과 음 갈등 이 생겼을 때 어 어떻게 해결 했는지", 0.0)],
                        question_text=KO_ECHO_QUESTION, keywords=["갈등", "해결"])
    assert um.keyword_hits == {"갈등": 0, "해결": 0} and um.echo_word_count == 9 and len(um.echoes) == 1


def test_after_the_read_back_the_answer_counts() -> None:
    a = seg(KO_READ_BACK, 0.0)
    b = seg("음 저는 먼저 팀원 의 이야기를 들었고 갈등 의 원인을 함께 찾아 해결 했습니다", a.end_s + 1.0)
    s = analyze_answer([a, b], question_text=KO_ECHO_QUESTION, keywords=["갈등", "해결"])
    assert s.keyword_hits == {"갈등": 1, "해결": 1}
    assert all(h.segment_index == 1 for h in s.keyword_evidence)
    assert s.echo_word_count == 12 and len(s.echoes) == 1
    # Without the read-back the coherence is the same: the echo adds nothing to it.
    alone = analyze_answer([b], question_text=KO_ECHO_QUESTION)
    assert s.coherence == alone.coherence and s.coherence is not None and s.coherence > 0


def test_two_question_words_are_a_topic_not_an_echo() -> None:
    q = "How do you follow operating procedures when nobody is watching?"
    a = seg("I keep operating procedures even at night shifts alone", 0.0)
    s = analyze_answer([a], question_text=q, keywords=["procedures"])
    assert s.echoes == () and s.keyword_hits == {"procedures": 1}
    # Three in a row (case and punctuation aside) are an echo, inside an answer too.
    b = seg("Well, I always Follow operating procedures, they keep people safe", 0.0)
    s = analyze_answer([b], question_text=q, keywords=["procedures"], phrases=["keep people safe"])
    assert [e.text for e in s.echoes] == ["Follow operating procedures,"]
    assert s.keyword_hits == {"procedures": 0} and s.mention_hits == {"keep people safe": 1}


def test_mentions_any_phrase_normalised() -> None:
    a = seg("We always FOLLOW operating procedures, and follow operating-procedures too", 0.0)
    b = seg("i follow operating procedures.", 6.0)
    phrases = ["follow operating procedures", "Follow Operating Procedures!", "never said"]
    s = analyze_answer([a, b], keywords=["safety"], phrases=phrases)
    # The hyphenated token is another word; case and end punctuation do not matter.
    assert s.mention_hits == {"follow operating procedures": 2, "Follow Operating Procedures!": 2,
                              "never said": 0}
    assert s.keyword_hits == {"safety": 0}
    hits = [h for h in s.mention_evidence if h.keyword == "follow operating procedures"]
    assert [h.text for h in hits] == ["FOLLOW operating procedures,", "follow operating procedures."]
    assert hits[1].start_s == pytest.approx(6.4)
    assert s.signals()["mentions:follow operating procedures"] == 2.0
    assert s.signals()["mentions:never said"] == 0.0


def test_no_rate_from_a_fraction_of_a_second() -> None:
    one = analyze_answer([seg("네", 3.0)], live_seconds=30.0)
    assert one.word_count == 1 and one.speech_rate_wpm is None and one.filler_ratio is None
    assert "speech_rate_wpm" not in one.signals() and "filler_ratio" not in one.signals()
    assert one.signals()["word_count"] == 1.0
    # Five quick words in 2 s: still too little speech for a rate.
    quick = analyze_answer([seg("네 저는 그렇게 생각 합니다", 0.0)])
    assert quick.word_count == 5 and quick.speaking_seconds < 5 and quick.speech_rate_wpm is None
    assert quick.filler_ratio == 0.0  # five words are enough for a ratio of words
    # A filler alone is not "100 % fillers".
    assert analyze_answer([seg("음", 0.0)]).filler_ratio is None
    enough = analyze_answer([seg("저는 현장에서 항상 안전 절차를 먼저 확인하고 작업을 시작합니다", 0.0, step=0.6)])
    assert enough.speaking_seconds >= 5 and enough.speech_rate_wpm == pytest.approx(
        9 / enough.speaking_seconds * 60, rel=1e-3)


def test_coherence_cost_is_linear() -> None:
    """A 20-minute answer (2,200 words) is analysed in full (once, when it is over) in well under
    a second (~30 ms here): every step is linear in the answer's length."""
    import time
    lines = (KO_COHERENT + KO_OFF_TOPIC) * 40
    segs = _segs(lines)
    t0 = time.process_time()
    s = analyze_answer(segs, question_text=KO_QUESTION, keywords=["절차", "보고"], phrases=["안전 교육"])
    assert time.process_time() - t0 < 1.0
    assert s.word_count > 2000 and s.coherence is not None
