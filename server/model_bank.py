"""Models loaded once at start-up and shared by every session: the Vosk model of each language
in use and the ONNX sessions. Loading runs in a background thread so the server answers at once;
GET /api/health reports when everything is ready."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Callable

from aiohttp import web

if TYPE_CHECKING:  # the analyzers (numpy, ONNX Runtime) load in the background, not at import
    from analyzers.vision import VisionOptions


logger = logging.getLogger(__name__)


class ModelBank:
    def __init__(self, models_dir: Path, languages: tuple[str, ...], enabled: bool = True) -> None:
        self.models_dir = models_dir
        self.languages = languages
        self.enabled = enabled
        self.vosk: dict[str, Any] = {}
        self.onnx_paths: dict[str, Path] = {}
        # Speech and vision load, run and fail on their own.
        self.vision_errors: list[str] = []
        self.speech_errors: list[str] = []
        self._ready = threading.Event()
        self._load_seconds: float | None = None
        # The vision pipelines keep per-call buffers, so each executor thread has its own
        # (the ONNX weights are small; loading one set takes ~0.1 s).
        self._local = threading.local()
        self._loading: set[str] = set()
        # The vision worker processes' current failure, if any (SessionManager sets it).
        self.vision_problem: Callable[[], str | None] = lambda: None

    @property
    def errors(self) -> list[str]:
        return self.vision_errors + self.speech_errors

    @property
    def ready(self) -> bool:
        """Everything loaded: both analysers for every configured language."""
        return self._ready.is_set() and not self.errors

    @property
    def vision_ready(self) -> bool:
        return self._ready.is_set() and self.enabled and not self.vision_errors

    def speech_ready(self, language: str) -> bool:
        return language in self.vosk

    def speech_loading(self, language: str) -> bool:
        """The language's model may still come: start-up loading or a new language loading."""
        return self.enabled and language not in self.vosk and (not self._ready.is_set() or language in self._loading)

    def analyzers(self) -> dict[str, Any]:
        """Each analyser's own status: ready, loading, off, or what is wrong."""
        def one(errors: list[str], ok: bool) -> dict[str, Any]:
            if not self.enabled:
                return {"status": "off"}
            if not self._ready.is_set():
                return {"status": "loading"}
            return {"status": "ready"} if ok and not errors else {"status": "failed", "errors": list(errors)}

        speech = {lang: one([e for e in self.speech_errors if repr(lang) in e], lang in self.vosk)
                  for lang in sorted(set(self.languages) | set(self.vosk))}
        problem = self.vision_problem()
        vision = one(self.vision_errors + ([problem] if problem else []), bool(self.onnx_paths))
        return {"vision": vision, "speech": speech}

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "loaded": sorted([f"vosk:{lang}" for lang in self.vosk] + list(self.onnx_paths)),
            "errors": list(self.errors),
            "analyzers": self.analyzers(),
            "load_seconds": self._load_seconds,
        }

    def load(self) -> None:
        """Blocking: verify and load every model. Errors are kept, not raised, so the server
        still answers and health says what is wrong."""
        if not self.enabled:
            self._ready.set()
            return
        started = time.perf_counter()
        try:
            from models import registry

            for name in registry.ONNX_MODELS:
                try:
                    self.onnx_paths[name] = registry.onnx_path(self.models_dir, name)
                except registry.ModelError as exc:
                    self.vision_errors.append(str(exc))
            if not self.vision_errors:
                try:
                    self.vision_models()  # load once here so a broken file shows in health
                except Exception as exc:
                    logger.exception("vision models failed to load")
                    self.vision_errors.append(f"vision models: {exc}")
            import vosk

            from analyzers.speech import load_model

            vosk.SetLogLevel(-1)
            for lang in self.languages:
                try:
                    path = registry.vosk_model_path(self.models_dir, lang)
                    # Narrower beams than the model's defaults: ~30% less CPU per stream for
                    # interview speech (measured in bench/asr.py; see the live-path issue note).
                    self.vosk[lang] = load_model(path, beam=SPEECH_BEAM, max_active=SPEECH_MAX_ACTIVE)
                    if why := registry.static_graph_wanted(self.models_dir, lang):
                        logger.warning("speech in %r: %s; until then each stream composes the graph "
                                       "itself (about 3x the CPU, 170 MB more per stream)", lang, why)
                except Exception as exc:  # a missing model must not stop the server
                    self.speech_errors.append(f"vosk model for {lang!r}: {exc}")
            from server.speech_stream import preload_voice_gate

            preload_voice_gate(self.models_dir)  # the voice gate's model, off the event loop
        except Exception as exc:
            logger.exception("model loading failed")
            self.speech_errors.append(f"model loading failed: {exc}")
        finally:
            self._load_seconds = round(time.perf_counter() - started, 2)
            self._ready.set()
        if self.errors:
            for err in self.errors:
                logger.error("model problem: %s (run `python run.py models obtain`)", err)
        else:
            logger.info("models ready in %.1f s: %s", self._load_seconds, ", ".join(self.status()["loaded"]))


    def speech_languages(self) -> frozenset[str] | None:
        """Languages with an installed, intact Vosk model (None when models are switched off)."""
        if not self.enabled:
            return None
        from models import list_models

        return frozenset(m.language for m in list_models(self.models_dir)
                         if m.kind == "vosk" and m.verified and m.language)

    def ensure_language(self, language: str) -> None:
        """Load a language's speech model in the background if a new job needs it."""
        if not self.enabled or language in self.vosk or language in self._loading:
            return
        self._loading.add(language)

        def load() -> None:
            from analyzers.speech import load_model
            from models import vosk_model_path

            try:
                path = vosk_model_path(self.models_dir, language)
                self.vosk[language] = load_model(path, beam=SPEECH_BEAM, max_active=SPEECH_MAX_ACTIVE)
                logger.info("speech model for %r loaded", language)
            except Exception:
                logger.exception("could not load the speech model for %r", language)
            finally:
                self._loading.discard(language)

        threading.Thread(target=load, name=f"load-vosk-{language}", daemon=True).start()

    def vision_models(self) -> tuple[Any, Any]:
        """This thread's face and pose pipelines."""
        models = getattr(self._local, "models", None)
        if models is None:
            from analyzers.vision import load_pipelines

            models = self._local.models = load_pipelines(self.onnx_paths)
        return models

    def vision_processor(self, plan: Any) -> Callable[[Any], Any]:
        """A per-stream function: video frame -> VisionSample (keeps the stream's tracking
        state; runs on the vision executor, one frame of a stream at a time)."""
        from analyzers.vision import VisionAnalyzer

        analyzer = VisionAnalyzer(**asdict(vision_options(plan)))

        def process(frame: Any) -> Any:
            face, pose = self.vision_models()
            return analyzer.analyse(frame.to_ndarray(format="rgb24"), face, pose)

        return process


def vision_options(plan: Any) -> VisionOptions:
    """What a plan analyses in each frame. Pose every 3rd and iris every 2nd analysed frame:
    posture and eyes change more slowly than the face; this cuts vision CPU by ~35%
    (bench/live.py, issue note)."""
    from analyzers.vision import VisionOptions

    return VisionOptions(eye_contact=plan.analyze_eye_contact, expression=plan.analyze_expression,
                         posture=plan.analyze_posture, pose_every=POSE_EVERY, iris_every=IRIS_EVERY)


POSE_EVERY = 3
IRIS_EVERY = 2
SPEECH_BEAM = 8.0
SPEECH_MAX_ACTIVE = 1500
models_key = web.AppKey("models", ModelBank)


async def model_bank_ctx(app: web.Application) -> Any:
    """cleanup_ctx: start loading in a thread we own; wait for it on shutdown."""
    bank = app[models_key]
    thread = threading.Thread(target=bank.load, name="model-loader", daemon=True)
    thread.start()
    yield
    await asyncio.get_running_loop().run_in_executor(None, thread.join, 30)
