"""The live sessions of this process: creating them from the store, admission control, the
shared executors and models they use, and the once-a-second ticker that feeds the HR panel.

With CANDOR_REDIS_URL several processes share the work: a session is opened only by the process
that claims the interview in Redis (server/ownership.py), events and commands travel between
processes (server/redis_bus.py), and a dead process's interviews are adopted by a live one."""
from __future__ import annotations

from datetime import datetime

import asyncio
import base64
import logging
import time
from dataclasses import replace
from typing import Any, AsyncIterator, Callable

from sqlmodel import col, select
from aiohttp import web
from aiortc import RTCPeerConnection
from redis.asyncio import Redis
from redis.exceptions import RedisError

from analyzers.speech import Final, Partial, SpeechRecognizer
from server.bus import Bus
from server.errors import ApiError, Conflict, NotFound
from server.executors import analysis_executor
from server.model_bank import ModelBank, vision_options
from server.peer import PeerLink, rtc_configuration
from server.peer_registry import track as track_peer_connection
from server.plan import load_plan
from server.question_signals import language_signals
from server.recording import Recorder, recordings_root
from server import session_store, session_views
from server.interview_machine import CAPACITY, FINISHED, HOLDS_MEDIA, STARTED, Event, Facts, Refused, State
from server.media_slots import MediaSlots
from server.memory import MemoryTrimmer
from server.ownership import HeldElsewhere, Ownership, new_process_id
from server.redis_bus import RedisBus, Unreachable
from server.session import InterviewSession
from server.settings import Settings
from server.speech_stream import SpeechStream, recognizer_options
from server.store import Store
from server.tables import Interview, Invitation, StateChange, utcnow
from server.vision_workers import VisionWorkers

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


def free_slots(load: dict[str, Any]) -> int:
    """Interviews a process can still take, by its announced load: none while it is falling
    behind (it takes no new interview then)."""
    if load.get("overloaded"):
        return 0
    return max(0, int(load.get("max_sessions", 0)) - int(load.get("media", 0)))


class SessionManager:
    def __init__(self, settings: Settings, store: Store, bus: Bus, bank: ModelBank) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.bank = bank
        self.sessions: dict[int, InterviewSession] = {}
        self.slots = MediaSlots(settings.max_sessions, self.overloaded, self.room_elsewhere)
        # Vision inference for every session shares a bounded pool (one worker per core): more
        # workers would only make frames wait longer; the pumps drop stale frames instead. The
        # workers are processes by default (server/vision_workers.py): the executor's threads
        # then record, make thumbnails and wait for them, so there are more threads than
        # workers, lest a worker idle while its frames wait behind another worker's.
        self.vision_workers = (VisionWorkers(bank.onnx_paths, settings.vision_threads)
                               if settings.vision_processes else None)
        if self.vision_workers is not None:
            bank.vision_problem = self.vision_workers.problem
        self.vision_executor = analysis_executor(
            settings.vision_threads * (3 if self.vision_workers else 1), "vision")
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self._finishing: set[asyncio.Task[Any]] = set()
        # Several processes (CANDOR_REDIS_URL): who holds which interview, and the bus between them.
        self.process_id = new_process_id()
        self.ownership: Ownership | None = None
        self.link: RedisBus | None = None
        self._redis: Redis | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._releasing: set[asyncio.Task[None]] = set()
        self._jobs: dict[int, int] = {}  # interview -> job, for events sent to other processes
        self._orphans: set[int] = set()  # ownerless at the last heartbeat
        self._handing_over: set[int] = set()
        self._loads: list[dict[str, Any]] = []  # every process's load at the last heartbeat
        self.memory = MemoryTrimmer(busy=lambda: bool(self.sessions))

    async def start(self) -> None:
        """Interviews a previous process left mid-way are interrupted now and watched again
        (with several processes: only those no live process holds)."""
        if self.settings.redis_url:
            await self._join_cluster(self.settings.redis_url)
            assert self.ownership is not None
            held_elsewhere = await self.ownership.held_elsewhere()
            # Opening each one interrupts it (see _open) and claims it for this process.
            moved = await self.store.run(lambda db: session_store.mid_way(db, held_elsewhere))
        else:
            moved = await self.store.run(session_store.restart_sweep)
        for interview_id in moved:
            try:
                await self.session_for(interview_id)
            except HeldElsewhere:
                pass  # another process starting at the same time took it
            except Exception:
                logger.exception("interview %d: could not be restored", interview_id)
        if moved:
            logger.warning("restart: %d interview(s) were mid-way and wait for their candidates: %s",
                           len(moved), ", ".join(map(str, moved)))
        self._ticker = asyncio.create_task(self._tick(), name="session-ticker")
        self.memory.start()
        if self.ownership is not None:
            self._heartbeat = asyncio.create_task(self._beat(), name="ownership-heartbeat")

    async def _join_cluster(self, url: str) -> None:
        self._redis = Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        try:
            await self._redis.ping()
        except Exception as exc:
            raise RuntimeError(f"CANDOR_REDIS_URL: Redis does not answer at {url}: {exc}") from None
        self.ownership = Ownership(self._redis, self.process_id, self.settings.owner_ttl_s)
        # A state change or an intervention reaches the shared snapshot just before its event
        # leaves (the ticker refreshes the rest every second): a panel opening elsewhere at that
        # moment draws the state it will get no event for.
        self.link = RedisBus(self._redis, self.process_id, self.bus, self._jobs.get, self._on_command,
                             snapshot_of=self._describe, snapshot_ttl_ms=self.ownership.ttl_ms)
        await self.link.start()
        logger.info("cluster: process %s joined through Redis (ownership TTL %.0f s)",
                    self.process_id, self.settings.owner_ttl_s)

    async def session_for(self, interview_id: int) -> InterviewSession:
        """The interview's session in this process, made (or restored) on first use. Capacity
        is not checked here but at every event that starts media (see MediaSlots). With several
        processes, raises HeldElsewhere when another live process holds the interview."""
        async with self._lock:
            session = self.sessions.get(interview_id)
            if session is not None:
                return session
            if self.ownership is not None:
                try:
                    holder = await self.ownership.claim(interview_id)
                except RedisError:
                    logger.warning("interview %d: Redis unreachable, not opened", interview_id, exc_info=True)
                    raise ApiError("the servers' shared state (Redis) cannot be reached; try again in a moment",
                                   status=503) from None
                if holder is not None:
                    raise HeldElsewhere(holder)
            try:
                return await self._open(interview_id)
            except BaseException:
                if self.ownership is not None:
                    await self.ownership.release(interview_id)
                raise

    async def _open(self, interview_id: int) -> InterviewSession:
        adopting = self.ownership is not None

        def load(db: Any) -> tuple[Interview, Any, Any, list[Any], StateChange | None, State | None]:
            interview = db.get(Interview, interview_id)
            if interview is None:
                raise NotFound(f"interview {interview_id} not found")
            before = State(interview.state)
            if adopting and before in HOLDS_MEDIA and before != State.INTERRUPTED:
                # Mid-way, and no live process holds it: the process that did died. The restart
                # path of the state machine, as a restarted single process takes it.
                session_store.apply(db, interview, Event.RESTART, Facts(started=interview.started_at is not None),
                                    "system")
            invitation = db.get(Invitation, interview.invitation_id)
            started = interview.state in {s.value for s in STARTED}
            restored = session_store.restore_attempts(db, interview_id, interview.question_index, started,
                                                      interview.question_used_s)
            last = db.exec(select(StateChange).where(StateChange.interview_id == interview_id)
                           .order_by(col(StateChange.id).desc())).first()
            return (interview, load_plan(db, interview_id), invitation.deadline if invitation else None,
                    restored, last, before if before.value != interview.state else None)

        interview, plan, deadline, restored, last, moved_from = await self.store.run(load)
        session = InterviewSession(plan, interview, self.store, self.bus, language_signals,
                                   on_finished=self._finished, slots=self.slots, deadline=deadline,
                                   restored=restored)
        if last is not None:
            session.reason, session.code = last.reason, last.code
        self.sessions[interview_id] = session
        self._jobs[interview_id] = plan.job_id
        logger.info("interview %d: session opened (%s)", interview_id, session.state)
        self.bus.publish("session", interview_id, event="opened", interview=session_views.describe(session))
        if moved_from is not None:
            logger.warning("interview %d: %s -> %s (its server process stopped)", interview_id, moved_from.value,
                           session.state.value)
            self.bus.publish("state", interview_id, state=session.state.value, previous=moved_from.value,
                             reason=session.reason, code=session.code)
        if self.ownership is not None:
            await self.ownership.write_snapshots({interview_id: session_views.describe(session)})
        return session

    async def session_for_candidate(self, interview_id: int) -> InterviewSession:
        """As session_for, for the candidate's own requests: a process that holds the interview
        without its candidate (HR opened it there, it adopted it after a crash, or the
        candidate's connection to it broke) hands it over, so the process the candidate reaches
        (nginx routes by the link) takes it."""
        try:
            return await self.session_for(interview_id)
        except HeldElsewhere as held:
            assert self.link is not None
            if not self.slots.room_for(interview_id):
                # No place here: taking it over would hold media beyond CANDOR_MAX_SESSIONS. It
                # stays with its holder, and the page is sent there (`route`, as a capacity refusal).
                route = self.route_of(held.owner)
                assert CAPACITY.refuse is not None
                extra: dict[str, Any] = {"route": route} if route else {}
                raise AtCapacity(CAPACITY.refuse[0], **extra) from None
            try:
                reply = await self.link.request(held.owner, {"op": "release", "interview_id": interview_id},
                                                timeout_s=2.0)
            except Unreachable:  # it stopped (its key expires soon), or is still finishing the answers
                raise HeldElsewhere(held.owner, "the interview is moving to another server process; "
                                                "reconnecting in a few seconds") from None
            if not reply.get("released"):
                raise
            return await self.session_for(interview_id)

    async def _hand_over(self, interview_id: int) -> bool:
        """The candidate reached another process (after a process died or came back, nginx's
        hash may send the link elsewhere): let the interview go there, unless the candidate is
        evidently here (socket open and media flowing: a second window, refused with 503).
        Media held here is closed as a crashed process's would be; the other process opens
        the interview as `interrupted` and resumes it."""
        session = self.sessions.get(interview_id)
        if session is None:
            return True
        if session.candidate is not None and session.peer is not None and not session.media_stale(2.0):
            return False
        if interview_id in self._handing_over:
            return False  # already on its way (the answers are being finished): asked again soon
        self._handing_over.add(interview_id)
        try:
            if session.candidate is not None:
                session.candidate.close("server_restarted")  # the page reconnects, through nginx
                session.candidate = None
            if session.peer is not None:
                logger.warning("interview %d: handed over to the process the candidate reached", interview_id)
            await session.close()  # the answers so far are stored before the other process reads them
            self._drop(session, release=False)
            if self.ownership is not None:
                await self.ownership.release(interview_id)
        finally:
            self._handing_over.discard(interview_id)
        return True

    async def forward(self, owner: str, op: str, interview_id: int, **data: Any) -> dict[str, Any]:
        """A command for an interview another process holds, answered by that process."""
        assert self.link is not None
        return await self.link.request(owner, {"op": op, "interview_id": interview_id, **data})

    async def owner_elsewhere(self, interview_id: int) -> str | None:
        """The live process other than this one that holds the interview, if any."""
        if self.ownership is None or interview_id in self.sessions:
            return None
        owner = await self.ownership.owner(interview_id)
        return None if owner is None or owner == self.process_id else owner

    async def _on_command(self, body: dict[str, Any]) -> dict[str, Any]:
        """A command from another process for an interview this one holds."""
        op, interview_id = str(body.get("op")), int(body["interview_id"])
        session = self.sessions.get(interview_id)
        if op == "release":
            return {"released": await self._hand_over(interview_id)}
        if op == "link_changed":
            deadline = body.get("deadline")
            await self.link_changed(interview_id, revoked=bool(body.get("revoked")),
                                    deadline=datetime.fromisoformat(deadline) if deadline else None)
            return {}
        if op == "forget":
            await self.forget(interview_id)
            return {}
        if op == "thumbnail":
            jpeg = None if session is None or session.peer is None else session.peer.thumbnail
            if jpeg is None:
                raise NotFound("no video frame yet")
            return {"jpeg": base64.b64encode(jpeg).decode()}
        if op == "dispatch":
            session = session or await self.session_for(interview_id)
            seconds = body.get("seconds")
            try:
                await session.dispatch(Event(str(body["event"])), "hr", body.get("actor_id"),
                                       note=str(body.get("note") or ""), user=str(body.get("user") or ""),
                                       seconds=None if seconds is None else float(seconds))
            except Refused as refused:
                raise ApiError(refused.reason, status=refused.status) from None
            return session_views.state(session)
        raise ApiError(f"unknown command {op!r}", status=400)

    async def link_changed(self, interview_id: int, *, revoked: bool = False,
                           deadline: datetime | None = None) -> None:
        """A link was re-issued or revoked (whoever holds the old one is disconnected now) or its
        deadline moved (the watchdog expires the interview on the new date). Nothing to do for
        an interview no session holds: it reads both from the store when it opens."""
        session = self.sessions.get(interview_id)
        if session is None:
            owner = await self.owner_elsewhere(interview_id)
            if owner is not None:
                try:
                    await self.forward(owner, "link_changed", interview_id, revoked=revoked,
                                       deadline=deadline.isoformat() if deadline else None)
                except ApiError as exc:  # the link is changed in the store either way
                    logger.warning("interview %d: process %s not told of the new link: %s",
                                   interview_id, owner, exc.message)
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
            owner = await self.owner_elsewhere(interview_id)
            if owner is not None:
                try:
                    await self.forward(owner, "forget", interview_id)
                except ApiError as exc:  # erased in the store either way; its holder may be gone
                    logger.warning("interview %d: process %s not told of the erasure: %s", interview_id, owner,
                                   exc.message)
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

    def _drop(self, session: InterviewSession, release: bool = True) -> None:
        if self.sessions.get(session.id) is session:
            self.sessions.pop(session.id, None)
            self.slots.release(session.id)
            self.bus.publish("session", session.id, event="closed", state=session.state.value)
            self._jobs.pop(session.id, None)  # after the last event that other processes need it for
            logger.info("interview %d: session closed (%s)", session.id, session.state)
            self.memory.ask()  # its frames and buffers are freed now: give the pages back
            if release and self.ownership is not None:
                task = asyncio.create_task(self._release(session.id), name=f"release-{session.id}")
                self._releasing.add(task)
                task.add_done_callback(self._releasing.discard)

    async def _release(self, interview_id: int) -> None:
        if interview_id in self.sessions or self.ownership is None:  # opened again meanwhile: still ours
            return
        try:
            await self.ownership.release(interview_id)
        except Exception:  # its key expires on its own
            logger.warning("interview %d: ownership not released", interview_id, exc_info=True)

    def load(self) -> dict[str, Any]:
        """This process's load, announced with every heartbeat."""
        live = sum(1 for s in self.sessions.values() if s.state == State.LIVE)
        return {"process_id": self.process_id, "sessions": len(self.sessions), "live": live,
                "media": len(self.slots.held), "max_sessions": self.settings.max_sessions,
                "overloaded": self.overloaded(), "route": self.settings.route, "ts": round(time.time(), 3)}

    def route_of(self, process_id: str) -> str | None:
        """The route (CANDOR_ROUTE) a process announced at the last heartbeat, if any."""
        for load in self._loads:
            if load.get("process_id") == process_id and load.get("route"):
                return str(load["route"])
        return None

    def room_elsewhere(self) -> str | None:
        """The route of the named process with the most free slots at the last heartbeat (not
        this one, not falling behind), for a candidate this process has no room for: the
        candidate page reconnects through nginx with `?via=` it. None without one."""
        best, most = None, 0
        for load in self._loads:
            route = load.get("route")
            if not route or load.get("process_id") == self.process_id:
                continue
            free = free_slots(load)
            if free > most:
                best, most = str(route), free
        return best

    async def _beat(self) -> None:
        """Every third of the ownership TTL: our interviews' keys renewed, our load announced,
        and the interviews of processes that died adopted (interrupted, then watched)."""
        assert self.ownership is not None
        while True:
            await asyncio.sleep(self.settings.owner_ttl_s / 3)
            try:
                lost = await self.ownership.renew(list(self.sessions), self._snapshots(), self.load())
                for interview_id in lost:
                    await self._lost(interview_id)
                # Adopted only when ownerless on two beats running: after Redis was away, the
                # holder's own heartbeat takes its interviews back first.
                orphans = set(await self.ownership.orphans())
                for interview_id in sorted(orphans & self._orphans):
                    await self._adopt(interview_id)
                self._orphans = orphans
                self._loads = await self.ownership.processes()
            except Exception:
                logger.warning("cluster heartbeat failed (Redis unreachable?)", exc_info=True)

    def _describe(self, interview_id: int) -> dict[str, Any] | None:
        session = self.sessions.get(interview_id)
        return session_views.describe(session) if session is not None else None

    def _snapshots(self) -> dict[int, dict[str, Any]]:
        return {i: session_views.describe(s) for i, s in self.sessions.items()}

    async def _lost(self, interview_id: int) -> None:
        """This process stalled past the TTL and another took the interview: let go of it."""
        session = self.sessions.get(interview_id)
        if session is None:
            return
        logger.error("interview %d: ownership lost to another process (this one stalled); closing here",
                     interview_id)
        if session.candidate is not None:  # the page reconnects (and nginx brings it back here)
            session.candidate.close("server_restarted")
            session.candidate = None
        await session.close()
        self._drop(session, release=False)

    async def _adopt(self, interview_id: int) -> None:
        assert self.ownership is not None
        state = await self.store.run(lambda db: getattr(db.get(Interview, interview_id), "state", None))
        if state is None or State(state) not in HOLDS_MEDIA:
            await self.ownership.forget_orphan(interview_id)  # finished or not started: nothing to watch
            return
        try:
            await self.session_for(interview_id)
        except HeldElsewhere:
            return  # another process adopted it first
        logger.warning("interview %d: adopted from a process that stopped (now %s)", interview_id,
                       self.sessions[interview_id].state.value if interview_id in self.sessions else "?")

    def new_peer(self, session: InterviewSession) -> PeerLink:
        pc = track_peer_connection(RTCPeerConnection(rtc_configuration(self.settings.ice_servers)))
        name = f"interview-{session.id}"

        def analyse() -> bool:
            # Asked per audio batch and per frame: consent may come after the offer, and a
            # candidate who asked for a human-only review is never analysed.
            return session.consent is True

        def on_speech(event: Partial | Final, offset: float, heard_s: float) -> None:
            if isinstance(event, Final):
                words = tuple(replace(w, start_s=w.start_s + offset, end_s=w.end_s + offset) for w in event.words)
                session.on_transcript(event.text, True, event.start_s + offset, event.end_s + offset, words,
                                      heard_s=heard_s + offset)
            else:
                start = None if event.start_s is None else event.start_s + offset
                end = None if event.end_s is None else event.end_s + offset
                session.on_transcript(event.text, False, start, end, heard_s=heard_s + offset)

        def make_speech(first_batch_s: float) -> SpeechStream | None:
            model = self.bank.vosk.get(session.plan.language)
            if model is None:
                return None
            recognizer = SpeechRecognizer(model, **recognizer_options(self.settings))
            return SpeechStream(recognizer, session.clock() - first_batch_s, on_speech, name)

        process: Callable[[Any], Any] = (
            self.vision_workers.stream(vision_options(session.plan))
            if self.vision_workers is not None else self.bank.vision_processor(session.plan))

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
            if self.ownership is not None and self.sessions:
                try:  # what a panel on any process draws first
                    await asyncio.wait_for(self.ownership.write_snapshots(self._snapshots()), SIGNALS_EVERY_S)
                except Exception:
                    logger.debug("panel snapshots not written", exc_info=True)

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
        for task in (self._ticker, self._heartbeat):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.memory.stop()
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
        held = list(self.sessions)
        self.sessions.clear()
        self.vision_executor.shutdown(wait=False, cancel_futures=True)
        if self.vision_workers is not None:
            self.vision_workers.shutdown(wait=False)
        await self._leave_cluster(held)

    async def _leave_cluster(self, held: list[int]) -> None:
        """Our keys go now, so a live process adopts our mid-way interviews at once."""
        await asyncio.gather(*self._releasing, return_exceptions=True)
        if self.link is not None:
            await self.link.close()
        if self.ownership is not None:
            try:
                await self.ownership.let_go(held)
            except Exception:  # they expire on their own
                logger.warning("cluster: ownership keys not removed on shutdown", exc_info=True)
        if self._redis is not None:
            await self._redis.aclose()


sessions_key = web.AppKey("sessions", SessionManager)
bus_key = web.AppKey("bus", Bus)


async def sessions_ctx(app: web.Application) -> AsyncIterator[None]:
    manager = app[sessions_key]
    await manager.start()
    yield
    await manager.close()
