"""An interview's answers as signals and scores: what each attempt at a question said and showed
(server/question_signals.py) turned into dimension scores with evidence (server/scoring.py).

Live scores are asked for once a second per interview, so nothing is recomputed that cannot have
changed: an attempt's language signals depend only on its final transcript segments (appended,
never edited), so they change only when a final arrives. While the answer is being given they
are updated per new final at a cost that does not grow with the answer (LiveLanguage); when it
is finished they are computed once in full (`language_signals`, the reference the stored signals
come from) and kept, and so are its scores (its segments and vision tally no longer change). A
tick's cost is then one look-up per attempt plus the open attempt's scoring, flat over the
interview.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from server import session_store
from server.attempts import Attempt, AttemptLog
from server.background import Background
from server.bus import Bus
from server.plan import InterviewPlan
from server.question_signals import LiveLanguage, Segment
from server.scoring import DimensionScore, QuestionResult, score_interview, score_question

# (segments, question text, keywords, live seconds, phrases) -> (signals, evidence)
LanguageSignals = Callable[[list[Segment], str, tuple[str, ...], float, tuple[str, ...]],
                           tuple[dict[str, float], list[dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class _Language:
    """An attempt's language signals and evidence as computed from its first `segments` finals
    (`final`: in full, once the answer is over)."""

    segments: int
    signals: dict[str, float]
    evidence: list[dict[str, Any]]
    final: bool = False


class Answers:
    """Signals and scores of every attempt; a closed answer is finished (transcript complete,
    signals and scores stored) in the background, in the order answers were closed."""

    def __init__(self, plan: InterviewPlan, language_signals: LanguageSignals, attempts: AttemptLog,
                 clock: Callable[[], float], *, bus: Bus, background: Background,
                 on_stored: Callable[[list[DimensionScore]], None]) -> None:
        self.plan = plan
        self.language_signals = language_signals
        self.attempts = attempts
        self.clock = clock
        self.bus = bus
        self.background = background
        self.on_stored = on_stored
        self._finishing: set[asyncio.Task[Any]] = set()
        # Per (question index, attempt number): see the module docstring.
        self._language: dict[tuple[int, int], _Language] = {}
        self._live: dict[tuple[int, int], LiveLanguage] = {}
        self._scores: dict[tuple[int, int], dict[int, DimensionScore]] = {}

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
        attempt.heard = True
        await self.background.drain_writes()  # its final transcript segments are on disk first
        now = self.clock()
        signals, _ = self.signals_of(attempt, now, final=True)
        per_question = self.score_attempt(attempt, now)
        attempt.finished = True
        overall = self.live_scores(now)
        plan, interview_id = self.plan, self.plan.interview_id
        stats = attempt.vision.stats()
        timeline = attempt.vision.timeline(plan.analyze_eye_contact, plan.analyze_expression, plan.analyze_posture)
        # In turn with the interview's other writes: another answer's overall scores stored at
        # the same moment must neither duplicate nor overtake these. Shielded: a shutdown that
        # stops waiting for this task still lets the write land.
        await asyncio.shield(self.background.write(lambda db: session_store.store_attempt(
            db, interview_id, attempt, signals, stats, timeline, per_question.values(), overall)))
        self.bus.publish("signals", interview_id, question_index=attempt.index, final=True, signals=signals)
        self.bus.publish("scores", interview_id, scores=self.payload(overall))
        self.on_stored(overall)

    async def settled(self) -> None:
        while self._finishing:
            await asyncio.gather(*list(self._finishing), return_exceptions=True)

    def _language_of(self, attempt: Attempt, clock_s: float, final: bool) -> _Language:
        """The attempt's language signals, computed again only when a final segment arrived."""
        key = (attempt.index, attempt.number)
        cached = self._language.get(key)
        if cached is not None and cached.segments == len(attempt.segments) and (cached.final or not final):
            return cached
        segments = list(attempt.segments)
        plan = self.plan
        q = plan.questions[attempt.index]
        final = final or attempt.finished
        if final:
            # The live time is passed along but no signal depends on it (see question_signals).
            signals, evidence = self.language_signals(segments, q.text, plan.keywords_for(q),
                                                      attempt.live_s(clock_s), plan.phrases_for(q))
            self._live.pop(key, None)
        else:
            live = self._live.get(key)
            if live is None:
                live = self._live[key] = LiveLanguage(q.text, plan.keywords_for(q), plan.phrases_for(q))
            signals, evidence = live.update(segments)
        cached = self._language[key] = _Language(len(segments), signals, evidence, final)
        return cached

    def signals_of(self, attempt: Attempt, clock_s: float,
                   final: bool = False) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """The attempt's signals (DESIGN's names) and their evidence (keyword and phrase hits,
        echoes: see question_signals.language_signals); `final`: the answer is over, its
        language signals are computed in full."""
        plan = self.plan
        language = self._language_of(attempt, clock_s, final)
        evidence = list(language.evidence)
        if attempt.stored_signals is not None and attempt.finished:
            return dict(attempt.stored_signals), evidence  # restored after a restart: as stored
        vision = attempt.vision.signals(plan.analyze_eye_contact, plan.analyze_expression, plan.analyze_posture)
        return {**language.signals, **vision}, evidence

    def score_attempt(self, attempt: Attempt, clock_s: float) -> dict[int, DimensionScore]:
        key = (attempt.index, attempt.number)
        cached = self._scores.get(key)
        if cached is not None:
            return cached
        signals, evidence = self.signals_of(attempt, clock_s)
        q = self.plan.questions[attempt.index]
        scores = {dim_id: score_question(self.plan.dimension(dim_id), signals, evidence, q.index)
                  for dim_id, _ in q.weights}
        if attempt.finished:  # nothing it is made of changes any more
            self._scores[key] = scores
        return scores

    def live_scores(self, clock_s: float) -> list[DimensionScore]:
        results = []
        for attempt in self.attempts.all():
            q = self.plan.questions[attempt.index]
            if attempt.by_rule:  # a follow-up skipped by rule: neither evidence nor missing
                results.append(QuestionResult(attempt.index, q.weights, {}, skipped=True, by_rule=True))
                continue
            results.append(QuestionResult(attempt.index, q.weights, self.score_attempt(attempt, clock_s),
                                          attempt.skipped, attempt.superseded, attempt.fault, attempt.paused_s))
        return score_interview(self.plan.dimensions, results)

    def payload(self, scores: list[DimensionScore]) -> list[dict[str, Any]]:
        return [{"dimension_id": s.dimension_id, "name": self.plan.dimension(s.dimension_id).name,
                 "score": s.score} for s in scores]
