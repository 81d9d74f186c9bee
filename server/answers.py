"""An interview's answers as signals and scores: what each attempt at a question said and showed
(server/question_signals.py) turned into dimension scores with evidence (server/scoring.py)."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from server import session_store
from server.attempts import Attempt, AttemptLog
from server.background import Background
from server.bus import Bus
from server.plan import InterviewPlan
from server.question_signals import Segment
from server.scoring import DimensionScore, QuestionResult, score_interview, score_question
from server.store import Store

LanguageSignals = Callable[[list[Segment], str, tuple[str, ...], float],
                           tuple[dict[str, float], list[dict[str, Any]]]]


class Answers:
    """Signals and scores of every attempt; a closed answer is finished (transcript complete,
    signals and scores stored) in the background, in the order answers were closed."""

    def __init__(self, plan: InterviewPlan, language_signals: LanguageSignals, attempts: AttemptLog,
                 clock: Callable[[], float], *, store: Store, bus: Bus, background: Background,
                 on_stored: Callable[[list[DimensionScore]], None]) -> None:
        self.plan = plan
        self.language_signals = language_signals
        self.attempts = attempts
        self.clock = clock
        self.store = store
        self.bus = bus
        self.background = background
        self.on_stored = on_stored
        self._finishing: set[asyncio.Task[Any]] = set()

    def close(self, attempt: Attempt, recognised: Awaitable[None] | None) -> None:
        """The answer is over now; it is finished once `recognised` resolves (the speech
        recogniser has caught up with everything received until now)."""
        if attempt.closed:
            return
        attempt.closed = True
        task = self.background.spawn(self._finish(attempt, recognised))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _finish(self, attempt: Attempt, recognised: Awaitable[None] | None) -> None:
        if recognised is not None:
            await recognised
        await self.background.drain_writes()  # its final transcript segments are on disk first
        now = self.clock()
        signals, _ = self.signals_of(attempt, now)
        per_question = self.score_attempt(attempt, now)
        attempt.finished = True
        overall = self.live_scores(now)
        plan, interview_id = self.plan, self.plan.interview_id
        stats = attempt.vision.stats()
        timeline = attempt.vision.timeline(plan.analyze_eye_contact, plan.analyze_expression, plan.analyze_posture)
        await self.store.run(lambda db: session_store.store_attempt(
            db, interview_id, attempt, signals, stats, timeline, per_question.values(), overall))
        self.bus.publish("signals", interview_id, question_index=attempt.index, final=True, signals=signals)
        self.bus.publish("scores", interview_id, scores=self.payload(overall))
        self.on_stored(overall)

    async def settled(self) -> None:
        while self._finishing:
            await asyncio.gather(*list(self._finishing), return_exceptions=True)

    def signals_of(self, attempt: Attempt, clock_s: float) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """The attempt's signals (DESIGN's names) and the keyword hits as evidence."""
        plan = self.plan
        q = plan.questions[attempt.index]
        signals, evidence = self.language_signals(attempt.segments, q.text, plan.keywords_for(q),
                                                  attempt.live_s(clock_s))
        if attempt.stored_signals is not None and attempt.finished:
            return dict(attempt.stored_signals), evidence  # restored after a restart: as stored
        vision = attempt.vision.signals(plan.analyze_eye_contact, plan.analyze_expression, plan.analyze_posture)
        return {**signals, **vision}, evidence

    def score_attempt(self, attempt: Attempt, clock_s: float) -> dict[int, DimensionScore]:
        signals, evidence = self.signals_of(attempt, clock_s)
        q = self.plan.questions[attempt.index]
        return {dim_id: score_question(self.plan.dimension(dim_id), signals, evidence, q.index)
                for dim_id, _ in q.weights}

    def live_scores(self, clock_s: float) -> list[DimensionScore]:
        results = []
        for attempt in self.attempts.all():
            q = self.plan.questions[attempt.index]
            results.append(QuestionResult(attempt.index, q.weights, self.score_attempt(attempt, clock_s),
                                          attempt.skipped, attempt.superseded, attempt.fault, attempt.paused_s))
        return score_interview(self.plan.dimensions, results)

    def payload(self, scores: list[DimensionScore]) -> list[dict[str, Any]]:
        return [{"dimension_id": s.dimension_id, "name": self.plan.dimension(s.dimension_id).name,
                 "score": s.score} for s in scores]
