"""Capacity is held only by interviews with media, and every waiting state frees it on time: real
server in-process, real aiortc candidates over WebRTC on 127.0.0.1, real store, short settings."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import select

from conftest import invite, login
from server.app import create_app
from server.sessions import sessions_key
from server.settings import Settings
from server.store import Store
from server.tables import StateChange
from tests.live_client import ImageTrack, PcmTrack, connect, portrait_640x480
from tests.test_live_session import wait_for

SILENCE = np.zeros(48000, dtype=np.int16)


async def app(aiohttp_client: Any, tmp_path: Path, **overrides: Any) -> tuple[Any, Store]:
    settings = Settings(data_dir=tmp_path / "data", public_url="http://127.0.0.1", load_models=False,
                        ice_host_addresses=("127.0.0.1",), **overrides)
    store = Store(settings.db_url)
    return await aiohttp_client(create_app(settings, store=store)), store


async def candidate(client: Any, token: str) -> Any:
    """A candidate's socket after `start` with consent, and the messages it got."""
    ws = await client.ws_connect(f"/i/{token}/ws")
    await ws.send_json({"type": "start", "consent": True})
    return ws


async def messages(ws: Any, until: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not any(until(m) for m in seen):
        seen.append(await ws.receive_json(timeout=max(0.1, deadline - time.monotonic())))
    return seen


def tracks() -> list[Any]:
    return [PcmTrack(SILENCE, 48000, loop=True), ImageTrack(portrait_640x480())]


async def test_three_candidates_two_slots(aiohttp_client: Any, tmp_path: Path) -> None:
    client, store = await app(aiohttp_client, tmp_path, max_sessions=2)
    hr = await login(client, store, "hr@example.com")
    invited = [await invite(hr, f"C{i}", f"c{i}@example.com") for i in range(3)]
    manager = client.app[sessions_key]
    sockets = [await candidate(client, token) for token, _ in invited]
    seen = [await messages(ws, lambda m: m.get("code") in ("connecting", "capacity")) for ws in sockets]
    assert [s[-1]["code"] for s in seen] == ["connecting", "connecting", "capacity"]
    pcs = [await connect(str(client.make_url("")).rstrip("/"), token, client.session, tracks())
           for token, _ in invited[:2]]
    for ws in sockets[:2]:
        await messages(ws, lambda m: m.get("type") == "question")
    # The third: a clear 503, and it holds nothing.
    third_token, third_id = invited[2]
    sdp = {"sdp": pcs[0].localDescription.sdp, "type": "offer"}
    resp = await client.post(f"/i/{third_token}/offer", json=sdp)
    body = await resp.json()
    assert resp.status == 503 and "busy" in body["error"] and "try again" in body["error"]
    assert manager.slots.held == {invited[0][1], invited[1][1]}
    # The first finishes its interview: its slot goes to the third, whose retry gets in.
    await sockets[0].send_json({"type": "next"})
    await sockets[0].send_json({"type": "next"})
    await messages(sockets[0], lambda m: m.get("type") == "done")
    await wait_for(lambda: invited[0][1] not in manager.slots.held, 10, "the finished interview's slot")
    pc3 = await connect(str(client.make_url("")).rstrip("/"), third_token, client.session, tracks())
    await messages(sockets[2], lambda m: m.get("type") == "question")
    assert manager.sessions[third_id].state.value == "live"
    assert len(manager.slots.held) == 2
    for pc in [*pcs, pc3]:
        await pc.close()
    for ws in sockets:
        await ws.close()


async def test_closed_tab_and_forgotten_pause_free_their_slot(aiohttp_client: Any, tmp_path: Path) -> None:
    client, store = await app(aiohttp_client, tmp_path, max_sessions=1, connect_timeout_s=1.5, pause_limit_s=1.5)
    hr = await login(client, store, "hr@example.com")
    (a_token, a_id), (b_token, b_id), (c_token, c_id) = [
        await invite(hr, f"C{i}", f"c{i}@example.com") for i in range(3)]
    manager = client.app[sessions_key]
    base = str(client.make_url("")).rstrip("/")

    # A consents, then closes the tab before any media: back to waiting within the timeout.
    ws = await candidate(client, a_token)
    await messages(ws, lambda m: m.get("code") == "connecting")
    await ws.close()
    assert manager.slots.held == {a_id}
    started = time.monotonic()
    await wait_for(lambda: a_id not in manager.slots.held, 6, "the closed tab's slot")
    freed_after = time.monotonic() - started
    assert freed_after < 1.5 + 2.5  # the timeout plus at most two watchdog ticks

    # B gets the slot; HR pauses B and forgets: abandoned after the pause limit, slot freed.
    ws_b = await candidate(client, b_token)
    await messages(ws_b, lambda m: m.get("code") == "connecting")
    pc_b = await connect(base, b_token, client.session, tracks())
    await messages(ws_b, lambda m: m.get("type") == "question")
    _, body = await hr.call("POST", f"/api/interviews/{b_id}/pause", json={"reason": "PRIVATE: coffee"}, expect=200)
    told = await messages(ws_b, lambda m: m.get("code") == "pause_timeout", timeout=8)
    assert not [m for m in told if "PRIVATE" in str(m)]
    await wait_for(lambda: b_id not in manager.slots.held, 5, "the forgotten pause's slot")

    # C gets in now.
    ws_c = await candidate(client, c_token)
    assert (await messages(ws_c, lambda m: m.get("code") in ("connecting", "capacity")))[-1]["code"] == "connecting"
    codes = store.run_sync(lambda db: [(c.interview_id, c.to_state, c.code) for c in db.exec(
        select(StateChange).order_by(StateChange.id))])
    assert (a_id, "consented", "connect_timeout") in codes
    assert (b_id, "abandoned", "pause_timeout") in codes
    # B's abandonment is resumable by HR (before the deadline).
    _, body = await hr.call("POST", f"/api/interviews/{b_id}/reopen", json={"note": "sorry"}, expect=200)
    assert body["state"] == "interrupted"
    await pc_b.close()
    for w in (ws_b, ws_c):
        await w.close()


async def test_restart_interrupts_and_resumes_with_the_time_it_had(aiohttp_client: Any, tmp_path: Path) -> None:
    """A server stopped mid-answer (no clean close: the store is reused as it was) brings the
    interview back as `interrupted` with the question clock it had; media resumes it."""
    client, store = await app(aiohttp_client, tmp_path)
    hr = await login(client, store, "hr@example.com")
    token, iid = await invite(hr)
    ws = await candidate(client, token)
    await messages(ws, lambda m: m.get("code") == "connecting")
    base = str(client.make_url("")).rstrip("/")
    pc = await connect(base, token, client.session, tracks())
    await messages(ws, lambda m: m.get("type") == "question")
    await asyncio.sleep(2.2)
    session = client.app[sessions_key].sessions[iid]
    session.checkpoint()
    await session.drain_writes()
    used = session.elapsed_s()
    await pc.close()
    await ws.close()

    # A second app on the same store, as after a crash: the sweep marks it interrupted.
    second = await aiohttp_client(create_app(Settings(data_dir=tmp_path / "data", public_url="http://127.0.0.1",
                                                      load_models=False, ice_host_addresses=("127.0.0.1",)),
                                             store=store))
    restored = second.app[sessions_key].sessions[iid]
    assert restored.state.value == "interrupted" and restored.code == "server_restarted"
    assert used - 0.5 <= restored.elapsed_s() <= used + 0.5
    assert restored.current_attempt() is not None and restored.current_attempt().fault
    ws2 = await second.ws_connect(f"/i/{token}/ws")
    await ws2.send_json({"type": "start", "consent": True})
    pc2 = await connect(str(second.make_url("")).rstrip("/"), token, second.session, tracks())
    got = await messages(ws2, lambda m: m.get("code") == "media_back", timeout=10)
    question = [m for m in got if m.get("type") == "question"][-1]
    assert question["index"] == 0 and question["remaining_s"] <= 60 - used + 1
    await pc2.close()
    await ws2.close()


async def test_media_before_consent_holds_a_slot_until_it_times_out(aiohttp_client: Any, tmp_path: Path) -> None:
    """The offer may come before `start`: that media holds a slot too, and a page that never
    consents gives it back after the connect timeout."""
    client, store = await app(aiohttp_client, tmp_path, max_sessions=1, connect_timeout_s=1.5)
    hr = await login(client, store, "hr@example.com")
    (a_token, a_id), (b_token, _) = [await invite(hr, f"C{i}", f"c{i}@example.com") for i in range(2)]
    manager = client.app[sessions_key]
    pc = await connect(str(client.make_url("")).rstrip("/"), a_token, client.session, tracks())
    assert manager.slots.held == {a_id} and manager.sessions[a_id].state.value == "invited"
    ws_b = await candidate(client, b_token)
    assert (await messages(ws_b, lambda m: m.get("code") in ("connecting", "capacity")))[-1]["code"] == "capacity"
    await wait_for(lambda: a_id not in manager.slots.held, 6, "the unconsented media's slot")
    await ws_b.send_json({"type": "start", "consent": True})
    assert (await messages(ws_b, lambda m: m.get("code") in ("connecting", "capacity")))[-1]["code"] == "connecting"
    await pc.close()
    await ws_b.close()
