"""How a running server's threads share the CPU, from the kernel's scheduler statistics:

    python3 bench/schedstat.py [--pid PID] [--after 30] [--seconds 20]

Waits for `bench/live.py`'s server (or takes --pid), sleeps --after seconds (the bench's
warm-up), then reads /proc/<pid>/task/*/schedstat twice, --seconds apart. Per thread group (the
OS thread names bench/live.py gives them): CPU time (run %), time runnable but waiting for a CPU
(run-queue wait %), both in % of one core, and timeslices per second (a thread that blocks and
wakes often, e.g. on a lock such as the GIL, has many short ones). The server's child processes
are not included (bench/live.py counts their CPU). Linux only; no privilege needed.
"""
from __future__ import annotations

import argparse
import os
import re
import time
from collections import defaultdict
from pathlib import Path


def bench_server() -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "live.py" in cmd and "_server" in cmd:
            return int(entry.name)
    return None


def snapshot(pid: int) -> dict[str, tuple[str, int, int, int]]:
    """tid -> (thread name, ns on CPU, ns waiting on a run queue, timeslices)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            run, wait, slices = map(int, (task / "schedstat").read_text().split())
        except (OSError, ValueError):
            continue
        out[task.name] = (name, run, wait, slices)
    return out


def group(name: str) -> str:
    return re.sub(r"[-_]?\d+$", "", name) or name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pid", type=int)
    parser.add_argument("--after", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    pid = args.pid
    while pid is None:
        pid = bench_server()
        if pid is None:
            time.sleep(0.5)
    time.sleep(args.after)
    first, start = snapshot(pid), time.monotonic()
    time.sleep(args.seconds)
    second, wall = snapshot(pid), time.monotonic() - start
    rows: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for tid, (name, run, wait, slices) in second.items():
        if tid not in first:
            continue
        row = rows[group(name)]
        row[0] += (run - first[tid][1]) / 1e9 / wall * 100
        row[1] += (wait - first[tid][2]) / 1e9 / wall * 100
        row[2] += 1
        row[3] += (slices - first[tid][3]) / wall
    print(f"pid {pid}, {wall:.0f} s; % of one core; {os.cpu_count()} cores")
    print(f"{'thread group':<22} {'run %':>7} {'run-queue wait %':>17} {'threads':>8} {'slices/s':>9}")
    for name, (run, wait, count, slices) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
        print(f"{name:<22} {run:>7.1f} {wait:>17.1f} {int(count):>8} {slices:>9.0f}")


if __name__ == "__main__":
    main()
