"""Samples into an interview: speech events and vision samples, routed to the attempt that was
live when they were taken, kept, and shown to HR (rate-limited) and the candidate (captions)."""
from __future__ import annotations

import time
from typing import Any, Callable

from server.attempts import AttemptLog
from server.background import Background
from server.bus import Bus
from server.plan import InterviewPlan
from server.question_signals import Segment
from server.tables import TranscriptSegment

# A transcript partial reaches HR at most this often (partials coalesced, <= 5/s).
PARTIAL_INTERVAL_S = 0.2
# Frame-driven `signals` events per interview come at most this often.
FRAME_EVENT_INTERVAL_S = 0.1
TRANSCRIPT_TAIL = 20  # recent finals kept for a panel that connects late


class SampleRouter:
    def __init__(self, interview_id: int, plan: InterviewPlan, attempts: AttemptLog, bus: Bus,
                 background: Background, send: Callable[[dict[str, Any]], None],
                 clock: Callable[[], float], question_index: Callable[[], int]) -> None:
        self.id = interview_id
        self.plan = plan
        self.attempts = attempts
        self.bus = bus
        self.background = background
        self.send = send
        self.clock = clock
        self.question_index = question_index
        self.transcript_tail: list[dict[str, Any]] = []
        self.partial: str | None = None
        self.last_signals: dict[str, Any] | None = None  # the ticker's last full signals
        self._last_partial_at = 0.0
        self._last_frame_event_at = 0.0

    def on_transcript(self, text: str, final: bool, start_s: float | None, end_s: float | None,
                      words: tuple[Any, ...] = (), *, heard_s: float | None = None) -> None:
        """A speech event on the interview clock. A final is stored first and announced to HR
        once it is on disk, so whatever the panel has seen survives a crash. `heard_s`: how far
        the recogniser had got into the audio when the event came out (interview clock)."""
        self.send({"type": "caption", "text": text, "final": final})
        t = start_s if start_s is not None else self.clock()
        covering = self.attempts.covering(t, speech=True)
        attempt = covering or self.attempts.current(self.question_index())
        qi = attempt.index if attempt else self.question_index()
        event = {"question_index": qi, "text": text, "final": final,
                 "start_s": None if start_s is None else round(start_s, 2),
                 "end_s": None if end_s is None else round(end_s, 2),
                 "heard_to_s": None if heard_s is None else round(heard_s, 2)}
        if not final:
            self.partial = text
            now = time.monotonic()
            if now - self._last_partial_at >= PARTIAL_INTERVAL_S:
                self._last_partial_at = now
                self.bus.publish("transcript", self.id, **event)
            return
        self.partial = None
        if not text:
            return
        segment = Segment(text, start_s or 0.0, end_s or 0.0, tuple(words))
        # Speech while paused, interrupted or between questions is kept (nothing received is
        # lost) but marked, and it does not count toward an answer's signals.
        live = covering is not None and not covering.finished
        if covering is not None and live:
            covering.segments.append(segment)
        row = TranscriptSegment(interview_id=self.id, question_index=qi, attempt=attempt.number if attempt else 0,
                                text=text, start_s=segment.start_s, end_s=segment.end_s,
                                words=segment.words_json(), live=live)

        def announce() -> None:
            self.transcript_tail = [*self.transcript_tail[1 - TRANSCRIPT_TAIL:], event]
            self.bus.publish("transcript", self.id, **event)

        self.background.write(lambda db: db.add(row), then=announce)

    def on_vision(self, sample: Any, clock_s: float) -> None:
        """A frame's analysis, while live. HR sees its meaning within a fraction of a second:
        the frame's values and the question's vision ratios so far, on top of the last full
        signals (the manager's ticker publishes those once a second; their language part is
        computed once per final transcript segment, see server/answers.py)."""
        attempt = self.attempts.covering(clock_s) or self.attempts.current(self.question_index())
        if attempt is None or attempt.closed:
            return
        attempt.vision.add(sample, clock_s)
        now = time.monotonic()
        if now - self._last_frame_event_at < FRAME_EVENT_INTERVAL_S:
            return
        self._last_frame_event_at = now
        plan = self.plan
        vision = attempt.vision.signals(plan.analyze_eye_contact, plan.analyze_expression, plan.analyze_posture)
        last = self.last_signals or {}
        same = last.get("question_index") == attempt.index
        base = {k: v for k, v in last.items() if k != "question_index"} if same else {}
        frame = {"faces": sample.faces, "eye_contact": sample.eye_contact, "smile": sample.smile,
                 "upright": sample.upright, "clock_s": round(clock_s, 2)}
        self.bus.publish("signals", self.id, question_index=attempt.index, final=False,
                         signals={**base, **vision}, frame=frame)
