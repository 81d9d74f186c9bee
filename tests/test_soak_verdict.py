"""bench/soak.py's verdict on made-up samples (the soak itself needs a server and an hour; see
bench/README.md): flat only when memory and every count stay level."""
from __future__ import annotations

import argparse
from dataclasses import replace

from bench.soak import Sample, verdict

ARGS = argparse.Namespace(rss_bound_mb=50.0, rss_bound_pct=5.0)


def sample(t: float, **kw: float) -> Sample:
    values = dict(rss_mb=1000.0, fds=40, tasks=60, pcs=2, pcs_open=2, threads=30, sessions=2,
                  vision_streams=2, vision_starts=2)
    values.update(kw)
    return Sample(t=t, phase="soak", in_flight=2, completed=0, py_threads=20, cpu_pct=50.0, load="",
                  **values)  # type: ignore[arg-type]


IDLE = sample(0, rss_mb=990, fds=35, tasks=40, pcs=0, pcs_open=0, threads=28, sessions=0, vision_streams=0)


def level(n: int = 12) -> list[Sample]:
    # Counts go up and down with the interviews in flight, memory wobbles: that is flat.
    return [sample(30 * i, rss_mb=1000 + (i % 3) * 8, tasks=58 + (i % 2) * 4, pcs=1 + i % 3) for i in range(n)]


def test_level_counts_and_memory_back_at_the_baseline_are_flat() -> None:
    end = replace(IDLE, t=400, rss_mb=1010, tasks=42, pcs=2)  # two closed, not yet collected
    flat, grew, notes = verdict(level(), IDLE, end, 2, ARGS)
    assert flat and grew == [], grew
    assert any(n.startswith("RSS over the second half") for n in notes)


def test_memory_growing_over_the_second_half_is_named() -> None:
    soak = [replace(s, rss_mb=1000 + 25 * i) for i, s in enumerate(level())]  # +75 MB over the half
    flat, grew, _ = verdict(soak, IDLE, replace(IDLE, t=400), 2, ARGS)
    assert not flat and len(grew) == 1 and grew[0].startswith("RSS over the second half"), grew
    # under 5 % of a large process (and over 50 MB) is still flat: the bound is the larger one
    big = [replace(s, rss_mb=4000 + 25 * i) for i, s in enumerate(level())]
    assert verdict(big, replace(IDLE, rss_mb=3990), replace(IDLE, t=400, rss_mb=4100), 2, ARGS)[0]


def test_a_count_whose_floor_rises_is_a_leak_even_if_it_drops_at_the_end() -> None:
    soak = [replace(s, tasks=60 + 3 * i) for i, s in enumerate(level())]  # 3 tasks left per interval
    flat, grew, _ = verdict(soak, IDLE, replace(IDLE, t=400), 2, ARGS)
    assert not flat and any(g.startswith("tasks: lowest of the last third") for g in grew), grew


def test_idle_counts_not_back_at_the_baseline_are_named() -> None:
    end = replace(IDLE, t=400, tasks=IDLE.tasks + 4, fds=IDLE.fds + 3, sessions=1, pcs_open=1, pcs=5)
    flat, grew, _ = verdict(level(), IDLE, end, 2, ARGS)
    assert not flat
    assert any(g.startswith("tasks idle after the soak") for g in grew)
    assert not any(g.startswith("fds") for g in grew)  # within its slack of 3
    assert any("sessions held" in g for g in grew)
    assert any("not closed" in g for g in grew)
    assert any("peer connections alive" in g for g in grew)


def test_too_short_a_run_is_no_verdict_of_flat() -> None:
    flat, grew, _ = verdict(level(3), IDLE, replace(IDLE, t=100), 2, ARGS)
    assert not flat and any("too few samples" in g for g in grew)


def test_a_stream_left_with_the_vision_workers_or_a_worker_restarted_is_named() -> None:
    end = replace(IDLE, t=400, vision_streams=1, vision_starts=IDLE.vision_starts + 1)
    flat, grew, notes = verdict(level(), IDLE, end, 2, ARGS)
    assert not flat
    assert any(g.startswith("video streams the vision workers still hold") for g in grew), grew
    assert any(g == "vision worker processes restarted during the soak: 1" for g in grew), grew
    assert any("vision worker streams 0 -> 1, starts 2 -> 3" in n for n in notes), notes
