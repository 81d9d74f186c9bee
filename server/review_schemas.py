"""Response shapes of HR's review for the OpenAPI document: the report's key clips, each
answer's full recording, this user's review status, and an acknowledgement. Pydantic only (no
server imports), so server/schemas.py can use them in ReportOut without an import cycle."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field


class ClipOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    kind: Literal["highlight", "concern"]
    question_index: int
    start_s: float = Field(description="Interview clock; a clip lasts at least 3 s and lies within its answer")
    end_s: float
    text: str
    reason: str
    media_url: str = Field(description="WebM; opening it marks the clip seen by this HR user (409 with the "
                                       "reason when it cannot be played)")
    unavailable: Optional[str] = Field(default=None, description="Why the clip cannot be played (then "
                                                                 "acknowledge it), or null")


class RecordingOut(BaseModel):
    id: str = Field(description="answer-<question_index>-<attempt>")
    media_url: str = Field(description="The answer's full recording (WebM); opening it marks the answer seen by "
                                       "this HR user")
    start_s: Optional[float] = Field(description="Interview clock; null when the answer's time was not kept")
    end_s: Optional[float]
    unavailable: Optional[str] = Field(description="Why it cannot be played (then acknowledge it), or null")


class QuestionRecordingOut(BaseModel):
    """The fields the review adds to each `questions[]` entry of the report."""

    model_config = ConfigDict(extra="allow")
    media_url: str = Field(description="The same as recording.media_url")
    recording: RecordingOut


class AnswerReviewOut(BaseModel):
    question_index: int
    attempt: int
    required: bool = Field(description="Whether the decision waits for it (an answer with a recording of at least "
                                       "1 s, or one whose time was not kept)")
    done: bool = Field(description="Its key clips, or its full recording, opened (or acknowledged) by this user")
    recording_seen: bool
    clips_unseen: list[str]


class ReviewOut(BaseModel):
    """This HR user's review of the interview (`review` in the report)."""

    clips_seen: list[str]
    clips_unseen: list[str]
    acknowledged: list[str] = Field(description="Clip and recording ids acknowledged as impossible to play")
    answers: list[AnswerReviewOut]
    complete: bool = Field(description="Nothing missing: the decision would be accepted")
    missing: list[str] = Field(description="What is left before deciding, in HR's words (question numbers and "
                                           "clip times)")
    noted: bool
    notes: list[dict[str, Any]]
    decision: Optional[dict[str, Any]]


class AcknowledgedOut(BaseModel):
    id: str = Field(description="The clip's id, or answer-<question_index>-<attempt>")
    acknowledged: Literal[True]
    reason: str = Field(description="Why the media cannot be played")
