"""What HR must have watched before deciding: per answer (every attempt that counts, skipped
ones included when something was recorded), its key clips or its full recording, opened by
this HR user, or acknowledged as impossible to play. The rule is a pure function of the report,
the answers' recorded times and what the user opened; the refusal names question numbers and
times, never internal ids."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlmodel import Session, col, select

from server.clips import MIN_MEDIA_S
from server.i18n import _
from server.tables import QuestionSignals, TranscriptSegment

TIMELINE_STEP_S = 2.0  # a timeline point covers [t, t + 2) (server/question_signals.py)


def mmss(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    return f"{s // 60}:{s % 60:02d}"


def times(start_s: float, end_s: float) -> str:
    return f"{mmss(start_s)}\u2013{mmss(end_s)}"


def recording_id(question_index: int, attempt: int) -> str:
    """The id an answer's full recording has in clip_views (clip ids start with h or c)."""
    return f"answer-{question_index}-{attempt}"


def answer_ranges(db: Session, interview_id: int) -> dict[tuple[int, int], tuple[float, float] | None]:
    """Per (question, attempt): the interview-clock range of the answer's recording: while the
    attempt was live and whatever was said in it (speech may end a little after); for rows
    stored before the live time was kept, what was said or seen (transcript, vision
    timeline); None if nothing tells."""
    rows = db.exec(select(QuestionSignals).where(QuestionSignals.interview_id == interview_id)).all()
    segments = db.exec(select(TranscriptSegment).where(TranscriptSegment.interview_id == interview_id)
                       .order_by(col(TranscriptSegment.start_s))).all()
    out: dict[tuple[int, int], tuple[float, float] | None] = {}
    for row in rows:
        key = (row.question_index, row.attempt)
        said = [s for s in segments if (s.question_index, s.attempt) == key]
        starts, ends = [s.start_s for s in said], [s.end_s for s in said]
        if row.live_start_s is not None and row.live_end_s is not None:
            starts.append(row.live_start_s)
            ends.append(row.live_end_s)
        else:
            ts = sorted(float(b["t"]) for b in row.timeline or [] if b.get("t") is not None)
            starts += ts[:1]
            ends += [t + TIMELINE_STEP_S for t in ts[-1:]]
        out[key] = (min(starts), max(ends)) if starts else None
    return out


@dataclass(slots=True)
class Answer:
    """One attempt at a question as the review sees it."""

    question_index: int
    attempt: int
    range: tuple[float, float] | None
    skipped: bool
    clips: list[dict[str, Any]] = field(default_factory=list)  # the report's clips of this answer

    @property
    def recording_id(self) -> str:
        return recording_id(self.question_index, self.attempt)

    @property
    def required(self) -> bool:
        """Whether the gate asks for it: an answer with a recording of at least MIN_MEDIA_S,
        or one whose time was not kept (then only acknowledging it clears it); not a
        skipped question that nothing was recorded of."""
        if self.range is None:
            return not self.skipped
        return self.range[1] - self.range[0] >= MIN_MEDIA_S

    def done(self, seen: set[str]) -> bool:
        return self.recording_id in seen or (bool(self.clips) and all(c["id"] in seen for c in self.clips))

    def missing(self, seen: set[str]) -> str:
        """What to open for this answer, in HR's words."""
        # In the request's language: an HR page's, English for the API (no language set).
        n = self.question_index + 1
        label = _("question %(n)s (attempt %(attempt)s)", n=n, attempt=self.attempt + 1) if self.attempt \
            else _("question %(n)s", n=n)
        recording = (_("its recording (%(times)s)", times=times(*self.range)) if self.range is not None
                     else _("its recording (acknowledge that it cannot be played)"))
        unseen = [c for c in self.clips if c["id"] not in seen]
        if not unseen:
            return _("%(label)s: %(recording)s", label=label, recording=recording)
        clips = ", ".join(times(c["start_s"], c["end_s"]) for c in unseen)
        if len(unseen) == 1:
            return _("%(label)s: key clip %(clips)s or %(recording)s", label=label, clips=clips, recording=recording)
        return _("%(label)s: key clips %(clips)s or %(recording)s", label=label, clips=clips, recording=recording)


def answers_of(report: dict[str, Any], ranges: dict[tuple[int, int], tuple[float, float] | None]) -> list[Answer]:
    """The answers that count (not replaced by a redo), with their clips."""
    out = []
    for q in report["questions"]:
        if q["superseded"]:
            continue
        answer = Answer(q["index"], q["attempt"], ranges.get((q["index"], q["attempt"])), bool(q["skipped"]))
        answer.clips = [c for c in report["clips"] if c["question_index"] == q["index"]]
        out.append(answer)
    return out


@dataclass(frozen=True, slots=True)
class Gate:
    answers: tuple[Answer, ...]
    seen: frozenset[str]

    @property
    def to_watch(self) -> list[Answer]:
        return [a for a in self.answers if a.required and not a.done(set(self.seen))]

    def missing_text(self) -> str | None:
        """The refusal's words for what is left to watch, or None."""
        left = self.to_watch
        if not left:
            return None
        return _("watch every answer first: open its key clips or its full recording (%(answers)s)",
                 answers="; ".join(a.missing(set(self.seen)) for a in left))

    def to_json(self) -> list[dict[str, Any]]:
        seen = set(self.seen)
        return [{"question_index": a.question_index, "attempt": a.attempt, "required": a.required,
                 "done": a.done(seen), "recording_seen": a.recording_id in seen,
                 "clips_unseen": [c["id"] for c in a.clips if c["id"] not in seen]} for a in self.answers]


def gate(report: dict[str, Any], ranges: dict[tuple[int, int], tuple[float, float] | None],
         seen: Iterable[str]) -> Gate:
    return Gate(tuple(answers_of(report, ranges)), frozenset(seen))
