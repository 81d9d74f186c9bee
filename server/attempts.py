"""The attempt log of one interview: every attempt at every question, the clock spans while each
was live, and what was said and seen in them. A redo opens a new attempt (the old one is kept,
superseded); a reconnect or a server restart continues the open one (marked `fault`)."""
from __future__ import annotations

from dataclasses import dataclass, field

from server.question_signals import Segment, VisionTally

# A speech event may start a little before its attempt's live span (ASR word times).
ROUTING_SLACK_S = 0.3


@dataclass(slots=True)
class Attempt:
    index: int  # the question
    number: int  # 0, 1, ... per question
    spans: list[tuple[float, float | None]] = field(default_factory=list)  # interview clock, while live
    segments: list[Segment] = field(default_factory=list)
    vision: VisionTally = field(default_factory=VisionTally)
    skipped: bool = False
    superseded: bool = False
    fault: bool = False
    paused_s: float = 0.0
    by_rule: bool = False  # a follow-up skipped by rule (server/follow_ups.py): never asked, not an answer
    closed: bool = False  # no more live time: the answer is over
    # The recogniser has caught up with the moment it closed: every later final comes from later
    # audio, even one that starts a breath before the close (word times, pre-roll).
    heard: bool = False
    finished: bool = False  # its signals and scores are stored
    # Restored after a restart from stored rows: the signals as stored (vision is not kept).
    stored_signals: dict[str, float] | None = None
    prior_live_s: float = 0.0  # live time before a restart (its spans were not kept)

    def covers(self, t: float) -> bool:
        return any(a <= t and (b is None or t <= b) for a, b in self.spans)

    def live_s(self, now: float) -> float:
        return self.prior_live_s + sum((now if b is None else b) - a for a, b in self.spans)

    def open_span(self, t: float) -> None:
        if not self.spans or self.spans[-1][1] is not None:
            self.spans.append((t, None))

    def close_span(self, t: float) -> None:
        if self.spans and self.spans[-1][1] is None:
            self.spans[-1] = (self.spans[-1][0], t)


class AttemptLog:
    def __init__(self) -> None:
        self.by_question: dict[int, list[Attempt]] = {}

    def current(self, index: int) -> Attempt | None:
        tries = self.by_question.get(index)
        return tries[-1] if tries else None

    def open(self, index: int) -> Attempt:
        """The open attempt at a question, or a new one when there is none."""
        tries = self.by_question.setdefault(index, [])
        if tries and not tries[-1].closed:
            return tries[-1]
        attempt = Attempt(index, tries[-1].number + 1 if tries else 0)
        tries.append(attempt)
        return attempt

    def add(self, attempt: Attempt) -> None:
        self.by_question.setdefault(attempt.index, []).append(attempt)
        self.by_question[attempt.index].sort(key=lambda a: a.number)

    def all(self) -> list[Attempt]:
        return [a for tries in self.by_question.values() for a in tries]

    def answered(self) -> int:
        """Questions whose latest attempt is over."""
        return sum(1 for tries in self.by_question.values() if tries and tries[-1].closed and not tries[-1].by_rule)

    def ruled_out(self) -> list[int]:
        """Follow-ups skipped by rule (server/follow_ups.py)."""
        return sorted(i for i, tries in self.by_question.items() if tries and tries[-1].by_rule)

    def started(self) -> bool:
        return bool(self.by_question)

    def covering(self, t: float, *, speech: bool = False) -> Attempt | None:
        """The attempt that was live at interview clock t (with a little slack for ASR times);
        for a final transcript (`speech`), only among those still waiting for their words."""
        for tries in self.by_question.values():
            for attempt in reversed(tries):
                if speech and (attempt.heard or attempt.finished):
                    continue
                if attempt.covers(t) or attempt.covers(t + ROUTING_SLACK_S):
                    return attempt
        return None
