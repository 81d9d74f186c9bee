"""Two server processes behind nginx, sharing PostgreSQL and Redis, all real and on loopback.

A candidate (aiortc, through nginx) is held by one process; HR's panel and API on the other
process see its live events, pause, resume and skip a question in it. The holding process is
then SIGKILLed: its ownership expires in Redis, the other process adopts the interview
(`interrupted`, as after a restart), and the candidate reconnecting through nginx is resumed
there at the same question."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import aiohttp
import numpy as np
import psycopg
import pytest
import redis

from deploy.cluster import running_nginx, running_redis
from server.ownership import owner_key, snapshot_key
from tests.live_client import ImageTrack, PcmTrack, connect, portrait_640x480
from tests.support.server import RunningServer, free_port, running_server
from tests.support.media import face_y4m, speech_wav
from tests.test_candidate_page import KOREAN_ANSWER, page_errors, wait_state
from tests.test_e2e_interview import Feed, admin_login, api, make_interview
from tests.test_faults import join as join_page

pytestmark = pytest.mark.postgres  # and Redis and nginx, started here from ./candor's packages

OWNER_TTL_S = 4.0
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


@pytest.fixture
def cluster(tmp_path: Path, postgres_db_url: str) -> Iterator[Cluster]:
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(running_redis(tmp_path / "redis", free_port()))
        env = {"CANDOR_LOAD_MODELS": "0", "CANDOR_DATABASE_URL": postgres_db_url, "CANDOR_REDIS_URL": redis_url,
               "CANDOR_OWNER_TTL_S": str(OWNER_TTL_S), "CANDOR_TRUSTED_PROXIES": "127.0.0.1"}
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
        first = stack.enter_context(running_server(tmp_path / "a", env))
        second = stack.enter_context(running_server(tmp_path / "b", env, data_dir=first.data_dir))
        nginx = stack.enter_context(running_nginx(tmp_path / "nginx", free_port(),
                                                  [int(s.rsplit(":", 1)[1]) for s in (first, second)]))
        yield Cluster(nginx, [first, second], redis_url, postgres_db_url)


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


async def join(http: aiohttp.ClientSession, base: str, token: str) -> tuple[Socket, Any]:
    """The candidate page's two requests, through nginx: the websocket, then the offer."""
    sock = Socket(await http.ws_connect(f"{base}/i/{token}/ws"))
    await wait_for("joined", lambda: sock.seen(type="state", code="joined"))
    await sock.ws.send_json({"type": "start", "consent": True})
    tone = 8000 * np.sin(np.arange(48000 * 5) * (2 * np.pi * 220 / 48000))
    pc = await connect(base, token, http, [PcmTrack(tone, 48000, loop=True), ImageTrack(portrait_640x480())])
    return sock, pc


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
        assert by_pid[panel.process.pid]["free"] == 2 * 4 - 1  # the default CANDOR_MAX_SESSIONS (4) each

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
