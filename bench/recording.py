"""What recording for key clips costs per interview: ``python bench/recording.py [--minutes M]``.

Simulates one interview's media as the server sees it, without the network: the audio pump's
200 ms batches of 16 kHz PCM (through `PeerRecording.on_pcm`, as on the event loop) and
analysed frames at 5 fps (through `PeerRecording.on_frame`, as on the vision executor; it keeps
2 fps), 640x480 and 1280x720 frames of scikit-image's astronaut swaying on a grey canvas.
Time is simulated, so M minutes run as fast as the machine allows; CPU is measured with
`time.process_time()` (this thread only), which other load on the machine barely disturbs.

Prints one table: CPU per call and per minute of interview, bytes on disk per minute, and
the time to render a 10 s clip (WebM, VP8 + Opus) from the recording, cold and cached, and to
read it back for serving; then what reading the recording's index costs (the report lists media
problems from it), and the sealing (AES-256-GCM) costs on their own. The audio is flushed
(sealed) every simulated second, as a live interview's is every second of real time.

Results: bench/results/recording-crypto.txt (before and after encryption at rest).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server import clips, recording  # noqa: E402
from server.peer import jpeg_thumbnail  # noqa: E402
from server.clips import audio_spans, disk_usage, render_clip, video_frames  # noqa: E402
from server.recording import RATE, PeerRecording, Recorder, encode_jpeg  # noqa: E402

SEALED = hasattr(recording, "keys_for")  # False: run against a tree from before encryption

BATCH = RATE // 5
ANALYSIS_FPS = 5


def camera(width: int, height: int, n: int) -> list[av.VideoFrame]:
    """`n` distinct frames as aiortc hands them over (yuv420p), the photo drifting sideways."""
    import skimage.data

    photo = skimage.data.astronaut()[..., :3]
    canvas = np.full((height, width, 3), 128, np.uint8)
    s = min(512, height - 16)
    y0, x0 = (height - s) // 2, (width - s) // 2
    canvas[y0:y0 + s, x0:x0 + s] = photo[:s, :s]
    return [av.VideoFrame.from_ndarray(np.roll(canvas, int(12 * np.sin(i / 4)), axis=1), format="rgb24")
            .reformat(format="yuv420p") for i in range(n)]


class SimTime:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def clock(self) -> float:
        return self.t


def session(root: Path, iid: int, minutes: float, frames: list[av.VideoFrame]) -> dict[str, float]:
    """One interview's recording; returns CPU seconds spent on audio and on video."""
    sim = SimTime()
    # Flushed every simulated second below (a live one flushes every second of real time).
    rec = PeerRecording(Recorder(root, iid, flush_every_s=float("inf")), sim.clock, lambda: True, now=sim.now)
    rng = np.random.default_rng(1)
    pcm = (rng.normal(0, 2000, BATCH * 50)).astype(np.int16).tobytes()
    audio_cpu = video_cpu = 0.0
    audio_calls = video_calls = jpegs = 0
    steps = int(minutes * 60 * ANALYSIS_FPS)  # 0.2 s each: one audio batch, one analysed frame
    for k in range(steps):
        sim.t = k / ANALYSIS_FPS
        chunk = pcm[(k % 50) * BATCH * 2:((k % 50) + 1) * BATCH * 2]
        c0 = time.process_time()
        rec.on_pcm(chunk)
        if k % ANALYSIS_FPS == ANALYSIS_FPS - 1 and rec.audio is not None:
            rec.audio.flush()
        audio_cpu += time.process_time() - c0
        audio_calls += 1
        c0 = time.process_time()
        jpegs += rec.on_frame(frames[k % len(frames)]) is not None
        video_cpu += time.process_time() - c0
        video_calls += 1
    rec.close()
    return {"audio_cpu": audio_cpu, "audio_calls": audio_calls, "video_cpu": video_cpu,
            "video_calls": video_calls, "jpegs": jpegs}


def per_call_ms(fn, frames: list[av.VideoFrame], n: int = 60) -> float:  # type: ignore[no-untyped-def]
    fn(frames[0])
    times = []
    for i in range(n):
        c0 = time.process_time()
        fn(frames[i % len(frames)])
        times.append(time.process_time() - c0)
    return statistics.median(times) * 1000


def serve_bytes(path: Path) -> bytes:
    """A cached clip's bytes as the media endpoint sends them (decrypted, once sealed)."""
    return clips.read_media(path) if SEALED else path.read_bytes()  # type: ignore[attr-defined]


def read_costs(root: Path, iid: int, n: int = 5) -> tuple[float, float]:
    """Median ms to list the recording's audio spans and video frames: first read of the
    files (caches emptied) and again (unchanged files)."""
    cold, warm = [], []
    for _ in range(n):
        for cache in ("_tables", "_index_cache"):
            for mod in (recording, clips, sys.modules.get("server.recording_crypto")):
                if mod is not None and hasattr(mod, cache):
                    getattr(mod, cache).clear()
        w0 = time.perf_counter()
        audio_spans(root, iid), video_frames(root, iid)
        cold.append(time.perf_counter() - w0)
        w0 = time.perf_counter()
        audio_spans(root, iid), video_frames(root, iid)
        warm.append(time.perf_counter() - w0)
    return statistics.median(cold) * 1000, statistics.median(warm) * 1000


def seal_costs(n: int = 2000) -> list[tuple[str, float]]:
    """Microseconds per seal / open of a second of audio (32 KB) and a 10 KB JPEG."""
    from server.recording_crypto import Keyring, new_key, open_record, seal_frame

    ring = Keyring((("k1", new_key()),), "bench")
    aead, header = ring.aead("k1"), b"h" * 36
    out = []
    for name, size in (("audio second (32 KB)", RATE * 2), ("JPEG (10 KB)", 10_000)):
        plain = np.random.default_rng(0).integers(0, 255, size, np.uint8).tobytes()
        c0 = time.perf_counter()
        for i in range(n):
            record = seal_frame(aead, header, "recordings/1/x", i, plain)
        out.append((f"seal {name}", (time.perf_counter() - c0) / n * 1e6))
        c0 = time.perf_counter()
        for _ in range(n):
            open_record(aead, header, "recordings/1/x", n - 1, record, Path("x"))
        out.append((f"open {name}", (time.perf_counter() - c0) / n * 1e6))
    return out


def clip_times(root: Path, iid: int, minutes: float, n: int = 5) -> tuple[float, float, float, int]:
    """Median wall and CPU seconds to render a new 10 s clip; cached hit wall seconds, read
    for serving included; bytes served."""
    walls, cpus = [], []
    span = minutes * 60 - 12
    path = None
    for i in range(n):
        start = 1 + span * i / max(1, n - 1)
        w0, c0 = time.perf_counter(), time.process_time()
        path = render_clip(root, iid, start, start + 10)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    assert path is not None
    cached_walls = []
    for _ in range(n):
        w0 = time.perf_counter()
        served = serve_bytes(render_clip(root, iid, 1, 11))
        cached_walls.append(time.perf_counter() - w0)
    return statistics.median(walls), statistics.median(cpus), statistics.median(cached_walls), len(served)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="simulated interview length")
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp) / "recordings"
        rows = []
        for iid, (w, h) in enumerate([(640, 480), (1280, 720)], start=1):
            frames = camera(w, h, 24)
            r = session(root, iid, args.minutes, frames)
            usage = disk_usage(root, iid)
            jpeg_ms = per_call_ms(encode_jpeg, frames)
            thumb_ms = per_call_ms(jpeg_thumbnail, frames)
            wall, cpu, cached, size = clip_times(root, iid, args.minutes)
            m = args.minutes
            rows.append((f"{w}x{h}", r, usage, jpeg_ms, thumb_ms, wall, cpu, cached, size, m,
                         read_costs(root, iid)))
        print(f"recording cost per interview, {args.minutes:g} simulated minutes, analysis at {ANALYSIS_FPS} fps,"
              " recording audio + 2 fps JPEG at 320 px wide; "
              + ("sealed (AES-256-GCM)" if SEALED else "plaintext files"))
        print()
        head = ("camera", "audio us/batch", "audio CPU ms/min", "JPEG ms/frame", "video CPU s/min",
                "thumb ms (saved)", "audio MB/min", "video MB/min", "10 s clip wall s", "clip CPU s",
                "clip cached ms", "clip KB")
        print(" | ".join(head))
        print(" | ".join("-" * len(x) for x in head))
        for cam, r, usage, jpeg_ms, thumb_ms, wall, cpu, cached, size, m, _reads in rows:
            cells = (
                cam,
                f"{r['audio_cpu'] / r['audio_calls'] * 1e6:.1f}",
                f"{r['audio_cpu'] / m * 1000:.1f}",
                f"{jpeg_ms:.2f}",
                f"{r['video_cpu'] / m:.3f}",
                f"{thumb_ms:.2f}",
                f"{usage.audio_bytes / m / 1e6:.2f}",
                f"{usage.video_bytes / m / 1e6:.2f}",
                f"{wall:.2f}",
                f"{cpu:.2f}",
                f"{cached * 1000:.1f}",
                f"{size / 1000:.0f}",
            )
            print(" | ".join(c.rjust(len(h)) for c, h in zip(cells, head, strict=True)))
        print()
        r = rows[0][1]
        print(f"frames recorded: {r['jpegs']} of {r['video_calls']} analysed "
              f"({r['jpegs'] / (args.minutes * 60):.2f} per second); "
              f"video CPU includes the rate check on the frames not kept")
        print("per hour of interview at 640x480: "
              f"{rows[0][2].total_bytes / rows[0][9] * 60 / 1e6:.0f} MB on disk, "
              f"{rows[0][1]['video_cpu'] / rows[0][9] * 60 + rows[0][1]['audio_cpu'] / rows[0][9] * 60:.1f} CPU s "
              f"({(rows[0][1]['video_cpu'] + rows[0][1]['audio_cpu']) / (rows[0][9] * 60) * 100:.2f} % of one core)")
        for cam, *_, reads in rows:
            print(f"listing the recording's audio spans + video frames ({cam}): {reads[0]:.2f} ms first read, "
                  f"{reads[1]:.2f} ms again")
        if SEALED:
            print("sealing, per frame: " + "; ".join(f"{name} {us:.1f} us" for name, us in seal_costs()))


if __name__ == "__main__":
    main()
