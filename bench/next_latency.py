"""`next` under a speech-recognition backlog: how fast the candidate gets the next question, and
whether every second of audio the server received still ends up in the final transcript.

    .venv/bin/python bench/next_latency.py [--sessions 8] [--questions 4] [--warmup 40]
                                          [--interval 25] [--fps 5] [--aligned-next] [--nice N]
                                          [--keep-work] [--out FILE]
    .venv/bin/python bench/next_latency.py --reanalyse /tmp/candor-bench-next-XXXX   # a kept run

Needs what bench/live.py needs (root for ``unshare -n``, ffmpeg/espeak-ng/sox, the models) and
reuses its pieces: the private network namespace (only 127.0.0.1 is used), the server wrapper
(``live.py _server``), the HR API helper, the pre-encoded VP8 + Opus answers of bench/media.py.

1. A fresh server; over the HR API a Korean job, a template with ``--questions`` questions
   (600 s each: only `next` ends them), N invitations; ``/ws/monitor`` as the admin.
2. A client process runs N aiortc candidates (``{"type":"start","consent":true}``, then
   continuous espeak Korean speech + video from bench/media.py, at 4 offsets in the answer).
3. Once all N are live: ``--warmup`` s of streaming (at N=8 on 2 cores the recogniser falls
   behind), then each candidate sends ``{"type":"next"}`` every ``--interval`` s until past the
   last question (candidate i shifted by i x interval/N; ``--aligned-next``: all at once).
   Before each `next` the bench prints that interview's ASR lag (latest ``connection`` event).
4. Per `next`: wall time from just before the client sends it to the candidate socket
   receiving the next ``question`` (``done`` after the last). Split at the HR feed's ``state``
   event (stamped by the server once the transition is stored), and the client's own
   event-loop stalls inside that interval (a loaded client inflates the number).
5. After the last `next`: the report is polled as HR (``GET /api/interviews/{id}/report``)
   until 200; the bench waits (``--drain-timeout``) for the server log's ``interview N:
   session closed``, which comes after every answer's audio was recognised and stored.
6. Recognition check against what the server actually received: the server records every
   sample its audio pump produced (``recordings/<id>/audio-0.pcm``, the very samples given to
   the recogniser, header ``start_s`` = interview clock of sample 0). The same recogniser
   (the server's voice gate and beams) is run offline, without load, over that
   file: each of its finals with text is received speech the recogniser can make something of
   (espeak Korean is poorly recognised; words are not compared). Each answer is the stretch of
   samples the server had received between the question and its `next` (sample position at a
   wall time from the ``connection`` events' ``audio_seconds``). A reference final that starts
   in an answer with >= 1 s of it before the `next`:
   - LOST: no final transcript segment with text overlaps it (+-0.5 s): received, unrecognised;
   - OTHER Q: it is in the transcript, but only under another question or marked not live
     (so not part of that answer's transcript and scores);
   - else ok.
   The final transcript is the report's (completed interviews) or the HR feed's finals.

PASS = all N interviews completed (an interrupted one refuses `next`), every `next` answered in
< 0.5 s, a backlog >= 2 s existed at the nexts, every session closed, no reference final LOST or
filed under another question in the completed interviews, no ERROR or traceback in the log.
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import bench.live as live  # noqa: E402
from bench.live import KEYWORDS, Server, _git_state, api, ensure_private_netns, loadavg, pct  # noqa: E402

PY = sys.executable
LIMIT_S = 0.5  # the goal: `next` answered within this
MIN_SPOKEN_S = 1.0  # a reference final is checked when at least this much of it came before `next`
MATCH_PAD_S = 0.5  # a transcript segment matches a reference final it overlaps within this
EDGE_S = 1.0  # a reference final is inside an answer when it begins this long after the answer's start
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) (\w+) (\S+): (.*)$")
CLOSED = re.compile(r"interview (\d+): session closed \((.+)\)")


# ------------------------------------------------------------------------------------------
# the client process: `next_latency.py _clients --base URL --plan JSON`, commands on stdin
# ------------------------------------------------------------------------------------------

async def run_clients(base: str, plan: list[dict[str, Any]]) -> None:
    """N candidates. stdout: one JSON event a line. stdin: {"cmd": "next", "token", "k",
    "last"} makes that candidate send `next` on question k."""
    import aiohttp
    import aioice.ice
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaPlayer

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # type: ignore[assignment]
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def emit(**msg: Any) -> None:
        print(json.dumps(msg), flush=True)

    # The client's own event-loop stalls, as (start, end) wall times: they inflate the latency.
    stalls: list[tuple[float, float]] = []

    async def watch_loop() -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            over = time.monotonic() - t - 0.01
            if over > 0.005:
                now = time.time()
                stalls.append((now - over, now))

    watcher = asyncio.create_task(watch_loop())
    http = aiohttp.ClientSession()
    cands: dict[str, dict[str, Any]] = {}

    async def finish(c: dict[str, Any]) -> None:
        await asyncio.sleep(0.5)  # the page stops the camera once the interview is done
        if c.get("pc") is not None:
            await c["pc"].close()

    async def one(item: dict[str, Any]) -> None:
        token = item["token"]
        c: dict[str, Any] = {"token": token, "pending": None, "pc": None}
        cands[token] = c
        ws = await http.ws_connect(f"{base}/i/{token}/ws", heartbeat=None)
        c["ws"] = ws

        def answered(kind: str, index: Any, t: float) -> None:
            p = c["pending"]
            if p is None:
                return
            if (kind == "done" and p["last"]) or (kind == "question" and index == p["k"] + 1):
                c["pending"] = None
                stalled = sum(max(0.0, min(b, t) - max(a, p["sent"])) for a, b in stalls[-200:])
                emit(event="next_result", token=token, k=p["k"], sent=p["sent"], answered=t, kind=kind,
                     index=index, client_stall=round(stalled, 4))

        async def read() -> None:
            async for msg in ws:
                t = time.time()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                m = json.loads(msg.data)
                kind = m.get("type")
                if kind == "question":
                    emit(event="question", token=token, index=m.get("index"), at=t)
                    answered("question", m.get("index"), t)
                elif kind == "done":
                    answered("done", None, t)
                    c["finisher"] = asyncio.create_task(finish(c))
                elif kind == "error":
                    emit(event="error", token=token, error=m)

        c["reader"] = asyncio.create_task(read())
        await ws.send_json({"type": "start", "consent": True})
        player = MediaPlayer(item["media"], decode=False)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        c["pc"] = pc
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
        deadline = time.monotonic() + 30
        while player.audio._start is None and time.monotonic() < deadline:  # type: ignore[attr-defined]  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        # MediaPlayer sends file time t at wall time _start + t.
        emit(event="streaming", token=token, audio_start=player.audio._start)  # type: ignore[attr-defined]

    async def commands() -> None:
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        async for line in reader:
            cmd = json.loads(line)
            c = cands.get(cmd["token"])
            if c is None or c.get("ws") is None:
                emit(event="error", token=cmd["token"], error="next for an unknown candidate")
                continue
            c["pending"] = {"k": cmd["k"], "last": cmd["last"], "sent": time.time()}
            await c["ws"].send_str('{"type": "next"}')
        stop.set()  # stdin closed: the orchestrator is gone

    tasks = []
    for item in plan:
        tasks.append(asyncio.create_task(one(item)))
        await asyncio.sleep(0.3)
    cmd_task = asyncio.create_task(commands())
    await stop.wait()
    cmd_task.cancel()
    watcher.cancel()
    for t in tasks:
        t.cancel()
    big = sorted(b - a for a, b in stalls)
    emit(event="client_end", stalls_over_20ms=sum(1 for s in big if s > 0.02),
         stall_max=round(big[-1], 4) if big else 0.0)
    for c in cands.values():
        if c.get("pc") is not None:
            await c["pc"].close()
        if c.get("ws") is not None:
            await c["ws"].close()
    await http.close()


# ------------------------------------------------------------------------------------------
# the orchestrator: a run
# ------------------------------------------------------------------------------------------

class Out:
    """print() that also keeps the lines for --out."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, *parts: Any) -> None:
        text = " ".join(str(p) for p in parts)
        self.lines.append(text)
        print(text, flush=True)


def read_log(path: Path) -> list[tuple[float, str, str, str]]:
    """(unix time, level, logger, message) per line. Lines not from `logging` keep the time of
    the last one: Kaldi's own "WARNING (VoskAPI..." lines are WARNINGs; lines after an ERROR
    (its traceback, a task's repr) and any 'Traceback' are 'TRACE'; others 'OTHER'."""
    out: list[tuple[float, str, str, str]] = []
    if not path.is_file():
        return out
    last, level = 0.0, ""
    for line in path.read_text(errors="replace").splitlines():
        m = LOG_LINE.match(line)
        if m:
            last = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").timestamp() + int(m.group(2)) / 1000
            level = m.group(3)
            out.append((last, level, m.group(4), m.group(5)))
        elif line.startswith(("WARNING (", "LOG (")):
            out.append((last, "WARNING", "kaldi", line))
        elif line.strip():
            trace = level in ("ERROR", "CRITICAL") or line.startswith("Traceback")
            out.append((last, "TRACE" if trace else "OTHER", "", line))
    return out


async def set_up(http: Any, server: Server, n: int, questions: int) -> tuple[str, list[dict[str, Any]]]:
    """A Korean job, a template of `questions` questions of 600 s, n candidates and invitations."""
    base = server.base
    login = {"email": live.ADMIN, "password": server.password}
    token = (await api(http, "POST", f"{base}/api/login", json=login))["token"]
    job = await api(http, "POST", f"{base}/api/jobs", token, json={
        "title": "현장 안전 관리자", "language": "ko",
        "dimensions": [{"name": "Safety", "keywords": KEYWORDS[:2],
                        "rules": [{"signal": "eye_contact_ratio", "op": ">=", "value": 0.5, "points": 10}]},
                       {"name": "Project management", "keywords": KEYWORDS[2:]}]})
    dims = [d["id"] for d in job["dimensions"]]
    texts = ["자기소개를 해 주세요.", "안전 절차를 지키지 않는 동료를 어떻게 대하셨나요?",
             "가장 큰 프로젝트에 대해 말씀해 주세요.", "일정이 늦어졌을 때 어떻게 하셨나요?"]
    tpl = await api(http, "POST", f"{base}/api/templates", token, json={
        "job_id": job["id"], "name": "bench next", "questions": [
            {"text": f"{i + 1}. {texts[i % len(texts)]}", "time_limit_s": 600,
             "dimensions": [{"dimension_id": dims[i % 2], "weight": 1}]} for i in range(questions)]})
    ids = []
    for i in range(n):
        c = await api(http, "POST", f"{base}/api/candidates", token,
                      json={"name": f"후보 {i + 1}", "email": f"cand{i + 1}@example.com"})
        ids.append(c["id"])
    inv = await api(http, "POST", f"{base}/api/invitations", token, json={
        "template_id": tpl["id"], "candidate_ids": ids,
        "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()})
    return token, inv["invitations"]


async def sample_udp(pids: dict[str, int], out: dict[str, list[Any]]) -> None:
    """Every 2 s: the kernel's per-socket UDP drops (datagrams that found the receive buffer
    full: the owner did not read in time) of the server's and the client's sockets, in this
    network namespace. out: inode -> [owner, drops, max bytes queued]."""
    while True:
        _udp_once(pids, out)
        await asyncio.sleep(2)


def _udp_once(pids: dict[str, int], out: dict[str, list[Any]]) -> None:
    """One sample for sample_udp."""
    owners: dict[str, str] = {}
    for who, pid in pids.items():
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:["):
                owners[link[8:-1]] = who
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 13 or f[9] not in owners:
                continue
            queued = int(f[4].split(":")[1], 16)
            old = out.get(f[9], [owners[f[9]], 0, 0])
            out[f[9]] = [old[0], max(old[1], int(f[12])), max(old[2], queued)]


async def get_report(http: Any, base: str, token: str, iid: int) -> tuple[int, Any]:
    async with http.get(f"{base}/api/interviews/{iid}/report", headers={"Authorization": f"Bearer {token}"}) as r:
        try:
            body = await r.json()
        except Exception:
            body = await r.text()
        return r.status, body


async def run(args: argparse.Namespace, work: Path, say: Out) -> dict[str, Any]:
    """One run; everything the analysis needs, as JSON-able data (also saved as events.json)."""
    import aiohttp
    import psutil

    from bench.media import fixtures

    n, nq = args.sessions, args.questions
    stagger = 0.0 if args.aligned_next else args.interval / n
    stream_s = args.warmup + (nq - 1) * args.interval + stagger * (n - 1)
    seconds = float(max(180, 10 * math.ceil((stream_s + 40 + 0.3 * n) / 10)))
    media = fixtures(seconds, args.variants)
    header = (f"bench/next_latency.py {datetime.now().isoformat(timespec='seconds')}  server@{_git_state()}  "
              f"N={n} questions={nq} (600 s each) warmup={args.warmup:g}s interval={args.interval:g}s "
              f"{'aligned nexts' if args.aligned_next else f'nexts staggered by {stagger:.1f}s'} fps={args.fps:g} "
              f"nice={args.nice} cores={os.cpu_count()} load(1/5/15)={loadavg()} media={media[0].path.name} "
              f"({seconds:.0f} s, {args.variants} offsets) work={work}")
    say(header)
    R: dict[str, Any] = {"header": header, "n": n, "nq": nq, "drain_timeout": args.drain_timeout,
                         "streaming": {}, "questions": defaultdict(list), "results": [], "errors": [],
                         "client_end": {}, "connection": defaultdict(list), "finals": defaultdict(list),
                         "states": defaultdict(list), "before": [], "polls": defaultdict(list),
                         "first_200": {}, "closed": {}, "reports": {}, "udp": {}}
    state: dict[str, str] = {}
    server = Server(work, args, n)
    R["log"], R["recordings"] = str(server.log), str(server.data / "recordings")
    tasks: list[asyncio.Task[Any]] = []
    client: asyncio.subprocess.Process | None = None
    http = aiohttp.ClientSession()
    R["t0"] = time.time()

    async def read_feed(base: str, token: str) -> None:
        async with http.ws_connect(f"{base}/ws/monitor?token={token}", heartbeat=None, max_msg_size=0) as ws:
            async for msg in ws:
                e = json.loads(msg.data)
                kind, iid = e.get("type"), str(e.get("interview_id"))
                if kind == "connection":
                    R["connection"][iid].append(e)
                elif kind == "transcript" and e.get("final"):
                    R["finals"][iid].append(e)
                elif kind == "state":
                    R["states"][iid].append(e)
                    state[iid] = e["state"]

    async def read_clients(proc: asyncio.subprocess.Process, names: dict[str, str]) -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            try:
                m = json.loads(line)
            except json.JSONDecodeError:
                continue
            ev, token = m.get("event"), m.get("token")
            if ev == "streaming":
                R["streaming"][token] = m
            elif ev == "question":
                R["questions"][token].append(m)
            elif ev == "next_result":
                R["results"].append(m)
                lat = m["answered"] - m["sent"]
                to = "done" if m["kind"] == "done" else f"q{m['index'] + 1}"
                say(f"  +{m['answered'] - R['t0']:6.1f}s {names.get(token, token)} q{m['k'] + 1}->{to}: "
                    f"{1000 * lat:7.1f} ms{'  >= 0.5 s!' if lat >= LIMIT_S else ''}  "
                    f"(client loop stalled {1000 * m['client_stall']:.0f} ms of it)")
            elif ev == "error":
                R["errors"].append(json.dumps(m, ensure_ascii=False))
                say("  client error:", json.dumps(m, ensure_ascii=False)[:300])
            elif ev == "client_end":
                R["client_end"] = m

    try:
        server.start()
        ready = await server.wait_ready(http)
        hr, invitations = await set_up(http, server, n, nq)
        tasks.append(asyncio.create_task(read_feed(server.base, hr)))
        plan, info = [], {}
        for i, inv in enumerate(invitations):
            fx = media[i % len(media)]
            token = inv["url"].rsplit("/", 1)[1]
            plan.append({"token": token, "media": str(fx.path)})
            info[token] = {"iid": str(inv["interview_id"]), "i": i, "media": fx.path.name}
        R["info"] = info
        names = {t: f"#{v['iid']}" for t, v in info.items()}
        client = await asyncio.create_subprocess_exec(
            *live.NICE, PY, __file__, "_clients", "--base", server.base, "--plan", json.dumps(plan),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO)
        tasks.append(asyncio.create_task(read_clients(client, names)))
        assert server.proc is not None
        tasks.append(asyncio.create_task(sample_udp({"server": server.proc.pid, "client": client.pid}, R["udp"])))
        started = time.monotonic()
        iids = [v["iid"] for v in info.values()]
        while not (len(R["streaming"]) == n and all(state.get(i) == "live" for i in iids)):
            if time.monotonic() - started > 60 + 2 * n:
                raise RuntimeError(f"only {len(R['streaming'])}/{n} streaming; states {state}; "
                                   f"errors {R['errors'][:3]}")
            await asyncio.sleep(0.2)
        t0 = R["t0"] = time.time()
        say(f"server ready in {ready:.1f} s; all {n} live in {time.monotonic() - started:.1f} s; "
            f"load {loadavg()}; t=0 now")

        # --- the nexts -----------------------------------------------------------------------
        schedule = sorted((t0 + args.warmup + k * args.interval + info[tok]["i"] * stagger, k, tok)
                          for tok in info for k in range(nq))
        pollers: list[asyncio.Task[Any]] = []

        async def poll_report(iid: str) -> None:
            """As HR: GET the report every 0.5 s until 200 (the server waits up to a minute for
            the last answers before it says 409)."""
            while iid not in R["first_200"]:
                sent = time.time()
                status, body = await get_report(http, server.base, hr, int(iid))
                R["polls"][iid].append((sent, time.time() - sent, status))
                if status == 200:
                    R["first_200"][iid] = {"t": time.time(), "answers": len(body.get("questions", [])),
                                           "segments": sum(len(q.get("transcript", [])) for q in body["questions"])}
                    return
                if state.get(iid) != "completed":
                    return  # an interview that did not complete has no report
                await asyncio.sleep(0.5)

        assert server.proc is not None and client.stdin is not None
        procs = [psutil.Process(server.proc.pid), psutil.Process(client.pid)]
        cpu0, mcpu0, t_cpu0 = [sum(p.cpu_times()[:2]) for p in procs], psutil.cpu_times(), time.time()
        threads0 = live.thread_cpu(server.proc.pid)
        for at, k, tok in schedule:
            await asyncio.sleep(max(0.0, at - time.time()))
            iid = info[tok]["iid"]
            last = R["connection"][iid][-1] if R["connection"][iid] else {}
            lag, age = last.get("asr_lag_s"), time.time() - last["ts"] if last else None
            R["before"].append({"token": tok, "k": k, "lag": lag, "state": state.get(iid), "t": time.time()})
            say(f"  +{time.time() - t0:6.1f}s {names[tok]} next on q{k + 1}/{nq}: ASR lag "
                f"{'-' if lag is None else f'{lag:.1f}'} s (connection event {age or 0:.1f} s old), "
                f"state {state.get(iid)}, load {loadavg()}")
            client.stdin.write((json.dumps({"cmd": "next", "token": tok, "k": k, "last": k == nq - 1}) + "\n").encode())
            await client.stdin.drain()
            if k == nq - 1:
                await asyncio.sleep(0.6)  # `done`, then HR opens the report
                pollers.append(asyncio.create_task(poll_report(iid)))
        t_last = time.time()
        expected = sum(1 for b in R["before"] if b["state"] == "live")
        while len(R["results"]) < expected and time.time() - t_last < 10:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        cpu1, mcpu1, wall = [sum(p.cpu_times()[:2]) for p in procs], psutil.cpu_times(), time.time() - t_cpu0
        idle = (mcpu1.idle + mcpu1.iowait) - (mcpu0.idle + mcpu0.iowait)
        R["cpu"] = {"server": (cpu1[0] - cpu0[0]) / wall * 100, "client": (cpu1[1] - cpu0[1]) / wall * 100,
                    "machine": (sum(mcpu1) - sum(mcpu0) - idle) / wall * 100, "load": loadavg()}
        groups: dict[str, float] = defaultdict(float)
        for tid, (name, sec) in live.thread_cpu(server.proc.pid).items():
            groups[live.thread_group(name)] += (sec - threads0.get(tid, (name, 0.0))[1]) / wall * 100
        R["threads"] = dict(sorted(groups.items(), key=lambda kv: -kv[1]))

        # --- drain: the server log says when each session closed -----------------------------
        say(f"all nexts sent; waiting for every session to close (server log), at most {args.drain_timeout:.0f} s; "
            f"load {loadavg()}")
        deadline = time.time() + args.drain_timeout
        while time.time() < deadline and len(R["closed"]) < n:
            for ts, _, _, msg in read_log(server.log):
                m = CLOSED.search(msg)
                if m and m.group(1) in iids and m.group(1) not in R["closed"]:
                    R["closed"][m.group(1)] = (ts, m.group(2))
                    say(f"  +{ts - t0:6.1f}s #{m.group(1)} session closed ({m.group(2)})")
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)
        R["asr_threads"] = sorted(name for name, _ in live.thread_cpu(server.proc.pid).values()
                                  if name.startswith("asr-"))
        for iid in iids:
            if state.get(iid) == "completed":
                status, body = await get_report(http, server.base, hr, int(iid))
                R["reports"][iid] = body if status == 200 else {"error": f"{status} {body}"}
        R["t_end"], R["load_end"] = time.time(), loadavg()
        await asyncio.gather(*pollers, return_exceptions=True)
        if client.returncode is None:  # the candidates are done: stop the client, get its summary
            client.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(client.wait(), 20)
            except asyncio.TimeoutError:
                client.kill()
            await asyncio.sleep(0.2)
    except Exception as exc:
        R["error"] = f"{type(exc).__name__}: {exc}"
        say(f"ERROR: {R['error']}")
        say("server log tail:\n" + (server.log.read_text(errors="replace")[-3000:] if server.log.is_file() else ""))
    finally:
        if client is not None and client.returncode is None:
            client.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(client.wait(), 20)
            except asyncio.TimeoutError:
                client.kill()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await http.close()
        server.stop()
    (work / "events.json").write_text(json.dumps(R, default=str, ensure_ascii=False))
    return R


# ------------------------------------------------------------------------------------------
# the analysis (from events.json and the server's data directory)
# ------------------------------------------------------------------------------------------

def recognise_recordings(recordings: Path, iids: list[str]) -> dict[str, dict[str, Any]]:
    """iid -> {"start_s", "seconds", "streams", "finals": [(start, end, text) on the interview
    clock]}: the server's recording of the received audio (stream 0), recognised offline by the
    same recogniser with the server's beams, 200 ms at a time like the server."""
    from analyzers.speech import Final, SpeechRecognizer, load_model
    from models import vosk_model_path
    from server.model_bank import SPEECH_BEAM, SPEECH_MAX_ACTIVE
    from server.speech_stream import recognizer_options

    import vosk

    # what the bench's server ran with (its environment: CANDOR_VAD, default silero)
    gate = argparse.Namespace(vad=os.environ.get("CANDOR_VAD") or "silero", vad_pad_s=0.3, models_dir=REPO / "models")

    vosk.SetLogLevel(-1)
    model = load_model(vosk_model_path(REPO / "models", "ko"), beam=SPEECH_BEAM, max_active=SPEECH_MAX_ACTIVE)

    def one(iid: str) -> tuple[str, dict[str, Any] | None]:
        folder = recordings / iid
        if not (folder / "audio-0.pcm").is_file():
            return iid, None
        start = float(json.loads((folder / "audio-0.json").read_text())["start_s"])
        pcm = (folder / "audio-0.pcm").read_bytes()
        rec = SpeechRecognizer(model, **recognizer_options(gate))  # the server's voice gate
        events: list[Any] = []
        for i in range(0, len(pcm) - len(pcm) % 2, 6400):
            events += rec.push(pcm[i:min(i + 6400, len(pcm) - len(pcm) % 2)])
        events += rec.flush()
        finals = [(e.start_s + start, e.end_s + start, e.text) for e in events if isinstance(e, Final) and e.text]
        return iid, {"start_s": start, "seconds": len(pcm) / 32000, "finals": finals,
                     "streams": len(list(folder.glob("audio-*.pcm")))}

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return {iid: v for iid, v in pool.map(one, iids) if v is not None}


def best_shift(segments: list[tuple[float, float]], refs: list[tuple[float, float]], reach: float = 3.0) -> float:
    """The shift (s) of the live transcript's clock against the reference's that makes them
    overlap most, in 10 ms steps (ties: the smallest)."""
    if not segments or not refs:
        return 0.0

    def overlap(d: float) -> float:
        return sum(max(0.0, min(b, e - d) - max(a, s - d)) for s, e in segments for a, b in refs)

    return max((i / 100 for i in range(int(-reach * 100), int(reach * 100) + 1)),
               key=lambda d: (overlap(d), -abs(d)))


def fmt_ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"p50 {1000 * pct(values, .5):.0f} / p95 {1000 * pct(values, .95):.0f} / max {1000 * max(values):.0f} ms"


def analyse(R: dict[str, Any], say: Out) -> bool:
    n, nq, t0 = R["n"], R["nq"], R["t0"]
    info: dict[str, dict[str, Any]] = R.get("info", {})
    names = {t: f"#{v['iid']}" for t, v in info.items()}
    iids = [v["iid"] for v in info.values()]
    final_state = {iid: (R["states"].get(iid) or [{"state": "?"}])[-1]["state"] for iid in iids}
    results: list[dict[str, Any]] = R["results"]
    before: list[dict[str, Any]] = R["before"]

    # --- `next` latency -------------------------------------------------------------------
    say("")
    say(f"=== `next` -> next question / done, on the candidate socket (N={n}, {n * nq} nexts) ===")
    lat = [r["answered"] - r["sent"] for r in results]
    server_part, delivery = [], []
    for r in results:
        iid = info[r["token"]]["iid"]
        st = [e for e in R["states"][iid]
              if e["ts"] >= r["sent"] - 0.01 and e.get("code") in ("next_question", "completed")]
        if st:
            server_part.append(st[0]["ts"] - r["sent"])
            delivery.append(r["answered"] - st[0]["ts"])
    slow = [r for r in results if r["answered"] - r["sent"] >= LIMIT_S]
    done_keys = {(r["token"], r["k"]) for r in results}
    unanswered = [b for b in before if (b["token"], b["k"]) not in done_keys]
    say(f"answered {len(results)}/{n * nq}: {fmt_ms(lat)}; >= 0.5 s: {len(slow)}")
    say(f"  to a question: {fmt_ms([r['answered'] - r['sent'] for r in results if r['kind'] == 'question'])}; "
        f"to 'done': {fmt_ms([r['answered'] - r['sent'] for r in results if r['kind'] == 'done'])}")
    say(f"  split: send -> the server's `state` event (stamped once the transition is stored) "
        f"{fmt_ms(server_part)}; that -> candidate {fmt_ms(delivery)}")
    stalls = not R.get("no_stalls")  # runs of an earlier revision did not record them this way
    if stalls:
        net = [r["answered"] - r["sent"] - r["client_stall"] for r in results]
        say(f"  minus the client's own event-loop stalls inside each interval: {fmt_ms(net)}; "
            f"client stalls over the run: {R['client_end'].get('stalls_over_20ms', '?')} > 20 ms, worst "
            f"{1000 * R['client_end'].get('stall_max', 0):.0f} ms")
    for r in slow:
        say(f"  SLOW: {names[r['token']]} q{r['k'] + 1} at +{r['sent'] - t0:.1f}s: "
            f"{1000 * (r['answered'] - r['sent']):.0f} ms"
            + (f" (client stalled {1000 * r['client_stall']:.0f} ms of it)" if stalls else ""))
    if unanswered:
        by_state: dict[str, int] = defaultdict(int)
        for b in unanswered:
            by_state[str(b["state"])] += 1
        say(f"  NOT ANSWERED: {len(unanswered)} (interview state when `next` was sent: {dict(by_state)}; the "
            f"server refuses `next` unless live and tells the candidate nothing)")
    lags = [b["lag"] for b in before if b["lag"] is not None and b["state"] == "live"]
    say("ASR lag just before the nexts of live interviews (latest connection event, <= 2 s old): "
        + (f"min {min(lags):.1f} / median {statistics.median(lags):.1f} / max {max(lags):.1f} s" if lags else "-"))
    for k in range(nq):
        lk = [b["lag"] for b in before if b["k"] == k and b["lag"] is not None and b["state"] == "live"]
        lt = [r["answered"] - r["sent"] for r in results if r["k"] == k]
        say(f"  q{k + 1}->{'done' if k == nq - 1 else 'q' + str(k + 2)}: ASR lag {min(lk, default=0):.1f}-"
            f"{max(lk, default=0):.1f} s; answered {len(lt)} in {fmt_ms(lt)}")
    cpu, cores = R.get("cpu", {}), os.cpu_count() or 1
    if cpu:
        say(f"CPU from t=0 to the last `next`, % of one core ({cores} cores = {100 * cores}%): server "
            f"{cpu['server']:.0f}, client {cpu['client']:.0f}, whole machine {cpu['machine']:.0f}, so other "
            f"people's work {cpu['machine'] - cpu['server'] - cpu['client']:.0f}; load then {cpu['load']}")
    if R.get("threads"):
        say("  server by thread group: " + ", ".join(f"{g} {v:.0f}" for g, v in R["threads"].items() if v >= 0.5))
    udp: dict[str, list[Any]] = R.get("udp", {})
    if udp:
        for who in ("server", "client"):
            mine = [v for v in udp.values() if v[0] == who]
            say(f"  UDP datagrams dropped by the kernel, {who} sockets (receive buffer full: not read in time): "
                f"{sum(v[1] for v in mine)} on {sum(1 for v in mine if v[1])}/{len(mine)} sockets; most bytes "
                f"waiting in one socket {max((v[2] for v in mine), default=0)}")

    # --- recognition ----------------------------------------------------------------------
    say("")
    say("=== recognition: the server's recording of the received audio, recognised offline, vs the final "
        "transcript ===")
    say("per interview: 'rx/sent' = audio through the server's audio pump (last connection event) / audio the "
        "client had sent by then, and RTP loss (audio+video; lost audio is never received); 'lag max' = ASR lag "
        "over the run; 'closed' = last `next` -> the log's 'session closed'; 'report' = last `next` -> first 200 "
        "of GET report polled as HR (GETs and statuses, the slowest GET), its answers and segments vs the final "
        "report's; 'ref' = offline finals with text of the received audio up to the last answer's end (>= 1 s "
        "of them before it), LOST = no final transcript text overlaps it; 'inside an answer' = those that begin "
        ">= 1 s after an answer's first received sample and >= 1 s before its `next`, OTHER Q = of those, in the "
        "transcript only under another question or marked not live (not part of that answer); 'last answer's "
        "end' = the last answer's latest reference final is in the transcript; 'shift' = live transcript clock - "
        "recording clock (should be ~0)")
    t_rec = time.time()
    refs = recognise_recordings(Path(R["recordings"]), iids) if Path(R["recordings"]).is_dir() else {}
    say(f"(offline recognition of {len(refs)} recordings took {time.time() - t_rec:.0f} s)")
    totals: dict[str, dict[str, int]] = {"completed": defaultdict(int), "all": defaultdict(int)}
    details: dict[str, list[str]] = defaultdict(list)
    end_ok: dict[str, bool] = {}
    for tok, v in sorted(info.items(), key=lambda kv: int(kv[1]["iid"])):
        iid = v["iid"]
        start = R["streaming"].get(tok, {}).get("audio_start") or t0
        conns = R["connection"].get(iid, [])
        last = conns[-1] if conns else {}
        shown: dict[int, float] = {}
        for q in sorted(R["questions"].get(tok, []), key=lambda q: q["at"]):
            shown.setdefault(q["index"], q["at"])
        nexts = {r["k"]: r["sent"] for r in results if r["token"] == tok}
        t_done = nexts.get(nq - 1)
        closed = R["closed"].get(iid)
        closed_txt = "NEVER" if closed is None else (
            f"{closed[0] - t_done:.1f}s" if t_done else f"({closed[1]} at +{closed[0] - t0:.0f}s)")
        polls, f200 = R["polls"].get(iid, []), R["first_200"].get(iid)
        report = R["reports"].get(iid)
        if report and "questions" in report:
            segs = [(q["index"], s["start_s"], s["end_s"], s["text"], s["live"])
                    for q in report["questions"] for s in q.get("transcript", [])]
            source = "report"
        else:
            segs = [(f["question_index"], f["start_s"], f["end_s"], f["text"], True) for f in R["finals"].get(iid, [])]
            source = "HR feed"
        if f200 and t_done:
            rep_txt = (f"{f200['t'] - t_done:.1f}s ({len(polls)} GET {'/'.join(str(s) for _, _, s in polls[:4])}, "
                       f"slowest {max(d for _, d, _ in polls):.1f}s; {f200['answers']}/{nq} answers, "
                       f"{f200['segments']}/{len(segs)} segments)")
        else:
            rep_txt = "none" + (f" (GET {polls[-1][2]})" if polls else "")
        say(f"  #{iid:<3} {final_state[iid]:<10} rx/sent {last.get('audio_seconds', 0.0):6.1f}/"
            f"{(last['ts'] - start) if last else 0.0:6.1f} s loss "
            f"{max((c.get('packet_loss', 0.0) for c in conns), default=0.0):.3f}  lag max "
            f"{max((c.get('asr_lag_s', 0.0) for c in conns), default=0.0):5.1f} s  closed {closed_txt}  "
            f"report {rep_txt}")
        ref = refs.get(iid)
        if ref is None or not conns:
            say("       no recording of the received audio")
            continue
        # Wall time -> samples the server had received by then (its audio pump's count).
        points = [(c["ts"], c["audio_seconds"]) for c in conns if "audio_seconds" in c]
        times = [p[0] for p in points]

        def received_at(t: float, points: list[tuple[float, float]] = points, times: list[float] = times) -> float:
            i = bisect.bisect_left(times, t)
            if i == 0:
                return max(0.0, points[0][1] - (points[0][0] - t))
            if i >= len(points):
                return points[-1][1] + (t - points[-1][0])
            (t1, a1), (t2, a2) = points[i - 1], points[i]
            return a1 + (a2 - a1) * (t - t1) / (t2 - t1)

        texts = [(qi, s, e, live_) for qi, s, e, text, live_ in segs if text]
        shift = best_shift([(s, e) for _, s, e, _ in texts], [(a, b) for a, b, _ in ref["finals"]])
        counts: dict[str, int] = defaultdict(int)
        lost: list[str] = []
        other: list[str] = []
        windows = []  # (question, first, last) received audio of each answer, interview clock s
        for k in sorted(shown):
            w1 = ref["start_s"] + received_at(nexts[k]) if k in nexts else math.inf
            windows.append((k, ref["start_s"] + received_at(shown[k]), w1))
        end = windows[-1][2] if windows else math.inf
        last_ok = True
        for a, b, _text in ref["finals"]:
            if min(b, end) - a < MIN_SPOKEN_S:
                continue  # received after the last answer (or cut short by its end)
            b = min(b, end)
            hits = [(qi, lv) for qi, s, e, lv in texts
                    if s - shift <= b + MATCH_PAD_S and e - shift >= a - MATCH_PAD_S]
            counts["ref"] += 1
            if not hits:
                counts["lost"] += 1
                lost.append(f"{a:.1f}-{b:.1f}")
            # Inside an answer: begun >= EDGE_S after its first sample (the answer's edges are
            # estimated from 2 s samples of the received count) and >= MIN_SPOKEN_S before its end.
            inside = [k for k, w0, w1 in windows if w0 + EDGE_S <= a <= w1 - MIN_SPOKEN_S]
            if inside:
                counts["inside"] += 1
                if hits and not any(qi == inside[0] and lv for qi, lv in hits):
                    counts["other"] += 1
                    other.append(f"q{inside[0] + 1} {a:.1f}-{b:.1f} in " + "/".join(
                        f"q{qi + 1}{'' if lv else ' not live'}" for qi, lv in sorted(set(hits))))
            if windows and windows[-1][1] <= a:
                last_ok = bool(hits)  # the last answer's latest speech is in the transcript
        end_ok[iid] = last_ok
        for key in ("completed", "all") if final_state[iid] == "completed" else ("all",):
            for c_, v_ in counts.items():
                totals[key][c_] += v_
        details[iid] = lost + other
        say(f"       ref {counts['ref']:>3} LOST {counts['lost']}  inside an answer {counts['inside']:>3} OTHER Q "
            f"{counts['other']}  "
            f"last answer's end {'ok' if last_ok else 'NO'}  [{source}: {len(segs)} segments; HR feed finals "
            f"{len(R['finals'].get(iid, []))}; recording {ref['seconds']:.1f} s, {ref['streams']} stream(s), "
            f"{len(ref['finals'])} offline finals]  shift {shift:+.2f} s  (clock s)")
        if lost:
            say(f"       LOST (clock s): {', '.join(lost[:8])}")
        if other:
            say(f"       OTHER Q: {', '.join(other[:8])}")
    tc, ta = totals["completed"], totals["all"]
    done = [i for i in iids if final_state[i] == "completed"]
    say(f"completed interviews {len(done)}/{n}: {tc['ref']} reference finals, LOST {tc['lost']}; inside an answer "
        f"{tc['inside']}, OTHER Q {tc['other']}; all interviews: {ta['ref']} / LOST {ta['lost']} / inside "
        f"{ta['inside']} / OTHER Q {ta['other']}")
    threads = R.get("asr_threads", [])
    how = ", ".join(sorted(set(s for _, s in R["closed"].values()))) or "-"
    say(f"sessions closed {len(R['closed'])}/{n} ({how}); "
        f"server threads named asr-* 3 s after the last close: {len(threads)} {threads[:8]}")

    # --- server log -----------------------------------------------------------------------
    say("")
    say("=== server log: warnings and errors ===")
    bad = [x for x in read_log(Path(R["log"])) if x[1] in ("WARNING", "ERROR", "CRITICAL", "TRACE", "OTHER")]
    errors = [x for x in bad if x[1] in ("ERROR", "CRITICAL", "TRACE")]
    seen: dict[str, int] = defaultdict(int)
    for ts, lvl, name, msg in bad:
        key = f"{lvl} {name}: {re.sub(r'[0-9]+', 'N', msg)[:160]}"
        seen[key] += 1
        if seen[key] <= 2:
            say(f"  +{ts - t0:6.1f}s {lvl} {name}: {msg[:300]}")
    for key, count in seen.items():
        if count > 2:
            say(f"  ({count}x) {key}")
    if not bad:
        say("  none")

    # --- verdict --------------------------------------------------------------------------
    checks = [
        (len(done) == n, f"every interview stayed connected and completed: {len(done)}/{n} (an interrupted one "
                         f"refuses `next`: its nexts were not measured)"),
        (len(results) == n * nq and not slow,
         f"every `next` answered in < 0.5 s: {len(results)}/{n * nq} answered, max "
         f"{1000 * max(lat, default=float('nan')):.0f} ms, {len(slow)} >= 0.5 s"),
        (bool(lags) and max(lags) >= 2.0, f"a recognition backlog when `next` was pressed: ASR lag up to "
                                          f"{max(lags, default=0):.1f} s (>= 2 s needed for the run to mean anything)"),
        (len(R["closed"]) == n, f"every session closed within {R['drain_timeout']:.0f} s of the last `next` (after "
                                f"its answers were recognised and stored): {len(R['closed'])}/{n}"),
        (bool(done) and tc["lost"] == 0 and all(end_ok.get(i, False) for i in done),
         f"no received speech left out of the completed interviews' final transcripts: LOST {tc['lost']} of "
         f"{tc['ref']} reference finals; each last answer transcribed to its end: "
         f"{'yes' if all(end_ok.get(i, False) for i in done) else 'NO'}"),
        (bool(done) and tc["other"] == 0, f"received speech filed under the answer it was said in: "
                                          f"{tc['other']} of {tc['inside']} under another question or not live"),
        (not errors, f"no ERROR or traceback in the server log: {len(errors)} lines"),
    ]
    say("")
    for good, text in checks:
        say(f"  [{'ok' if good else 'FAIL'}] {text}")
    ok = all(good for good, _ in checks) and not R.get("error")
    say(f"VERDICT: {'PASS' if ok else 'FAIL'} (latency = the candidate client's wall time from sending `next` to "
        f"receiving the next `question`/`done`; audio = every offline-recognisable utterance of what the server "
        f"received, compared by time with the final transcript, any text counting since espeak Korean is poorly "
        f"recognised; load at the end {R.get('load_end') or loadavg() + ' (at re-analysis)'}; "
        f"{R.get('t_end', t0) - t0:.0f} s from all live to the end)")
    return ok


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_clients":
        ap = argparse.ArgumentParser()
        ap.add_argument("_clients")
        ap.add_argument("--base", required=True)
        ap.add_argument("--plan", required=True)
        a = ap.parse_args()
        asyncio.run(run_clients(a.base, json.loads(a.plan)))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--questions", type=int, default=4)
    ap.add_argument("--warmup", type=float, default=40.0, help="s of streaming before the first next")
    ap.add_argument("--interval", type=float, default=25.0, help="s between two nexts of a candidate")
    ap.add_argument("--aligned-next", action="store_true", help="all candidates press next at the same moment")
    ap.add_argument("--fps", type=float, default=5.0, help="CANDOR_ANALYSIS_FPS for the server")
    ap.add_argument("--variants", type=int, default=4, help="audio offsets the candidates are spread over")
    ap.add_argument("--drain-timeout", type=float, default=240.0)
    ap.add_argument("--nice", type=int, default=0,
                    help="run server and clients at this nice value (e.g. -10: closer to a dedicated machine when "
                         "other work shares it; root)")
    ap.add_argument("--keep-work", action="store_true", help="keep the server log, data and events.json")
    ap.add_argument("--reanalyse", metavar="WORK", help="analyse a kept run again (its events.json and data)")
    ap.add_argument("--out", help="also write the output to this file (bench/results/next-latency-n8.txt)")
    args = ap.parse_args()
    say = Out()
    if args.reanalyse:
        R = json.loads((Path(args.reanalyse) / "events.json").read_text())
        say(R["header"])
        ok = analyse(R, say)
    else:
        args.worker_nice, args.switch_interval, args.vision_threads = 0, 0.0, 0  # what bench.live.Server reads
        if args.nice:
            live.NICE[:] = ["nice", "-n", str(args.nice)]
        ensure_private_netns()
        work = Path(tempfile.mkdtemp(prefix="candor-bench-next-"))
        R = asyncio.run(run(args, work, say))
        ok = analyse(R, say) if not R.get("error") else False
        if args.keep_work:
            print(f"server log, data and events kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(say.lines) + "\n")
        print(f"written to {args.out}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
