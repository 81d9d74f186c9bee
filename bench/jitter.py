"""Audio jitter buffers on lossy lines: aiortc's own (capacity 16, prefetch 4, as its receiver
makes it) against the server's reorder buffer (server/audio_jitter.py):

    .venv/bin/python bench/jitter.py [--seconds 600] [--out bench/results/jitter.txt]

Each line is a packet trace: 20 ms Opus packets, one arriving every 20 ms, some never arriving
(lost) and some swapped with the next (reordered), from a fixed seed. Every trace is fed to both
buffers packet by packet; for each packet that comes out we note how long it waited (arrival to
release, in 20 ms packet times). Reported per line and buffer: packets used (of those received),
received packets thrown away, the wait p50/p95/max in ms, and the wait over the last minute (a
buffer that falls behind after a loss and never catches up shows it there).
"""
from __future__ import annotations

import argparse
import platform
import random
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aiortc.jitterbuffer import JitterBuffer  # noqa: E402
from aiortc.rtp import RtpPacket  # noqa: E402

from server.audio_jitter import ReorderBuffer  # noqa: E402

PACKET_S = 0.02
TICKS = 960  # 20 ms at Opus's 48 kHz RTP clock


def line(seconds: float, loss: float, swap: float, burst_every_s: float = 0, burst: int = 0,
         seed: int = 1) -> list[int]:
    """Sequence numbers in arrival order."""
    rng = random.Random(seed)
    n = int(seconds / PACKET_S)
    every = int(burst_every_s / PACKET_S) if burst_every_s else 0
    seqs = [s for s in range(n) if rng.random() >= loss and not (every and s % every < burst and s > burst)]
    for i in range(len(seqs) - 1):
        if rng.random() < swap:
            seqs[i], seqs[i + 1] = seqs[i + 1], seqs[i]
    return seqs


def run(buffer: object, arrivals: list[int]) -> tuple[int, list[float], list[float]]:
    """Packets used, every wait (ms) and the waits of the last minute."""
    arrived_at: dict[int, int] = {}
    waits: list[tuple[int, float]] = []
    for i, seq in enumerate(arrivals):
        p = RtpPacket(payload_type=111, sequence_number=seq & 0xFFFF, timestamp=(seq * TICKS) & 0xFFFFFFFF)
        p._data = seq.to_bytes(4, "big")  # type: ignore[attr-defined]
        arrived_at[seq] = i
        out = buffer.add(p)  # type: ignore[attr-defined]
        frames = out if isinstance(out, list) else ([out[1]] if out[1] is not None else [])
        for f in frames:
            s = int.from_bytes(getattr(f, "_data", None) or f.data, "big")
            waits.append((i, (i - arrived_at[s]) * PACKET_S * 1000))
    last = len(arrivals) - int(60 / PACKET_S)
    return len(waits), [w for _, w in waits], [w for i, w in waits if i >= last]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] if s else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    lines = {
        "clean": dict(loss=0, swap=0),
        "one packet lost at 1 s": None,
        "0.5% loss": dict(loss=0.005, swap=0),
        "2% loss, 5% swapped": dict(loss=0.02, swap=0.05),
        "bursts of 5 lost every 5 s": dict(loss=0, swap=0, burst_every_s=5, burst=5),
        "1% swapped, no loss": dict(loss=0, swap=0.01),
    }
    rows = [f"# bench/jitter.py {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, python {platform.python_version()}, "
            f"{args.seconds:g} s per line (one 20 ms packet every 20 ms)",
            f"{'line':30} {'buffer':9} {'used/received':>15} {'thrown away':>11} "
            f"{'wait p50/p95/max ms':>20} {'last minute p50 ms':>18}"]
    for name, spec in lines.items():
        n = int(args.seconds / PACKET_S)
        arrivals = [s for s in range(n) if s != 50] if spec is None else line(args.seconds, **spec)
        for label, buffer in (("aiortc", JitterBuffer(capacity=16, prefetch=4)), ("reorder", ReorderBuffer())):
            used, waits, last = run(buffer, arrivals)
            # packets still held at the end of the trace are not thrown away
            held = sum(p is not None for p in getattr(buffer, "_packets", [])) + len(getattr(buffer, "_waiting", {}))
            rows.append(f"{name:30} {label:9} {used:>7}/{len(arrivals):<7} {len(arrivals) - used - held:>11} "
                        f"{pct(waits, .5):>6.0f}/{pct(waits, .95):>4.0f}/{max(waits):>4.0f}      "
                        f"{pct(last, .5):>12.0f}")
    text = "\n".join(rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
