"""Question time: live seconds used and extra seconds granted per question. Only live time
counts; time lost to a fault is credited back. Pure: the caller passes time.monotonic() readings."""
from __future__ import annotations


class QuestionClock:
    def __init__(self) -> None:
        self.used_s: dict[int, float] = {}
        self.extra_s: dict[int, float] = {}
        self._running: tuple[int, float] | None = None  # (question, monotonic start)

    @property
    def running(self) -> bool:
        return self._running is not None

    def start(self, index: int, now: float) -> None:
        self.stop(now)
        self._running = (index, now)

    def stop(self, now: float) -> None:
        if self._running is not None:
            index, since = self._running
            self.used_s[index] = self.used_s.get(index, 0.0) + max(0.0, now - since)
            self._running = None

    def elapsed_s(self, index: int, now: float) -> float:
        used = self.used_s.get(index, 0.0)
        if self._running is not None and self._running[0] == index:
            used += max(0.0, now - self._running[1])
        return used

    def limit_s(self, index: int, base_s: float) -> float:
        return base_s + self.extra_s.get(index, 0.0)

    def remaining_s(self, index: int, base_s: float, now: float) -> float:
        return max(0.0, self.limit_s(index, base_s) - self.elapsed_s(index, now))

    def credit(self, index: int, seconds: float) -> None:
        """Give back seconds that were counted but lost (media gone before the clock stopped)."""
        self.used_s[index] = max(0.0, self.used_s.get(index, 0.0) - seconds)

    def add(self, index: int, seconds: float) -> None:
        self.extra_s[index] = self.extra_s.get(index, 0.0) + seconds

    def reset(self, index: int) -> None:
        self.used_s[index] = 0.0

    def restore(self, index: int, used_s: float, extra_s: float) -> None:
        self.used_s[index] = used_s
        self.extra_s[index] = extra_s
