"""Bad input on the candidate's live channel: clear errors, and the session unharmed."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlmodel import select

from conftest import Api, invite, login
from server.auth import token_digest
from server.tables import AuditLog, Interview, Invitation


async def test_bad_offers(client: Any, hr: Api, store: Any) -> None:
    token, iid = await invite(hr)
    cases = [
        (b"not json", 400, "sdp"),
        (json.dumps({"sdp": "hello", "type": "offer"}).encode(), 400, "malformed SDP"),
        (json.dumps({"sdp": "v=0\r\n", "type": "answer"}).encode(), 400, "offer"),
        (json.dumps({"type": "offer"}).encode(), 400, "sdp"),
        (json.dumps({"sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
                     "type": "offer"}).encode(), 400, "SDP"),
        (b'{"sdp": "' + b"v" * 70_000 + b'", "type": "offer"}', 413, "too large"),
    ]
    for raw, status, fragment in cases:
        resp = await client.post(f"/i/{token}/offer", data=raw, headers={"Content-Type": "application/json"})
        body = await resp.json()
        assert resp.status == status, (raw[:60], body)
        assert fragment.lower() in body["error"].lower(), body
    resp = await client.post("/i/" + "x" * 43 + "/offer", json={"sdp": "v=0", "type": "offer"})
    assert resp.status == 404 and "not valid" in (await resp.json())["error"]

    def finish(db: Any) -> None:
        row = db.get(Interview, iid)
        row.state = "completed"
        db.add(row)

    store.run_sync(finish)
    resp = await client.post(f"/i/{token}/offer", json={"sdp": "v=0\r\nm=audio", "type": "offer"})
    assert resp.status == 410 and "completed" in (await resp.json())["error"]
    resp = await client.get(f"/i/{token}/ws")
    assert resp.status == 410


async def test_expired_link_refuses_offer_and_socket(client: Any, hr: Api, store: Any) -> None:
    token, _ = await invite(hr)

    def expire(db: Any) -> None:
        inv = db.exec(select(Invitation).where(Invitation.token_sha256 == token_digest(token))).one()
        inv.deadline = datetime.now(timezone.utc) - timedelta(minutes=1)
        db.add(inv)

    store.run_sync(expire)
    resp = await client.post(f"/i/{token}/offer", json={"sdp": "v=0\r\nm=audio", "type": "offer"})
    assert resp.status == 410 and "deadline" in (await resp.json())["error"]


async def test_garbage_on_the_websocket_gets_errors_not_a_crash(client: Any, hr: Api) -> None:
    token, _ = await invite(hr)
    ws = await client.ws_connect(f"/i/{token}/ws")
    first = await ws.receive_json(timeout=5)
    assert first["type"] == "state" and first["state"] == "invited"
    for garbage, fragment in [("{{{", "not valid JSON"), ("[1,2]", "type"), ('{"type": 5}', "type"),
                              ('{"type": "start"}', "consent"), ('{"type": "launch"}', "unknown")]:
        await ws.send_str(garbage)
        reply = await ws.receive_json(timeout=5)
        assert reply["type"] == "error" and fragment in reply["error"], (garbage, reply)
    await ws.send_bytes(b"\x00\x01")
    assert (await ws.receive_json(timeout=5))["type"] == "error"
    await ws.send_str('{"type": "ping"}')
    assert (await ws.receive_json(timeout=5)) == {"type": "pong"}
    # Still a working session: consent moves it on.
    await ws.send_json({"type": "start", "consent": True})
    states = [(await ws.receive_json(timeout=5))["state"] for _ in range(2)]
    assert states == ["consented", "connecting"]
    await ws.close()


async def test_flood_of_messages_closes_the_socket(client: Any, hr: Api) -> None:
    token, _ = await invite(hr)
    ws = await client.ws_connect(f"/i/{token}/ws")
    await ws.receive_json(timeout=5)
    for _ in range(60):
        await ws.send_str('{"type": "ping"}')
    closed = False
    for _ in range(100):
        msg = await ws.receive(timeout=5)
        if msg.type.name in ("CLOSE", "CLOSED", "CLOSING"):
            closed = True
            break
    assert closed
    # The link still works afterwards.
    ws2 = await client.ws_connect(f"/i/{token}/ws")
    assert (await ws2.receive_json(timeout=5))["type"] == "state"
    await ws2.close()


async def test_second_browser_replaces_the_first(client: Any, hr: Api) -> None:
    token, _ = await invite(hr)
    first = await client.ws_connect(f"/i/{token}/ws")
    await first.receive_json(timeout=5)
    second = await client.ws_connect(f"/i/{token}/ws")
    assert (await second.receive_json(timeout=5))["type"] == "state"
    got = await first.receive_json(timeout=5)
    assert got["state"] == "closed" and "another window" in got["reason"]
    msg = await first.receive(timeout=5)
    assert msg.type.name in ("CLOSE", "CLOSED")
    await second.close()


async def test_reissued_link_replaces_the_old_one_at_once(client: Any, hr: Api, store: Any) -> None:
    """Links are stored as hashes: HR shows one again by issuing a new one; the old link stops
    working for pages, offers and sockets, and the socket open on it is closed."""
    token, iid = await invite(hr)
    old_ws = await client.ws_connect(f"/i/{token}/ws")
    assert (await old_ws.receive_json(timeout=5))["type"] == "state"
    _, detail = await hr.call("GET", f"/api/interviews/{iid}", expect=200)
    assert token not in json.dumps(detail) and "url" not in detail

    _, issued = await hr.call("POST", f"/api/interviews/{iid}/link", json={}, expect=200)
    new_token = issued["url"].rsplit("/", 1)[1]
    assert issued["url"].startswith("http://candor.test/i/") and new_token != token
    assert issued["interview_id"] == iid
    got = await old_ws.receive_json(timeout=5)
    assert got["state"] == "closed" and got["code"] == "link_reissued"
    assert (await old_ws.receive(timeout=5)).type.name in ("CLOSE", "CLOSED")

    assert (await client.get(f"/i/{token}")).status == 404
    assert (await client.post(f"/i/{token}/offer", json={"sdp": "v=0", "type": "offer"})).status == 404
    assert (await client.get(f"/i/{token}/ws")).status == 404
    assert (await client.get(f"/i/{new_token}")).status == 200
    new_ws = await client.ws_connect(f"/i/{new_token}/ws")
    assert (await new_ws.receive_json(timeout=5))["type"] == "state"
    await new_ws.close()

    rows = store.run_sync(lambda db: db.exec(select(Invitation)).all())
    assert [r.token_sha256 for r in rows] == [token_digest(new_token)]
    audit = store.run_sync(lambda db: [a.action for a in db.exec(select(AuditLog))])
    assert audit.count("invitation.reissue") == 1

    # Nobody else's interview, and no new link for a finished one.
    other = await login(client, store, "other@example.com", "hr")
    status, body = await other.call("POST", f"/api/interviews/{iid}/link", json={})
    assert status == 404, body

    def finish(db: Any) -> None:
        row = db.get(Interview, iid)
        row.state = "completed"
        db.add(row)

    store.run_sync(finish)
    status, body = await hr.call("POST", f"/api/interviews/{iid}/link", json={})
    assert status == 409 and "completed" in body["error"]
    assert (await client.get(f"/i/{new_token}")).status == 410


async def test_revoked_link_stops_working_until_a_new_one_is_issued(client: Any, hr: Api, store: Any) -> None:
    token, iid = await invite(hr)
    ws = await client.ws_connect(f"/i/{token}/ws")
    assert (await ws.receive_json(timeout=5))["type"] == "state"
    _, body = await hr.call("POST", f"/api/interviews/{iid}/revoke", json={}, expect=200)
    assert body["interview_id"] == iid and body["link_revoked_at"]
    got = await ws.receive_json(timeout=5)
    assert got["state"] == "closed" and got["code"] == "link_reissued"
    assert (await client.get(f"/i/{token}")).status == 404
    _, detail = await hr.call("GET", f"/api/interviews/{iid}", expect=200)
    assert detail["link_revoked_at"] and detail["state"] == "invited"  # the interview itself is untouched
    _, issued = await hr.call("POST", f"/api/interviews/{iid}/link", json={}, expect=200)
    assert (await client.get("/i/" + issued["url"].rsplit("/", 1)[1])).status == 200
    _, detail = await hr.call("GET", f"/api/interviews/{iid}", expect=200)
    assert detail["link_revoked_at"] is None
    actions = store.run_sync(lambda db: [a.action for a in db.exec(select(AuditLog))])
    assert actions.count("invitation.revoke") == 1


async def test_deadline_changes_and_bad_deadlines_are_refused(client: Any, hr: Api, store: Any) -> None:
    token, iid = await invite(hr)
    later = datetime.now(timezone.utc) + timedelta(days=30)
    _, body = await hr.call("POST", f"/api/interviews/{iid}/deadline", json={"deadline": later.isoformat()},
                            expect=200)
    _, detail = await hr.call("GET", f"/api/interviews/{iid}", expect=200)
    assert detail["deadline"].startswith(later.strftime("%Y-%m-%dT%H:%M"))
    for bad in ("2001-01-01T00:00:00Z", "3001-01-01T00:00:00Z", "soon", None):
        status, body = await hr.call("POST", f"/api/interviews/{iid}/deadline", json={"deadline": bad})
        assert status in (400, 422) and "deadline" in body["error"], (bad, status, body)
    # An earlier deadline that has passed by the time the link is opened: the link expires.
    soon = datetime.now(timezone.utc) + timedelta(seconds=2)  # still ahead when it arrives on a slow machine
    await hr.call("POST", f"/api/interviews/{iid}/deadline", json={"deadline": soon.isoformat()}, expect=200)
    await asyncio.sleep(2.2)
    assert (await client.get(f"/i/{token}")).status == 410
    status, body = await hr.call("POST", f"/api/interviews/{iid}/deadline", json={"deadline": later.isoformat()})
    assert status == 409 and "deadline" in body["error"]
    audit = store.run_sync(lambda db: [a for a in db.exec(select(AuditLog)) if a.action == "invitation.deadline"])
    assert len(audit) == 2
