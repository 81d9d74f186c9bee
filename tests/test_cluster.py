"""Two server processes behind nginx, sharing PostgreSQL and Redis, all real and on loopback.

A candidate (aiortc, through nginx) is held by one process; HR's panel and API on the other
process see its live events, pause, resume and skip a question in it. The holding process is
then SIGKILLed: its ownership expires in Redis, the other process adopts the interview
(`interrupted`, as after a restart), and the candidate reconnecting through nginx is resumed
there at the same question."""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import re
import signal
import time
import urllib.error
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import aiohttp
import numpy as np
import psycopg
import pytest
import redis

from deploy.cluster import route_name, running_nginx, running_redis
from server.ownership import owner_key, snapshot_key
from server.settings import Settings
from tests.live_client import ImageTrack, PcmTrack, connect, portrait_640x480
from tests.support.server import RunningServer, free_port, running_server
from tests.support.media import face_y4m, speech_wav
from tests.test_candidate_page import KOREAN_ANSWER, page_errors, wait_state
from tests.test_e2e_interview import Feed, admin_credentials, admin_login, api, make_interview
from tests.test_faults import join as join_page

pytestmark = pytest.mark.postgres  # and Redis and nginx, started here from ./candor's packages

OWNER_TTL_S = 4.0
DEFAULT_MAX_SESSIONS = next(f.default for f in dataclasses.fields(Settings) if f.name == "max_sessions")
TIMEOUT_S = 30.0


class Cluster:
    def __init__(self, nginx: str, servers: list[RunningServer], redis_url: str, db_url: str) -> None:
        self.nginx = nginx
        self.servers = servers
        self.redis = redis.Redis.from_url(redis_url)
        self.db_url = db_url.replace("postgresql+psycopg://", "postgresql://")

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db_url) as db:
            return db.execute(sql, args).fetchall()

    def holder(self, interview_id: int) -> RunningServer | None:
        """The server process whose id the interview's ownership key names."""
        value = self.redis.get(owner_key(interview_id))
        if value is None:
            return None
        pid = int(value.decode().split(":")[1])  # type: ignore[union-attr]
        return next(s for s in self.servers if s.process.pid == pid)


@contextlib.contextmanager
def started_cluster(tmp_path: Path, db_url: str, tls: bool = False, **env: str) -> Iterator[Cluster]:
    """Redis, two server processes (routes w1 and w2, as nginx's per-process routes name them)
    and nginx with deploy/nginx.conf in front (HTTPS with a self-signed certificate when
    `tls`, and that address the public URL); `env` adds to both processes' environment."""
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(running_redis(tmp_path / "redis", free_port()))
        nginx_port = free_port()
        common = {"CANDOR_LOAD_MODELS": "0", "CANDOR_DATABASE_URL": db_url, "CANDOR_REDIS_URL": redis_url,
                  "CANDOR_OWNER_TTL_S": str(OWNER_TTL_S), "CANDOR_TRUSTED_PROXIES": "127.0.0.1", **env}
        if tls:
            common["CANDOR_PUBLIC_URL"] = f"https://127.0.0.1:{nginx_port}"
        servers: list[RunningServer] = []
        for n, name in enumerate(("a", "b")):
            (tmp_path / name).mkdir()
            servers.append(stack.enter_context(running_server(
                tmp_path / name, {**common, "CANDOR_ROUTE": route_name(n)},
                data_dir=servers[0].data_dir if servers else None)))
        nginx = stack.enter_context(running_nginx(tmp_path / "nginx", nginx_port,
                                                  [int(s.rsplit(":", 1)[1]) for s in servers], tls=tls))
        yield Cluster(nginx, servers, redis_url, db_url)


@pytest.fixture
def cluster(tmp_path: Path, postgres_db_url: str) -> Iterator[Cluster]:
    with started_cluster(tmp_path, postgres_db_url) as running:
        yield running


@pytest.fixture
def one_slot_cluster(tmp_path: Path, postgres_db_url: str) -> Iterator[Cluster]:
    """As `cluster`, each process holding media for one interview at most."""
    with started_cluster(tmp_path, postgres_db_url, CANDOR_MAX_SESSIONS="1") as running:
        yield running


async def wait_for(what: str, check: Callable[[], Any], within_s: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {within_s} s")


class Socket:
    """A websocket whose messages are collected by a task."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))

    def seen(self, **fields: Any) -> list[dict[str, Any]]:
        return [m for m in self.messages if all(m.get(k) == v for k, v in fields.items())]

    async def close(self) -> None:
        await self.ws.close()
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def join(http: aiohttp.ClientSession, base: str, token: str, query: str = "") -> tuple[Socket, Any]:
    """The candidate page's two requests, through nginx: the websocket, then the offer."""
    sock = Socket(await http.ws_connect(f"{base}/i/{token}/ws{query}"))
    await wait_for("joined", lambda: sock.seen(type="state", code="joined"))
    await sock.ws.send_json({"type": "start", "consent": True})
    tone = 8000 * np.sin(np.arange(48000 * 5) * (2 * np.pi * 220 / 48000))
    pc = await connect(base, token, http, [PcmTrack(tone, 48000, loop=True), ImageTrack(portrait_640x480())],
                       query)
    return sock, pc


def invite(server: RunningServer, hr_token: str, template_id: int, n: int) -> tuple[int, str]:
    """One more invited candidate (the n-th) for the template: the interview id and link token."""
    cand = api(server, "POST", "/api/candidates", {"name": f"Candidate {n}", "email": f"c{n}@example.com"},
               hr_token)
    inv = api(server, "POST", "/api/invitations", {
        "template_id": template_id, "candidate_ids": [cand["id"]],
        "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, hr_token)["invitations"][0]
    return int(inv["interview_id"]), inv["url"].rsplit("/", 1)[1]


async def link_hashed_to(cluster: Cluster, http: aiohttp.ClientSession, hr_token: str, template_id: int,
                         target: RunningServer) -> tuple[int, str]:
    """A new interview whose link nginx's hash sends to `target` (found by trying: the
    websocket opens the interview on the process it reaches)."""
    for n in range(24):  # each link reaches `target` with probability 1/2
        interview_id, token = await asyncio.to_thread(invite, cluster.servers[0], hr_token, template_id, n)
        probe = Socket(await http.ws_connect(f"{cluster.nginx}/i/{token}/ws"))
        await wait_for("joined", lambda p=probe: p.seen(type="state", code="joined"))  # type: ignore[misc]
        await probe.close()
        if cluster.holder(interview_id) is target:
            return interview_id, token
    raise AssertionError("no link hashed to the process in 24 tries")


async def cluster_view(server: RunningServer, hr_token: str) -> dict[str, Any]:
    return await asyncio.to_thread(api, server, "GET", "/api/cluster", token=hr_token)


async def test_hr_on_one_process_controls_an_interview_held_by_another_which_survives_its_death(
        cluster: Cluster) -> None:
    a, b = cluster.servers
    hr_token = await asyncio.to_thread(admin_login, a)
    interview_id, link = await asyncio.to_thread(make_interview, a, hr_token, 300)
    token = link.rsplit("/", 1)[1]
    async with aiohttp.ClientSession() as http:
        # 1. The candidate joins through nginx; one process holds the interview.
        candidate, pc = await join(http, cluster.nginx, token)
        await wait_for("live", lambda: candidate.seen(type="state", state="live"))
        holder = cluster.holder(interview_id)
        assert holder is not None
        panel = next(s for s in cluster.servers if s is not holder)
        # nginx sent the offer and the websocket to the same process: the holder.
        assert f"interview {interview_id}: new peer connection" in holder.log()
        assert "new peer connection" not in panel.log()

        # 2. HR's live feed on the other process: the snapshot (from Redis), then live events.
        feed = Socket(await http.ws_connect(f"{panel}/ws/monitor?token={hr_token}"))
        await wait_for("snapshot", lambda: feed.seen(type="snapshot"))
        drawn = {v["interview_id"]: v for v in feed.seen(type="snapshot")[0]["interviews"]}
        assert drawn[interview_id]["candidate"] == "김민수"

        # The holder's events reach Redis a moment after the candidate's own page hears them, so
        # the snapshot may be that moment older; the state the panel draws (snapshot, then the
        # state events after it) becomes 'live' either way, and the shared snapshot is then live.
        def panel_state() -> str:
            states = feed.seen(type="state", interview_id=interview_id)
            return str(states[-1]["state"] if states else drawn[interview_id]["state"])

        await wait_for("the panel draws the interview live", lambda: panel_state() == "live")
        assert json.loads(cluster.redis.get(snapshot_key(interview_id)))["state"] == "live"  # type: ignore[arg-type]
        await wait_for("progress events from the holder", lambda: feed.seen(type="progress", interview_id=interview_id))
        # Each process's load, from any process (as the heartbeats announced it).
        async def loads() -> dict[int, dict[str, Any]]:
            found = await asyncio.to_thread(api, panel, "GET", "/api/cluster", None, hr_token)
            return {int(p["process_id"].split(":")[1]): {**p, "free": found["free"]} for p in found["processes"]}
        for _ in range(50):
            by_pid = await loads()
            if by_pid.get(holder.process.pid, {}).get("media") == 1:
                break
            await asyncio.sleep(0.2)
        assert set(by_pid) == {a.process.pid, b.process.pid}
        assert by_pid[holder.process.pid]["media"] == 1 and by_pid[panel.process.pid]["media"] == 0
        assert by_pid[panel.process.pid]["free"] == 2 * DEFAULT_MAX_SESSIONS - 1  # CANDOR_MAX_SESSIONS unset

        # 3. HR pauses, resumes and skips a question on the panel's process.
        paused = await asyncio.to_thread(api, panel, "POST", f"/api/interviews/{interview_id}/pause",
                                         {"reason": "a question from HR"}, hr_token)
        assert paused["state"] == "paused"
        await wait_for("candidate told paused", lambda: candidate.seen(type="state", state="paused"))
        await wait_for("panel sees paused", lambda: feed.seen(type="state", state="paused", interview_id=interview_id))
        assert feed.seen(type="intervention", action="pause", interview_id=interview_id)
        assert cluster.rows("select state from interviews where id = %s", interview_id) == [("paused",)]
        resumed = await asyncio.to_thread(api, panel, "POST", f"/api/interviews/{interview_id}/resume", {}, hr_token)
        assert resumed["state"] == "live"
        await wait_for("candidate live again", lambda: len(candidate.seen(type="state", state="live")) >= 2)
        skipped = await asyncio.to_thread(api, panel, "POST", f"/api/interviews/{interview_id}/intervene",
                                          {"action": "skip", "note": "next one"}, hr_token)
        assert skipped["question_index"] == 1
        await wait_for("candidate on question 1", lambda: candidate.seen(type="question", index=1))
        # The commands ran where the interview is held: the panel's process never opened it.
        assert cluster.holder(interview_id) is holder
        assert f"interview {interview_id}: session opened" not in panel.log()
        # The candidate's thumbnail, asked of the panel's process, comes from the holder.
        async def thumbnail() -> bytes | None:
            async with http.get(f"{panel}/api/interviews/{interview_id}/thumbnail.jpg",
                                headers={"Authorization": f"Bearer {hr_token}"}) as resp:
                return await resp.read() if resp.status == 200 else None
        jpeg = None
        for _ in range(50):
            if (jpeg := await thumbnail()) is not None:
                break
            await asyncio.sleep(0.2)
        assert jpeg is not None and jpeg[:2] == b"\xff\xd8"

        # 4. The holder dies. Its ownership expires; the panel's process adopts the interview.
        os.killpg(holder.process.pid, signal.SIGKILL)
        holder.process.wait(10)
        killed_at = time.monotonic()
        # Until its ownership expires, a command for it says clearly that its process is gone.
        with pytest.raises(urllib.error.HTTPError) as gone:
            await asyncio.to_thread(api, panel, "POST", f"/api/interviews/{interview_id}/pause", {}, hr_token)
        assert gone.value.code == 503 and "gone" in json.load(gone.value)["error"]
        await wait_for("panel sees interrupted", lambda: feed.seen(type="state", state="interrupted",
                                                                   interview_id=interview_id),
                       within_s=OWNER_TTL_S * 4)
        print(f"\ninterrupted on the panel {time.monotonic() - killed_at:.1f} s after the kill")
        assert cluster.holder(interview_id) is panel
        assert cluster.rows("select state, question_index from interviews where id = %s",
                            interview_id) == [("interrupted", 1)]
        assert cluster.rows("select to_state, code from state_changes where interview_id = %s order by id desc "
                            "limit 1", interview_id) == [("interrupted", "server_restarted")]
        await pc.close()
        await candidate.close()

        # 5. The candidate's page reconnects through nginx and resumes at question 1 on the panel's process.
        candidate, pc = await join(http, cluster.nginx, token)
        try:
            await wait_for("live on the surviving process", lambda: candidate.seen(type="state", state="live"))
            assert candidate.seen(type="question", index=1) and not candidate.seen(type="question", index=0)
            assert cluster.rows("select state, question_index from interviews where id = %s",
                                interview_id) == [("live", 1)]
            assert f"interview {interview_id}: new peer connection" in panel.log()
            await wait_for("panel sees live", lambda: [e for e in feed.seen(type="state", interview_id=interview_id)
                                                       if e["state"] == "live" and e["previous"] == "interrupted"])
        finally:
            await pc.close()
            await candidate.close()
            await feed.close()


async def test_a_candidate_reaching_another_process_takes_the_interview_over_unless_its_media_is_there(
        cluster: Cluster) -> None:
    a, b = cluster.servers
    hr_token = await asyncio.to_thread(admin_login, a)
    interview_id, link = await asyncio.to_thread(make_interview, a, hr_token, 300)
    token = link.rsplit("/", 1)[1]
    # nginx passes the client's address on (X-Forwarded-For, believed from CANDOR_TRUSTED_PROXIES):
    # /metrics is served to 127.0.0.1 only, so a forwarded outside address is refused.
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{cluster.nginx}/metrics") as resp:
            assert resp.status == 200 and "candor_sessions" in await resp.text()
        async with http.get(f"{cluster.nginx}/metrics", headers={"X-Forwarded-For": "203.0.113.7"}) as resp:
            assert resp.status == 403 and "error" in await resp.json()
    # An HR command on process A opens the interview there (and is refused: it has not started).
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(api, a, "POST", f"/api/interviews/{interview_id}/pause", {}, hr_token)
    assert refused.value.code == 409 and json.load(refused.value)["error"]
    assert cluster.holder(interview_id) is a
    async with aiohttp.ClientSession() as http:
        # The candidate reaches process B: A, which holds it without its candidate, lets it go.
        candidate, pc = await join(http, b, token)
        try:
            await wait_for("live on B", lambda: candidate.seen(type="state", state="live"))
            assert cluster.holder(interview_id) is b
            assert f"interview {interview_id}: session closed" in a.log()
            # While B holds the candidate's socket and media, an offer that reaches A is refused
            # (a second window; the page retries).
            async with http.post(f"{a}/i/{token}/offer",
                                 json={"sdp": pc.localDescription.sdp, "type": "offer"}) as resp:
                assert resp.status == 503, await resp.text()
                assert "another server process" in (await resp.json())["error"]
            assert cluster.holder(interview_id) is b
            await asyncio.to_thread(api, a, "POST", f"/api/interviews/{interview_id}/intervene",
                                    {"action": "skip"}, hr_token)
            await wait_for("question 1", lambda: candidate.seen(type="question", index=1))
            # The candidate's socket to B breaks (its media still flows there) and the page
            # reconnects where nginx now sends it, process A: B hands the interview over.
            await candidate.close()
            old_pc = pc
            candidate, pc = await join(http, a, token)
            await old_pc.close()
            await wait_for("live on A", lambda: candidate.seen(type="state", state="live"))
            assert cluster.holder(interview_id) is a
            assert candidate.seen(type="question", index=1) and not candidate.seen(type="question", index=0)
            assert cluster.rows("select to_state, code from state_changes where interview_id = %s "
                                "order by id desc limit 2", interview_id) == [("live", "media_back"),
                                                                               ("interrupted", "server_restarted")]
            assert "handed over to the process the candidate reached" in b.log()
            # A stops normally: it gives the interview up at once, and B adopts it.
            os.killpg(a.process.pid, signal.SIGTERM)
            a.process.wait(30)
            assert cluster.holder(interview_id) in (None, b)
            await wait_for("adopted by B", lambda: cluster.holder(interview_id) is b, within_s=OWNER_TTL_S)
            await wait_for("interrupted", lambda: cluster.rows("select state from interviews where id = %s",
                                                               interview_id) == [("interrupted",)])
        finally:
            await pc.close()
            await candidate.close()


async def test_a_process_without_room_sends_a_new_candidate_to_the_process_that_has_room(
        one_slot_cluster: Cluster) -> None:
    cluster = one_slot_cluster
    a, _ = cluster.servers
    hr_token = await asyncio.to_thread(admin_login, a)
    first_id, first_link = await asyncio.to_thread(make_interview, a, hr_token, 300)
    async with aiohttp.ClientSession() as http:
        first, first_pc = await join(http, cluster.nginx, first_link.rsplit("/", 1)[1])
        second: Socket | None = None
        second_pc = None
        try:
            await wait_for("first live", lambda: first.seen(type="state", state="live"))
            full = cluster.holder(first_id)
            assert full is not None
            roomy = next(s for s in cluster.servers if s is not full)
            roomy_route = route_name(cluster.servers.index(roomy))
            # Every process's heartbeat announces its load and route: one slot taken of two.
            loads: dict[str, Any] = {}

            async def announced() -> bool:
                view = await cluster_view(a, hr_token)
                loads.update(view)
                return view["media"] == 1 and view["free"] == 1 and len(view["processes"]) == 2

            deadline = time.monotonic() + TIMEOUT_S
            while not await announced():
                assert time.monotonic() < deadline, loads
                await asyncio.sleep(0.2)
            assert {p["route"] for p in loads["processes"]} == {"w1", "w2"}
            assert [p["media"] for p in loads["processes"] if p["route"] == roomy_route] == [0]
            # The Servers page (admin) draws the same, from any process.
            async with http.get(f"{cluster.nginx}/servers", headers={"Authorization": f"Bearer {hr_token}"}) as resp:
                html = await resp.text()
                assert resp.status == 200, html
            rows = re.findall(r'<tr data-process="([^"]+)" data-overloaded="no">\s*<td>[^<]*(?:<span[^>]*>[^<]*</span>)?'
                              r'</td>\s*<td>(w\d)</td>\s*<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>', html)
            assert sorted((route, media, places) for _, route, media, places in rows) == sorted(
                (p["route"], str(p["media"]), "1") for p in loads["processes"]), html
            assert "Interviews holding media: 1 of 2 places; 1 free." in html
            # Each process reads the others' loads at its own heartbeat: one more beat has passed.
            await asyncio.sleep(OWNER_TTL_S / 3 + 0.5)

            # A second candidate whose link nginx sends to the full process: the refusal names the
            # process with room, on the socket and in the offer's 503.
            template_id = (await asyncio.to_thread(api, a, "GET", f"/api/interviews/{first_id}",
                                                   token=hr_token))["template_id"]
            second_id, token = await link_hashed_to(cluster, http, hr_token, template_id, full)
            second = Socket(await http.ws_connect(f"{cluster.nginx}/i/{token}/ws"))
            await wait_for("joined", lambda: second.seen(type="state", code="joined"))
            await second.ws.send_json({"type": "start", "consent": True})
            busy = await wait_for("capacity", lambda: second.seen(type="state", code="capacity"))
            assert busy[-1].get("route") == roomy_route, (busy, second.messages)
            async with http.post(f"{cluster.nginx}/i/{token}/offer",
                                 json={"sdp": first_pc.localDescription.sdp, "type": "offer"}) as resp:
                refused = await resp.json()
                assert resp.status == 503 and refused["route"] == roomy_route and refused["error"], refused
            assert cluster.holder(second_id) is full  # still: it only said where to go

            # The candidate follows it (`?via=`): nginx sends socket and offer there, the full
            # process lets the interview go, and it goes live on the process with room.
            await second.close()
            second, second_pc = await join(http, cluster.nginx, token, f"?via={roomy_route}")
            await wait_for("second live", lambda: second.seen(type="state", state="live"))
            assert cluster.holder(second_id) is roomy and cluster.holder(first_id) is full
            assert f"interview {second_id}: new peer connection" in roomy.log()
            assert f"interview {second_id}: new peer connection" not in full.log()
            # A name nginx does not know takes the hash: the full process, which refuses again.
            async with http.post(f"{cluster.nginx}/i/{token}/offer?via=nosuch",
                                 json={"sdp": first_pc.localDescription.sdp, "type": "offer"}) as resp:
                assert resp.status == 503 and "error" in await resp.json()
            assert cluster.holder(second_id) is roomy  # its media flows there: not handed over
        finally:
            for pc in (first_pc, second_pc):
                if pc is not None:
                    await pc.close()
            await first.close()
            if second is not None:
                await second.close()


@pytest.mark.browser
def test_chromium_candidate_sent_on_by_a_full_process_goes_live_on_the_one_with_room(
        launch_browser: Any, one_slot_cluster: Cluster) -> None:
    cluster = one_slot_cluster
    a, _ = cluster.servers
    hr_token = admin_login(a)

    browser = launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER))
    first_id, first_link = make_interview(a, hr_token, 300)
    first = join_page(browser, f"{cluster.nginx}/i/{first_link.rsplit('/', 1)[1]}")
    wait_state(first, "live", timeout=30_000)
    full = cluster.holder(first_id)
    assert full is not None
    roomy = next(s for s in cluster.servers if s is not full)

    template_id = api(a, "GET", f"/api/interviews/{first_id}", token=hr_token)["template_id"]

    async def second_link() -> tuple[int, str]:
        async with aiohttp.ClientSession() as http:
            return await link_hashed_to(cluster, http, hr_token, template_id, full)

    deadline = time.monotonic() + TIMEOUT_S
    while api(a, "GET", "/api/cluster", token=hr_token)["free"] != 1:  # both heartbeats seen
        assert time.monotonic() < deadline
        time.sleep(0.2)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        second_id, token = pool.submit(asyncio.run, second_link()).result()
    second = join_page(browser, f"{cluster.nginx}/i/{token}")
    wait_state(second, "live", timeout=30_000)
    assert cluster.holder(second_id) is roomy and cluster.holder(first_id) is full
    route = second.evaluate("window.candor.route")
    assert route == route_name(cluster.servers.index(roomy))
    assert any(m.get("code") == "capacity" and m.get("route") == route
               for m in second.evaluate("window.candor.messages")), "never refused by the full process"
    assert first.evaluate("window.candor.serverState") == "live"
    errors = page_errors(first) + page_errors(second)
    assert not errors, errors


@pytest.mark.browser
def test_chromium_candidate_through_nginx_is_paused_from_the_other_process_and_resumed_there_after_a_kill(
        launch_browser: Any, cluster: Cluster) -> None:
    a, _ = cluster.servers
    hr_token = admin_login(a)
    interview_id, link = make_interview(a, hr_token, 300)
    token = link.rsplit("/", 1)[1]
    page = join_page(launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER)), f"{cluster.nginx}/i/{token}")
    wait_state(page, "live", timeout=30_000)
    holder = cluster.holder(interview_id)
    assert holder is not None
    panel = next(s for s in cluster.servers if s is not holder)
    feed = Feed(f"ws://{panel.removeprefix('http://')}/ws/monitor?token={hr_token}")
    feed.start()

    # HR, on the process that does not hold the interview, pauses, resumes and skips a question.
    assert api(panel, "POST", f"/api/interviews/{interview_id}/pause", {"reason": "a moment"}, hr_token)["state"] \
        == "paused"
    wait_state(page, "paused")
    assert api(panel, "POST", f"/api/interviews/{interview_id}/resume", {}, hr_token)["state"] == "live"
    wait_state(page, "live")
    api(panel, "POST", f"/api/interviews/{interview_id}/intervene", {"action": "skip"}, hr_token)
    page.wait_for_function("() => (window.candor.question !== null && window.candor.question.index === 1)",
                           timeout=15_000)
    states = [e["state"] for e in feed.events if e.get("type") == "state" and e.get("interview_id") == interview_id]
    assert "paused" in states and "live" in states[states.index("paused"):], states  # events from the holder
    before = page.evaluate("({wsConnects: window.candor.wsConnects, offers: window.candor.offers})")

    # The holder is killed: the interview is interrupted, and the page, untouched, resumes it on
    # the other process at question 1.
    os.killpg(holder.process.pid, signal.SIGKILL)
    holder.process.wait(10)
    killed_at = time.monotonic()
    deadline = killed_at + OWNER_TTL_S * 4
    while cluster.rows("select code from state_changes where interview_id = %s and code = 'server_restarted'",
                       interview_id) == [] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster.rows("select to_state from state_changes where interview_id = %s and code = 'server_restarted'",
                        interview_id) == [("interrupted",)]
    page.wait_for_function(
        "before => document.body.dataset.state === 'live' && window.candor.serverState === 'live' "
        "&& window.candor.wsConnects > before.wsConnects && window.candor.offers > before.offers "
        "&& window.candor.pcState === 'connected' && window.candor.question !== null "
        "&& window.candor.question.index === 1", arg=before, timeout=60_000)
    print(f"\npage live again on the other process {time.monotonic() - killed_at:.1f} s after the kill")
    assert cluster.holder(interview_id) is panel
    deadline = time.monotonic() + 10
    while cluster.rows("select state, question_index from interviews where id = %s", interview_id) != [("live", 1)] \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    changes = cluster.rows("select from_state, to_state, code, reason, ts from state_changes where interview_id = %s "
                           "order by id", interview_id)
    assert cluster.rows("select state, question_index from interviews where id = %s", interview_id) == [("live", 1)], \
        changes
    print("state changes:", [c[:3] for c in changes])
    assert f"interview {interview_id}: new peer connection" in panel.log()
    errors = page_errors(page)
    page.context.close()
    assert not errors, errors


async def test_tls_ends_at_nginx_and_the_candidate_goes_live_over_https_and_wss(
        tmp_path: Path, postgres_db_url: str) -> None:
    with started_cluster(tmp_path, postgres_db_url, tls=True) as cluster:
        assert cluster.nginx.startswith("https://")
        a, _ = cluster.servers
        hr_token = await asyncio.to_thread(admin_login, a)
        first_id, _ = await asyncio.to_thread(make_interview, a, hr_token, 300)
        template_id = (await asyncio.to_thread(api, a, "GET", f"/api/interviews/{first_id}",
                                               token=hr_token))["template_id"]
        cand = await asyncio.to_thread(api, a, "POST", "/api/candidates",
                                       {"name": "Candidate TLS", "email": "tls@example.com"}, hr_token)
        inv = (await asyncio.to_thread(api, a, "POST", "/api/invitations", {
            "template_id": template_id, "candidate_ids": [cand["id"]],
            "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, hr_token))["invitations"][0]
        # Links are built from CANDOR_PUBLIC_URL: the candidate gets nginx's HTTPS address.
        assert inv["url"].startswith(f"{cluster.nginx}/i/"), inv["url"]
        interview_id, token = int(inv["interview_id"]), inv["url"].rsplit("/", 1)[1]
        # The certificate is self-signed: this client does not check it (a browser would be told to trust it).
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http:
            # Plain HTTP to the TLS port is refused by nginx, not passed on.
            async with http.get(cluster.nginx.replace("https://", "http://") + "/api/health") as resp:
                assert resp.status == 400
            # HR's login through nginx: the session cookie is Secure (the server sees https
            # in CANDOR_PUBLIC_URL, nginx passes X-Forwarded-Proto).
            email, password = await asyncio.to_thread(admin_credentials, a)
            async with http.post(f"{cluster.nginx}/login", data={"email": email, "password": password},
                                 allow_redirects=False) as resp:
                assert resp.status == 303, await resp.text()
                assert "secure" in resp.headers["Set-Cookie"].lower()
            # The candidate: websocket (wss) and offer (https) through nginx; media goes live.
            candidate, pc = await join(http, cluster.nginx, token)
            try:
                await wait_for("live", lambda: candidate.seen(type="state", state="live"))
                assert cluster.holder(interview_id) is not None
                assert cluster.rows("select state from interviews where id = %s", interview_id) == [("live",)]
            finally:
                await pc.close()
                await candidate.close()
