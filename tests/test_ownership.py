"""Ownership of interviews in a real Redis (server/ownership.py) and commands between processes
(server/redis_bus.py), with two "processes" in one event loop."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from deploy.cluster import running_redis
from server.bus import Bus
from server.errors import ApiError
from server.ownership import HELD, Ownership, owner_key
from server.redis_bus import RedisBus, Unreachable
from tests.support.server import free_port

TTL_S = 3.0


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    with running_redis(tmp_path / "redis", free_port()) as url:
        yield url


async def test_one_owner_renewal_expiry_adoption_and_let_go(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    a, b = Ownership(redis, "a", TTL_S), Ownership(redis, "b", TTL_S)
    assert await a.claim(1) is None
    assert await b.claim(1) == "a"  # held: b is told by whom
    assert await a.claim(1) is None  # a claiming again keeps it
    assert await a.renew([1], {1: {"interview_id": 1, "job_id": 7, "state": "live"}}, {"process_id": "a"}) == []
    assert [s["state"] for s in await b.snapshots()] == ["live"]
    assert await b.held_elsewhere() == {1}
    assert await b.orphans() == []
    # a stops renewing (it died): the key expires and 1 is an orphan that b can adopt.
    await redis.pexpire(owner_key(1), 50)
    await asyncio.sleep(0.1)
    assert await b.orphans() == [1]
    assert await b.claim(1) is None
    # a comes back from a stall: it lost 1 to b and is told so.
    assert await a.renew([1], {}, {"process_id": "a"}) == [1]
    assert await b.owner(1) == "b"
    # A key that is gone (Redis restarted empty) is taken back by its holder's heartbeat.
    await redis.flushdb()
    assert await b.renew([1], {}, {"process_id": "b"}) == []
    assert await a.owner(1) == "b" and await redis.sismember(HELD, "1")
    # Releasing only releases one's own key; letting go on shutdown leaves the id to adopt.
    await a.release(1)
    assert await a.owner(1) == "b"
    await b.let_go([1])
    assert await a.owner(1) is None and await a.orphans() == [1]
    await a.forget_orphan(1)
    assert await a.orphans() == []
    await redis.aclose()


async def test_commands_reach_the_holder_and_events_every_other_process(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    bus_a, bus_b = Bus(), Bus()
    asked: list[dict[str, Any]] = []

    async def holder(body: dict[str, Any]) -> dict[str, Any]:
        asked.append(body)
        if body["op"] == "refuse":
            raise ApiError("the interview is completed", status=409)
        return {"state": "paused"}

    async def nobody(body: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("a's handler was called")

    link_a = RedisBus(redis, "a", bus_a, lambda i: None, nobody)
    link_b = RedisBus(redis, "b", bus_b, lambda i: 7, holder)
    await link_a.start()
    await link_b.start()
    seen_a = bus_a.subscribe()
    seen_b = bus_b.subscribe()
    try:
        reply = await link_a.request("b", {"op": "dispatch", "interview_id": 3})
        assert reply["state"] == "paused" and asked[0]["interview_id"] == 3
        with pytest.raises(ApiError) as refused:
            await link_a.request("b", {"op": "refuse", "interview_id": 3})
        assert refused.value.status == 409 and refused.value.message == "the interview is completed"
        with pytest.raises(Unreachable):  # nobody listens there
            await link_a.request("c", {"op": "dispatch", "interview_id": 3})
        # b's events reach a's subscribers once, with their job; never back to b twice.
        bus_b.publish("state", 3, state="live")
        event = await asyncio.wait_for(seen_a.get(), 5)
        assert event is not None and (event.type, event.interview_id, event.job_id, event.data) == (
            "state", 3, 7, {"state": "live"})
        local = await asyncio.wait_for(seen_b.get(), 5)
        assert local is not None and local.job_id is None
        await asyncio.sleep(0.3)
        assert len(seen_b) == 0 and len(seen_a) == 0
    finally:
        await link_a.close()
        await link_b.close()
        await redis.aclose()


async def test_events_and_commands_flow_again_after_redis_restarts(tmp_path: Path) -> None:
    port = free_port()
    bus_a, bus_b = Bus(), Bus()

    async def holder(body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    with running_redis(tmp_path / "r1", port) as url:
        redis = Redis.from_url(url)
        link_a = RedisBus(redis, "a", bus_a, lambda i: None, holder)
        link_b = RedisBus(redis, "b", bus_b, lambda i: 7, holder)
        await link_a.start()
        await link_b.start()
        assert (await link_a.request("b", {"op": "x", "interview_id": 1}))["ok"]
    seen_a = bus_a.subscribe(lambda e: e.job_id is not None)
    try:
        with running_redis(tmp_path / "r2", port):  # a new, empty Redis on the same address
            deadline = asyncio.get_running_loop().time() + 20
            reply = None
            while reply is None and asyncio.get_running_loop().time() < deadline:
                try:
                    reply = await link_a.request("b", {"op": "x", "interview_id": 1}, timeout_s=1.0)
                except ApiError:  # b's subscription is not back yet
                    await asyncio.sleep(0.5)
            assert reply is not None and reply["ok"]
            bus_b.publish("progress", 1, question_index=0)
            event = await asyncio.wait_for(seen_a.get(), 10)
            assert event is not None and event.type == "progress" and event.job_id == 7
    finally:
        await link_a.close()
        await link_b.close()
        await redis.aclose()
