"""Soak: interviews arriving and finishing continuously at a concurrency N for an hour, against a
real server process; memory, tasks, peer connections, threads and file descriptors over time.

    .venv/bin/python bench/soak.py [--sessions N] [--duration 3600] [--every 30] [--questions 3]
                                   [--answer-s 30] [--fps 5] [--out FILE]

N defaults to CANDOR_MAX_SESSIONS (the capacity measured with bench/live.py); one of the two is
required. Everything runs in a private network namespace (the script re-executes itself under
``unshare -n``, like bench/live.py; root needed), and the server's ICE uses 127.0.0.1 only.

1. A fresh server (``run.py serve`` through bench/live.py's thread-naming wrapper,
   CANDOR_MAX_SESSIONS = N, ICE on 127.0.0.1, no STUN), an admin, a Korean job and a template of
   ``--questions`` questions (600 s limit each: only the candidate's ``next`` ends one).
2. A client process runs N slots. Each slot, again and again: invites a new candidate through the
   HR API (POST /api/candidates, POST /api/invitations), joins as that candidate (websocket,
   ``start`` with consent, an aiortc offer with bench/media.py's pre-encoded VP8 + Opus answer,
   sent as is), answers each question for ``--answer-s`` seconds (+-20 %, so the slots drift
   apart) and sends ``next``, until the server says ``done``; then hangs up and the slot starts
   the next candidate at once. Slots start staggered over one interview's length. An offer or
   websocket refused with 503 (admission: the previous interview's slot not yet free) is retried
   every 2 s (after Retry-After when the offers of one link are limited: 429) and counted.
3. Before the soak, one short warm-up interview per slot (5 s answers) loads what is loaded
   lazily (the recogniser, executor threads); after it and ``--settle`` seconds idle, the
   baseline is taken. At ``--duration`` the slots stop starting new candidates, the ones in
   progress finish, and after ``--settle`` seconds idle the end point is taken.
4. Every ``--every`` seconds GET /metrics (server/metrics.py): resident memory, open file
   descriptors, asyncio tasks, RTCPeerConnection objects alive (and how many of them not closed),
   OS and Python threads, sessions held, the vision worker processes' memory, streams and
   starts; plus the CPU of the server and its workers and the interviews in progress. RSS is
   the server's and its vision workers' together.

The verdict is FLAT only when all of these hold, otherwise it names what grew:
- RSS grew over the soak's second half by less than ``--rss-bound-mb`` (50 MB) or
  ``--rss-bound-pct`` (5 %) of its level at the half, whichever is larger (medians of the first
  and last three samples of the half);
- no count grew steadily: for tasks, peer connections, fds, threads and sessions, over the samples
  with all N interviews in flight, the lowest value of the last third is not above the highest of
  the first third;
- idle again after the soak, the counts are back at the baseline's: asyncio tasks within +3,
  fds within +3, OS threads within +2, no session held, no peer connection that is not closed,
  and at most N closed ones not yet garbage-collected (one in a reference cycle waits for the
  collector's next full pass), no video stream left with the vision workers;
- no vision worker process was restarted (a restart means one died or hung).
Interviews that did not complete are listed under the table.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.live import (  # noqa: E402
    ADMIN, KEYWORDS, Server, _git_state, api, ensure_private_netns, loadavg, server_cpu_rss)

PY = sys.executable
QUESTION_LIMIT_S = 600
RETRY_503_S = 2.0
JITTER = 0.2  # each answer lasts answer_s x (1 +- JITTER)
WARMUP_ANSWER_S = 5.0
# Idle after the soak vs the baseline: how much higher a count may be and still be "the same level".
SLACK = {"tasks": 3, "fds": 3, "threads": 2}


# ------------------------------------------------------------------------------------------
# the client process: `soak.py _clients --base URL --hr TOKEN --template ID --plan JSON`
# ------------------------------------------------------------------------------------------

def emit(**msg: Any) -> None:
    print(json.dumps(msg), flush=True)


async def one_interview(http: Any, base: str, hr: str, template_id: int, media: str, answer_s: float,
                        label: str, rng: random.Random) -> dict[str, Any]:
    """Invite, join, answer until `done`, hang up. Returns what happened."""
    import aiohttp
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaPlayer

    out: dict[str, Any] = {"label": label, "t_start": time.time(), "refused": 0, "nexts": 0, "outcome": "?"}
    emit(event="start", **out)
    ws = None
    pc = None
    player = None
    reader = None
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    try:
        cand = await api(http, "POST", f"{base}/api/candidates", hr,
                         json={"name": f"soak {label}", "email": f"soak-{label}-{secrets.token_hex(3)}@example.com"})
        inv = await api(http, "POST", f"{base}/api/invitations", hr, json={
            "template_id": template_id, "candidate_ids": [cand["id"]],
            "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()})
        invitation = inv["invitations"][0]
        token = invitation["url"].rsplit("/", 1)[1]
        out["interview_id"] = invitation["interview_id"]
        deadline = time.monotonic() + 120
        while True:  # join: the previous interview's slot may still be held for a moment
            try:
                ws = await http.ws_connect(f"{base}/i/{token}/ws")
                break
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status != 503 or time.monotonic() > deadline:
                    raise
                out["refused"] += 1
                await asyncio.sleep(RETRY_503_S)

        async def read() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    inbox.put_nowait(json.loads(msg.data))
            inbox.put_nowait({"type": "socket_closed"})

        reader = asyncio.create_task(read())
        await ws.send_json({"type": "start", "consent": True})
        player = MediaPlayer(media, decode=False)
        while True:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.addTrack(player.audio)
            pc.addTrack(player.video)
            await pc.setLocalDescription(await pc.createOffer())
            async with http.post(f"{base}/i/{token}/offer",
                                 json={"sdp": pc.localDescription.sdp, "type": "offer"}) as resp:
                body = await resp.json()
            if resp.status == 200:
                break
            await pc.close()
            if resp.status not in (429, 503) or time.monotonic() > deadline:
                raise RuntimeError(f"offer -> {resp.status} {body}")
            # 503: no free slot yet; 429: this link's offers are limited per minute (its retries too)
            out["refused"] += 1
            await asyncio.sleep(max(RETRY_503_S, float(resp.headers.get("Retry-After") or 0)))
        await pc.setRemoteDescription(RTCSessionDescription(**body))

        async def next_message(within_s: float) -> dict[str, Any]:
            while True:
                m = await asyncio.wait_for(inbox.get(), within_s)
                if m.get("type") in ("question", "done", "socket_closed") or \
                        (m.get("type") == "state" and m.get("state") == "closed"):
                    return m

        m = await next_message(60)
        out["join_s"] = round(time.time() - out["t_start"], 2)
        while m.get("type") == "question":
            await asyncio.sleep(answer_s * rng.uniform(1 - JITTER, 1 + JITTER))
            await ws.send_json({"type": "next"})
            out["nexts"] += 1
            m = await next_message(30)
        out["outcome"] = "completed" if m["type"] == "done" else f"{m['type']} {m.get('code', '')}".strip()
    except Exception as exc:
        out["outcome"] = f"error: {type(exc).__name__}: {exc}"[:300]
    finally:
        if pc is not None:
            await pc.close()
        if player is not None:  # stopping both tracks ends the player's thread and closes the file
            for track in (player.audio, player.video):
                if track is not None:
                    track.stop()
        if ws is not None:
            await ws.close()
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    out["t_end"] = time.time()
    return out


async def run_clients(a: argparse.Namespace) -> None:
    import aiohttp
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # type: ignore[assignment]
    plan = json.loads(a.plan)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    http = aiohttp.ClientSession()

    async def slot(k: int) -> None:
        rng = random.Random(k)
        try:
            await asyncio.wait_for(stop.wait(), plan["delays"][k])
            return
        except asyncio.TimeoutError:
            pass
        n = 0
        while not stop.is_set() and time.time() < plan["until"]:
            n += 1
            result = await one_interview(http, a.base, a.hr, plan["template_id"], plan["media"][k % len(plan["media"])],
                                         plan["answer_s"], f"{plan['phase']}-{k}-{n}", rng)
            emit(event="interview", slot=k, **result)
            if plan["once"]:
                return
            if result["outcome"] != "completed":
                await asyncio.sleep(RETRY_503_S)  # a server in trouble is not hammered

    await asyncio.gather(*(slot(k) for k in range(plan["slots"])))
    await http.close()


# ------------------------------------------------------------------------------------------
# the orchestrator
# ------------------------------------------------------------------------------------------

@dataclass
class Sample:
    t: float  # seconds since the server was ready
    phase: str
    in_flight: int
    completed: int
    rss_mb: float  # the server and its vision worker processes
    fds: int
    tasks: int
    pcs: int  # RTCPeerConnection objects alive
    pcs_open: int  # of them, not closed
    threads: int  # OS threads
    py_threads: int
    sessions: int
    vision_streams: int  # video streams the vision workers hold
    vision_starts: int  # vision worker processes started so far
    cpu_pct: float  # the server and its vision worker processes
    load: str


@dataclass
class Progress:
    in_flight: dict[str, float] = field(default_factory=dict)  # label -> start
    done: list[dict[str, Any]] = field(default_factory=list)


def parse_metrics(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


class Sampler:
    def __init__(self, http: Any, server: Server, progress: Progress) -> None:
        import psutil

        self.http = http
        self.server = server
        self.progress = progress
        self.proc = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
        self.cpu_at = (time.monotonic(), self.cpu_s())
        self.samples: list[Sample] = []
        self.t0 = time.monotonic()

    def cpu_s(self) -> float:
        """CPU seconds of the server and its children (the vision workers; one that was
        restarted takes its predecessor's seconds with it, so a restart reads low once)."""
        return server_cpu_rss(self.proc.pid)[0]

    async def take(self, phase: str) -> Sample:
        async with self.http.get(f"{self.server.base}/metrics") as r:
            if r.status != 200:
                raise RuntimeError(f"GET /metrics -> {r.status}")
            m = parse_metrics(await r.text())
        now, cpu = time.monotonic(), self.cpu_s()
        cpu_pct = 100 * (cpu - self.cpu_at[1]) / max(1e-6, now - self.cpu_at[0])
        self.cpu_at = (now, cpu)
        pcs = m.get("candor_peer_connections", {})
        s = Sample(
            t=round(now - self.t0), phase=phase, in_flight=len(self.progress.in_flight),
            completed=sum(1 for d in self.progress.done if d["outcome"] == "completed"),
            rss_mb=(m["process_resident_memory_bytes"][()]
                    + m.get("candor_vision_worker_resident_memory_bytes", {}).get((), 0.0)) / 2**20,
            fds=int(m["process_open_fds"][()]),
            tasks=int(m["candor_asyncio_tasks"][()]), pcs=int(sum(pcs.values())),
            pcs_open=int(sum(v for k, v in pcs.items() if dict(k).get("state") != "closed")),
            threads=int(m["candor_threads"][()]), py_threads=int(m["candor_python_threads"][()]),
            sessions=int(sum(m.get("candor_sessions", {}).values())),
            vision_streams=int(m.get("candor_vision_worker_streams", {}).get((), 0)),
            vision_starts=int(m.get("candor_vision_worker_starts_total", {}).get((), 0)),
            cpu_pct=cpu_pct, load=loadavg())
        self.samples.append(s)
        return s


HEAD = (f"{'t s':>6} {'phase':<8} {'in flight':>9} {'done':>5} {'sessions':>8} {'pcs alive/open':>14} "
        f"{'tasks':>6} {'threads os/py':>13} {'fds':>5} {'RSS MB':>7} {'srv CPU%':>8}  load")


def row(s: Sample) -> str:
    return (f"{s.t:>6.0f} {s.phase:<8} {s.in_flight:>9} {s.completed:>5} {s.sessions:>8} "
            f"{f'{s.pcs}/{s.pcs_open}':>14} {s.tasks:>6} {f'{s.threads}/{s.py_threads}':>13} {s.fds:>5} "
            f"{s.rss_mb:>7.0f} {s.cpu_pct:>8.0f}  {s.load}")


COUNTS = ("tasks", "pcs", "fds", "threads", "sessions")


def verdict(soak: list[Sample], baseline: Sample, end: Sample, n: int,
            args: argparse.Namespace) -> tuple[bool, list[str], list[str]]:
    """(flat, what grew, notes). See the module's docstring for the rules."""
    grew: list[str] = []
    notes: list[str] = []
    half = [s for s in soak if s.t >= soak[0].t + (soak[-1].t - soak[0].t) / 2] if soak else []
    if len(half) >= 4:
        k = min(3, len(half) // 2)
        mid = statistics.median(s.rss_mb for s in half[:k])
        last = statistics.median(s.rss_mb for s in half[-k:])
        bound = max(args.rss_bound_mb, mid * args.rss_bound_pct / 100)
        line = f"RSS over the second half {mid:.0f} -> {last:.0f} MB ({last - mid:+.0f} MB; bound {bound:.0f} MB)"
        (notes if last - mid < bound else grew).append(line)
    else:
        grew.append(f"too few samples in the second half to judge RSS ({len(half)} < 4): longer --duration "
                    f"or smaller --every")
    full = [s for s in soak if s.in_flight == n]  # the staggered start's ramp is no growth
    if len(full) >= 6:
        third = len(full) // 3
        for name in COUNTS:
            first = max(getattr(s, name) for s in full[:third])
            floor = min(getattr(s, name) for s in full[-third:])
            if floor > first:
                grew.append(f"{name}: lowest of the last third {floor} > highest of the first third {first}")
    else:
        grew.append(f"too few samples with all {n} interviews in flight to judge the counts' trend ({len(full)} < 6)")
    for name, slack in SLACK.items():
        after, before = getattr(end, name), getattr(baseline, name)
        if after > before + slack:
            grew.append(f"{name} idle after the soak {after} > baseline {before} + {slack}")
    if end.sessions > baseline.sessions:
        grew.append(f"sessions held idle after the soak: {end.sessions} (baseline {baseline.sessions})")
    if end.pcs_open:
        grew.append(f"peer connections not closed idle after the soak: {end.pcs_open}")
    if end.vision_streams > baseline.vision_streams:
        grew.append(f"video streams the vision workers still hold idle after the soak: {end.vision_streams} "
                    f"(baseline {baseline.vision_streams})")
    if end.vision_starts > baseline.vision_starts:
        grew.append(f"vision worker processes restarted during the soak: {end.vision_starts - baseline.vision_starts}")
    if end.pcs > baseline.pcs + n:
        grew.append(f"peer connections alive idle after the soak: {end.pcs} > baseline {baseline.pcs} + N={n}")
    notes.append(f"idle baseline -> end: RSS {baseline.rss_mb:.0f} -> {end.rss_mb:.0f} MB, tasks {baseline.tasks} -> "
                 f"{end.tasks}, pcs {baseline.pcs} -> {end.pcs}, threads {baseline.threads} -> {end.threads}, "
                 f"fds {baseline.fds} -> {end.fds}, sessions {baseline.sessions} -> {end.sessions}, "
                 f"vision worker streams {baseline.vision_streams} -> {end.vision_streams}, "
                 f"starts {baseline.vision_starts} -> {end.vision_starts}")
    return not grew, grew, notes


async def set_up(http: Any, server: Server, questions: int) -> tuple[str, int]:
    base = server.base
    hr = (await api(http, "POST", f"{base}/api/login", json={"email": ADMIN, "password": server.password}))["token"]
    job = await api(http, "POST", f"{base}/api/jobs", hr, json={
        "title": "현장 안전 관리자", "language": "ko",
        "dimensions": [{"name": "Safety", "keywords": KEYWORDS[:2]},
                       {"name": "Project management", "keywords": KEYWORDS[2:]}]})
    dims = [d["id"] for d in job["dimensions"]]
    tpl = await api(http, "POST", f"{base}/api/templates", hr, json={
        "job_id": job["id"], "name": "soak", "questions": [
            {"text": f"{k + 1}. 안전 절차와 프로젝트 경험에 대해 말씀해 주세요.", "time_limit_s": QUESTION_LIMIT_S,
             "dimensions": [{"dimension_id": dims[0], "weight": 1}, {"dimension_id": dims[1], "weight": 1}]}
            for k in range(questions)]})
    return hr, tpl["id"]


async def read_clients(proc: asyncio.subprocess.Process, progress: Progress, log: list[str]) -> None:
    assert proc.stdout is not None
    async for line in proc.stdout:
        try:
            m = json.loads(line)
        except json.JSONDecodeError:
            log.append(line.decode(errors="replace").rstrip())
            continue
        if m.get("event") == "start":
            progress.in_flight[m["label"]] = m["t_start"]
        elif m.get("event") == "interview":
            progress.in_flight.pop(m["label"], None)
            progress.done.append(m)


async def run_phase(server: Server, hr: str, plan: dict[str, Any], progress: Progress, log: list[str]
                    ) -> tuple[asyncio.subprocess.Process, asyncio.Task[None]]:
    proc = await asyncio.create_subprocess_exec(
        PY, __file__, "_clients", "--base", server.base, f"--hr={hr}", "--plan", json.dumps(plan),
        stdout=asyncio.subprocess.PIPE, cwd=REPO)
    return proc, asyncio.create_task(read_clients(proc, progress, log))


async def orchestrate(args: argparse.Namespace) -> int:
    import aiohttp

    from bench.media import NOISE_DBFS, fixtures

    n = args.sessions
    interview_s = args.questions * args.answer_s * (1 + JITTER)
    seconds = float(max(130, round((interview_s + 30) / 10) * 10))
    media = [str(f.path) for f in fixtures(seconds, args.variants, NOISE_DBFS)]
    work = Path(tempfile.mkdtemp(prefix="candor-bench-soak-"))
    header = (f"bench/soak.py {datetime.now().isoformat(timespec='seconds')}  sessions={n} duration={args.duration:g}s "
              f"every={args.every:g}s questions={args.questions} answer={args.answer_s:g}s(+-{JITTER:.0%}) "
              f"fps={args.fps:g} cores={os.cpu_count()} server@{_git_state()} load(1/5/15)={loadavg()} "
              f"media={Path(media[0]).name} ({seconds:.0f} s) work={work}")
    print(header, flush=True)
    server = Server(work, SimpleNamespace(fps=args.fps, worker_nice=0, switch_interval=0, vision_threads=0,
                                          vad=None), n)
    server.env["CANDOR_MAX_SESSIONS"] = str(n)
    progress = Progress()
    client_log: list[str] = []
    lines: list[str] = [header, ""]
    http = aiohttp.ClientSession()
    client: asyncio.subprocess.Process | None = None
    try:
        server.start()
        ready_s = await server.wait_ready(http)
        hr, template_id = await set_up(http, server, args.questions)
        sampler = Sampler(http, server, progress)

        def show(s: Sample) -> None:
            lines.append(row(s))
            print(row(s), flush=True)

        print(f"server ready in {ready_s:.0f} s; warm-up: one interview per slot ({WARMUP_ANSWER_S:g} s answers)",
              flush=True)
        print(HEAD, flush=True)
        lines.append(HEAD)
        show(await sampler.take("idle"))
        base_plan = {"template_id": template_id, "media": media, "slots": n}
        warm = {**base_plan, "phase": "warm", "answer_s": WARMUP_ANSWER_S, "delays": [0.5 * k for k in range(n)],
                "until": time.time() + 3600, "once": True}
        client, reader = await run_phase(server, hr, warm, progress, client_log)
        await asyncio.wait_for(client.wait(), 120 + 20 * n)
        await reader
        await asyncio.sleep(args.settle)
        baseline = await sampler.take("baseline")
        show(baseline)

        until = time.time() + args.duration
        client, reader = await run_phase(server, hr, {**base_plan, "phase": "soak", "answer_s": args.answer_s,
                                                      "delays": [k * interview_s / n for k in range(n)], "until": until,
                                                      "once": False}, progress, client_log)
        soak: list[Sample] = []
        next_at = time.monotonic() + args.every
        while time.time() < until:
            await asyncio.sleep(max(0.0, min(next_at - time.monotonic(), until - time.time())))
            if time.monotonic() >= next_at:
                s = await sampler.take("soak")
                soak.append(s)
                show(s)
                next_at += args.every
            if client.returncode is not None:
                raise RuntimeError(f"the client process exited early ({client.returncode}): {client_log[-5:]}")
        drain_deadline = time.monotonic() + interview_s + 120
        while client.returncode is None and time.monotonic() < drain_deadline:
            try:
                await asyncio.wait_for(client.wait(), args.every)
            except asyncio.TimeoutError:
                show(await sampler.take("drain"))
        if client.returncode is None:  # the last interviews are abandoned (they show as not completed)
            client.kill()
            await client.wait()
        await reader
        client = None
        await asyncio.sleep(args.settle)
        end = await sampler.take("end")
        show(end)

        flat, grew, notes = verdict(soak, baseline, end, n, args)
        soaked = [d for d in progress.done if d["label"].startswith("soak-")]
        failed = [d for d in progress.done if d["outcome"] != "completed"]
        lengths = [d["t_end"] - d["t_start"] for d in soaked if d["outcome"] == "completed"]
        joins = [d["join_s"] for d in soaked if d.get("join_s") is not None]
        lines += ["", "(t = seconds since the server was ready; pcs = RTCPeerConnection objects alive in the "
                      "server / of them not closed; threads = OS threads / Python threads (server); fds from "
                      "prometheus_client's process collector; RSS = the server's plus its vision worker "
                      "processes' (/metrics); srv CPU = the server and its vision workers, % of one core, since "
                      "the previous row)", ""]
        lines.append(f"interviews in the soak: {sum(1 for d in soaked if d['outcome'] == 'completed')} completed of "
                     f"{len(soaked)}" + (f", {statistics.mean(lengths):.0f} s each (mean)" if lengths else "")
                     + (f", join (invitation -> first question) p50 {statistics.median(joins):.1f} s, max "
                        f"{max(joins):.1f} s" if joins else "")
                     + f"; offers/websockets refused with 503 and retried: {sum(d['refused'] for d in progress.done)}")
        for d in failed:
            lines.append(f"  did not complete: {d['label']} (interview {d.get('interview_id')}): {d['outcome']}")
        for label in progress.in_flight:  # still going at the drain deadline: the client was killed
            failed.append({"label": label})
            lines.append(f"  did not complete: {label}: still in progress at the drain deadline")
        lines += notes
        lines.append("VERDICT: " + ("FLAT" if flat else "GREW: " + "; ".join(grew))
                     + (f" ({len(failed)} interview(s) did not complete)" if failed else ""))
        print("\n".join(lines[lines.index(HEAD) + 1 + len(sampler.samples):]), flush=True)
        if args.out:
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("\n".join(lines) + "\n")  # noqa: ASYNC240 (once, at the end)
            print(f"written to {args.out}")
        return 0 if flat and not failed else 1
    finally:
        if client is not None and client.returncode is None:
            client.kill()
            await client.wait()
        await http.close()
        server.stop()
        if args.keep_work:
            print(f"server log and data kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_clients":
        ap = argparse.ArgumentParser()
        ap.add_argument("_clients")
        ap.add_argument("--base", required=True)
        ap.add_argument("--hr", required=True)
        ap.add_argument("--plan", required=True)
        asyncio.run(run_clients(ap.parse_args()))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    env_n = os.environ.get("CANDOR_MAX_SESSIONS")
    ap.add_argument("--sessions", type=int, default=int(env_n) if env_n else None,
                    help="interviews at once (default: CANDOR_MAX_SESSIONS; the capacity bench/live.py measured)")
    ap.add_argument("--duration", type=float, default=3600.0, help="seconds of soak (new candidates start until then)")
    ap.add_argument("--every", type=float, default=30.0, help="seconds between two samples")
    ap.add_argument("--questions", type=int, default=3, help="questions per interview")
    ap.add_argument("--answer-s", type=float, default=30.0, help="seconds per answer (+-20 %%)")
    ap.add_argument("--fps", type=float, default=5.0, help="CANDOR_ANALYSIS_FPS for the server")
    ap.add_argument("--variants", type=int, default=2, help="media files (answer offsets) the slots take in turn")
    ap.add_argument("--settle", type=float, default=15.0, help="idle seconds before the baseline and the end point")
    ap.add_argument("--rss-bound-mb", type=float, default=50.0)
    ap.add_argument("--rss-bound-pct", type=float, default=5.0)
    ap.add_argument("--keep-work", action="store_true", help="keep the server's log and data directory")
    ap.add_argument("--out", help="also write the report here (bench/results/soak-....txt: idle machine only)")
    args = ap.parse_args()
    if not args.sessions or args.sessions < 1:
        ap.error("give --sessions N or set CANDOR_MAX_SESSIONS (the capacity measured with bench/live.py)")
    if args.every <= 0 or args.duration <= 0:
        ap.error("--every and --duration must be > 0")
    ensure_private_netns()
    sys.exit(asyncio.run(orchestrate(args)))


if __name__ == "__main__":
    main()
