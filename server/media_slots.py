"""Admission control: the media slots of one server process (CANDOR_MAX_SESSIONS)."""
from __future__ import annotations

from typing import Callable


class MediaSlots:
    """At most `limit` interviews hold media at once in this process. A slot is taken when an
    interview's media starts (offer, join) and released when it neither holds a media state
    nor a peer connection. New holders also wait while speech recognition falls behind."""

    def __init__(self, limit: int, overloaded: Callable[[], bool]) -> None:
        self.limit = limit
        self.overloaded = overloaded
        self.held: set[int] = set()

    def room_for(self, interview_id: int) -> bool:
        if interview_id in self.held:
            return True
        return len(self.held) < self.limit and not self.overloaded()

    def take(self, interview_id: int) -> None:
        self.held.add(interview_id)

    def release(self, interview_id: int) -> None:
        self.held.discard(interview_id)
