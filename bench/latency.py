"""What HR waits for: latency from the candidate to the HR panel and from HR to the candidate.

    .venv/bin/python bench/latency.py [--sessions 2] [--seconds 40]

Runs a real server process and N aiortc candidates in this process, all inside a private
network namespace (re-executes itself under ``unshare -n``; root needed), and an HR panel on
``/ws/monitor``. Every time below is on this process's monotonic clock, so no clocks need to
agree. Measured (goals from the HR panel issue, p95):

- speech -> partial transcript on the panel (goal 0.5 s): for each partial ``transcript`` event,
  its receipt time minus the moment the client sent the audio of the last word it contains
  (utterance onset sent by the client + (end_s - start_s) of that partial: differences of the
  server's own times, so its clock offset cancels out);
- frame -> signal on the panel (goal 0.3 s): the camera switches between a face and a blank grey
  picture at known moments; the first ``signals`` event whose latest frame shows the change,
  minus the moment the first changed frame was sent;
- HR pause -> candidate paused (goal 0.2 s): ``POST /api/interviews/{id}/pause`` sent ->
  ``{"type": "state", "state": "paused"}`` on the candidate's websocket (then resume).

``--processes 2``: the same across two server processes sharing a real PostgreSQL and Redis
(started here, loopback only): the candidates on process B, HR's panel and pause on process A,
so every event and command crosses Redis. A second panel on B gets the same events; for each
event both panels received, the time A's copy arrived after B's is what the trip through
Redis added ("relay"). Issue 16: the same latency goals as in one process.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.live_client import ImageTrack, PcmTrack, connect, portrait_640x480, read_wav  # noqa: E402
from tests.support.media import speech_wav  # noqa: E402
from tests.support.server import free_port, running_server  # noqa: E402

SENTENCE = "저는 큰 프로젝트의 일정을 관리했습니다"
SWITCH_EVERY_S = 3.0


def in_private_netns() -> bool:
    import socket

    return [name for _, name in socket.if_nameindex()] == ["lo"]


class Speech(PcmTrack):
    """Loops one utterance with silence around it and remembers when each onset was sent."""

    def __init__(self, pcm: np.ndarray, rate: int, onset_s: float) -> None:
        super().__init__(pcm, rate, loop=True)
        self.onset_samples = int(onset_s * rate)
        self.onsets: list[float] = []

    async def recv(self) -> Any:
        before = self.pos
        frame = await super().recv()
        if before <= self.onset_samples < before + self.samples:
            self.onsets.append(time.monotonic())
        return frame


class Switching(ImageTrack):
    """A face, then grey, then the face... every SWITCH_EVERY_S; remembers each switch."""

    def __init__(self, rgb: np.ndarray) -> None:
        super().__init__(rgb)
        self.blank = np.full_like(rgb, 128)
        self.switches: list[tuple[float, int]] = []  # (sent at, faces now expected)
        self._face = True
        self._since = time.monotonic()

    async def recv(self) -> Any:
        now = time.monotonic()
        if now - self._since >= SWITCH_EVERY_S:
            self._face, self._since = not self._face, now
            self.switches.append((now, 1 if self._face else 0))
        self.rgb, keep = (self.rgb, None) if self._face else (self.blank, self.rgb)
        frame = await super().recv()
        if keep is not None:
            self.rgb = keep
        return frame


def stats(values: list[float]) -> str:
    if not values:
        return "no samples"
    v = sorted(values)
    p95 = v[min(len(v) - 1, int(round(0.95 * (len(v) - 1))))]
    return f"n={len(v):3d}  p50 {statistics.median(v):.3f} s  p95 {p95:.3f} s  max {v[-1]:.3f} s"


async def run(args: argparse.Namespace) -> None:
    wav = speech_wav(SENTENCE, lead_silence_s=1.0, tail_silence_s=2.5)
    pcm, rate = read_wav(wav)
    face = portrait_640x480()
    tmp = Path(tempfile.mkdtemp(prefix="candor-latency-"))
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        if args.processes == 2:
            from deploy.cluster import running_redis
            from tests.support.postgres import running_postgres

            env = {"CANDOR_DATABASE_URL": stack.enter_context(running_postgres(tmp / "pg")),
                   "CANDOR_REDIS_URL": stack.enter_context(running_redis(tmp / "redis", free_port()))}
            (tmp / "a").mkdir()
            hr_side = stack.enter_context(running_server(tmp / "a", env, timeout=120))
            (tmp / "b").mkdir()
            server = stack.enter_context(running_server(tmp / "b", env, timeout=120, data_dir=hr_side.data_dir))
        else:
            server = hr_side = stack.enter_context(running_server(tmp, timeout=120))
        await measure(args, server, hr_side, pcm, rate, face)
    shutil.rmtree(tmp, ignore_errors=True)


async def measure(args: argparse.Namespace, server: Any, hr_side: Any, pcm: np.ndarray, rate: int,
                  face: np.ndarray) -> None:
    """Candidates on `server`; HR's panel and commands on `hr_side` (the same one, or another
    process of the cluster)."""
    log = hr_side.log()
    import re

    email = re.search(r"^\s+email\s+(\S+)$", log, re.M)[1]  # type: ignore[index]
    password = re.search(r"^\s+password\s+(\S+)$", log, re.M)[1]  # type: ignore[index]
    async with aiohttp.ClientSession() as http:
        for base in {str(server), str(hr_side)}:
            while not (await (await http.get(f"{base}/api/health")).json())["models_ready"]:
                await asyncio.sleep(0.5)
        login = {"email": email, "password": password}
        token = (await (await http.post(f"{hr_side}/api/login", json=login)).json())["token"]
        auth = {"Authorization": f"Bearer {token}"}
        from datetime import datetime, timedelta, timezone

        job = await (await http.post(f"{server}/api/jobs", headers=auth, json={
            "title": "Latency", "language": "ko", "dimensions": [{"name": "PM", "keywords": ["프로젝트"]}]})).json()
        tpl = await (await http.post(f"{server}/api/templates", headers=auth, json={
            "job_id": job["id"], "name": "one", "questions": [{"text": "프로젝트?", "time_limit_s": 3600,
            "dimensions": [{"dimension_id": job["dimensions"][0]["id"], "weight": 1}]}]})).json()
        ids = []
        for i in range(args.sessions):
            c = await (await http.post(f"{server}/api/candidates", headers=auth,
                                       json={"name": f"c{i}", "email": f"c{i}@example.com"})).json()
            ids.append(c["id"])
        invs = (await (await http.post(f"{server}/api/invitations", headers=auth, json={
            "template_id": tpl["id"], "candidate_ids": ids,
            "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()})).json())["invitations"]

        panel = await http.ws_connect(f"{hr_side}/ws/monitor?token={token}")
        received: list[tuple[float, dict[str, Any]]] = []
        # With two processes, the holder's own panel too: the same events, without Redis.
        local = await http.ws_connect(f"{server}/ws/monitor?token={token}") if hr_side is not server else None
        received_local: list[tuple[float, dict[str, Any]]] = []

        async def read_panel(ws: Any, into: list[tuple[float, dict[str, Any]]]) -> None:
            async for msg in ws:
                into.append((time.monotonic(), json.loads(msg.data)))

        panel_task = asyncio.create_task(read_panel(panel, received))
        local_task = asyncio.create_task(read_panel(local, received_local)) if local is not None else None
        sessions = []
        for inv in invs:
            link_token = inv["url"].rsplit("/", 1)[1]
            ws = await http.ws_connect(f"{server}/i/{link_token}/ws")
            await ws.send_json({"type": "start", "consent": True})
            audio, video = Speech(pcm, rate, onset_s=1.0), Switching(face)
            pc = await connect(str(server), link_token, http, [audio, video])
            sessions.append({"id": inv["interview_id"], "ws": ws, "pc": pc, "audio": audio, "video": video,
                             "states": []})

        async def read_candidate(s: dict[str, Any]) -> None:
            async for msg in s["ws"]:
                data = json.loads(msg.data)
                if data.get("type") == "state":
                    s["states"].append((time.monotonic(), data["state"]))

        readers = [asyncio.create_task(read_candidate(s)) for s in sessions]
        print(f"{args.sessions} sessions streaming for {args.seconds:.0f} s ...", flush=True)
        await asyncio.sleep(args.seconds)

        pause_lat = []
        for s in sessions:
            for _ in range(3):
                n = len(s["states"])
                sent = time.monotonic()
                await http.post(f"{hr_side}/api/interviews/{s['id']}/pause", headers=auth, json={"reason": "bench"})
                while not any(st == "paused" for _, st in s["states"][n:]):
                    await asyncio.sleep(0.001)
                pause_lat.append(next(t for t, st in s["states"][n:] if st == "paused") - sent)
                await http.post(f"{hr_side}/api/interviews/{s['id']}/resume", headers=auth, json={})
                await asyncio.sleep(0.5)

        speech_lat, frame_lat = [], []
        for s in sessions:
            mine = [(t, e) for t, e in received if e.get("interview_id") == s["id"]]
            partials = [(t, e) for t, e in mine if e["type"] == "transcript" and not e["final"]
                        and e.get("start_s") is not None and e.get("end_s") is not None]
            onsets = s["audio"].onsets
            for t, e in partials:
                # the utterance this partial belongs to: the latest onset sent before it
                before = [o for o in onsets if o < t]
                if before:
                    heard_until = before[-1] + (e["end_s"] - e["start_s"])
                    speech_lat.append(t - heard_until)
                    if args.trace and s is sessions[0]:
                        print(f"  +{t - before[-1]:5.2f} s after onset: words {e['start_s']:.2f}-{e['end_s']:.2f}"
                              f" -> latency {t - heard_until:.2f}  {e['text'][:40]}")
            frames = [(t, e["frame"]["faces"]) for t, e in mine if e["type"] == "signals" and "frame" in e]
            for sent, faces in s["video"].switches:
                hit = next((t for t, f in frames if t > sent and (f > 0) == (faces > 0)), None)
                nxt = [x for x, _ in s["video"].switches if x > sent]
                if hit is not None and (not nxt or hit < nxt[0]):
                    frame_lat.append(hit - sent)
        where = ("panel and HR on process A, candidates on process B (through Redis)"
                 if local is not None else "one process")
        print(f"\nlatency with {args.sessions} live interviews, {where} (load {os.getloadavg()[0]:.1f}):")
        print(f"  speech -> partial transcript on the panel   {stats(speech_lat)}   (goal p95 0.5 s)")
        print(f"  frame -> signal on the panel                {stats(frame_lat)}   (goal p95 0.3 s)")
        print(f"  HR pause -> candidate paused                {stats(pause_lat)}   (goal p95 0.2 s)")
        if local is not None:
            print(f"  relay: A's copy after B's, same event       {stats(relay_delays(received, received_local))}"
                  "   (what Redis adds)")
        for task in [panel_task, *readers, *([local_task] if local_task is not None else [])]:
            task.cancel()
        for s in sessions:
            await s["pc"].close()
            await s["ws"].close()
        await panel.close()
        if local is not None:
            await local.close()


def relay_delays(remote: list[tuple[float, dict[str, Any]]], local: list[tuple[float, dict[str, Any]]]) -> list[float]:
    """For each event both panels got (same JSON), the remote copy's arrival minus the local's."""
    first_local: dict[str, float] = {}
    for t, event in local:
        first_local.setdefault(json.dumps(event, sort_keys=True), t)
    seen: set[str] = set()
    delays = []
    for t, event in remote:
        key = json.dumps(event, sort_keys=True)
        if key in first_local and key not in seen and event.get("type") != "snapshot":
            seen.add(key)
            delays.append(t - first_local[key])
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--trace", action="store_true", help="print every partial of the first session")
    parser.add_argument("--processes", type=int, choices=(1, 2), default=1,
                        help="2: candidates on one server process, HR on another (PostgreSQL and Redis between)")
    args = parser.parse_args()
    if not in_private_netns():
        if os.environ.get("CANDOR_LATENCY_NETNS"):
            sys.exit("still not in a private network namespace")
        script = "ip link set lo up && exec \"$0\" \"$@\""
        os.execvpe("unshare", ["unshare", "-n", "--", "bash", "-c", script, sys.executable, *sys.argv],
                   {**os.environ, "CANDOR_LATENCY_NETNS": "1"})
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
