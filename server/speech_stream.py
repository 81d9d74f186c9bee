"""One audio stream's speech recognition, off the event loop and in order.

The audio pump hands over every 100 ms batch; batches go to an unbounded queue (audio is never
dropped) that one task drains into the stream's recognizer on its own single-thread executor
(a recognizer is stateful: one stream, one thread), at the event loop's priority
(server/executors.py SPEECH_NICE). Events come back on the loop with times moved onto the
interview's clock."""
from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any, Callable

from analyzers.speech import Final, Partial, SpeechRecognizer
from analyzers.vad import SileroModel, silero_model
from server.executors import SPEECH_NICE, analysis_executor

logger = logging.getLogger(__name__)

SpeechEvent = Partial | Final

_silero_failed: set[str] = set()  # models folders whose Silero model could not be had (said once)
_silero_lock = threading.Lock()


def _silero(models_dir: Path) -> SileroModel | None:
    from models import VAD_MODEL, ModelError, onnx_path

    key = str(models_dir)
    if key in _silero_failed:
        return None
    try:
        return silero_model(onnx_path(models_dir, VAD_MODEL))
    except (ModelError, OSError, ValueError, RuntimeError) as exc:
        with _silero_lock:
            if key not in _silero_failed:
                _silero_failed.add(key)
                logger.error("the Silero voice-activity detector is not available (%s); speech is gated by "
                             "audio level instead (CANDOR_VAD=energy), which lets a noisy room through", exc)
        return None


def preload_voice_gate(models_dir: Path) -> None:
    """Load the Silero model now (start-up, off the event loop) rather than on the first
    stream; quietly nothing when it is not there (the first stream that needs it says so)."""
    from models import VAD_MODEL, ModelError, onnx_path

    try:
        silero_model(onnx_path(models_dir, VAD_MODEL))
    except (ModelError, OSError, ValueError, RuntimeError):
        pass


def recognizer_options(settings: Any) -> dict[str, Any]:
    """SpeechRecognizer keyword arguments for the configured voice gate (CANDOR_VAD): Silero's
    detector with CANDOR_VAD_PAD_S of audio kept either side of speech (default), the energy
    gate (also the fallback when the Silero model is missing or broken), or no gate."""
    kind = getattr(settings, "vad", "silero")
    if kind == "off":
        return {"vad": False}
    if kind == "silero":
        model = _silero(Path(settings.models_dir))
        if model is not None:
            pad = float(getattr(settings, "vad_pad_s", 0.3))
            return {"vad": True, "voice_detector": model.detector(), "vad_hangover_s": pad, "vad_preroll_s": pad}
    return {"vad": True}


class SpeechStream:
    def __init__(self, recognizer: SpeechRecognizer, clock_offset_s: float,
                 on_event: Callable[[SpeechEvent, float, float], None], name: str) -> None:
        """`clock_offset_s`: the interview clock when this stream's first sample was taken;
        `on_event(event, offset, heard_s)` gets events with stream times (add offset for the
        clock); `heard_s` is how far into the stream the recogniser had got when the event
        came out (so `heard_s - end_s` is the recogniser's own delay, in audio)."""
        self.recognizer = recognizer
        self.offset = clock_offset_s
        self.on_event = on_event
        self._queue: asyncio.Queue[bytes | asyncio.Future[None] | None] = asyncio.Queue()
        self._executor = analysis_executor(1, f"asr-{name}", nice=SPEECH_NICE)
        self._task = asyncio.create_task(self._run(), name=f"asr-{name}")
        self.lag_s = 0.0  # audio queued but not yet recognised

    def push(self, pcm: bytes) -> None:
        self._queue.put_nowait(pcm)
        self.lag_s += len(pcm) / 32000

    def barrier(self) -> asyncio.Future[None]:
        """A future that resolves once everything pushed so far is recognised and the pending
        utterance finalised (audio pushed later waits behind it)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._task.done():
            done.set_result(None)
        else:
            self._queue.put_nowait(done)
        return done

    async def flush(self) -> None:
        """Recognise everything pushed so far and finalise the pending utterance."""
        await self.barrier()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                item = await self._queue.get()
                if item is None:
                    return
                try:
                    if isinstance(item, asyncio.Future):
                        events = await loop.run_in_executor(self._executor, self.recognizer.flush)
                        self._dispatch(events)
                        continue
                    events = await loop.run_in_executor(self._executor, self.recognizer.push, item)
                    self.lag_s = max(0.0, self.lag_s - len(item) / 32000)
                    self._dispatch(events)
                except Exception:
                    logger.exception("speech recognition failed on a batch; continuing")
                finally:
                    if isinstance(item, asyncio.Future) and not item.done():
                        item.set_result(None)
        finally:
            # Nobody waits forever on a barrier this task will not reach.
            while not self._queue.empty():
                left = self._queue.get_nowait()
                if isinstance(left, asyncio.Future) and not left.done():
                    left.set_result(None)

    def _dispatch(self, events: list[Any]) -> None:
        for event in events:
            try:
                self.on_event(event, self.offset, self.recognizer.audio_seconds)
            except Exception:
                logger.exception("speech event handler failed")

    def stats(self) -> Any:
        return self.recognizer.stats

    async def close(self) -> None:
        """Recognise everything pushed (however long the backlog: audio is never dropped), then
        stop the task and the thread."""
        if not self._task.done():
            await self.flush()
            self._queue.put_nowait(None)
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=False)
        self.recognizer.release()
