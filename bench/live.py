"""Live interview capacity: N concurrent aiortc candidates against a real server process.

    .venv/bin/python bench/live.py --sessions 1,2,4,8 --warmup 10 --window 30 [--fps 5]
                                   [--no-analysis] [--aligned] [--profile N] [--out FILE]
                                   [--question-s 45] [--duration 600] [--clean-audio] [--vad silero|energy|off]

Everything runs in a private network namespace (the script re-executes itself under
``unshare -n`` and brings ``lo`` up; root needed), so only 127.0.0.1 is ever used. For each N:

1. a fresh CANDOR_DATA_DIR, an admin made with ``run.py adduser``, then ``run.py serve`` in a
   subprocess (through a thin wrapper that only gives each OS thread its Python thread name, so
   CPU can be attributed per thread group) with ICE on 127.0.0.1 and no STUN;
2. over the HR API: a Korean job, a template with enough questions for the run (600 s limit
   each), N candidates, N invitations; the bench opens ``/ws/monitor`` as the admin (an HR
   panel watching every interview);
3. a client process (two above 10 sessions) runs N aiortc candidates: candidate websocket,
   ``{"type": "start", "consent": true}``, an offer carrying ``MediaPlayer(webm, decode=False)``
   tracks (pre-encoded VP8 640x480@15 + Opus from bench/media.py, sent as is: cheap for the
   client; the answer has a room noise floor of -58..-47 dBFS, ``--clean-audio`` for digital
   silence between the words), then they stream and each sends ``next`` every
   ``--question-s`` seconds (candidate i shifted by i x question_s / N), so the window holds
   question changes (``--question-s 0``: one 600 s question, nobody presses next);
4. once all N are live: ``--warmup`` seconds, then a ``--window`` (``--duration``) of measurement.

Measured over the window (see bench/README.md for how to read the table):
- server CPU (psutil, all threads of the server and its vision worker processes, % of one
  core; the machine has nproc x 100 %), per session, and by thread group (vision worker
  processes, vision_*, asr-*, audio-/video-decoder, the event loop, store_*, ...);
- from the HR feed's ``connection`` events (every 2 s per interview): analysed and received fps
  per session, frames dropped by the sampler, audio seconds received per wall second, ASR
  real-time factor (Kaldi CPU s per audio s) and ASR lag (audio queued, not yet recognised);
- final-transcript lag: end of an utterance as the client sent it -> the ``transcript``
  final event's server timestamp (includes Vosk's ~1 s endpoint silence);
- speech -> HR panel, split: for every transcript event (partials and finals) received in the
  window, the recogniser's own delay (``heard_to_s - end_s``) and what our pipeline adds (panel
  receipt minus the moment the client was due to send the audio at ``heard_to_s``; how late
  the client really handed its audio packets to its sender is reported beside it, and counts
  against us);
- server RSS (with its vision workers), and under the verdict memory per session (the slope
  over the sweep's N); client CPU, the load average before and after (other work on the machine skews
  every number here: read it).
- the share of the received audio the voice gate kept away from the recogniser (skipped).

The verdict is strict: a row is OK only when every one of these holds, and the row names each
that failed: every session analyses >= ``--min-fps`` (4) frames/s; audio arrives in real time
(>= 0.97 s/s, < 2 s behind); the ASR lag is < 2 s at the end and grew by <= 1 s; final-transcript
lag p90 <= 2 s (and there are finals); what our pipeline adds to speech -> panel p95 <=
``--max-added-p95`` (0.2 s); no RTP packet lost; every session live throughout (no
state other than ``live`` from the warm-up on) and reporting health. The verdict is the largest
OK N.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
NETNS_MARK = "CANDOR_BENCH_NETNS"
NICE: list[str] = []  # ["nice", "-n", "-10"] with --nice -10
ADMIN = "bench-admin@example.com"
KEYWORDS = ["안전", "절차", "프로젝트", "일정", "팀"]
QUESTION_LIMIT_S = 600  # each question's time limit: only the candidates' `next` ends one


# ------------------------------------------------------------------------------------------
# network namespace
# ------------------------------------------------------------------------------------------

def _only_loopback() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def ensure_private_netns() -> None:
    """Re-execute under `unshare -n` unless this process already has only `lo`."""
    if _only_loopback():
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if os.environ.get(NETNS_MARK):
        sys.exit(f"{sys.argv[0]}: still not in a private network namespace after unshare -n")
    if os.geteuid() != 0 or not shutil.which("unshare"):
        sys.exit(f"{sys.argv[0]} needs root and unshare(1): it runs everything in a private network namespace")
    env = {**os.environ, NETNS_MARK: "1"}
    os.execvpe("unshare", ["unshare", "-n", "--", PY, *sys.argv], env)


# ------------------------------------------------------------------------------------------
# the server wrapper: `live.py _server ARGS` == `run.py serve ARGS` with OS thread names
# ------------------------------------------------------------------------------------------

def serve_with_thread_names(argv: list[str]) -> None:
    """Run `run.py serve` unchanged, except that every thread's OS name (/proc/.../comm, 15
    chars) is set to its Python name when it starts, so per-thread CPU can be grouped. Native
    threads (FFmpeg, onnxruntime) inherit the name of the thread that created them."""
    import ctypes
    import runpy
    import threading

    libc = ctypes.CDLL(None, use_errno=True)

    def set_name(name: str) -> None:
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME

    original = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    worker_nice = int(os.environ.get("CANDOR_BENCH_WORKER_NICE") or 0)

    def bootstrap(self: threading.Thread) -> None:
        try:
            set_name(self.name)
            if worker_nice and re.match(r"vision|asr-", self.name):
                # experiment (--worker-nice): analysis threads yield to the event loop and decoders
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), worker_nice)
        except Exception:
            pass
        original(self)

    threading.Thread._bootstrap_inner = bootstrap  # type: ignore[attr-defined]
    if os.environ.get("CANDOR_BENCH_SWITCH_INTERVAL"):  # an experiment: --switch-interval
        sys.setswitchinterval(float(os.environ["CANDOR_BENCH_SWITCH_INTERVAL"]))
    set_name("event-loop")
    sys.argv = [str(REPO / "run.py"), "serve", *argv]
    sys.path.insert(0, str(REPO))
    os.chdir(REPO)
    runpy.run_path(str(REPO / "run.py"), run_name="__main__")


THREAD_GROUPS = [
    (re.compile(r"^event-loop$"), "event loop (main)"),
    (re.compile(r"^worker:"), "vision worker processes (ONNX)"),
    (re.compile(r"^vision-dispatch"), "vision-dispatch (frames to workers)"),
    (re.compile(r"^vision"), "vision_* (ONNX)"),
    (re.compile(r"^asr-"), "asr-* (Vosk)"),
    (re.compile(r"^video-decoder"), "video-decoder (VP8)"),
    (re.compile(r"^audio-decoder"), "audio-decoder (Opus)"),
    (re.compile(r"^store"), "store_* (SQLite)"),
    (re.compile(r"^asyncio"), "asyncio_* (default executor)"),
    (re.compile(r"^model-loader|^load-vosk"), "model-loader"),
]


def thread_group(name: str) -> str:
    for pattern, group in THREAD_GROUPS:
        if pattern.search(name):
            return group
    return f"other ({name})"


def server_processes(pid: int) -> list[Any]:
    """The server process and its children (the vision worker processes)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """tid -> (OS thread name, CPU seconds), over the server and its child processes (whose
    threads are named "worker:<name>")."""
    import psutil

    out: dict[int, tuple[str, float]] = {}
    for proc in server_processes(pid):
        try:
            threads = proc.threads()
        except psutil.Error:
            continue
        for t in threads:
            try:
                name = Path(f"/proc/{proc.pid}/task/{t.id}/comm").read_text().strip()
            except OSError:
                name = "?"
            if proc.pid != pid:
                name = f"worker:{name}"
            out[t.id] = (name, t.user_time + t.system_time)
    return out


def server_cpu_rss(pid: int) -> tuple[float, int]:
    """CPU seconds and resident bytes of the server and its children together."""
    import psutil

    cpu = 0.0
    rss = 0
    for proc in server_processes(pid):
        try:
            t = proc.cpu_times()
            cpu += t.user + t.system
            rss += proc.memory_info().rss
        except psutil.Error:
            continue
    return cpu, rss


# ------------------------------------------------------------------------------------------
# the client process: `live.py _clients --base URL --plan JSON`
# ------------------------------------------------------------------------------------------

async def run_clients(base: str, plan: list[dict[str, str]], gap_s: float) -> None:
    import aiohttp
    import aioice.ice
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaPlayer

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # type: ignore[assignment]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def emit(**msg: Any) -> None:
        print(json.dumps(msg), flush=True)

    http = aiohttp.ClientSession()
    pcs: list[Any] = []
    players: list[Any] = []
    sockets: list[Any] = []
    reporters: list[asyncio.Task[None]] = []

    async def one(item: dict[str, str]) -> None:
        token = item["token"]
        ws = await http.ws_connect(f"{base}/i/{token}/ws")
        sockets.append(ws)
        got: dict[str, Any] = {"captions": 0, "question_at": None, "states": []}

        async def read() -> None:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                m = json.loads(msg.data)
                if m.get("type") == "caption":
                    got["captions"] += 1
                elif m.get("type") == "question" and got["question_at"] is None:
                    got["question_at"] = time.time()
                elif m.get("type") == "state":
                    got["states"].append(m.get("state"))

        asyncio.create_task(read())
        await ws.send_json({"type": "start", "consent": item.get("consent", True)})
        player = MediaPlayer(item["media"], decode=False)
        players.append(player)
        audio = player.audio
        recv, late_s = audio.recv, []

        async def recv_timed() -> Any:
            # How late this client hands each audio packet to its sender (file time t is due
            # at _start + t): it counts against the server in the speech -> panel split.
            packet = await recv()
            if audio._start is not None and packet.pts is not None:  # type: ignore[attr-defined]
                late_s.append(time.time() - audio._start - float(packet.pts * packet.time_base))  # type: ignore[attr-defined]
            return packet

        audio.recv = recv_timed  # type: ignore[method-assign]

        async def report_late() -> None:
            while not stop.is_set():
                await asyncio.sleep(5)
                emit(event="send_late", token=token, t=time.time(), late_ms=[round(x * 1000, 1) for x in late_s])
                late_s.clear()

        reporters.append(asyncio.create_task(report_late()))
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pcs.append(pc)
        pc.addTrack(player.audio)
        pc.addTrack(player.video)
        await pc.setLocalDescription(await pc.createOffer())
        async with http.post(f"{base}/i/{token}/offer",
                             json={"sdp": pc.localDescription.sdp, "type": "offer"}) as resp:
            body = await resp.json()
            if resp.status != 200:
                emit(event="error", token=token, status=resp.status, body=body)
                return
        await pc.setRemoteDescription(RTCSessionDescription(**body))
        # MediaPlayer paces packets from the first one each track sends: file time t goes out
        # at wall time track._start + t.
        deadline = time.monotonic() + 30
        while player.audio._start is None and time.monotonic() < deadline:  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)
        emit(event="streaming", token=token, audio_start=player.audio._start,  # type: ignore[attr-defined]
             video_start=player.video._start, pc=pc.connectionState)  # type: ignore[attr-defined]
        nexts = 0
        every = float(item.get("next_every") or 0)
        if every > 0:
            # question changes: the first after next_first s, then every `every` s
            due = time.monotonic() + float(item.get("next_first") or every)
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), max(0.0, due - time.monotonic()))
                except asyncio.TimeoutError:
                    await ws.send_json({"type": "next"})
                    nexts += 1
                    emit(event="next", token=token, k=nexts, t=time.time())
                    due += every
        await stop.wait()
        emit(event="client_end", token=token, captions=got["captions"], states=got["states"],
             pc=pc.connectionState, nexts=nexts)

    tasks = []
    for item in plan:
        tasks.append(asyncio.create_task(one(item)))
        await asyncio.sleep(gap_s)
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in reporters:
        task.cancel()
    for pc in pcs:
        await pc.close()
    for ws in sockets:
        await ws.close()
    await http.close()


# ------------------------------------------------------------------------------------------
# the orchestrator
# ------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _git_state() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "server", "analyzers"], cwd=REPO,
                               capture_output=True, text=True).stdout.split()
        return head + (f"+dirty({len(dirty) // 2} files)" if dirty else "")
    except OSError:
        return "?"


def vmstat() -> dict[str, int]:
    """The kernel's file refaults and major page faults so far (/proc/vmstat)."""
    out: dict[str, int] = {}
    try:
        for line in Path("/proc/vmstat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key in ("workingset_refault_file", "pgmajfault"):
                out[key] = int(value)
    except OSError:
        pass
    return out


def loadavg() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


@dataclass
class Live:
    """What the HR feed and the clients told us during one run."""

    t0: float = 0.0
    connection: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    finals: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    partials: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    states: dict[int, str] = field(default_factory=dict)
    state_log: list[tuple[float, int, str, str]] = field(default_factory=list)
    streaming: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> client report
    client_end: dict[str, dict[str, Any]] = field(default_factory=dict)
    nexts: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # token -> send times
    send_late: list[tuple[float, list[float]]] = field(default_factory=list)  # (reported at, ms late each)
    errors: list[str] = field(default_factory=list)


class Server:
    def __init__(self, work: Path, args: argparse.Namespace, n: int) -> None:
        self.data = work / f"data-{n}"
        self.data.mkdir(parents=True)
        self.log = work / f"server-{n}.log"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "CANDOR_DATA_DIR": str(self.data), "CANDOR_ICE_HOST_ADDRESSES": "127.0.0.1",
                    "CANDOR_ICE_SERVERS": "[]", "CANDOR_MAX_SESSIONS": "64", "CANDOR_ANALYSIS_FPS": str(args.fps),
                    "CANDOR_PUBLIC_URL": self.base, "PYTHONUNBUFFERED": "1", "CANDOR_LOG_LEVEL": "INFO"}
        if args.worker_nice:
            self.env["CANDOR_BENCH_WORKER_NICE"] = str(args.worker_nice)
        if args.switch_interval:
            self.env["CANDOR_BENCH_SWITCH_INTERVAL"] = str(args.switch_interval)
        if args.vision_threads:
            self.env["CANDOR_VISION_THREADS"] = str(args.vision_threads)
        if getattr(args, "vad", None):
            self.env["CANDOR_VAD"] = args.vad
        self.password = secrets.token_urlsafe(16)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        subprocess.run([PY, str(REPO / "run.py"), "adduser", ADMIN, "--role", "admin", "--password-stdin"],
                       input=(self.password + "\n").encode(), env=self.env, cwd=REPO, check=True,
                       capture_output=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([*NICE, PY, __file__, "_server", "--host", "127.0.0.1", "--port", str(self.port)],
                                         env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    async def wait_ready(self, http: Any, timeout: float = 180) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); log: {self.log}\n"
                                   + self.log.read_text(errors="replace")[-3000:])
            try:
                async with http.get(f"{self.base}/api/health") as r:
                    if r.status == 200 and (await r.json()).get("models_ready"):
                        return time.monotonic() - started
            except Exception:
                pass
            await asyncio.sleep(0.25)
        raise RuntimeError(f"server not ready in {timeout} s; log: {self.log}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


async def api(http: Any, method: str, url: str, token: str | None = None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, headers=headers, **kw) as r:
        body = await r.json()
        if r.status >= 300:
            raise RuntimeError(f"{method} {url} -> {r.status} {body}")
        return body


async def set_up_interviews(http: Any, server: Server, n: int,
                            questions: int = 1) -> tuple[str, list[dict[str, Any]]]:
    base = server.base
    token = (await api(http, "POST", f"{base}/api/login", json={"email": ADMIN, "password": server.password}))["token"]
    job = await api(http, "POST", f"{base}/api/jobs", token, json={
        "title": "현장 안전 관리자", "language": "ko",
        "dimensions": [{"name": "Safety", "keywords": KEYWORDS[:2],
                        "rules": [{"signal": "eye_contact_ratio", "op": ">=", "value": 0.5, "points": 10}]},
                       {"name": "Project management", "keywords": KEYWORDS[2:]}]})
    dims = [d["id"] for d in job["dimensions"]]
    tpl = await api(http, "POST", f"{base}/api/templates", token, json={
        "job_id": job["id"], "name": "bench", "questions": [
            {"text": f"{k + 1}. 안전 절차와 프로젝트 경험에 대해 말씀해 주세요.", "time_limit_s": QUESTION_LIMIT_S,
             "dimensions": [{"dimension_id": dims[0], "weight": 1}, {"dimension_id": dims[1], "weight": 1}]}
            for k in range(questions)]})
    ids = []
    for i in range(n):
        c = await api(http, "POST", f"{base}/api/candidates", token,
                      json={"name": f"후보 {i + 1}", "email": f"cand{i + 1}@example.com"})
        ids.append(c["id"])
    inv = await api(http, "POST", f"{base}/api/invitations", token, json={
        "template_id": tpl["id"], "candidate_ids": ids,
        "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()})
    return token, inv["invitations"]


async def read_monitor(http: Any, base: str, token: str, live: Live) -> None:
    async with http.ws_connect(f"{base}/ws/monitor?token={token}", heartbeat=None) as ws:
        async for msg in ws:
            e = json.loads(msg.data)
            kind, iid = e.get("type"), e.get("interview_id")
            if kind == "connection":
                live.connection[iid].append(e)
            elif kind == "transcript":
                e["received"] = time.time()
                (live.finals if e.get("final") else live.partials)[iid].append(e)
            elif kind == "state":
                live.states[iid] = e["state"]
                live.state_log.append((e["ts"], iid, e["state"], e.get("reason", "")))


async def read_clients(proc: asyncio.subprocess.Process, live: Live) -> None:
    assert proc.stdout is not None
    async for line in proc.stdout:
        try:
            m = json.loads(line)
        except json.JSONDecodeError:
            continue
        if m.get("event") == "streaming":
            live.streaming[m["token"]] = m
        elif m.get("event") == "client_end":
            live.client_end[m["token"]] = m
        elif m.get("event") == "next":
            live.nexts[m["token"]].append(m["t"])
        elif m.get("event") == "send_late":
            live.send_late.append((m["t"], m["late_ms"]))
        elif m.get("event") == "error":
            live.errors.append(json.dumps(m))


def _window_pair(events: list[dict[str, Any]], t_start: float, t_end: float) -> tuple[dict, dict] | None:
    inside = [e for e in events if t_start <= e["ts"] <= t_end]
    if len(inside) < 2:
        return None
    return inside[0], inside[-1]


def final_lags(finals: list[dict[str, Any]], audio_start: float, utterances: list[tuple[float, float]],
               t_start: float, t_end: float) -> tuple[list[float], float | None]:
    """Lag of each final (server ts) behind the moment its last word left the client. The
    transcript's end_s is on the server's clock for the stream; its offset to the file's time is
    estimated as the median distance from a final's end to the nearest utterance end."""
    if not finals or not utterances:
        return [], None
    ends = [b for _, b in utterances]
    residuals = [f["end_s"] - min(ends, key=lambda u: abs(u - f["end_s"])) for f in finals if f.get("end_s") is not None]
    if not residuals:
        return [], None
    offset = statistics.median(residuals)
    # refine once with the offset removed (a final cut inside a sentence does not vote)
    residuals = [f["end_s"] - offset - min(ends, key=lambda u: abs(u - (f["end_s"] - offset))) for f in finals
                 if f.get("end_s") is not None]
    offset += statistics.median(residuals)
    lags = [f["ts"] - (audio_start + f["end_s"] - offset) for f in finals
            if f.get("end_s") is not None and t_start <= f["ts"] <= t_end]
    return lags, offset


def latency_split(events: list[dict[str, Any]], audio_start: float, offset: float,
                  t_start: float, t_end: float) -> tuple[list[float], list[float]]:
    """Speech -> HR panel, split in two for each transcript event received in the window:
    the recogniser's own delay (``heard_to_s - end_s``: the audio it needed after the last word
    before it said it, a property of the model and its endpointing) and what our pipeline added
    (panel receipt minus the moment the client sent the audio the recogniser had heard up to:
    network, jitter buffer, decoder, audio pump, queue, the recogniser's compute for the last
    batch, storing a final, the bus and the websocket)."""
    own: list[float] = []
    added: list[float] = []
    for e in events:
        if e.get("end_s") is None or e.get("heard_to_s") is None or not t_start <= e["received"] <= t_end:
            continue
        own.append(e["heard_to_s"] - e["end_s"])
        added.append(e["received"] - (audio_start + e["heard_to_s"] - offset))
    return own, added


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


async def run_one(n: int, args: argparse.Namespace, media: list[Any], work: Path, profile: bool) -> dict[str, Any]:
    import aiohttp
    import psutil

    server = Server(work, args, n)
    live = Live()
    result: dict[str, Any] = {"n": n, "load_before": loadavg()}
    clients: list[asyncio.subprocess.Process] = []
    tasks: list[asyncio.Task[Any]] = []
    http = aiohttp.ClientSession()
    try:
        server.start()
        result["ready_s"] = round(await server.wait_ready(http), 1)
        hr_token, invitations = await set_up_interviews(http, server, n, questions_needed(args, n))
        tasks.append(asyncio.create_task(read_monitor(http, server.base, hr_token, live)))
        plan = []
        by_token: dict[str, dict[str, Any]] = {}
        for i, inv in enumerate(invitations):
            fx = media[0] if args.aligned else media[i % len(media)]
            token = inv["url"].rsplit("/", 1)[1]
            item: dict[str, Any] = {"token": token, "media": str(fx.path), "consent": not args.no_analysis}
            if args.question_s > 0:
                item.update(next_every=args.question_s, next_first=args.question_s * (1 + i / n))
            plan.append(item)
            by_token[token] = {"interview_id": inv["interview_id"], "fixture": fx}
        procs = args.client_procs or (1 if n <= 10 else 2)
        for k in range(procs):
            part = plan[k::procs]
            if not part:
                continue
            p = await asyncio.create_subprocess_exec(
                *NICE, PY, __file__, "_clients", "--base", server.base, "--plan", json.dumps(part),
                "--gap", str(args.connect_gap), stdout=asyncio.subprocess.PIPE, cwd=REPO)
            clients.append(p)
            tasks.append(asyncio.create_task(read_clients(p, live)))
        t_connect = time.monotonic()
        iids = [v["interview_id"] for v in by_token.values()]
        while not (len(live.streaming) == n and all(live.states.get(i) == "live" for i in iids)):
            if time.monotonic() - t_connect > 60 + 2 * n:
                raise RuntimeError(f"only {len(live.streaming)}/{n} clients streaming, states "
                                   f"{sorted(live.states.values())}; errors {live.errors[:3]}")
            await asyncio.sleep(0.2)
        result["connect_s"] = round(time.monotonic() - t_connect, 1)
        await asyncio.sleep(args.warmup)

        sp = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
        cps = [psutil.Process(c.pid) for c in clients]
        result["load_start"] = loadavg()
        t_start = time.time()
        (cpu0, _), th0 = server_cpu_rss(sp.pid), thread_cpu(sp.pid)
        ccpu0 = sum(sum(c.cpu_times()[:2]) for c in cps)
        mcpu0 = psutil.cpu_times()
        vm0 = vmstat()
        rss: list[int] = []
        prof_proc = None
        if profile and shutil.which(str(Path(PY).parent / "py-spy")):
            prof_out = work / f"pyspy-{n}.txt"
            prof_proc = subprocess.Popen(
                [str(Path(PY).parent / "py-spy"), "record", "--pid", str(sp.pid), "--duration", str(int(min(args.window, 20))),
                 "--rate", "67", "--format", "raw", "--output", str(prof_out), "--threads", "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        gil_proc = None
        if args.gil and not profile:
            gil_out = work / f"gil-{n}.txt"
            gil_s = int(min(args.window, 15))
            gil_proc = subprocess.Popen(
                [str(Path(PY).parent / "py-spy"), "record", "--pid", str(sp.pid), "--duration", str(gil_s),
                 "--rate", "100", "--format", "raw", "--output", str(gil_out), "--gil", "--idle", "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        end_at = time.monotonic() + args.window
        while time.monotonic() < end_at:
            rss.append(server_cpu_rss(sp.pid)[1])
            await asyncio.sleep(min(2.0, max(0.0, end_at - time.monotonic())))
        t_end = time.time()
        wall = t_end - t_start
        (cpu1, rss_end), th1 = server_cpu_rss(sp.pid), thread_cpu(sp.pid)
        ccpu1 = sum(sum(c.cpu_times()[:2]) for c in cps)
        mcpu1 = psutil.cpu_times()
        vm1 = vmstat()
        # File pages dropped from the page cache and read from disk again (on these VMs with 19 GB
        # free, not by the guest's own reclaim) and CPU taken by the host: stalls that are the
        # machine's. Shown so that a run's environment can be read beside its verdict.
        result["vm"] = {k: (vm1.get(k, 0) - vm0.get(k, 0)) / (t_end - t_start) for k in vm1}
        result["steal_pct"] = (getattr(mcpu1, "steal", 0.0) - getattr(mcpu0, "steal", 0.0)) / (t_end - t_start) * 100
        rss.append(rss_end)
        result["load_end"] = loadavg()
        if prof_proc is not None:
            _, err = prof_proc.communicate(timeout=60)
            result["profile"] = str(prof_out)
            if prof_proc.returncode:
                result["profile_error"] = err.decode(errors="replace")[-500:]

        if gil_proc is not None:
            gil_proc.communicate(timeout=60)
            if gil_out.is_file():
                by: dict[str, int] = defaultdict(int)
                total = 0
                for line in gil_out.read_text(errors="replace").splitlines():
                    stack, _, count = line.rpartition(" ")
                    if count.isdigit():
                        total += int(count)
                        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread ("))]
                        key = next((m.group(1) for f in frames for m in [re.search(r"\((analyzers/\w+|server/\w+)", f)] if m), "other")
                        by[key] += int(count)
                result["gil"] = (total / (100 * gil_s), {k: round(v / (100 * gil_s) * 100, 1) for k, v in
                                                         sorted(by.items(), key=lambda kv: -kv[1])[:6]})
        # --- CPU
        server_cpu = (cpu1 - cpu0) / wall * 100
        result["server_cpu"] = server_cpu
        result["client_cpu"] = (ccpu1 - ccpu0) / wall * 100
        idle = (mcpu1.idle + mcpu1.iowait) - (mcpu0.idle + mcpu0.iowait)
        result["machine_cpu"] = (sum(mcpu1) - sum(mcpu0) - idle) / wall * 100
        result["others_cpu"] = result["machine_cpu"] - server_cpu - result["client_cpu"]
        groups: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for tid, (name, sec) in th1.items():
            before = th0.get(tid, (name, 0.0))[1]
            g = thread_group(name)
            groups[g] += (sec - before) / wall * 100
            counts[g] += 1
        result["threads"] = {g: (round(v, 1), counts[g]) for g, v in sorted(groups.items(), key=lambda kv: -kv[1])}
        result["rss_mb"] = (max(rss) / 1e6, rss[-1] / 1e6)

        # --- per session, from the HR feed
        fps_a, fps_r, drop, audio, rtf, lag_end, lag_growth, lag_max, kbps, loss = ([] for _ in range(10))
        skipped: list[float] = []  # share of the window's audio the voice gate did not feed to Vosk
        lost_packets: list[int] = []
        fps_target: list[float] = []
        behind_end: list[float] = []
        behind_max: list[float] = []
        lags_all: list[float] = []
        offsets: list[float] = []
        split: dict[str, tuple[list[float], list[float]]] = {"final": ([], []), "partial": ([], [])}
        delivery: dict[str, list[tuple[float, float]]] = {"final": [], "partial": []}
        missing = 0
        for token, info in by_token.items():
            iid = info["interview_id"]
            pair = _window_pair(live.connection.get(iid, []), t_start, t_end)
            if pair is None:
                missing += 1
                continue
            a, b = pair
            dt = b["ts"] - a["ts"]
            fps_a.append((b["frames_analysed"] - a["frames_analysed"]) / dt)
            fps_r.append((b["frames_received"] - a["frames_received"]) / dt)
            drop.append((b["frames_dropped"] - a["frames_dropped"]) / dt)
            audio.append((b["audio_seconds"] - a["audio_seconds"]) / dt)
            inside = [e for e in live.connection[iid] if t_start <= e["ts"] <= t_end]
            if "asr_lag_s" in b:
                rtf.append(b.get("asr_rtf") or 0.0)
                lag_end.append(b["asr_lag_s"])
                lag_growth.append(b["asr_lag_s"] - a["asr_lag_s"])
                lag_max.append(max(e.get("asr_lag_s", 0.0) for e in inside))
            kb = [e["bitrate_kbps"] for e in inside if "bitrate_kbps" in e]
            if kb:
                kbps.append(statistics.mean(kb))
            loss.append(b.get("packet_loss", 0.0))
            lost_packets.append(int(b.get("packets_lost", 0) or 0))
            if "analysis_fps_target" in b:
                fps_target.append(b["analysis_fps_target"])
            if "asr_audio_s" in a and "asr_audio_s" in b and b["asr_audio_s"] > a["asr_audio_s"]:
                skipped.append(1 - (b["asr_fed_s"] - a["asr_fed_s"]) / (b["asr_audio_s"] - a["asr_audio_s"]))
            stream = live.streaming.get(token)
            if stream and stream.get("audio_start"):
                # audio sent but not yet through the audio pump (network, decoder, event loop)
                behind = [(e["ts"] - stream["audio_start"]) - e["audio_seconds"] for e in inside]
                behind_end.append(behind[-1])
                behind_max.append(max(behind))
                lags, offset = final_lags(live.finals.get(iid, []), stream["audio_start"],
                                          info["fixture"].utterances, t_start, t_end)
                lags_all += lags
                if offset is not None:
                    offsets.append(offset)
                    for kind, events in (("final", live.finals), ("partial", live.partials)):
                        own, added = latency_split(events.get(iid, []), stream["audio_start"], offset,
                                                   t_start, t_end)
                        split[kind][0].extend(own)
                        split[kind][1].extend(added)
                        # the last stretch alone: the server's publish -> this process's receipt
                        # (publish -> the server's send, send -> received), both stamped
                        delivery[kind].extend((e["sent"] - e["ts"], e["received"] - e["sent"])
                                              for e in events.get(iid, [])
                                              if t_start <= e["received"] <= t_end and "sent" in e)
        result.update(missing=missing, fps_a=fps_a, fps_r=fps_r, drop=drop, audio=audio, rtf=rtf,
                      lag_end=lag_end, lag_growth=lag_growth, lag_max=lag_max, kbps=kbps, loss=loss,
                      final_lags=lags_all, offsets=offsets, split=split, delivery=delivery, wall=wall, behind_end=behind_end,
                      behind_max=behind_max, skipped=skipped, lost_packets=lost_packets, fps_target=fps_target,
                      nexts=sum(1 for ts in live.nexts.values() for t in ts if t_start <= t <= t_end),
                      send_late_ms=[x for t, late in live.send_late if t_start < t <= t_end + 5 for x in late])
        (work / f"events-{n}.json").write_text(json.dumps(
            {"t_start": t_start, "t_end": t_end, "streaming": live.streaming,
             "by_token": {t: v["interview_id"] for t, v in by_token.items()},
             "connection": live.connection, "finals": live.finals, "states": live.state_log}, default=str))
        left = [(round(ts - t_start, 1), iid, st, why) for ts, iid, st, why in live.state_log
                if ts >= t_start - args.warmup and st != "live"]
        if left:
            result["state_changes"] = left[:12]
        result["left_live"] = len({iid for _, iid, _, _ in left})
        result["live_states"] = sum(1 for i in iids if live.states.get(i) == "live")
        return result
    finally:
        for c in clients:
            if c.returncode is None:
                c.send_signal(signal.SIGTERM)
        for c in clients:
            try:
                await asyncio.wait_for(c.wait(), 20)
            except asyncio.TimeoutError:
                c.kill()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await http.close()
        server.stop()


def criteria(r: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The strict verdict: each criterion that failed, named with its numbers (empty: OK)."""
    why = []
    if r.get("error"):
        return [r["error"]]
    n = r["n"]
    if r["missing"] or (not r["fps_a"] and not args.no_analysis):
        why.append(f"health: {r['missing']} of {n} sessions sent no health events in the window")
    if not args.no_analysis and r["fps_a"] and min(r["fps_a"]) < args.min_fps:
        slow = sum(1 for f in r["fps_a"] if f < args.min_fps)
        why.append(f"fps: {slow} of {n} sessions < {args.min_fps:g} analysed fps (worst {min(r['fps_a']):.1f})")
    if r["audio"] and min(r["audio"]) < 0.97:
        why.append(f"audio: not real time, {min(r['audio']):.2f} s/s")
    if r.get("behind_end") and max(r["behind_end"]) >= 2.0:
        why.append(f"audio: reaches the ASR {max(r['behind_end']):.1f} s late")
    if r["lag_end"] and (max(r["lag_end"]) >= 2.0 or max(r["lag_growth"]) > 1.0):
        why.append(f"ASR lag: {max(r['lag_end']):.1f} s at the end, growth {max(r['lag_growth']):+.1f} s")
    if not args.no_analysis:
        fl = r["final_lags"]
        if not fl:
            why.append("final lag: no final transcript in the window")
        elif pct(fl, .9) > args.max_final_p90:
            why.append(f"final lag: p90 {pct(fl, .9):.1f} s > {args.max_final_p90:g} s")
        added = [a for kind in ("final", "partial") for a in (r.get("split") or {}).get(kind, ([], []))[1]]
        if added and pct(added, .95) > args.max_added_p95:
            why.append(f"speech -> panel: our pipeline adds p95 {pct(added, .95):.2f} s > "
                       f"{args.max_added_p95:g} s on top of the recogniser's own delay")
    lost = sum(r.get("lost_packets") or [])
    if lost or (r["loss"] and max(r["loss"]) > 0):
        why.append(f"packet loss: {lost} RTP packets lost (worst session {max(r['loss'] or [0.0]):.1%})")
    if r.get("left_live") or r.get("live_states", n) < n:
        why.append(f"live: {max(r.get('left_live', 0), n - r.get('live_states', n))} of {n} sessions "
                   f"left 'live' (first changes: {(r.get('state_changes') or [])[:3]})")
    if r["fps_r"] and min(r["fps_r"]) < 13.5:
        why.append(f"video: received fps {min(r['fps_r']):.1f}")
    return why


def healthy(r: dict[str, Any], args: argparse.Namespace) -> tuple[bool, str]:
    why = criteria(r, args)
    return not why, "; ".join(why) or "ok"


def questions_needed(args: argparse.Namespace, n: int) -> int:
    """Enough questions that no candidate reaches the last during the run."""
    if args.question_s <= 0:
        return 1
    total = args.warmup + args.window + 60 + 2 * n + 2 * args.question_s
    return max(2, min(50, int(total / args.question_s) + 2))


def fmt(values: list[float], spec: str = ".1f", how: str = "minmean") -> str:
    if not values:
        return "-"
    if how == "minmean":
        return f"{min(values):{spec}}/{statistics.mean(values):{spec}}"
    if how == "maxmean":
        return f"{statistics.mean(values):{spec}}/{max(values):{spec}}"
    return f"{max(values):{spec}}"


def report(results: list[dict[str, Any]], args: argparse.Namespace, ncpu: int) -> str:
    lines = []
    head = (f"{'N':>3} {'srv CPU%':>8} {'/sess':>6} {'fps an min/mean':>15} {'fps rx min':>10} "
            f"{'drop/s':>6} {'audio s/s':>9} {'ASR rtf':>9} {'ASR lag end/max s':>17} {'lag +/-':>7} "
            f"{'final lag p50/p90/max s':>23} {'rx behind end/max':>17} {'loss':>5} {'gate skip%':>10} {'nexts':>5} "
            f"{'RSS MB':>6} {'cli CPU%':>8} "
            f"{'machine/others%':>15} {'load start/end':>23}  verdict")
    lines.append(head)
    for r in results:
        if r.get("error"):
            lines.append(f"{r['n']:>3} error: {r['error'][:300]}")
            continue
        ok, why = healthy(r, args)
        fl = r["final_lags"]
        final = f"{pct(fl, .5):.1f}/{pct(fl, .9):.1f}/{max(fl):.1f}" if fl else "-"
        rx = f"{min(r['fps_r']):.1f}" if r["fps_r"] else "-"
        asr_lag = f"{max(r['lag_end']):.1f}/{max(r['lag_max']):.1f}" if r["lag_end"] else "-"
        growth = f"{max(r['lag_growth']):+.1f}" if r["lag_growth"] else "-"
        drop = statistics.mean(r["drop"]) if r["drop"] else 0.0
        behind = f"{max(r['behind_end']):.2f}/{max(r['behind_max']):.2f}" if r.get("behind_end") else "-"
        machine = f"{r['machine_cpu']:.0f}/{r['others_cpu']:.0f}"
        loss = max(r["loss"]) if r["loss"] else 0.0
        load = r["load_start"] + " " + r["load_end"]
        skip = f"{100 * min(r['skipped']):.0f}/{100 * statistics.mean(r['skipped']):.0f}" if r.get("skipped") else "-"
        lines.append(
            f"{r['n']:>3} {r['server_cpu']:>8.0f} {r['server_cpu'] / r['n']:>6.1f} "
            f"{fmt(r['fps_a']):>15} {rx:>10} {drop:>6.1f} {fmt(r['audio'], '.2f'):>9} "
            f"{fmt(r['rtf'], '.2f', 'maxmean'):>9} {asr_lag:>17} {growth:>7} {final:>23} "
            f"{behind:>17} {loss:>5.3f} {skip:>10} {r.get('nexts', 0):>5} "
            f"{r['rss_mb'][0]:>6.0f} {r['client_cpu']:>8.0f} {machine:>15} {load:>23}  "
            f"{'OK' if ok else 'NO: ' + why}")
    lines.append("")
    lines.append(f"(CPU in % of one core; this machine has {ncpu} cores = {ncpu * 100}%. fps an = analysed frames/s "
                 f"per session (target {args.fps:g}); 'ASR rtf' = Kaldi CPU s per audio s, mean/max; 'ASR lag' = "
                 f"audio queued but not yet recognised, max over sessions at the window's end / at any 2 s "
                 f"report; 'lag +/-' = its growth across the window; 'final lag' = end of an utterance at the "
                 f"client -> final transcript event (includes ~1 s endpointing); 'rx behind' = audio the client sent that "
                 f"has not come out of the server's audio pump yet (network, jitter buffer, decoder thread, event loop), "
                 f"s, max over sessions at the end / at any report; loss = RTP packet loss (max); gate skip = share "
                 f"of the window's audio the voice gate kept from the recogniser, min/mean over sessions, %; nexts = "
                 f"question changes in the window; machine/others = "
                 f"whole-machine busy CPU / minus server and clients (other people's work); load = 1/5/15-min load "
                 f"average at the window's start and end.)")
    for r in results:
        if r.get("error") or not r.get("threads"):
            continue
        lines.append("")
        lines.append(f"N={r['n']}: server CPU by thread group, % of one core (threads):")
        for g, (v, count) in r["threads"].items():
            if v >= 0.05:
                lines.append(f"    {g:<32} {v:>6.1f}%  ({count})")
        if r.get("gil"):
            lines.append(f"    GIL held {100 * r['gil'][0]:.0f}% of the time (py-spy --gil, 100 Hz); by where the "
                         f"holder's stack first enters the project, % of time: {r['gil'][1]}")
        if r.get("state_changes"):
            lines.append(f"    sessions that left 'live' (s from window start, id, state, reason): {r['state_changes']}")
        for kind, (own, added) in (r.get("split") or {}).items():
            if own:
                total = [o + a for o, a in zip(own, added, strict=True)]
                lines.append(f"    speech -> HR panel, {kind}s ({len(own)}): total p50/p95 {pct(total, .5):.2f}/"
                             f"{pct(total, .95):.2f} s = the recogniser's own delay p50/p95 {pct(own, .5):.2f}/"
                             f"{pct(own, .95):.2f} s + our pipeline p50/p95/max {pct(added, .5):.2f}/"
                             f"{pct(added, .95):.2f}/{max(added):.2f} s")
                pairs = (r.get("delivery") or {}).get(kind)
                if pairs:
                    queued, wire = [q for q, _ in pairs], [w for _, w in pairs]
                    late = [q + w for q, w in pairs]
                    lines.append(f"      of which publish -> received by this bench's panel reader p50/p95/max "
                                 f"{pct(late, .5):.2f}/{pct(late, .95):.2f}/{max(late):.2f} s = publish -> "
                                 f"the server's websocket send (its queue and event loop) {pct(queued, .5):.2f}/"
                                 f"{pct(queued, .95):.2f}/{max(queued):.2f} s + send -> received (socket and "
                                 f"this process's own turn on the CPU) {pct(wire, .5):.2f}/{pct(wire, .95):.2f}/"
                                 f"{max(wire):.2f} s")
        if r.get("vm") is not None:
            vm = r["vm"]
            lines.append(f"    machine during the window: file pages read from disk again after being dropped "
                         f"{vm.get('workingset_refault_file', 0):.0f}/s, major page faults "
                         f"{vm.get('pgmajfault', 0):.0f}/s, CPU stolen by the host {r.get('steal_pct', 0):.1f} %")
        if r.get("send_late_ms"):
            late = r["send_late_ms"]
            lines.append(f"    the bench client handed its audio packets to its sender late by p50/p95/max "
                         f"{pct(late, .5):.0f}/{pct(late, .95):.0f}/{max(late):.0f} ms ({len(late)} packets; "
                         f"counted above as our pipeline's)")
        lines.append(f"    {'total':<32} {sum(v for v, _ in r['threads'].values()):>6.1f}%   "
                     f"server ready in {r['ready_s']} s, all {r['n']} live in {r['connect_s']} s, "
                     f"sessions live at the end {r['live_states']}/{r['n']}, RSS peak {r['rss_mb'][0]:.0f} MB"
                     f"{', analysed-fps budget ' + fmt(r['fps_target']) if r.get('fps_target') else ''}; "
                     f"transcript clock offset (end_s - file time) median "
                     f"{statistics.median(r['offsets']) if r['offsets'] else float('nan'):.2f} s")
    return "\n".join(lines)


IDLE_FRAMES = ("EpollSelector.select", "Condition.wait", "Event.wait", "Queue.get", "_worker (concurrent")
PROJECT = re.compile(r"\((analyzers|server)/|aiortc/|vosk/|onnxruntime/|pylibsrtp|aioice/|av/|aiohttp/")


def summarise_profile(path: Path, top: int = 25) -> str:
    """py-spy raw (folded) stacks -> self time by function and inclusive time of the project's
    (and the media libraries') functions, as % of the non-idle samples."""
    self_time: dict[str, int] = defaultdict(int)
    incl: dict[str, int] = defaultdict(int)
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        c = int(count)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")
                  if not f.startswith("thread (") and not f.startswith("process ")]
        if not frames:
            continue
        if frames[-1].startswith(IDLE_FRAMES):
            idle += c
            continue
        total += c
        self_time[frames[-1]] += c
        for f in set(frames):
            if PROJECT.search(f):
                incl[f] += c
    if not total:
        return "py-spy: no samples"
    out = [f"py-spy: {total} busy samples at 67 Hz over all threads ({idle} idle ones left out); % of busy samples",
           "  self %  function"]
    for f, c in sorted(self_time.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"  {100 * c / total:5.1f}  {f[:140]}")
    out.append("  inclusive %  (analyzers/, server/ and media libraries)")
    for f, c in sorted(incl.items(), key=lambda kv: -kv[1])[:top + 10]:
        out.append(f"  {100 * c / total:5.1f}  {f[:140]}")
    return "\n".join(out)


async def orchestrate(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(REPO))
    from bench.media import NOISE_DBFS, fixtures

    ncpu = os.cpu_count() or 1
    seconds = max(130.0, args.warmup + args.window + 60 + 2 * max(args.sessions))
    seconds = float(round(seconds / 10) * 10)  # steady cache keys
    media = fixtures(seconds, 1 if args.aligned else args.variants, None if args.clean_audio else NOISE_DBFS)
    work = Path(tempfile.mkdtemp(prefix="candor-bench-live-"))
    header = (f"bench/live.py {datetime.now().isoformat(timespec='seconds')}  sessions={args.sessions} "
              f"warmup={args.warmup}s window={args.window}s fps={args.fps:g} analysis={'off' if args.no_analysis else 'on'} "
              f"audio={'aligned' if args.aligned else f'{args.variants} offsets'} cores={ncpu} nice={args.nice} "
              f"switch_interval={args.switch_interval or 'default'} worker_nice={args.worker_nice} vision_threads={args.vision_threads or 'default'} vision_processes={os.environ.get('CANDOR_VISION_PROCESSES', 'default')} "
              f"questions={'one of 600 s' if args.question_s <= 0 else f'next every {args.question_s:g}s'} "
              f"audio_floor={'digital silence' if args.clean_audio else f'{NOISE_DBFS[0]:g}..{NOISE_DBFS[1]:g} dBFS'} "
              f"vad={args.vad or 'server default'} min_fps={args.min_fps:g} max_added_p95={args.max_added_p95:g}s "
              f"server@{_git_state()} "
              f"load(1/5/15)={loadavg()} media={media[0].path.name} ({media[0].seconds:.0f} s) work={work}")
    print(header, flush=True)
    results: list[dict[str, Any]] = []
    for n in args.sessions:
        print(f"--- N={n} (load {loadavg()})", flush=True)
        try:
            r = await run_one(n, args, media, work, profile=(n == args.profile))
        except Exception as exc:
            r = {"n": n, "error": f"{type(exc).__name__}: {exc}"}
        results.append(r)
        print(report([r], args, ncpu).splitlines()[1], flush=True)
        if r.get("profile") and Path(r["profile"]).is_file():
            print(summarise_profile(Path(r["profile"])), flush=True)
            r["profile_text"] = summarise_profile(Path(r["profile"]))
        elif r.get("profile_error"):
            print("py-spy failed:", r["profile_error"], flush=True)
        if not args.keep_going and not r.get("error"):
            ok, _ = healthy(r, args)
            if not ok and r["fps_a"] and (min(r["fps_a"]) < 0.5 * args.fps or max(r["lag_growth"] or [0]) > 5):
                print("real time clearly broken: stopping the sweep (--keep-going to continue)", flush=True)
                break
        await asyncio.sleep(args.pause)
    text = report(results, args, ncpu)
    healthy_ns = [r["n"] for r in results if not r.get("error") and healthy(r, args)[0]]
    verdict = (f"VERDICT: largest healthy N = {max(healthy_ns)}" if healthy_ns else "VERDICT: no healthy N") + \
        (f" (strict: every session >= {args.min_fps:g} analysed fps, audio in real time, ASR lag < 2 s and not "
         f"growing, final lag p90 <= {args.max_final_p90:g} s, speech -> panel: the pipeline adds p95 <= "
         f"{args.max_added_p95:g} s to the recogniser's own delay, no packet loss, every session live throughout); "
         f"load now {loadavg()}")
    measured = [r for r in results if not r.get("error") and r.get("rss_mb")]
    if len(measured) >= 2:
        # Memory per session: the least-squares slope of the server's peak RSS (its vision
        # worker processes included) over N; what N=0 would hold is the shared part (models).
        ns = [float(r["n"]) for r in measured]
        slope, base = statistics.linear_regression(ns, [r["rss_mb"][0] for r in measured])
        verdict += (f"\nmemory: {slope:.1f} MB per session beyond a shared {base:.0f} MB (least squares over "
                    f"N={','.join(str(int(n)) for n in ns)}; server + vision workers, peak RSS)")
    full = "\n".join([header, "", text, "", verdict] +
                     [f"\nprofile N={r['n']}:\n{r['profile_text']}" for r in results if r.get("profile_text")])
    print("\n" + text + "\n\n" + verdict, flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(full + "\n")
        print(f"written to {args.out}")
    if not args.keep_work:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_server":
        serve_with_thread_names(sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_clients":
        ap = argparse.ArgumentParser()
        ap.add_argument("_clients")
        ap.add_argument("--base", required=True)
        ap.add_argument("--plan", required=True)
        ap.add_argument("--gap", type=float, default=0.3)
        a = ap.parse_args()
        asyncio.run(run_clients(a.base, json.loads(a.plan), a.gap))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 6, 8])
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--window", type=float, default=30.0)
    ap.add_argument("--duration", type=float, default=0.0,
                    help="a long run: the measurement window in seconds (e.g. 600 = 10 minutes); overrides --window")
    ap.add_argument("--question-s", type=float, default=45.0,
                    help="each candidate sends `next` every this many seconds (0: one 600 s question)")
    ap.add_argument("--min-fps", type=float, default=4.0, help="strict verdict: analysed fps every session must reach")
    ap.add_argument("--max-final-p90", type=float, default=2.0, help="strict verdict: final-transcript lag p90, s")
    ap.add_argument("--max-added-p95", type=float, default=0.2,
                    help="strict verdict: speech -> HR panel, p95 of what the pipeline adds to the recogniser's own delay, s")
    ap.add_argument("--clean-audio", action="store_true",
                    help="the old answer audio with digital silence between the words (flatters the voice gate)")
    ap.add_argument("--vad", choices=["silero", "energy", "off"], default=None,
                    help="CANDOR_VAD for the server (default: the server's own default)")
    ap.add_argument("--fps", type=float, default=5.0, help="CANDOR_ANALYSIS_FPS for the server")
    ap.add_argument("--vision-threads", type=int, default=0, help="CANDOR_VISION_THREADS (default: the server's)")
    ap.add_argument("--no-analysis", action="store_true",
                    help="candidates decline analysis (consent false): media only, no Vosk/ONNX")
    ap.add_argument("--aligned", action="store_true", help="every candidate speaks the same words at the same time")
    ap.add_argument("--variants", type=int, default=4, help="audio offsets the candidates are spread over")
    ap.add_argument("--profile", type=int, default=0, help="py-spy the server for 20 s at this N")
    ap.add_argument("--client-procs", type=int, default=0, help="client processes (default 1, 2 above 10 sessions)")
    ap.add_argument("--connect-gap", type=float, default=0.3, help="seconds between two candidates joining")
    ap.add_argument("--pause", type=float, default=3.0, help="seconds between two N (let the machine settle)")
    ap.add_argument("--switch-interval", type=float, default=0.0,
                    help="experiment: sys.setswitchinterval() in the server (Python's default is 0.005 s)")
    ap.add_argument("--worker-nice", type=int, default=0,
                    help="experiment: nice value of the server's vision_* and asr-* threads (e.g. 10), so that "
                         "the event loop and decoders win when the CPU is short")
    ap.add_argument("--gil", action="store_true", help="py-spy --gil for 15 s of each window: how busy the GIL is")
    ap.add_argument("--nice", type=int, default=0,
                    help="run server and clients at this nice value (e.g. -10: emulate a dedicated machine when "
                         "other work shares it; root)")
    ap.add_argument("--keep-going", action="store_true", help="do not stop the sweep when real time breaks")
    ap.add_argument("--keep-work", action="store_true", help="keep server logs and data in the temp folder")
    ap.add_argument("--out", help="also write the report to this file (e.g. bench/results/live-....txt)")
    args = ap.parse_args()
    if args.duration > 0:
        args.window = args.duration
    if args.nice:
        NICE[:] = ["nice", "-n", str(args.nice)]
    ensure_private_netns()
    asyncio.run(orchestrate(args))


if __name__ == "__main__":
    main()
