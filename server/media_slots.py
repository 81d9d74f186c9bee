"""Admission control: the media slots of one server process (CANDOR_MAX_SESSIONS), and where
else a candidate refused here would find room (with several processes)."""
from __future__ import annotations

from typing import Callable

from server.interview_machine import CAPACITY_CODE


def _nowhere() -> str | None:
    return None


class MediaSlots:
    """At most `limit` interviews hold media at once in this process. A slot is taken when an
    interview's media starts (offer, join) and released when it neither holds a media state
    nor a peer connection. New holders also wait while speech recognition falls behind.
    `elsewhere` names another process's route (CANDOR_ROUTE) that announced room, if any."""

    def __init__(self, limit: int, overloaded: Callable[[], bool],
                 elsewhere: Callable[[], str | None] = _nowhere) -> None:
        self.limit = limit
        self.overloaded = overloaded
        self.elsewhere = elsewhere
        self.held: set[int] = set()

    def room_for(self, interview_id: int) -> bool:
        if interview_id in self.held:
            return True
        return len(self.held) < self.limit and not self.overloaded()

    def route_for(self, code: str) -> str | None:
        """For a refusal with this code: the route a candidate refused for want of room should
        take (another process's, see `elsewhere`), else None."""
        return self.elsewhere() if code == CAPACITY_CODE else None

    def take(self, interview_id: int) -> None:
        self.held.add(interview_id)

    def release(self, interview_id: int) -> None:
        self.held.discard(interview_id)
