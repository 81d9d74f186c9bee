"""InterviewSession: one live interview's state machine, question timing and aggregation.

Data flows one way: media pumps -> speech stream / vision analysis -> this session -> bus
(events) and store (rows). The session decides what a sample means for the current question;
analyzers never see the interview. Every transition is a StateChange row and a `state` event,
with who caused it.

States (DESIGN.md): invited -> consented -> connecting -> live <-> paused -> completed, and
interrupted / abandoned / expired. The question timer counts only live time.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Awaitable, Callable, Protocol

from sqlmodel import Session, select

from server.bus import Bus
from server.plan import InterviewPlan, QuestionPlan
from server.question_signals import Segment, VisionTally
from server.scoring import DimensionScore, QuestionResult, score_interview, score_question
from server.store import Store
from server import audit
from server.errors import Conflict
from server.tables import (
    Intervention, Interview, QuestionSignals, Score, StateChange, TranscriptSegment, utcnow,
)

logger = logging.getLogger(__name__)


class State(StrEnum):
    INVITED = "invited"
    CONSENTED = "consented"
    CONNECTING = "connecting"
    LIVE = "live"
    PAUSED = "paused"
    INTERRUPTED = "interrupted"
    ABANDONED = "abandoned"
    EXPIRED = "expired"
    COMPLETED = "completed"


FINISHED = frozenset({State.COMPLETED, State.ABANDONED, State.EXPIRED})
# A transcript partial reaches HR at most this often (DESIGN.md: partials coalesced, <= 5/s).
PARTIAL_INTERVAL_S = 0.2
# Frame-driven `signals` events per interview come at most this often (every analysed frame
# at the default 5 fps).
FRAME_EVENT_INTERVAL_S = 0.1


class CandidateLink(Protocol):
    """The candidate's websocket as the session sees it: non-blocking sends."""

    def send(self, message: dict[str, Any]) -> None: ...
    def close(self, reason: str) -> None: ...


@dataclass(slots=True)
class Attempt:
    """One attempt at a question (a redo starts a new one; the old one is superseded)."""

    index: int
    number: int
    spans: list[list[float | None]] = field(default_factory=list)  # clock spans while live
    segments: list[Segment] = field(default_factory=list)
    vision: VisionTally = field(default_factory=VisionTally)
    skipped: bool = False
    superseded: bool = False
    fault: bool = False
    paused_s: float = 0.0
    finished: bool = False

    def covers(self, t: float) -> bool:
        return any(a <= t and (b is None or t <= b) for a, b in self.spans)  # type: ignore[operator]


Analyse = Callable[["InterviewSession", Attempt], dict[str, Any]]


class InterviewSession:
    def __init__(self, plan: InterviewPlan, interview: Interview, store: Store, bus: Bus,
                 language_signals: Callable[[list[Segment], str, tuple[str, ...], float], tuple[dict[str, float], list[dict[str, Any]]]],
                 on_finished: Callable[[InterviewSession], Awaitable[None]] | None = None) -> None:
        self.plan = plan
        self.id = plan.interview_id
        self.store = store
        self.bus = bus
        self.language_signals = language_signals
        self.on_finished = on_finished
        self.state = State(interview.state)
        self.question_index = interview.question_index
        self.consent: bool | None = interview.consent
        self.candidate: CandidateLink | None = None
        self.media_connected = False
        self.peer: Any = None  # server.peer.PeerLink
        self.attempts: dict[int, list[Attempt]] = {}
        self.extra_s: dict[int, float] = {}  # time added to a question (HR "extend")
        self.used_s: dict[int, float] = {}  # live seconds spent on a question
        self._live_since: float | None = None  # monotonic start of the current live stretch
        self._t0 = time.monotonic() - self._clock_start_offset(interview)
        self._started = interview.started_at is not None
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writes: set[asyncio.Task[Any]] = set()
        self._last_partial_at = 0.0
        self._last_frame_event_at = 0.0
        self._paused_at: float | None = None
        self.interrupted_at: float | None = None  # monotonic, while interrupted
        self.last_scores: list[DimensionScore] = []
        self.transcript_tail: list[dict[str, Any]] = []  # recent finals, for a panel's snapshot
        self.partial: str | None = None
        self.last_signals: dict[str, Any] | None = None
        self.last_connection: dict[str, Any] | None = None
        self.interventions: list[dict[str, Any]] = []
        self.reason = ""

    @staticmethod
    def _clock_start_offset(interview: Interview) -> float:
        if interview.started_at is None:
            return 0.0
        return max(0.0, (utcnow() - interview.started_at).total_seconds())

    # --- clock and timing ---------------------------------------------------------------

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
        used = self.used_s.get(self.question_index, 0.0)
        if self._live_since is not None:
            used += time.monotonic() - self._live_since
        return used

    def time_limit_s(self) -> float:
        q = self.question
        return 0.0 if q is None else q.time_limit_s + self.extra_s.get(self.question_index, 0.0)

    def remaining_s(self) -> float:
        return max(0.0, self.time_limit_s() - self.elapsed_s())

    def current_attempt(self) -> Attempt | None:
        attempts = self.attempts.get(self.question_index)
        return attempts[-1] if attempts else None

    def answered(self) -> int:
        return sum(1 for tries in self.attempts.values() if tries and tries[-1].finished)

    # --- transitions ----------------------------------------------------------------------

    async def _transition(self, new: State, reason: str, actor: str = "system", actor_id: int | None = None) -> None:
        old = self.state
        self.state = new
        started = new == State.LIVE and not self._started
        if started:
            # The interview clock (transcript and frame times) starts at the first live moment.
            self._t0 = time.monotonic()
            self._started = True
        qi = self.question_index
        consent = self.consent

        def work(db: Session) -> None:
            row = db.get(Interview, self.id)
            assert row is not None
            row.state = new.value
            row.question_index = qi
            row.consent = consent
            if started and row.started_at is None:
                row.started_at = utcnow()
            if new == State.COMPLETED:
                row.completed_at = utcnow()
            db.add(row)
            db.add(StateChange(interview_id=self.id, from_state=old.value, to_state=new.value,
                               reason=reason, actor_kind=actor, actor_id=actor_id))

        await self.store.run(work)
        self.reason = reason
        self.bus.publish("state", self.id, state=new.value, previous=old.value, reason=reason)
        self.send({"type": "state", "state": new.value, "reason": reason})

    def send(self, message: dict[str, Any]) -> None:
        if self.candidate is not None:
            self.candidate.send(message)

    def progress(self) -> dict[str, Any]:
        q = self.question
        return {"question_index": self.question_index, "question_count": len(self.plan.questions),
                "answered": self.answered(), "elapsed_s": round(self.elapsed_s(), 1),
                "time_limit_s": self.time_limit_s(), "question_text": q.text if q else None}

    def question_message(self) -> dict[str, Any] | None:
        q = self.question
        if q is None:
            return None
        return {"type": "question", "index": q.index, "count": len(self.plan.questions), "text": q.text,
                "time_limit_s": self.time_limit_s(), "remaining_s": round(self.remaining_s(), 1)}

    # --- candidate ------------------------------------------------------------------------

    async def attach_candidate(self, link: CandidateLink) -> None:
        """A candidate's websocket joined. A newer one replaces an older one (a candidate who
        reopens the link after a crash must get back in; the old tab is told why it closed)."""
        old, self.candidate = self.candidate, link
        if old is not None and old is not link:
            old.close("the interview was opened in another window")
        link.send({"type": "state", "state": self.state.value, "reason": "joined"})
        if self.state in (State.LIVE, State.PAUSED, State.INTERRUPTED) and (msg := self.question_message()):
            link.send(msg)

    def detach_candidate(self, link: CandidateLink) -> None:
        if self.candidate is link:
            self.candidate = None

    async def start(self, consent: bool) -> None:
        async with self._lock:
            if self.state in FINISHED:
                self.send({"type": "state", "state": self.state.value, "reason": "finished"})
                return
            if self.state == State.INVITED:
                self.consent = consent
                reason = "consented to analysis" if consent else "asked for a human-only review"
                await self._transition(State.CONSENTED, reason, "candidate")
            if self.state == State.CONSENTED:
                await self._transition(State.CONNECTING, "waiting for camera and microphone", "candidate")
            await self._go_live_if_ready()

    async def media_up(self) -> None:
        async with self._lock:
            self.media_connected = True
            await self._go_live_if_ready()

    async def _go_live_if_ready(self) -> None:
        if not self.media_connected:
            return
        if self.state == State.CONNECTING:
            await self._enter_question("media connected")
        elif self.state == State.INTERRUPTED:
            await self._resume_question("media back: resuming the same question")

    async def _resume_question(self, reason: str, actor: str = "system", actor_id: int | None = None) -> None:
        """Back to live on the question that was interrupted or paused, with its time as it was."""
        await self._transition(State.LIVE, reason, actor, actor_id)
        self._start_live_stretch()
        self.send(self.question_message())  # type: ignore[arg-type]
        self.bus.publish("progress", self.id, **self.progress())

    async def _enter_question(self, reason: str) -> None:
        q = self.question
        assert q is not None
        tries = self.attempts.setdefault(q.index, [])
        if not tries or tries[-1].finished:
            tries.append(Attempt(q.index, len(tries)))
        await self._transition(State.LIVE, reason)
        self._start_live_stretch()
        self.send(self.question_message())  # type: ignore[arg-type]
        self.bus.publish("progress", self.id, **self.progress())

    def _start_live_stretch(self) -> None:
        self._live_since = time.monotonic()
        attempt = self.current_attempt()
        if attempt is not None:
            attempt.spans.append([self.clock(), None])
        self._arm_timer()

    def _stop_live_stretch(self) -> None:
        if self._live_since is not None:
            qi = self.question_index
            self.used_s[qi] = self.used_s.get(qi, 0.0) + time.monotonic() - self._live_since
            self._live_since = None
        attempt = self.current_attempt()
        if attempt is not None and attempt.spans and attempt.spans[-1][1] is None:
            attempt.spans[-1][1] = self.clock()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.remaining_s(), self._time_up, self.question_index)

    def _time_up(self, index: int) -> None:
        self._timer = None
        self.spawn(self.next_question(actor="system", reason="time ran out", expected_index=index))

    async def next_question(self, actor: str = "candidate", reason: str = "answered",
                            expected_index: int | None = None, actor_id: int | None = None,
                            skipped: bool = False) -> None:
        async with self._lock:
            if self.state != State.LIVE:
                return
            if expected_index is not None and expected_index != self.question_index:
                return  # a stale timer for a question already left
            await self._advance(reason, skipped=skipped)

    async def _complete(self, reason: str) -> None:
        await self._transition(State.COMPLETED, f"all questions done ({reason})")
        self.send({"type": "done"})
        if self.on_finished is not None:
            self.spawn(self.on_finished(self))

    # --- samples in -----------------------------------------------------------------------

    def on_transcript(self, text: str, final: bool, start_s: float | None, end_s: float | None,
                      words: tuple[Any, ...] = ()) -> None:
        """A speech event on the interview clock. A final is stored first and announced to HR
        once it is on disk, so whatever the panel has seen survives a crash."""
        self.send({"type": "caption", "text": text, "final": final})
        t = start_s if start_s is not None else self.clock()
        covering = self._attempt_covering(t)
        attempt = covering or self.current_attempt()
        qi = attempt.index if attempt else self.question_index
        event = {"question_index": qi, "text": text, "final": final,
                 "start_s": None if start_s is None else round(start_s, 2),
                 "end_s": None if end_s is None else round(end_s, 2)}
        if not final:
            self.partial = text
            now = time.monotonic()
            if now - self._last_partial_at >= PARTIAL_INTERVAL_S:
                self._last_partial_at = now
                self.bus.publish("transcript", self.id, **event)
            return
        self.partial = None
        if attempt is None or not text:
            return
        segment = Segment(text, start_s or 0.0, end_s or 0.0, tuple(words))
        # Speech while paused or interrupted is kept (nothing received is lost) but marked,
        # and it does not count toward the answer's signals.
        live = covering is not None
        if live:
            attempt.segments.append(segment)
        row = TranscriptSegment(interview_id=self.id, question_index=attempt.index, attempt=attempt.number,
                                text=text, start_s=segment.start_s, end_s=segment.end_s,
                                words=segment.words_json(), live=live)

        def announce() -> None:
            self.transcript_tail = [*self.transcript_tail[-19:], event]
            self.bus.publish("transcript", self.id, **event)

        self._write(lambda db: db.add(row), then=announce)

    def on_vision(self, sample: Any, clock_s: float) -> None:
        attempt = self._attempt_at(clock_s)
        if attempt is None or attempt.finished or self.state != State.LIVE:
            return
        attempt.vision.add(sample, clock_s)
        now = time.monotonic()
        if now - self._last_frame_event_at < FRAME_EVENT_INTERVAL_S:
            return
        # HR sees a frame's meaning within a fraction of a second: the latest frame's values
        # and the question's vision ratios so far, on top of the last full signals (the
        # language part is recomputed once a second by the manager's ticker).
        self._last_frame_event_at = now
        plan = self.plan
        vision = attempt.vision.signals(plan.analyze_eye_contact, plan.analyze_expression, plan.analyze_posture)
        last = self.last_signals or {}
        base = {k: v for k, v in last.items() if k != "question_index"} if last.get("question_index") == attempt.index else {}
        frame = {"faces": sample.faces, "eye_contact": sample.eye_contact, "smile": sample.smile,
                 "upright": sample.upright, "clock_s": round(clock_s, 2)}
        self.bus.publish("signals", self.id, question_index=attempt.index, final=False,
                         signals={**base, **vision}, frame=frame)

    def _attempt_at(self, t: float) -> Attempt | None:
        return self._attempt_covering(t) or self.current_attempt()

    def _attempt_covering(self, t: float) -> Attempt | None:
        """The attempt that was live at clock time t (a little slack for ASR timing)."""
        for tries in self.attempts.values():
            for attempt in reversed(tries):
                if attempt.covers(t) or attempt.covers(t + 0.3):
                    return attempt
        return None

    # --- signals and scores ---------------------------------------------------------------

    def signals_of(self, attempt: Attempt) -> tuple[dict[str, float], list[dict[str, Any]]]:
        q = self.plan.questions[attempt.index]
        live_s = sum((b if b is not None else self.clock()) - a for a, b in attempt.spans)  # type: ignore[operator]
        signals, evidence = self.language_signals(attempt.segments, q.text, self.plan.keywords_for(q), live_s)
        plan = self.plan
        signals = {**signals, **attempt.vision.signals(plan.analyze_eye_contact, plan.analyze_expression,
                                                       plan.analyze_posture)}
        return signals, evidence

    def score_attempt(self, attempt: Attempt) -> dict[int, DimensionScore]:
        signals, evidence = self.signals_of(attempt)
        q = self.plan.questions[attempt.index]
        return {dim_id: score_question(self.plan.dimension(dim_id), signals, evidence, q.index)
                for dim_id, _ in q.weights}

    def live_scores(self) -> list[DimensionScore]:
        results = []
        for tries in self.attempts.values():
            for attempt in tries:
                q = self.plan.questions[attempt.index]
                results.append(QuestionResult(attempt.index, q.weights, self.score_attempt(attempt),
                                              attempt.skipped, attempt.superseded, attempt.fault, attempt.paused_s))
        return score_interview(self.plan.dimensions, results)

    async def _finish_attempt(self, skipped: bool = False) -> None:
        """Close the current attempt: wait until its audio is recognised, compute its signals
        and scores, and make them durable before the question counts as answered."""
        attempt = self.current_attempt()
        if attempt is None or attempt.finished:
            return
        await self.flush_speech()
        attempt.skipped = skipped
        attempt.finished = True
        signals, _ = self.signals_of(attempt)
        per_question = self.score_attempt(attempt)
        self.last_scores = self.live_scores()
        overall = self.last_scores
        stats = attempt.vision.stats()
        timeline = attempt.vision.timeline(self.plan.analyze_eye_contact, self.plan.analyze_expression,
                                           self.plan.analyze_posture)

        def work(db: Session) -> None:
            row = db.exec(select(QuestionSignals).where(
                QuestionSignals.interview_id == self.id, QuestionSignals.question_index == attempt.index,
                QuestionSignals.attempt == attempt.number)).first() or QuestionSignals(
                interview_id=self.id, question_index=attempt.index, attempt=attempt.number)
            row.signals = {**signals, **{f"frames:{k}": float(v) for k, v in stats.items()}}
            row.timeline = timeline
            row.skipped, row.fault, row.paused_s = attempt.skipped, attempt.fault, attempt.paused_s
            row.superseded = attempt.superseded
            row.updated_at = utcnow()
            db.add(row)
            for old in db.exec(select(Score).where(Score.interview_id == self.id).where(
                    (Score.question_index == attempt.index) | (Score.question_index == None))):  # noqa: E711
                db.delete(old)
            db.flush()
            for s in per_question.values():
                db.add(Score(interview_id=self.id, dimension_id=s.dimension_id, question_index=attempt.index,
                             score=s.score, evidence=list(s.evidence)))
            for s in overall:
                db.add(Score(interview_id=self.id, dimension_id=s.dimension_id, question_index=None,
                             score=s.score, evidence=list(s.evidence)))

        await self.drain_writes()
        await self.store.run(work)
        self.bus.publish("signals", self.id, question_index=attempt.index, final=True, signals=signals)
        self.bus.publish("scores", self.id, scores=self.scores_payload(overall))
        self.bus.publish("progress", self.id, **self.progress())

    def scores_payload(self, scores: list[DimensionScore]) -> list[dict[str, Any]]:
        return [{"dimension_id": s.dimension_id, "name": self.plan.dimension(s.dimension_id).name,
                 "score": s.score} for s in scores]

    # --- HR controls and faults -----------------------------------------------------------

    async def pause(self, user_id: int, user: str, reason: str) -> None:
        async with self._lock:
            if self.state not in (State.LIVE, State.INTERRUPTED, State.CONNECTING):
                raise Conflict(f"cannot pause an interview that is {self.state.value}")
            self._stop_live_stretch()
            self._paused_at = time.monotonic()
            await self._record("pause", user_id, user, reason)
            await self._transition(State.PAUSED, "paused by the interviewer" + (f": {reason}" if reason else ""),
                                   "hr", user_id)

    async def resume(self, user_id: int, user: str) -> None:
        async with self._lock:
            if self.state != State.PAUSED:
                raise Conflict(f"cannot resume an interview that is {self.state.value}")
            self._end_pause()
            await self._record("resume", user_id, user, "")
            if self.current_attempt() is None:
                await self._transition(State.CONNECTING, "resumed by the interviewer", "hr", user_id)
                await self._go_live_if_ready()
            elif self.media_connected and self.peer is not None and not self.media_stale():
                await self._resume_question("resumed by the interviewer", "hr", user_id)
            else:
                self.interrupted_at = time.monotonic()
                await self._transition(State.INTERRUPTED, "resumed, waiting for the candidate's media", "hr", user_id)

    def _end_pause(self) -> None:
        if self._paused_at is not None:
            attempt = self.current_attempt()
            if attempt is not None:
                attempt.paused_s += time.monotonic() - self._paused_at
            self._paused_at = None

    async def intervene(self, action: str, user_id: int, user: str, note: str, seconds: float | None) -> None:
        async with self._lock:
            if self.state in FINISHED or self.state in (State.INVITED, State.CONSENTED):
                raise Conflict(f"the interview is {self.state.value}: nothing to {action}")
            if action == "message":
                await self._record("message", user_id, user, note)
                self.send({"type": "message", "text": note})
            elif action == "extend":
                assert seconds is not None
                self.extra_s[self.question_index] = self.extra_s.get(self.question_index, 0.0) + seconds
                await self._record("extend", user_id, user, note, seconds)
                if self.state == State.LIVE:
                    self._arm_timer()
                if (msg := self.question_message()) is not None:
                    self.send(msg)
                self.bus.publish("progress", self.id, **self.progress())
            elif action == "redo":
                await self._record("redo", user_id, user, note)
                await self._redo(user_id, note)
            elif action == "skip":
                await self._record("skip", user_id, user, note)
                await self._advance(f"skipped by the interviewer: {note}", skipped=True)
            elif action == "end":
                await self._record("end", user_id, user, note)
                self._stop_live_stretch()
                self._end_pause()
                await self._finish_attempt()
                await self._complete(f"ended by the interviewer: {note}")

    async def _redo(self, user_id: int, note: str) -> None:
        """The current question again from the start; the earlier attempt is kept, superseded."""
        was_live = self.state == State.LIVE
        self._stop_live_stretch()
        self._end_pause()
        attempt = self.current_attempt()
        if attempt is not None:
            attempt.superseded = True
            await self._finish_attempt()
        qi = self.question_index
        self.used_s[qi] = 0.0
        self.attempts.setdefault(qi, []).append(Attempt(qi, len(self.attempts.get(qi, []))))
        if was_live:
            self._start_live_stretch()
        self.send(self.question_message())  # type: ignore[arg-type]
        self.bus.publish("progress", self.id, **self.progress())

    async def _advance(self, reason: str, skipped: bool = False) -> None:
        was_paused = self._paused_at is not None
        self._stop_live_stretch()
        self._end_pause()
        await self._finish_attempt(skipped=skipped)
        if self.question_index + 1 >= len(self.plan.questions):
            await self._complete(reason)
            return
        self.question_index += 1
        if self.state == State.LIVE:
            await self._enter_question(f"question {self.question_index + 1}: previous {reason}")
        else:
            # Paused or interrupted: the next question waits until the candidate is back.
            self.attempts.setdefault(self.question_index, []).append(Attempt(self.question_index, 0))
            if was_paused:
                self._paused_at = time.monotonic()
            self.send(self.question_message())  # type: ignore[arg-type]
            self.bus.publish("progress", self.id, **self.progress())

    async def _record(self, action: str, user_id: int, user: str, note: str, seconds: float | None = None) -> None:
        qi = self.question_index
        item = {"action": action, "note": note, "seconds": seconds, "user": user, "question_index": qi,
                "ts": round(time.time(), 3)}

        def work(db: Session) -> None:
            db.add(Intervention(interview_id=self.id, user_id=user_id, action=action, question_index=qi,
                                seconds=seconds, note=note))
            audit.record(db, "hr", user_id, f"interview.{action}", "interview", self.id,
                         note=note, seconds=seconds, question_index=qi)

        await self.store.run(work)
        self.interventions.append(item)
        self.bus.publish("intervention", self.id, **{k: v for k, v in item.items() if k != "ts"})

    def media_stale(self, timeout_s: float = 5.0) -> bool:
        peer = self.peer
        if peer is None:
            return True
        c = peer.counters
        seen = [t for t in (c.last_audio_at, c.last_video_at) if t is not None]
        last = max(seen) if seen else peer.created
        return time.monotonic() - last > timeout_s

    def media_gap_s(self) -> float:
        peer = self.peer
        if peer is None:
            return 0.0
        c = peer.counters
        seen = [t for t in (c.last_audio_at, c.last_video_at) if t is not None]
        return time.monotonic() - (max(seen) if seen else peer.created)

    async def interrupt(self, reason: str) -> None:
        """Media lost: stop the clock and credit the seconds since the last media arrived."""
        async with self._lock:
            if self.state != State.LIVE:
                return
            lost = self.media_gap_s()
            self._stop_live_stretch()
            qi = self.question_index
            self.used_s[qi] = max(0.0, self.used_s.get(qi, 0.0) - lost)
            attempt = self.current_attempt()
            if attempt is not None:
                attempt.fault = True
            self.media_connected = False
            self.interrupted_at = time.monotonic() - lost
            await self._transition(State.INTERRUPTED, reason)

    async def media_back(self) -> None:
        async with self._lock:
            if self.state == State.INTERRUPTED and not self.media_stale(1.5):
                self.media_connected = True
                await self._go_live_if_ready()

    async def abandon(self, after_s: float) -> None:
        async with self._lock:
            if self.state != State.INTERRUPTED:
                return
            await self._finish_attempt()
            await self._transition(State.ABANDONED, f"no media for {after_s:.0f} s")
            if self.on_finished is not None:
                self.spawn(self.on_finished(self))

    def describe(self) -> dict[str, Any]:
        """Everything a panel that connects late needs to draw this interview."""
        return {
            "interview_id": self.id, "job_id": self.plan.job_id, "job_title": self.plan.job_title,
            "candidate": self.plan.candidate_name, "state": self.state.value, "reason": self.reason,
            "consent": self.consent, **self.progress(),
            "transcript": list(self.transcript_tail), "partial": self.partial,
            "signals": self.last_signals, "scores": self.scores_payload(self.last_scores) if self.last_scores else None,
            "connection": self.last_connection, "interventions": list(self.interventions),
            "interrupted_for_s": None if self.interrupted_at is None or self.state != State.INTERRUPTED
            else round(time.monotonic() - self.interrupted_at, 1),
        }

    # --- media ----------------------------------------------------------------------------

    async def attach_peer(self, peer: Any) -> None:
        """A new peer connection replaces the old one; the old one's audio is recognised to
        the end before it goes, so nothing received is lost."""
        old, self.peer = self.peer, peer
        self.media_connected = False
        if old is not None:
            await old.close()

    async def flush_speech(self) -> None:
        peer = self.peer
        if peer is not None and peer.speech is not None:
            await peer.speech.flush()

    # --- housekeeping ---------------------------------------------------------------------

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("interview %s: background task failed", self.id, exc_info=task.exception())

    def _write(self, fn: Callable[[Session], Any], then: Callable[[], None] | None = None) -> None:
        """Store in the background (in order: the store has one writer); `then` runs once the
        row is committed."""
        task = asyncio.ensure_future(self.store.run(fn))
        self._writes.add(task)

        def done(task: asyncio.Task[Any]) -> None:
            self._writes.discard(task)
            if task.cancelled():
                return
            if task.exception() is not None:
                logger.error("interview %s: a write failed", self.id, exc_info=task.exception())
            elif then is not None:
                then()

        task.add_done_callback(done)

    async def drain_writes(self) -> None:
        if self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.peer is not None:
            await self.peer.close()
            self.peer = None
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]  # close() may run in one of them
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self.drain_writes()
