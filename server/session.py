"""InterviewSession: one interview in this process, the thin async layer around the state machine.

Every change goes through `dispatch(event)`: the pure table in server/interview_machine.py says
what the event does, and this class carries out the effects (question clock, attempts, store,
bus, candidate socket, timers). Data flows one way: media pumps -> speech stream / vision
analysis -> this session -> bus (events) and store (rows).

Ending an answer never waits for speech recognition: the attempt is closed at once, the
candidate gets the next question, and the answer's final transcript, signals and scores are
completed in the background once the recogniser has caught up (`settled()` waits for them).
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Awaitable, Callable, Protocol

from server import consent as consents
from server import follow_ups, session_store, session_views
from server.session_effects import carry_out
from server.answers import Answers, LanguageSignals
from server.attempts import Attempt, AttemptLog
from server.background import Background
from server.bus import Bus
from server.media_slots import MediaSlots
from server.interview_machine import (
    AFTER_RECORD, FINISHED, HOLDS_MEDIA, TEXT, Effect, Event, Facts, Refused, State, Step,
    handle,
)
from server.question_signals import VisionTally
from server.plan import InterviewPlan, QuestionPlan
from server.question_clock import QuestionClock
from server.samples import SampleRouter
from server.scoring import DimensionScore
from server.store import Store
from server.tables import Interview, QuestionSignals, utcnow

logger = logging.getLogger(__name__)

__all__ = ["FINISHED", "Attempt", "CandidateLink", "InterviewSession", "Refused", "State"]

# Events that move on to the next question (a follow-up there may be skipped by rule).
ADVANCING = frozenset({Event.NEXT, Event.TIME_UP, Event.SKIP})

# Media counts as arriving again once something came within this many seconds.
MEDIA_FRESH_S = 1.5


class CandidateLink(Protocol):
    """The candidate's websocket as the session sees it: non-blocking sends."""

    def send(self, message: dict[str, Any]) -> None: ...
    def close(self, code: str) -> None: ...


class InterviewSession:
    def __init__(self, plan: InterviewPlan, interview: Interview, store: Store, bus: Bus,
                 language_signals: LanguageSignals, *,
                 on_finished: Callable[[InterviewSession], Awaitable[None]] | None = None,
                 slots: MediaSlots | None = None, deadline: datetime | None = None,
                 restored: list[Attempt] | None = None) -> None:
        self.plan = plan
        assert interview.id is not None
        self.id: int = interview.id
        self.store = store
        self.bus = bus
        self.language_signals = language_signals
        self.on_finished = on_finished
        self.slots = slots or MediaSlots(limit=1 << 30, overloaded=lambda: False)
        self.deadline = deadline
        self.state = State(interview.state)
        self.question_index = interview.question_index
        self.consent: bool | None = interview.consent
        self.pending_consent: bool | None = None
        # The consent records' terms (server/consent.py): read before any analysis, at the first
        # `start` or offer. `withdrawn_at`: the interview clock when the candidate withdrew.
        self.terms: consents.Terms | None = None
        self.withdrawn_at: float | None = None
        self._unanalysed: set[asyncio.Task[Any]] = set()
        self.candidate: CandidateLink | None = None
        self.media_connected = False
        self.peer: Any = None  # server.peer.PeerLink
        self.attempts = AttemptLog()
        for attempt in restored or ():
            self.attempts.add(attempt)
        self.question_time = QuestionClock()
        self.question_time.restore(self.question_index, interview.question_used_s, interview.question_extra_s)
        self._started = interview.started_at is not None
        # The interview clock (transcript and frame times) is wall time since the first live
        # moment, so it carries on across reconnects and restarts.
        self._t0 = time.monotonic() - (
            (utcnow() - interview.started_at).total_seconds() if interview.started_at else 0.0)
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self.background = Background(store, f"interview {self.id}")
        self._retiring: set[asyncio.Task[Any]] = set()  # peer connections closing (speech finishing)
        self.answers = Answers(plan, language_signals, self.attempts, self.clock, bus=bus,
                               background=self.background, on_stored=self._answer_stored)
        self.paused_at: float | None = time.monotonic() if self.state == State.PAUSED else None
        self.state_since = time.monotonic()  # when the current state began (timeouts count from it)
        self.touched_at = time.monotonic()  # last sign of life from the candidate (idle sessions go)
        self.interrupted_at: float | None = time.monotonic() if self.state == State.INTERRUPTED else None
        self.last_scores: list[DimensionScore] = []
        self.samples = SampleRouter(self.id, plan, self.attempts, bus, self.background, self.send, self.clock,
                                    lambda: self.question_index)
        self._advance: follow_ups.Advance | None = None
        self.last_connection: dict[str, Any] | None = None
        self.interventions: list[dict[str, Any]] = []
        self.reason = ""
        self.code = ""
        if self.state in HOLDS_MEDIA:
            self.slots.take(self.id)

    # --- clocks ---------------------------------------------------------------------------

    def clock(self) -> float:
        """Seconds since the interview started (its first live moment)."""
        return time.monotonic() - self._t0

    def clock_at(self, monotonic_s: float) -> float:
        """The interview clock at an earlier time.monotonic() reading (a frame's arrival)."""
        return monotonic_s - self._t0

    @property
    def question(self) -> QuestionPlan | None:
        if 0 <= self.question_index < len(self.plan.questions):
            return self.plan.questions[self.question_index]
        return None

    def elapsed_s(self) -> float:
        return self.question_time.elapsed_s(self.question_index, time.monotonic())

    def time_limit_s(self) -> float:
        q = self.question
        return 0.0 if q is None else self.question_time.limit_s(self.question_index, q.time_limit_s)

    def remaining_s(self) -> float:
        return max(0.0, self.time_limit_s() - self.elapsed_s())

    def current_attempt(self) -> Attempt | None:
        return self.attempts.current(self.question_index)

    def answered(self) -> int:
        return self.attempts.answered()

    # --- the one way in ---------------------------------------------------------------------

    def facts(self) -> Facts:
        # Where `next` would go now: a follow-up after this question may be skipped by rule.
        self._advance = self._next_question()
        return Facts(last_question=self._advance.index >= len(self.plan.questions),
                     started=self.attempts.started(),
                     media=self.media_connected and not self.media_stale(MEDIA_FRESH_S),
                     room=self.slots.room_for(self.id),
                     deadline_passed=self.deadline is not None and self.deadline <= utcnow())

    def check(self, event: Event) -> Step:
        """What the event would do now (raises Refused), without doing it."""
        return handle(self.state, event, self.facts())

    async def dispatch(self, event: Event, actor: str = "system", actor_id: int | None = None, *,
                       note: str = "", user: str = "", seconds: float | None = None,
                       expect_question: int | None = None) -> Step | None:
        """Apply an event (raises Refused). None when the event was for a question already left
        (a stale timer, or a question left while this one waited for the recogniser)."""
        if event in ADVANCING and self.state == State.LIVE and follow_ups.is_follow_up(
                self.plan, self.question_index + 1):
            # Whether the follow-up is asked depends on the whole answer: let the recogniser
            # finish it first (bounded), outside the lock so HR's controls are not held up.
            at = self.question_index
            await self._recognised(follow_ups.RECOGNITION_WAIT_S)
            expect_question = at if expect_question is None else expect_question
        async with self._lock:
            if expect_question is not None and expect_question != self.question_index:
                return None
            return await self._apply(event, actor, actor_id, note=note, user=user, seconds=seconds)

    async def _apply(self, event: Event, actor: str = "system", actor_id: int | None = None, *, note: str = "",
                     user: str = "",
                     seconds: float | None = None) -> Step:
        step = handle(self.state, event, self.facts())
        if Effect.TAKE_SLOT in step.effects or step.to in HOLDS_MEDIA:
            self.slots.take(self.id)  # synchronously with the check: no other event in between
        ctx = Context(event, actor, actor_id, note, user, seconds)
        for effect in step.effects:
            if effect not in AFTER_RECORD:
                await carry_out(self, effect, ctx)
        if step.to is not None:
            await self._record(step.to, step.code or "", ctx)
        elif step.code:  # no new state, but the candidate and HR are told why (e.g. connect_timeout)
            self.bus.publish("state", self.id, state=self.state.value, previous=self.state.value,
                             reason=TEXT.get(step.code, step.code) + (f": {ctx.note}" if ctx.note else ""),
                             code=step.code)
            self.send({"type": "state", "state": self.state.value, "code": step.code,
                       "reason": TEXT.get(step.code, "")})
        for effect in step.effects:
            if effect in AFTER_RECORD:
                await carry_out(self, effect, ctx)
        if event != Event.OFFER:  # an accepted offer's peer is attached by offer(), right after
            self._release_slot_if_idle()
        return step

    def _release_slot_if_idle(self) -> None:
        if self.state not in HOLDS_MEDIA and self.peer is None:
            self.slots.release(self.id)

    async def _record(self, new: State, code: str, ctx: Context) -> None:
        old = self.state
        started = new == State.LIVE and not self._started
        if started:
            self._t0 = time.monotonic()  # the interview clock starts at the first live moment
            self._started = True
        now = time.monotonic()
        qi = self.question_index
        # HR's note is for the panel, the audit log and the report; the candidate gets the code.
        reason = TEXT.get(code, code) + (f": {ctx.note}" if ctx.note else "")
        used, extra = self.question_time.elapsed_s(qi, now), self.question_time.extra_s.get(qi, 0.0)
        # In turn with the interview's other writes (a question-clock checkpoint made earlier
        # must not land after this and overwrite its clock), and landing even if the caller
        # stops waiting.
        await asyncio.shield(self.background.write(lambda db: session_store.record_transition(
            db, self.id, old, new, code, reason, ctx.actor, ctx.actor_id, question_index=qi,
            consent=self.consent, used_s=used, extra_s=extra, started=started)))
        self.state, self.reason, self.code, self.state_since = new, reason, code, now
        self.interrupted_at = (self.interrupted_at or now) if new == State.INTERRUPTED else None
        self.bus.publish("state", self.id, state=new.value, previous=old.value, reason=reason, code=code)
        self.send({"type": "state", "state": new.value, "code": code, "reason": TEXT.get(code, "")})

    # --- candidate ------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        if self.candidate is not None:
            self.candidate.send(message)

    async def attach_candidate(self, link: CandidateLink) -> None:
        """A candidate's websocket joined. A newer one replaces an older one (a candidate who
        reopens the link after a crash must get back in; the old tab is told why it closed)."""
        old, self.candidate = self.candidate, link
        self.touched_at = time.monotonic()
        if old is not None and old is not link:
            old.close("opened_elsewhere")
        link.send({"type": "state", "state": self.state.value, "code": "joined", "reason": TEXT["joined"]})
        msg = session_views.question_message(self)
        if self.state in (State.LIVE, State.PAUSED, State.INTERRUPTED) and msg is not None:
            link.send(msg)

    async def revoke_link(self) -> None:
        """HR issued a new link: the old one's socket closes and its media stops (to the state
        machine, media lost like any network failure); the new link's holder reconnects."""
        async with self._lock:
            if self.candidate is not None:
                self.candidate.close("link_reissued")
                self.candidate = None
            if self.peer is not None:
                old, self.peer = self.peer, None
                self.media_connected = False
                self.retire(old)
                if self.state == State.LIVE:
                    await self._apply(Event.MEDIA_LOST, "system", note="the link was re-issued")

    def detach_candidate(self, link: CandidateLink) -> None:
        if self.candidate is link:
            self.candidate = None
            self.touched_at = time.monotonic()

    async def start(self, consent: bool, notice_version: str | None = None, biometric: bool | None = None,
                    notice_language: str | None = None) -> None:
        """The candidate's `start`: their choice (the first one is kept), then ready to begin.
        The first choice is stored as consent records (the notice version the page showed)
        before the state machine saves it, so no analysis runs ahead of its record."""
        async with self._lock:
            self.touched_at = time.monotonic()
            self.pending_consent = consent
            try:
                if self.consent is None and Effect.SAVE_CONSENT in self.check(Event.CONSENT).effects:
                    try:
                        self.terms = await self.store.run(lambda db: consents.record_start(
                            db, self.id, consent, biometric, notice_version, notice_language))
                    except consents.UnknownNotice as exc:
                        self.send({"type": "error", "error": str(exc)})
                        return
                await self._apply(Event.CONSENT, "candidate")
                await self._apply(Event.JOIN, "candidate")
                if self.state == State.CONNECTING and self.media_connected:
                    await self._apply(Event.MEDIA_UP, "system")
            except Refused as refused:
                message = {"type": "state", "state": self.state.value, "code": refused.code,
                           "reason": TEXT.get(refused.code, refused.reason)}
                if (route := self.slots.route_for(refused.code)) is not None:
                    message["route"] = route  # the page reconnects there (nginx's `?via=`)
                self.send(message)

    async def withdraw(self) -> bool:
        """The candidate withdrew their consent to analysis: from this moment nothing more is
        recognised or analysed (the peer asks `consent` per audio batch and per frame), the open
        answer's evidence so far is dropped, later answers are stored without signals or
        scores, and the interview goes on to a human-only review. False when there was no
        consent to withdraw (not given, already withdrawn, or the interview is over)."""
        async with self._lock:
            self.touched_at = time.monotonic()
            if self.consent is not True or self.state in FINISHED:
                return False
            self.consent = False
            self.withdrawn_at = self.clock()
            for attempt in self.attempts.all():
                if not attempt.closed:  # what was measured of the open answer is not used
                    attempt.segments.clear()
                    attempt.vision = VisionTally()
            self.samples.last_signals = None
            state = self.state.value
            await self.store.run(lambda db: consents.withdraw(db, self.id, state))
            self.bus.publish("state", self.id, state=state, previous=state, reason=consents.WITHDRAWN_TEXT,
                             code=consents.WITHDRAWN_CODE)
            self.send({"type": "state", "state": state, "code": consents.WITHDRAWN_CODE,
                       "reason": consents.WITHDRAWN_TEXT})
            logger.info("interview %d: consent withdrawn at %.1f s; human-only from now", self.id,
                        self.withdrawn_at)
            return True

    def vision_allowed(self) -> bool:
        """Faces and bodies may be analysed now: consent given and not withdrawn, and no
        separate biometric consent refused."""
        return self.consent is True and (self.terms is None or self.terms.vision)

    async def candidate_next(self) -> None:
        try:
            await self.dispatch(Event.NEXT, "candidate")
        except Refused as refused:
            logger.debug("interview %d: next refused (%s)", self.id, refused.reason)

    # --- follow-ups (server/follow_ups.py) ---------------------------------------------------

    def _next_question(self) -> follow_ups.Advance:
        return follow_ups.advance(self.plan, self.question_index, self._follow_up_answered)

    def _follow_up_answered(self, asked: QuestionPlan, follow_up: QuestionPlan) -> bool:
        """The answer to `asked` so far (its counted attempts' final transcript) mentioned a
        keyword of the follow-up's dimensions."""
        if self.withdrawn_at is not None:
            return False  # nothing is analysed after a withdrawal: the follow-up is asked
        segments = [seg for a in self.attempts.by_question.get(asked.index, []) if not a.superseded
                    for seg in a.segments]
        return bool(follow_ups.keywords_heard(self.language_signals, segments, asked,
                                              self.plan.keywords_for(follow_up)))

    async def _recognised(self, timeout_s: float) -> None:
        speech = getattr(self.peer, "speech", None) if self.peer is not None else None
        if speech is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(speech.barrier()), timeout_s)
        except TimeoutError:
            logger.info("interview %d: the recogniser took over %.0f s; follow-up decided on what was recognised",
                        self.id, timeout_s)

    def advance(self) -> None:
        """NEXT_QUESTION: to the next question asked; a follow-up skipped by rule is kept as
        such (an attempt marked `by_rule`, stored as skipped_by_rule)."""
        step = self._advance if self._advance is not None else self._next_question()
        self._advance = None
        for index in step.ruled_out:
            attempt = Attempt(index, 0, skipped=True, by_rule=True, closed=True, finished=True, stored_signals={})
            self.attempts.add(attempt)
            row = QuestionSignals(interview_id=self.id, question_index=index, attempt=0, skipped=True,
                                  skipped_by_rule=True)
            self.background.write(functools.partial(_add_row, row))
            logger.info("interview %d: follow-up %d skipped by rule (its keywords were mentioned)",
                        self.id, index + 1)
        self.question_index = step.index

    # --- media ----------------------------------------------------------------------------

    async def offer(self, peer: Any) -> None:
        """A new peer connection (raises Refused, e.g. at capacity: the caller closes it). It
        replaces the old one; the old one's audio is recognised to the end before it goes."""
        async with self._lock:
            self.touched_at = time.monotonic()
            await self._apply(Event.OFFER, "candidate")
            if self.terms is None:  # e.g. a session made again after a restart
                self.terms = await self.store.run(lambda db: consents.terms(db, self.id))
                if self.terms.withdrawn and self.withdrawn_at is None:
                    self.withdrawn_at = self.clock()  # still human-only: later answers unanalysed
            ready = getattr(peer, "vision_ready", None)
            if ready is not None:  # no frame is even analysed without the consent it needs
                peer.vision_ready = lambda: ready() and self.vision_allowed()
            old, self.peer = self.peer, peer
            self.media_connected = False
            if old is not None:
                self.retire(old)

    async def media_up(self, peer: Any = None) -> None:
        async with self._lock:
            if peer is not None and peer is not self.peer:
                return  # a replaced connection
            self.media_connected = True
            self.touched_at = time.monotonic()
            await self._apply(Event.MEDIA_UP, "system")

    async def media_lost(self, reason: str) -> None:
        async with self._lock:
            if self.state == State.LIVE:
                await self._apply(Event.MEDIA_LOST, "system", note=reason)
                self.media_connected = False

    def media_stale(self, timeout_s: float = 5.0) -> bool:
        return self.media_gap_s() > timeout_s

    def media_gap_s(self) -> float:
        """Seconds since the last audio or video arrived (since the connection, before any)."""
        peer = self.peer
        if peer is None:
            return float("inf")
        c = peer.counters
        seen = [t for t in (c.last_audio_at, c.last_video_at) if t is not None]
        return time.monotonic() - (max(seen) if seen else peer.created)

    # --- answers: closed at once, finished in the background (server/answers.py) ----------

    def close_attempt(self, attempt: Attempt) -> None:
        if self.withdrawn_at is not None:
            self._close_unanalysed(attempt)
            return
        speech = self.peer.speech if self.peer is not None else None
        # Everything received so far is recognised before the answer is scored; audio after
        # this moment belongs to the next question and waits behind it in the same queue.
        self.answers.close(attempt, speech.barrier() if speech is not None else None)

    def _answer_stored(self, overall: list[DimensionScore]) -> None:
        self.last_scores = overall
        self.bus.publish("progress", self.id, **session_views.progress(self))

    def _close_unanalysed(self, attempt: Attempt) -> None:
        """After a withdrawal: the answer is stored with its recording's span and flags, and
        no signals or scores (the stored overall scores go too)."""
        attempt.closed = True
        attempt.stored_signals = {}
        interview_id = self.id

        async def store() -> None:
            await asyncio.shield(self.background.write(
                lambda db: session_store.store_attempt(db, interview_id, attempt, {}, {}, [], [], [])))
            attempt.finished = True
            self.bus.publish("progress", self.id, **session_views.progress(self))

        task = self.background.spawn(store())
        self._unanalysed.add(task)
        task.add_done_callback(self._unanalysed.discard)

    async def settled(self) -> None:
        """Every closed answer is stored (waits for the recogniser to catch up)."""
        await self.answers.settled()
        while self._unanalysed:
            await asyncio.gather(*list(self._unanalysed), return_exceptions=True)

    # --- samples in (server/samples.py) ----------------------------------------------------

    def on_transcript(self, text: str, final: bool, start_s: float | None, end_s: float | None,
                      words: tuple[Any, ...] = (), *, heard_s: float | None = None) -> None:
        if self.withdrawn_at is not None:
            return  # recognised from audio still queued at the withdrawal: not used
        self.samples.on_transcript(text, final, start_s, end_s, words, heard_s=heard_s)

    def on_vision(self, sample: Any, clock_s: float) -> None:
        if self.state == State.LIVE and self.vision_allowed():
            self.samples.on_vision(self._permitted(sample), clock_s)

    def _permitted(self, sample: Any) -> Any:
        """The sample without what the job's jurisdiction forbids (the job's switches already
        keep the analyser from computing it; this holds even for a job stored otherwise)."""
        forbidden = self.terms.forbidden_analyses if self.terms is not None else frozenset()
        if "expression" in forbidden and getattr(sample, "smile", None) is not None \
                and dataclasses.is_dataclass(sample):
            logger.error("interview %d: an expression sample under a profile that forbids it; dropped", self.id)
            return dataclasses.replace(sample, smile=None, smile_score=None)  # type: ignore[type-var]
        return sample

    # --- signals and scores (server/answers.py) ------------------------------------------

    def signals_of(self, attempt: Attempt) -> tuple[dict[str, float], list[dict[str, Any]]]:
        if self.withdrawn_at is not None:
            return {}, []  # nothing is computed after a withdrawal
        return self.answers.signals_of(attempt, self.clock())

    def live_scores(self) -> list[DimensionScore]:
        if self.withdrawn_at is not None:
            return []
        return self.answers.live_scores(self.clock())

    def scores_payload(self, scores: list[DimensionScore]) -> list[dict[str, Any]]:
        return self.answers.payload(scores)

    # --- HR -------------------------------------------------------------------------------

    async def record_intervention(self, ctx: Context) -> None:
        assert ctx.actor_id is not None
        qi = self.question_index
        action, user_id = ctx.event.value, ctx.actor_id
        await self.store.run(lambda db: session_store.store_intervention(
            db, self.id, user_id, action, qi, ctx.seconds, ctx.note))
        item = {"action": action, "note": ctx.note, "seconds": ctx.seconds, "user": ctx.user, "question_index": qi,
                "ts": round(time.time(), 3)}
        self.interventions.append(item)
        self.bus.publish("intervention", self.id, **{k: v for k, v in item.items() if k != "ts"})

    def idle(self, for_s: float) -> bool:
        """Nobody connected and nothing running for `for_s` seconds: the session may leave memory
        (it is made again from the store when needed)."""
        return (self.candidate is None and self.peer is None and not self.background.busy
                and time.monotonic() - self.touched_at >= for_s)

    def checkpoint(self) -> None:
        """Keep the running question clock in the store (a restart resumes from it)."""
        qi, now = self.question_index, time.monotonic()
        used, extra = self.question_time.elapsed_s(qi, now), self.question_time.extra_s.get(qi, 0.0)
        self.background.write(lambda db: session_store.checkpoint(db, self.id, qi, used, extra))

    # --- timers and housekeeping ----------------------------------------------------------

    def arm_timer(self) -> None:
        self.cancel_timer()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.remaining_s(), self._time_up, self.question_index)

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _time_up(self, index: int) -> None:
        self._timer = None
        self.spawn(self._dispatch_quietly(Event.TIME_UP, expect_question=index))

    async def _dispatch_quietly(self, event: Event, **kwargs: Any) -> None:
        try:
            await self.dispatch(event, **kwargs)
        except Refused as refused:
            logger.debug("interview %d: %s refused (%s)", self.id, event.value, refused.reason)

    def retire(self, peer: Any) -> None:
        """Close a replaced or finished peer connection in the background; its audio is still
        recognised to the end (close() waits for that, it never cancels it)."""
        task = self.spawn(peer.close())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        return self.background.spawn(coro)

    async def drain_writes(self) -> None:
        await self.background.drain_writes()

    async def close(self) -> None:
        """Stop timers and media (recognising what was received), finish answers, stop tasks."""
        self.cancel_timer()
        if self.peer is not None:
            peer, self.peer = self.peer, None
            await peer.close()
        while self._retiring:  # older connections still recognising their audio
            await asyncio.gather(*list(self._retiring), return_exceptions=True)
        await self.settled()
        await self.background.cancel()  # close() may run in one of its tasks: that one is spared
        self.slots.release(self.id)


def _add_row(row: Any, db: Any) -> None:
    db.add(row)


@dataclass(frozen=True, slots=True)
class Context:
    """One event's details, for its effects."""

    event: Event
    actor: str
    actor_id: int | None
    note: str
    user: str
    seconds: float | None
