"""The HR live feed: authenticated, scoped to the jobs a user may see, snapshot then events."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conftest import Api, login
from server.sessions import sessions_key
from tests.test_signaling import invite


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
    # The other HR user, who cannot see this job, got nothing of it.
    with pytest.raises(asyncio.TimeoutError):
        await theirs.receive_json(timeout=0.5)
    for ws in (mine, theirs, candidate):
        await ws.close()
    assert interview_id in client.app[sessions_key].sessions
