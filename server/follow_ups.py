"""Follow-up questions: which question comes next when the one after the current is a follow-up.

A follow-up (a template question of kind `follow_up`) is asked only when the answer to the
question right before it mentioned none of the keywords of the follow-up's own dimensions;
otherwise it is skipped by rule. "Mentioned" is what scoring counts as a keyword hit: the same
language analysis (server/question_signals.py) over the answer's final transcript, so a keyword
only read back from the question does not count. An answer with nothing recognised (silence, a
human-only review, consent withdrawn) mentions nothing: the follow-up is asked.

A skipped follow-up is neither evidence nor missing: it is not an answer, it does not count as
unanswered, and its dimensions are not held against coverage (server/scoring.py,
server/reports.py). Templates keep a follow-up from coming first or right after another
follow-up (server/interview_templates.py), so at most one question is skipped per step.

Pure: the caller passes the analysis function and the answer's segments.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from server.plan import InterviewPlan, QuestionPlan

if TYPE_CHECKING:
    from server.question_signals import Segment

FOLLOW_UP = "follow_up"
# How long advancing to a follow-up waits for the recogniser to finish the answer before it
# decides (the candidate sees the next question that much later, at most).
RECOGNITION_WAIT_S = 3.0

Analyse = Callable[..., tuple[dict[str, float], list[dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class Advance:
    """Where `next` goes from the current question: `index` (== the question count: the
    interview is over) and the follow-ups skipped by rule on the way."""

    index: int
    ruled_out: tuple[int, ...] = ()


def keywords_heard(analyse: Analyse, segments: Sequence[Segment], asked: QuestionPlan,
                   keywords: tuple[str, ...]) -> list[str]:
    """The keywords among `keywords` the answer to `asked` mentioned (echoes of the question
    discounted, as in scoring)."""
    if not segments or not keywords:
        return []
    _, evidence = analyse(list(segments), asked.text, keywords, 0.0, ())
    return sorted({e["keyword"] for e in evidence if "keyword" in e and "kind" not in e})


def advance(plan: InterviewPlan, current: int, heard: Callable[[QuestionPlan, QuestionPlan], bool]) -> Advance:
    """`heard(asked, follow_up)`: the answer to `asked` mentioned a keyword of the follow-up."""
    nxt = current + 1
    questions = plan.questions
    if nxt < len(questions) and questions[nxt].kind == FOLLOW_UP and 0 <= current < len(questions) \
            and heard(questions[current], questions[nxt]):
        return Advance(nxt + 1, (nxt,))
    return Advance(nxt)


def is_follow_up(plan: InterviewPlan, index: int) -> bool:
    return 0 <= index < len(plan.questions) and plan.questions[index].kind == FOLLOW_UP
