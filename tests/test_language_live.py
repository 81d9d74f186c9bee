"""LiveAnswer (one final segment at a time) gives what analyze_answer gives over the same
segments, on random answers full of what makes that hard: question read-backs split across
segments, fillers at segment edges, keywords and phrases inside and outside echoes, pauses;
and its work per segment does not grow with the answer."""
from __future__ import annotations

import dataclasses
import random

import pytest

from analyzers.language import LanguageSignals, analyze_answer
from analyzers.language_live import LiveAnswer
from analyzers.speech import Final, Word

KO_QUESTION = "팀원과 갈등이 생겼을 때 어떻게 해결했는지 말씀해 주세요."
KO_READ_BACK = "팀원 과 갈등 이 생겼을 때 어떻게 해결 했는지 말씀 해 주세요".split()
KO_WORDS = ("저는 먼저 팀원 의 이야기를 들었고 갈등 의 원인을 함께 찾아 해결 했습니다 회의 에서 소통 을 "
            "자주 했고 일정 을 다시 계획 했습니다 안전 절차 를 점검 하고 보고 했습니다").split()
KO_FILLERS = ["음", "어", "그", "저", "뭐", "이제", "막"]
EN_QUESTION = "How do you follow operating procedures when nobody is watching?"
EN_READ_BACK = "how do you follow operating procedures when nobody is watching".split()
EN_WORDS = ("i always check the procedures first and we follow operating rules because safety "
            "matters to my team so i would like to report problems you know early").split()
EN_FILLERS = ["um", "uh", "like", "you", "know", "[unk]"]


def random_answer(rng: random.Random, read_back: list[str], words: list[str], fillers: list[str],
                  segments: int) -> list[Final]:
    out: list[Final] = []
    t = rng.uniform(0.0, 2.0)
    carry: list[str] = []  # the rest of a read-back that the recogniser cut into the next final
    for _ in range(segments):
        n = rng.randint(0, 12)
        said: list[str] = carry[:n]
        carry = carry[n:]
        while len(said) < n:
            roll = rng.random()
            if roll < 0.15:  # a piece of the question, often running on into the next segment
                a = rng.randrange(len(read_back))
                piece = read_back[a:a + rng.randint(2, 8)]
                room = n - len(said)
                said += piece[:room]
                carry = piece[room:]  # what did not fit goes on in the next segment
            elif roll < 0.3:
                said.append(rng.choice(fillers))
            else:
                said.append(rng.choice(words))
        ws = []
        for w in said:
            dur = rng.uniform(0.15, 0.5)
            ws.append(Word(w, round(t, 3), round(t + dur, 3), 0.9))
            t += dur + rng.choice([0.02, 0.1, 0.35, 0.8, 1.5])
        if ws:
            out.append(Final(" ".join(said), ws[0].start_s, ws[-1].end_s, tuple(ws)))
        else:
            out.append(Final("", t, t, ()))
        t += rng.uniform(0.5, 4.0)
    return out


def same(live: LanguageSignals, batch: LanguageSignals) -> None:
    a, b = dataclasses.asdict(live), dataclasses.asdict(batch)
    ca, cb = a.pop("coherence"), b.pop("coherence")
    assert a == b
    assert (ca is None) == (cb is None) and (ca is None or abs(ca - cb) <= 1.5e-4), (ca, cb)


@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize("seed", range(12))
def test_live_answer_matches_the_full_analysis(lang: str, seed: int) -> None:
    rng = random.Random(seed * 31 + (lang == "ko"))
    if lang == "ko":
        question, segs = KO_QUESTION, random_answer(rng, KO_READ_BACK, KO_WORDS, KO_FILLERS, 40)
        keywords, phrases = ["갈등", "해결", "안전 절차", "소통"], ["어떻게 해결", "보고 했습니다", "일정을"]
    else:
        question, segs = EN_QUESTION, random_answer(rng, EN_READ_BACK, EN_WORDS, EN_FILLERS, 40)
        keywords, phrases = ["procedures", "safety", "report"], ["follow operating", "you know", "my team"]
    live = LiveAnswer(question_text=question, keywords=keywords, phrases=phrases)
    for i, seg in enumerate(segs):
        live.add(seg)
        assert not live.full
        same(live.result(30.0), analyze_answer(segs[:i + 1], question_text=question, live_seconds=30.0,
                                               keywords=keywords, phrases=phrases))


def test_work_per_segment_does_not_grow_with_the_answer() -> None:
    rng = random.Random(5)
    segs = random_answer(rng, KO_READ_BACK, KO_WORDS, KO_FILLERS, 400)  # ~40 minutes of speech
    live = LiveAnswer(question_text=KO_QUESTION, keywords=["갈등"], phrases=["어떻게 해결"])
    worked = []
    for seg in segs:
        live.add(seg)
        worked.append(live.recomputed_rows)
    rows = sum(len(s.words) for s in segs)
    assert rows > 2000
    # The tail redone is about two question lengths of tokens, at any point of the answer.
    assert max(worked[50:]) < 150 and max(worked[-50:]) <= max(worked[50:100]) * 1.5
    same(live.result(), analyze_answer(segs, question_text=KO_QUESTION, keywords=["갈등"], phrases=["어떻게 해결"]))


def test_a_segment_out_of_order_switches_to_the_full_analysis() -> None:
    rng = random.Random(3)
    segs = [s for s in random_answer(rng, EN_READ_BACK, EN_WORDS, EN_FILLERS, 12) if s.words][:6]
    live = LiveAnswer(question_text=EN_QUESTION, keywords=["procedures"])
    late = [segs[0], segs[2], segs[1], *segs[3:]]  # a replaced connection's final arriving late
    for seg in late:
        live.add(seg)
    assert live.full
    same(live.result(), analyze_answer(late, question_text=EN_QUESTION, keywords=["procedures"]))
