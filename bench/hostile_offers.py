"""Hostile WebRTC offers against the real server: 20 clients at once, each holding a link, send
offers crafted to cost the server (hundreds of media sections, padded SDP, offers cut in two,
many valid offers in a row), while a watcher measures `/api/health` latency and the server's
resident memory.

    .venv/bin/python bench/hostile_offers.py [--clients 20] [--seconds 20] [--out FILE]

Runs in a private network namespace (re-executes itself under ``unshare -n``; root), so only
127.0.0.1 is used. Verdict: RSS growth < 100 MB and /api/health p95 < 100 ms."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.live import ensure_private_netns  # noqa: E402  (the one private-namespace re-exec)


def sdp_with_sections(n_video: int, pad: int = 0) -> str:
    head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    section = ("m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:{i}\r\na=sendonly\r\n"
               "a=rtpmap:96 VP8/90000\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
               "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n")
    body = head + "".join(section.format(i=i) for i in range(n_video))
    return body + ("a=x-pad:" + "p" * pad + "\r\n" if pad else "")


async def real_offer() -> str:
    from aiortc import RTCConfiguration, RTCPeerConnection

    from tests.live_client import ImageTrack, PcmTrack, portrait_640x480
    import numpy as np

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(PcmTrack(np.zeros(48000, dtype=np.int16), 48000))
    pc.addTrack(ImageTrack(portrait_640x480()))
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def attacker(base: str, token: str, real: str, until: float, counts: dict[str, int]) -> None:
    import aiohttp

    kinds = ["many_sections", "padded", "split", "valid"]
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < until:
            kind = random.choice(kinds)
            try:
                if kind == "split":
                    reader, writer = await asyncio.open_connection("127.0.0.1", int(base.rsplit(":", 1)[1]))
                    body = json.dumps({"sdp": real, "type": "offer"}).encode()
                    writer.write(f"POST /i/{token}/offer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                                 f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body[:100])
                    await writer.drain()
                    await asyncio.sleep(0.3)
                    writer.write(body[100:])
                    await writer.drain()
                    line = await asyncio.wait_for(reader.readline(), 15)
                    status = int(line.split()[1]) if line else 0
                    writer.close()
                else:
                    sdp = {"many_sections": sdp_with_sections(440), "padded": sdp_with_sections(1, 15_000),
                           "valid": real}[kind]
                    async with http.post(f"{base}/i/{token}/offer", json={"sdp": sdp, "type": "offer"},
                                         timeout=aiohttp.ClientTimeout(total=15)) as resp:
                        status = resp.status
                counts[f"{kind} {status}"] = counts.get(f"{kind} {status}", 0) + 1
            except Exception as exc:  # a hang or a reset is a finding
                counts[f"{kind} {type(exc).__name__}"] = counts.get(f"{kind} {type(exc).__name__}", 0) + 1


async def watch(base: str, until: float, latencies: list[float]) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        while time.monotonic() < until:
            t = time.perf_counter()
            async with http.get(f"{base}/api/health") as resp:
                await resp.read()
            latencies.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.1)


async def run(args: argparse.Namespace, say: Any) -> bool:
    import psutil

    from tests.support.server import running_server
    from tests.test_fuzz_api import admin_token

    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp), env={"CANDOR_LOAD_MODELS": "0"}) as base:
        import aiohttp

        token = admin_token(base, base.log())
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(f"{base}/api/jobs", json={"title": "Bench", "dimensions": [{"name": "A"}]}) as r:
                job = await r.json()
            async with http.post(f"{base}/api/templates", json={"job_id": job["id"], "name": "T", "questions": [
                    {"text": "Q", "time_limit_s": 60, "dimensions": [{"dimension_id": job["dimensions"][0]["id"],
                                                                      "weight": 1}]}]}) as r:
                template = await r.json()
            ids = []
            for i in range(args.clients):
                async with http.post(f"{base}/api/candidates", json={"name": f"C{i}", "email": f"c{i}@x.example"}) as r:
                    ids.append((await r.json())["id"])
            async with http.post(f"{base}/api/invitations", json={
                    "template_id": template["id"], "candidate_ids": ids, "deadline": "2099-01-01T00:00:00Z"}) as r:
                links = [i["url"].rsplit("/", 1)[1] for i in (await r.json())["invitations"]]
        server = psutil.Process(base.process.pid)
        real = await real_offer()
        baseline: list[float] = []
        await watch(str(base), time.monotonic() + 3, baseline)
        rss0 = server.memory_info().rss
        counts: dict[str, int] = {}
        latencies: list[float] = []
        until = time.monotonic() + args.seconds
        peak = rss0

        async def sample() -> None:
            nonlocal peak
            while time.monotonic() < until:
                peak = max(peak, server.memory_info().rss)
                await asyncio.sleep(0.5)

        await asyncio.gather(watch(str(base), until, latencies), sample(),
                             *(attacker(str(base), links[i % len(links)], real, until, counts)
                               for i in range(args.clients)))
        await asyncio.sleep(3)
        rss1 = server.memory_info().rss
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 20 else max(latencies)
    say(f"health before: p50 {statistics.median(baseline):.1f} ms; during: n={len(latencies)} "
        f"p50 {statistics.median(latencies):.1f} ms p95 {p95:.1f} ms max {max(latencies):.1f} ms")
    say(f"server RSS: {rss0 / 2**20:.0f} MB before, peak {peak / 2**20:.0f} MB, {rss1 / 2**20:.0f} MB 3 s after "
        f"(growth {(peak - rss0) / 2**20:.0f} MB)")
    for key in sorted(counts):
        say(f"  {key}: {counts[key]}")
    hangs = sum(v for k, v in counts.items() if "Timeout" in k or "Error" in k)
    ok = (peak - rss0) < 100 * 2**20 and p95 < 100 and hangs == 0
    say(f"VERDICT: {'PASS' if ok else 'FAIL'} (RSS growth < 100 MB, /api/health p95 < 100 ms, no hang; "
        f"load {os.getloadavg()[0]:.1f})")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    ensure_private_netns()
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    say(f"bench/hostile_offers.py {time.strftime('%Y-%m-%dT%H:%M:%S')}  server@{commit}  clients={args.clients}  "
        f"seconds={args.seconds:g}  load={os.getloadavg()[0]:.1f}")
    ok = asyncio.run(run(args, say))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
