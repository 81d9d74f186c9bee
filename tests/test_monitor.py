"""The HR live feed: authenticated, scoped to the jobs a user may see, snapshot then events."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from conftest import Api, invite, login
from server.sessions import bus_key, sessions_key


async def test_feed_needs_auth(client: Any) -> None:
    for url in ("/ws/monitor", "/ws/monitor?token=forged"):
        resp = await client.get(url)
        assert resp.status == 401
        assert "error" in await resp.json()


async def test_snapshot_and_events_are_scoped_to_visible_jobs(client: Any, store: Any, hr: Api) -> None:
    token, interview_id = await invite(hr)
    candidate = await client.ws_connect(f"/i/{token}/ws")  # opens the live session
    await candidate.receive_json(timeout=5)
    other = await login(client, store, "other@example.com")

    mine = await client.ws_connect(f"/ws/monitor?token={hr.token}")
    snap = await mine.receive_json(timeout=5)
    assert snap["type"] == "snapshot"
    assert [i["interview_id"] for i in snap["interviews"]] == [interview_id]
    assert snap["interviews"][0]["question_count"] == 2 and snap["interviews"][0]["state"] == "invited"

    theirs = await client.ws_connect(f"/ws/monitor?token={other.token}")
    assert (await theirs.receive_json(timeout=5))["interviews"] == []

    await candidate.send_json({"type": "start", "consent": True})
    event = await mine.receive_json(timeout=5)
    assert event["type"] == "state" and event["state"] == "consented" and event["interview_id"] == interview_id
    assert event["seq"] >= 1 and event["ts"] > 0 and event["reason"]
    # Each event says when this process sent it, beside when it was published.
    assert event["ts"] <= event["sent"] <= time.time() + 0.001
    # The other HR user, who cannot see this job, got nothing of it.
    with pytest.raises(asyncio.TimeoutError):
        await theirs.receive_json(timeout=0.5)
    for ws in (mine, theirs, candidate):
        await ws.close()
    assert interview_id in client.app[sessions_key].sessions


async def test_feed_tells_a_browser_why_it_was_refused(client: Any, hr: Api) -> None:
    ws = await client.ws_connect("/ws/monitor")
    message = await ws.receive_json(timeout=5)
    assert message["type"] == "error" and "authentication" in message["error"]
    closing = await ws.receive(timeout=5)
    assert ws.close_code == 4401 or closing.data == 4401


async def test_feed_refuses_a_cookie_from_another_site(client: Any, store: Any) -> None:
    from server import auth
    from server.web import SESSION_COOKIE

    user = store.run_sync(lambda db: auth.create_user(db, "page@example.com", "p" * 12, "hr"))
    token, _ = store.run_sync(lambda db: auth.issue_token(db, user, "session", 1))
    resp = await client.get("/ws/monitor", headers={"Origin": "https://evil.example", "Cookie": f"{SESSION_COOKIE}={token}"})
    assert resp.status == 403


async def test_many_panels_each_get_every_event_and_reload(client: Any, store: Any, hr: Api) -> None:
    token, interview_id = await invite(hr)
    candidate = await client.ws_connect(f"/i/{token}/ws")
    await candidate.receive_json(timeout=5)
    panels = [await client.ws_connect(f"/ws/monitor?token={hr.token}") for _ in range(20)]
    for panel in panels:
        assert (await panel.receive_json(timeout=5))["type"] == "snapshot"
    await candidate.send_json({"type": "start", "consent": True})
    for panel in panels:
        states = [(await panel.receive_json(timeout=5))["state"] for _ in range(2)]
        assert states == ["consented", "connecting"]
    # A panel reload: close and reconnect; the snapshot shows the interview as it is now.
    await panels[0].close()
    again = await client.ws_connect(f"/ws/monitor?token={hr.token}")
    snap = await again.receive_json(timeout=5)
    assert snap["interviews"][0]["state"] == "connecting"
    for ws in (*panels[1:], again, candidate):
        await ws.close()
    for _ in range(100):  # every closed panel unsubscribes
        if not client.app[bus_key].subscriptions:
            break
        await asyncio.sleep(0.02)
    assert not client.app[bus_key].subscriptions
