"""In-process event bus: sessions publish, HR websockets and other consumers subscribe.

Publishing never blocks and never waits for a consumer. Each subscriber has its own bounded
queue; when it is full, stale updates are dropped first (a newer `progress`, `signals`, `scores`
or `connection` event for the same interview replaces an older one), and a subscriber that still
cannot keep up is marked overflowed so its owner can disconnect it. With several processes
(CANDOR_REDIS_URL), server/redis_bus.py sends every local event to the others through `outbox`
and hands theirs in through `deliver` (DESIGN.md "Scaling out")."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

logger = logging.getLogger(__name__)

# Event types where only the newest per interview matters to a late reader.
COALESCABLE = frozenset({"progress", "signals", "scores", "connection"})


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    interview_id: int
    seq: int
    ts: float
    data: dict[str, Any]
    # The interview's job, for events from another process (no local session to ask).
    job_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "interview_id": self.interview_id, "ts": self.ts,
                "seq": self.seq, **self.data}


class Subscription:
    """A bounded mailbox. Read with `await sub.get()`; close with `bus.unsubscribe(sub)`."""

    def __init__(self, accept: Callable[[Event], bool], limit: int) -> None:
        self.accept = accept
        self.limit = limit
        self.dropped = 0
        self.overflowed = False
        self._items: deque[Event] = deque()
        self._wakeup = asyncio.Event()

    def offer(self, event: Event) -> None:
        if self.overflowed or not self.accept(event):
            return
        if len(self._items) >= self.limit:
            stale = self._stale_index(event)
            if stale is not None:
                del self._items[stale]
                self.dropped += 1
            elif event.type in COALESCABLE:
                self.dropped += 1  # the queue holds only must-deliver events: drop the update
                return
            else:
                self.overflowed = True  # it cannot keep up with events it must not lose
                self._wakeup.set()
                return
        self._items.append(event)
        self._wakeup.set()

    def _stale_index(self, incoming: Event) -> int | None:
        """The older version of the same update if queued, else the oldest update of any kind."""
        oldest = None
        for i, old in enumerate(self._items):
            if old.type in COALESCABLE:
                if old.type == incoming.type and old.interview_id == incoming.interview_id:
                    return i
                if oldest is None:
                    oldest = i
        return oldest

    async def get(self) -> Event | None:
        """The next event; None once the subscription overflowed (its owner should close)."""
        while not self._items:
            if self.overflowed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        if self.overflowed:
            return None
        return self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Bus:
    subscriptions: set[Subscription] = field(default_factory=set)
    _seq: dict[int, int] = field(default_factory=dict)
    # Called with every event published here (never with delivered ones); it must not block.
    outbox: Callable[[Event], None] | None = None

    def publish(self, type: str, interview_id: int, **data: Any) -> Event:
        seq = self._seq.get(interview_id, 0) + 1
        self._seq[interview_id] = seq
        event = Event(type, interview_id, seq, round(time.time(), 3), data)
        self.deliver(event)
        if self.outbox is not None:
            self.outbox(event)
        return event

    def deliver(self, event: Event) -> None:
        """Hand an event to this process's subscribers (another process published it)."""
        for sub in list(self.subscriptions):
            sub.offer(event)

    def subscribe(self, accept: Callable[[Event], bool] = lambda e: True, limit: int = 256) -> Subscription:
        sub = Subscription(accept, limit)
        self.subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.discard(sub)
