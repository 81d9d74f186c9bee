"""The live sessions of this process: creating them from the store, admission control, the
shared executors and models they use, and the once-a-second ticker that feeds the HR panel."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any, AsyncIterator

import av
from aiohttp import web
from aiortc import RTCPeerConnection

from analyzers.speech import Final, Partial, SpeechRecognizer
from server.bus import Bus
from server.errors import ApiError
from server.executors import analysis_executor
from server.model_bank import ModelBank, models_key
from server.peer import PeerLink, rtc_configuration
from server.plan import load_plan
from server.question_signals import language_signals
from server.recording import Recorder, recordings_root
from server.session import FINISHED, InterviewSession, State
from server.settings import Settings
from server.speech_stream import SpeechStream
from server.store import Store
from server.tables import Interview
from server.web import settings_key, store_key

logger = logging.getLogger(__name__)

ACTIVE = frozenset({State.CONNECTING, State.LIVE, State.PAUSED, State.INTERRUPTED})
SIGNALS_EVERY_S = 1.0
CONNECTION_EVERY_S = 2.0
OVERLOAD_ASR_LAG_S = 5.0


class AtCapacity(ApiError):
    status = 503


class SessionManager:
    def __init__(self, settings: Settings, store: Store, bus: Bus, bank: ModelBank) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.bank = bank
        self.sessions: dict[int, InterviewSession] = {}
        # Vision inference for every session shares this bounded pool (one thread per core):
        # more threads would only make frames wait longer; the pumps drop stale frames instead.
        self.vision_executor = analysis_executor(settings.vision_threads, "vision")
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick(), name="session-ticker")

    async def session_for(self, interview_id: int) -> InterviewSession:
        async with self._lock:
            session = self.sessions.get(interview_id)
            if session is not None:
                return session
            active = sum(1 for s in self.sessions.values() if s.state in ACTIVE)
            if active >= self.settings.max_sessions or self.overloaded():
                raise AtCapacity("the interview server is at capacity right now; please try again in a few minutes")
            interview, plan = await self.store.run(lambda db: (db.get(Interview, interview_id), load_plan(db, interview_id)))
            session = InterviewSession(plan, interview, self.store, self.bus, language_signals,
                                       on_finished=self._finished)
            self.sessions[interview_id] = session
            logger.info("interview %d: session opened (%s)", interview_id, session.state)
            self.bus.publish("session", interview_id, event="opened", interview=session.describe())
            return session

    def overloaded(self) -> bool:
        """Speech recognition is falling behind live audio: a new interview would make every
        one worse, so it waits (the candidate page retries a 503)."""
        lags = [s.peer.speech.lag_s for s in self.sessions.values()
                if s.state == State.LIVE and s.peer is not None and s.peer.speech is not None]
        return bool(lags) and max(lags) > OVERLOAD_ASR_LAG_S

    async def _finished(self, session: InterviewSession) -> None:
        await session.close()
        if session.state == State.COMPLETED:
            from server.reports import Thresholds, build_report

            base = self.settings.public_url or ""
            try:
                thresholds = Thresholds.from_settings(self.settings)
                await self.store.run(lambda db: build_report(db, session.id, base, thresholds))
            except Exception:  # the report is rebuilt when read; never lose the session over it
                logger.exception("interview %d: report could not be built", session.id)
        self.bus.publish("session", session.id, event="closed", state=session.state.value)
        self.sessions.pop(session.id, None)
        logger.info("interview %d: session closed (%s)", session.id, session.state)

    def new_peer(self, session: InterviewSession) -> PeerLink:
        pc = RTCPeerConnection(rtc_configuration(self.settings.ice_servers))
        name = f"interview-{session.id}"

        def analyse() -> bool:
            # Asked per audio batch and per frame: consent may come after the offer, and a
            # candidate who asked for a human-only review is never analysed.
            return session.consent is True and self.bank.ready

        def on_speech(event: Partial | Final, offset: float) -> None:
            if isinstance(event, Final):
                words = tuple(replace(w, start_s=w.start_s + offset, end_s=w.end_s + offset) for w in event.words)
                session.on_transcript(event.text, True, event.start_s + offset, event.end_s + offset, words)
            else:
                start = None if event.start_s is None else event.start_s + offset
                end = None if event.end_s is None else event.end_s + offset
                session.on_transcript(event.text, False, start, end)

        def make_speech(first_batch_s: float) -> SpeechStream | None:
            model = self.bank.vosk.get(session.plan.language)
            if model is None:
                return None
            recognizer = SpeechRecognizer(model, vad=True)
            return SpeechStream(recognizer, session.clock() - first_batch_s, on_speech, name)

        process = self.bank.vision_processor(session.plan)

        def on_vision(sample: Any, arrived: float) -> None:
            session.on_vision(sample, session.clock_at(arrived))

        def on_connected() -> None:
            session.spawn(session.media_up())

        def on_lost(reason: str) -> None:
            if session.peer is peer:  # an old, replaced connection closing is not a fault
                session.spawn(session.interrupt(f"connection lost ({reason})"))

        # Recorded from the candidate's start, with or without consent to analysis: a
        # human-only review needs the recording too.
        recording = Recorder(recordings_root(self.settings.data_dir), session.id).for_peer(
            session.clock, lambda: session.consent is not None)
        peer = PeerLink(pc, name, analyse=analyse, make_speech=make_speech,
                        process_frame=process, on_vision=on_vision,
                        vision_executor=self.vision_executor, fps=self.settings.analysis_fps,
                        on_connected=on_connected, on_lost=on_lost, recording=recording)
        return peer

    async def _tick(self) -> None:
        """Once a second: live signals and scores; every 2 s: connection health."""
        n = 0
        while True:
            await asyncio.sleep(SIGNALS_EVERY_S)
            n += 1
            for session in list(self.sessions.values()):
                try:
                    await self._tick_one(session, connection=n % 2 == 0)
                except Exception:
                    logger.exception("interview %d: tick failed", session.id)

    async def _tick_one(self, session: InterviewSession, connection: bool) -> None:
        settings = self.settings
        if session.state == State.LIVE and session.peer is not None and session.media_stale(settings.media_timeout_s):
            # aiortc declares a dead connection only after ~30 s; our own watchdog on media
            # arrival notices within media_timeout_s.
            await session.interrupt(f"no audio or video for {session.media_gap_s():.0f} s")
        elif session.state == State.INTERRUPTED:
            if session.peer is not None and not session.media_stale(1.5):
                await session.media_back()
            elif session.interrupted_at is not None and time.monotonic() - session.interrupted_at > settings.abandon_after_s:
                await session.abandon(settings.abandon_after_s)
                return
        if session.state == State.LIVE:
            attempt = session.current_attempt()
            if attempt is not None:
                signals, _ = session.signals_of(attempt)
                session.last_signals = {"question_index": attempt.index, **signals}
                session.last_scores = session.live_scores()
                self.bus.publish("signals", session.id, question_index=attempt.index, final=False, signals=signals)
                self.bus.publish("scores", session.id, scores=session.scores_payload(session.last_scores))
            self.bus.publish("progress", session.id, **session.progress())
        if connection and session.peer is not None and session.state in ACTIVE:
            stats = await session.peer.connection_stats()
            session.last_connection = stats
            self.bus.publish("connection", session.id, **stats)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        for session in list(self.sessions.values()):
            await session.close()
        self.sessions.clear()
        self.vision_executor.shutdown(wait=False, cancel_futures=True)


sessions_key = web.AppKey("sessions", SessionManager)
bus_key = web.AppKey("bus", Bus)


async def sessions_ctx(app: web.Application) -> AsyncIterator[None]:
    manager = app[sessions_key]
    manager.start()
    yield
    await manager.close()
