"""The live sessions of this process: creating them from the store, admission control, the
shared executors and models they use, and the once-a-second ticker that feeds the HR panel."""
from __future__ import annotations

from datetime import datetime

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any, AsyncIterator

from sqlmodel import col, select
from aiohttp import web
from aiortc import RTCPeerConnection

from analyzers.speech import Final, Partial, SpeechRecognizer
from server.bus import Bus
from server.errors import ApiError, Conflict, NotFound
from server.executors import analysis_executor
from server.model_bank import ModelBank
from server.peer import PeerLink, rtc_configuration
from server.plan import load_plan
from server.question_signals import language_signals
from server.recording import Recorder, recordings_root
from server import session_store, session_views
from server.interview_machine import FINISHED, HOLDS_MEDIA, STARTED, Event, Refused, State
from server.media_slots import MediaSlots
from server.session import InterviewSession
from server.settings import Settings
from server.speech_stream import SpeechStream
from server.store import Store
from server.tables import Interview, Invitation, StateChange, utcnow

logger = logging.getLogger(__name__)

SIGNALS_EVERY_S = 1.0
CONNECTION_EVERY_S = 2.0
CHECKPOINT_EVERY_S = 5.0
OVERLOAD_ASR_LAG_S = 5.0
# A session with no candidate, no media and nothing running leaves memory after this long.
IDLE_DROP_S = 60.0
# On shutdown, recognising the audio already received may take this long at most (it is on
# disk in the recording either way).
SHUTDOWN_GRACE_S = 30.0


class AtCapacity(ApiError):
    status = 503


class SessionManager:
    def __init__(self, settings: Settings, store: Store, bus: Bus, bank: ModelBank) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.bank = bank
        self.sessions: dict[int, InterviewSession] = {}
        self.slots = MediaSlots(settings.max_sessions, self.overloaded)
        # Vision inference for every session shares this bounded pool (one thread per core):
        # more threads would only make frames wait longer; the pumps drop stale frames instead.
        self.vision_executor = analysis_executor(settings.vision_threads, "vision")
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self._finishing: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Interviews a previous process left mid-way are interrupted now and watched again."""
        moved = await self.store.run(session_store.restart_sweep)
        for interview_id in moved:
            try:
                await self.session_for(interview_id)
            except Exception:
                logger.exception("interview %d: could not be restored", interview_id)
        if moved:
            logger.warning("restart: %d interview(s) were mid-way and wait for their candidates: %s",
                           len(moved), ", ".join(map(str, moved)))
        self._ticker = asyncio.create_task(self._tick(), name="session-ticker")

    async def session_for(self, interview_id: int) -> InterviewSession:
        """The interview's session in this process, made (or restored) on first use. Capacity
        is not checked here but at every event that starts media (see MediaSlots)."""
        async with self._lock:
            session = self.sessions.get(interview_id)
            if session is not None:
                return session

            def load(db: Any) -> tuple[Interview, Any, Any, list[Any], StateChange | None]:
                interview = db.get(Interview, interview_id)
                if interview is None:
                    raise NotFound(f"interview {interview_id} not found")
                invitation = db.get(Invitation, interview.invitation_id)
                started = interview.state in {s.value for s in STARTED}
                restored = session_store.restore_attempts(db, interview_id, interview.question_index, started,
                                                          interview.question_used_s)
                last = db.exec(select(StateChange).where(StateChange.interview_id == interview_id)
                               .order_by(col(StateChange.id).desc())).first()
                return (interview, load_plan(db, interview_id), invitation.deadline if invitation else None,
                        restored, last)

            interview, plan, deadline, restored, last = await self.store.run(load)
            session = InterviewSession(plan, interview, self.store, self.bus, language_signals,
                                       on_finished=self._finished, slots=self.slots, deadline=deadline,
                                       restored=restored)
            if last is not None:
                session.reason, session.code = last.reason, last.code
            self.sessions[interview_id] = session
            logger.info("interview %d: session opened (%s)", interview_id, session.state)
            self.bus.publish("session", interview_id, event="opened", interview=session_views.describe(session))
            return session

    async def link_changed(self, interview_id: int, *, revoked: bool = False,
                           deadline: datetime | None = None) -> None:
        """A link was re-issued or revoked (whoever holds the old one is disconnected now) or its
        deadline moved (the watchdog expires the interview on the new date). Nothing to do for
        an interview no session holds: it reads both from the store when it opens."""
        session = self.sessions.get(interview_id)
        if session is None:
            return
        if deadline is not None:
            session.deadline = deadline
        if revoked:
            await session.revoke_link()

    async def forget(self, interview_id: int) -> None:
        """The interview was erased (server/erasure.py, never while it holds media): whoever
        holds its link is disconnected and its session leaves memory without writing again."""
        session = self.sessions.get(interview_id)
        if session is None:
            return
        await session.revoke_link()
        await session.close()
        self._drop(session)

    def overloaded(self) -> bool:
        """Speech recognition is falling behind live audio: a new interview would make every
        one worse, so it waits (the candidate page retries a 503)."""
        lags = [s.peer.speech.lag_s for s in self.sessions.values()
                if s.state == State.LIVE and s.peer is not None and s.peer.speech is not None]
        return bool(lags) and max(lags) > OVERLOAD_ASR_LAG_S

    async def settled(self, interview_id: int, wait_s: float | None = None) -> None:
        """Wait until the interview's answers are all stored (the report needs them); raises
        Conflict when that takes longer than `wait_s` (recognition is far behind)."""
        async def wait() -> None:
            session = self.sessions.get(interview_id)
            if session is not None:
                await session.settled()
            pending = [t for t in self._finishing if t.get_name() == f"finish-{interview_id}"]
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

        try:
            await asyncio.wait_for(wait(), wait_s)
        except asyncio.TimeoutError:
            raise Conflict("the report is being prepared: speech recognition is finishing the last answers; "
                           "try again in a minute") from None

    async def _finished(self, session: InterviewSession) -> None:
        task = asyncio.current_task()
        if task is not None:
            task.set_name(f"finish-{session.id}")
            self._finishing.add(task)
        try:
            await session.close()  # waits for the recogniser and every answer's scores
            if session.state == State.COMPLETED:
                from server.reports import Thresholds, build_report

                base = self.settings.public_url or ""
                try:
                    thresholds = Thresholds.from_settings(self.settings)
                    await self.store.run(lambda db: build_report(db, session.id, base, thresholds))
                except Exception:  # the report is rebuilt when read; never lose the session over it
                    logger.exception("interview %d: report could not be built", session.id)
            self._drop(session)
        finally:
            if task is not None:
                self._finishing.discard(task)

    def _drop(self, session: InterviewSession) -> None:
        if self.sessions.get(session.id) is session:
            self.sessions.pop(session.id, None)
            self.slots.release(session.id)
            self.bus.publish("session", session.id, event="closed", state=session.state.value)
            logger.info("interview %d: session closed (%s)", session.id, session.state)

    def new_peer(self, session: InterviewSession) -> PeerLink:
        pc = RTCPeerConnection(rtc_configuration(self.settings.ice_servers))
        name = f"interview-{session.id}"

        def analyse() -> bool:
            # Asked per audio batch and per frame: consent may come after the offer, and a
            # candidate who asked for a human-only review is never analysed.
            return session.consent is True

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
            session.spawn(session.media_up(peer))

        def on_lost(reason: str) -> None:
            if session.peer is peer:  # an old, replaced connection closing is not a fault
                session.spawn(session.media_lost(f"connection lost ({reason})"))

        # Recorded from the candidate's start, with or without consent to analysis: a
        # human-only review needs the recording too.
        recording = Recorder(recordings_root(self.settings.data_dir), session.id).for_peer(
            session.clock, lambda: session.consent is not None)
        peer = PeerLink(pc, name, analyse=analyse, vision_ready=lambda: self.bank.vision_ready,
                        make_speech=make_speech,
                        speech_loading=lambda: self.bank.speech_loading(session.plan.language),
                        process_frame=process, on_vision=on_vision,
                        vision_executor=self.vision_executor, fps=self.settings.analysis_fps,
                        on_connected=on_connected, on_lost=on_lost, recording=recording)
        return peer

    async def _tick(self) -> None:
        """Once a second: the watchdog (every state's way out), live signals and scores (only
        what changed is computed: see server/answers.py); every 2 s connection health; every 5 s
        the question clock is checkpointed."""
        n = 0
        while True:
            await asyncio.sleep(SIGNALS_EVERY_S)
            n += 1
            for session in list(self.sessions.values()):
                try:
                    if await self._watch(session):
                        continue
                    await self._tick_one(session, connection=n % 2 == 0)
                    if n % int(CHECKPOINT_EVERY_S) == 0 and session.state == State.LIVE:
                        session.checkpoint()
                except Refused as refused:
                    logger.debug("interview %d: watchdog event refused (%s)", session.id, refused.reason)
                except Exception:
                    logger.exception("interview %d: tick failed", session.id)

    async def _watch(self, session: InterviewSession) -> bool:
        """The timeouts of DESIGN's states. True when the session left memory."""
        s, now = self.settings, time.monotonic()
        state, waited = session.state, now - session.state_since
        if state == State.LIVE and session.media_stale(s.media_timeout_s):
            # aiortc declares a dead connection only after ~30 s; our own watchdog on media
            # arrival notices within media_timeout_s.
            await session.media_lost(f"no audio or video for {session.media_gap_s():.0f} s")
        elif state == State.INTERRUPTED:
            if session.peer is not None and not session.media_stale(1.5):
                await session.media_up()
            elif session.interrupted_at is not None and now - session.interrupted_at > s.abandon_after_s:
                await session.dispatch(Event.ABANDON_TIMEOUT, note=f"no media for {s.abandon_after_s:.0f} s")
        elif state == State.PAUSED and waited > s.pause_limit_s:
            await session.dispatch(Event.PAUSE_TIMEOUT, note=f"paused for more than {s.pause_limit_s:.0f} s")
        elif state in (State.INVITED, State.CONSENTED, State.CONNECTING):
            if session.deadline is not None and session.deadline <= utcnow() and state != State.CONNECTING:
                await session.dispatch(Event.DEADLINE)
            elif session.peer is not None and (not session.media_connected or state == State.INVITED) \
                    and now - max(session.state_since, session.peer.created) > s.connect_timeout_s:
                # Media that never arrived, or media from a page that never gave its consent.
                cause = session.peer.connection_problem()
                logger.warning("interview %d: camera and microphone did not connect within %.0f s (%s)",
                               session.id, s.connect_timeout_s, cause)
                await session.dispatch(Event.CONNECT_TIMEOUT, note=cause)
            elif state == State.CONNECTING and session.peer is None and waited > s.connect_timeout_s:
                await session.dispatch(Event.CONNECT_TIMEOUT, note="no offer arrived")
        finishing = any(t.get_name() == f"finish-{session.id}" for t in self._finishing)
        if session.state in FINISHED and not finishing and session.idle(0) \
                or session.state in (State.INVITED, State.CONSENTED) and session.idle(IDLE_DROP_S):
            await session.close()
            self._drop(session)
            return True
        return False

    async def _tick_one(self, session: InterviewSession, connection: bool) -> None:
        if session.state == State.LIVE:
            attempt = session.current_attempt()
            if attempt is not None:
                signals, _ = session.signals_of(attempt)
                session.samples.last_signals = {"question_index": attempt.index, **signals}
                session.last_scores = session.live_scores()
                self.bus.publish("signals", session.id, question_index=attempt.index, final=False, signals=signals)
                self.bus.publish("scores", session.id, scores=session.scores_payload(session.last_scores))
            self.bus.publish("progress", session.id, **session_views.progress(session))
        if connection and session.peer is not None and session.state in HOLDS_MEDIA:
            stats = await session.peer.connection_stats()
            session.last_connection = stats
            self.bus.publish("connection", session.id, **stats)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        sessions = list(self.sessions.values())
        if sessions:
            done, pending = await asyncio.wait([asyncio.ensure_future(s.close()) for s in sessions],
                                               timeout=SHUTDOWN_GRACE_S)
            if pending:
                logger.warning("shutdown: %d session(s) still recognising speech after %.0f s; stopped "
                               "(their audio is in the recordings)", len(pending), SHUTDOWN_GRACE_S)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        self.sessions.clear()
        self.vision_executor.shutdown(wait=False, cancel_futures=True)


sessions_key = web.AppKey("sessions", SessionManager)
bus_key = web.AppKey("bus", Bus)


async def sessions_ctx(app: web.Application) -> AsyncIterator[None]:
    manager = app[sessions_key]
    await manager.start()
    yield
    await manager.close()
