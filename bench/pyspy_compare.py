"""Compare two py-spy profiles of the same process taken at different times.

    py-spy record --pid PID --duration 120 --rate 40 --nonblocking --format raw -o early.txt
    ... later ...
    py-spy record --pid PID --duration 120 --rate 40 --nonblocking --format raw -o late.txt
    .venv/bin/python bench/pyspy_compare.py early.txt late.txt [--min 1.0]

Prints, for every function on the stack in at least ``--min`` % of the busy samples of either
profile, its share in each (inclusive: a function counts once per sample it is anywhere in).
Samples whose innermost frame is a thread waiting (a condition, a queue, the selector) are left
out, so the shares are of work, not of idle threads. Work that grows with time (with the rows
stored, the sessions ever seen) shows as a share that rose; a flat profile is the same list twice.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Innermost frames of a thread that is waiting, not working.
WAITING = (
    "Condition.wait", "Event.wait", "EpollSelector.select", "_PollLikeSelector.select",
    "SimpleQueue.get", "Queue.get", "_worker (concurrent",
)


@dataclass
class Profile:
    busy: int = 0
    functions: Counter[str] = field(default_factory=Counter)

    def share(self, name: str) -> float:
        return 100.0 * self.functions[name] / self.busy if self.busy else 0.0


def load(path: Path) -> Profile:
    """py-spy's raw format: ``frame;frame;...;innermost COUNT`` per line, frames ``name (file:line)``."""
    profile = Profile()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if frames[-1].startswith(WAITING):
            continue
        n = int(count)
        profile.busy += n
        for name in {frame.split(" (")[0] for frame in frames}:
            profile.functions[name] += n
    return profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--min", type=float, default=1.0, help="smallest share shown, %% of busy samples")
    a = parser.parse_args()
    first, second = load(a.first), load(a.second)
    shown = {n for p in (first, second) for n in p.functions if p.share(n) >= a.min}
    print(f"busy samples: {first.busy} ({a.first.name}), {second.busy} ({a.second.name})")
    print(f"{'first %':>8} {'second %':>8} {'change':>7}  function")
    for name in sorted(shown, key=lambda n: -max(first.share(n), second.share(n))):
        f, s = first.share(name), second.share(name)
        print(f"{f:8.1f} {s:8.1f} {s - f:+7.1f}  {name}")


if __name__ == "__main__":
    main()
