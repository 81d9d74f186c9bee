"""Outbound webhooks: a real receiver (an aiohttp server on 127.0.0.1 started here, checking the
signature with hmac/hashlib itself) gets invitation.sent, interview.completed and decision.made
signed; a receiver that fails gets the event on a later attempt; the delivery log shows it; a
wrong secret fails; a killed server sends what was queued once it is back; the API refuses bad
input with JSON errors; the admin page manages hooks."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import signal
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web
from sqlmodel import select

from conftest import Api, login
from server.app import create_app
from server import webhooks
from server.settings import Settings
from server.tables import AuditLog, Webhook, WebhookDelivery
from tests.support.server import running_server
from tests.test_controls import live_session
from tests.test_decision_change import decided
from tests.test_fuzz_api import admin_token
from tests.test_report_page import csrf_of, page_login, text_of

ALL_EVENTS = ["invitation.sent", "interview.completed", "decision.made"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Fast retries and polls: a failing receiver is retried after 0.2 s, then 0.4 s.
    return Settings(data_dir=tmp_path / "data", load_models=False, public_url="http://candor.test",
                    webhook_retry_s=0.2, webhook_max_attempts=3, webhook_timeout_s=1.0, outbox_poll_s=0.1)


# --- the receiver ----------------------------------------------------------------------------------

def receiver_accepts(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """The receiver's own check, written from the documented format (not server/webhooks.py)."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + mac, header)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    valid: bool
    answered: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        return str(self.json["event"])


@dataclass
class Receiver:
    """An ATS stand-in: answers 200 to a valid signature, 401 to a bad one; `fail_next` requests
    get 500, `slow_s` delays the answer, `hold` keeps requests open until released."""

    url: str = ""
    secret: str = ""
    fail_next: int = 0
    slow_s: float = 0.0
    hold: bool = False
    requests: list[Received] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        got = Received(dict(request.headers), body, receiver_accepts(
            self.secret, request.headers.get("X-Candor-Timestamp", ""), body,
            request.headers.get("X-Candor-Signature", "")))
        self.requests.append(got)
        if self.hold:
            await self.released.wait()
        if self.slow_s:
            await asyncio.sleep(self.slow_s)
        if self.fail_next > 0:
            self.fail_next -= 1
            got.answered = 500
            return web.Response(status=500, text="receiver is down for maintenance")
        got.answered = 200 if got.valid else 401
        return web.json_response({"ok": got.valid}, status=got.answered)

    def of(self, event: str) -> list[Received]:
        return [r for r in self.requests if r.event == event]

    async def wait_for(self, check: Callable[[], bool], within_s: float = 15.0) -> None:
        deadline = time.monotonic() + within_s
        while not check():
            assert time.monotonic() < deadline, f"receiver got {[(r.event, r.answered) for r in self.requests]}"
            await asyncio.sleep(0.02)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rec.url = f"http://{host}:{port}/hook"
    yield rec
    rec.released.set()
    await runner.cleanup()


async def add_hook(admin: Api, receiver: Receiver, events: list[str] = ALL_EVENTS) -> int:
    _, body = await admin.call("POST", "/api/webhooks", json={"url": receiver.url, "events": events}, expect=201)
    receiver.secret = body["secret"]
    return int(body["id"])


async def log_of(admin: Api, hook_id: int) -> list[dict[str, Any]]:
    _, body = await admin.call("GET", f"/api/webhooks/{hook_id}/deliveries", expect=200)
    return list(body["deliveries"])


async def settled(admin: Api, hook_id: int, state: str, within_s: float = 10.0) -> dict[str, Any]:
    """The hook's one delivery once its log says `state`: the receiver sees a request before the
    server has read the answer and written the outcome."""
    deadline = time.monotonic() + within_s
    while True:
        [d] = await log_of(admin, hook_id)
        if d["state"] == state:
            return d
        assert time.monotonic() < deadline, d
        await asyncio.sleep(0.05)


async def page_once(client: Any, path: str, words: str, within_s: float = 10.0) -> str:
    """The page at `path` once its text holds `words` (or as it is at the deadline)."""
    deadline = time.monotonic() + within_s
    while True:
        page: str = await (await client.get(path)).text()
        if words in text_of(page) or time.monotonic() > deadline:
            return page
        await asyncio.sleep(0.05)


# --- signing ---------------------------------------------------------------------------------------

def test_signature_is_hmac_of_timestamp_and_body_and_verify_can_fail() -> None:
    body = b'{"id": 1, "event": "ping"}'
    header = webhooks.signature("s3cret", 1796166000, body)
    expected = hmac.new(b"s3cret", b"1796166000." + body, hashlib.sha256).hexdigest()
    assert header == "sha256=" + expected
    assert webhooks.verify("s3cret", "1796166000", body, header, now=1796166010)
    assert not webhooks.verify("other", "1796166000", body, header, now=1796166010)  # wrong secret
    assert not webhooks.verify("s3cret", "1796166000", body + b" ", header, now=1796166010)  # changed body
    assert not webhooks.verify("s3cret", "1796166001", body, header, now=1796166010)  # changed timestamp
    assert not webhooks.verify("s3cret", "1796166000", body, header, now=1796166000 + 301)  # replayed later
    assert not webhooks.verify("s3cret", "soon", body, header)


# --- events reach the receiver ------------------------------------------------------------------

async def test_invitation_completion_and_decisions_arrive_signed(
        client: Any, admin: Api, hr: Api, settings: Settings, receiver: Receiver) -> None:
    hook_id = await add_hook(admin, receiver)
    iid = await decided(client, hr, settings)  # invited (mail off), completed, decided: talent pool
    await receiver.wait_for(lambda: len(receiver.of("decision.made")) == 1)
    await hr.call("POST", f"/api/interviews/{iid}/decision/change",
                  json={"decision": "second_interview", "reason": "The team lead wants to meet her."}, expect=200)
    await receiver.wait_for(lambda: len(receiver.of("decision.made")) == 2)
    await asyncio.sleep(0.5)  # nothing more comes: each event once
    assert [r.event for r in receiver.requests] == [
        "invitation.sent", "interview.completed", "decision.made", "decision.made"]

    for r in receiver.requests:
        assert r.valid and r.answered == 200
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["User-Agent"] == "Candor-Webhooks"
        assert r.headers["X-Candor-Event"] == r.event
        assert r.headers["X-Candor-Delivery"] == str(r.json["id"])
        assert r.json["created_at"].endswith("Z")
        data = r.json["data"]
        assert (data["interview_id"], data["name"], data["email"]) == (iid, "Ada", "ada@example.com")
        assert isinstance(data["candidate_id"], int) and isinstance(data["job_id"], int)
    assert len({r.json["id"] for r in receiver.requests}) == 4

    completed = receiver.of("interview.completed")[0].json["data"]
    assert completed["completed_at"].endswith("Z") and completed["job_title"] == "Site engineer"
    assert completed["human_only_review"] is True  # decided() runs a human-only interview
    first, change = (r.json["data"] for r in receiver.of("decision.made"))
    assert (first["decision"], first["changed"], first["previous_decision"]) == ("talent_pool", False, None)
    assert first["decided_by"] == "hr@example.com" and first["decided_at"].endswith("Z")
    assert (change["decision"], change["changed"], change["previous_decision"]) == (
        "second_interview", True, "talent_pool")
    assert change["note"] == "The team lead wants to meet her."

    log = await log_of(admin, hook_id)
    assert [(d["event"], d["state"], d["attempts"], d["last_status"]) for d in log] == [
        ("decision.made", "delivered", 1, 200), ("decision.made", "delivered", 1, 200),
        ("interview.completed", "delivered", 1, 200), ("invitation.sent", "delivered", 1, 200)]
    assert all(d["delivered_at"] and d["next_attempt_at"] is None for d in log)


async def test_an_interview_hr_ends_is_announced_once(client: Any, admin: Api, hr: Api,
                                                      receiver: Receiver) -> None:
    await add_hook(admin, receiver, ["interview.completed"])  # only this event
    session, iid, _, _ = await live_session(client, hr)
    _, body = await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "end", "note": "enough"},
                            expect=200)
    assert body["state"] == "completed"
    await receiver.wait_for(lambda: len(receiver.requests) == 1)
    assert (await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "end"}))[0] == 409
    await asyncio.sleep(0.4)
    [got] = receiver.requests
    assert got.valid and got.event == "interview.completed"
    assert got.json["data"]["ended_by"] == "interviewer" and got.json["data"]["code"] == "ended_by_interviewer"
    assert got.json["data"]["interview_id"] == iid


async def test_new_events_and_retries_go_out_on_time_not_at_the_next_poll(
        aiohttp_client: Any, settings: Settings, store: Any, receiver: Receiver) -> None:
    slow_poll = await aiohttp_client(create_app(replace(settings, outbox_poll_s=60.0), store=store))
    admin = await login(slow_poll, store, "admin@example.com", "admin")
    hook_id = await add_hook(admin, receiver)
    await asyncio.sleep(0.3)  # the sender's first pass is over: it waits for the next poll (60 s)
    started = time.monotonic()
    await admin.call("POST", f"/api/webhooks/{hook_id}/test", json={}, expect=202)
    await receiver.wait_for(lambda: len(receiver.requests) == 1, within_s=5)
    assert time.monotonic() - started < 2  # woken by the commit that queued it
    # A retry is due before the next poll: the sender wakes for it (0.2 s later here).
    receiver.fail_next = 1
    started = time.monotonic()
    await admin.call("POST", f"/api/webhooks/{hook_id}/test", json={}, expect=202)
    await receiver.wait_for(lambda: len(receiver.requests) == 3, within_s=5)
    assert [r.answered for r in receiver.requests] == [200, 500, 200]
    assert time.monotonic() - started < 2


# --- retries, giving up, redelivery ------------------------------------------------------------

async def test_a_receiver_failing_twice_gets_it_on_the_third_attempt(
        admin: Api, receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="server.webhooks")
    hook_id = await add_hook(admin, receiver)
    receiver.fail_next = 2
    _, queued = await admin.call("POST", f"/api/webhooks/{hook_id}/test", json={}, expect=202)
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 15
    while not seen or seen[-1][0] != "delivered":
        assert time.monotonic() < deadline, seen
        [d] = await log_of(admin, hook_id)
        if not seen or seen[-1] != (d["state"], d["attempts"]):
            seen.append((d["state"], d["attempts"]))
        await asyncio.sleep(0.02)
    # The log went through failed (attempts 1 and 2, with when the next try is) to delivered.
    assert ("failed", 1) in seen and ("failed", 2) in seen and seen[-1] == ("delivered", 3), seen
    [d] = await log_of(admin, hook_id)
    assert d["id"] == queued["delivery_id"] and d["event"] == "ping" and d["last_status"] == 200
    assert "HTTP 500" in d["last_error"] and "down for maintenance" in d["last_error"]  # why it failed before
    assert [r.answered for r in receiver.requests] == [500, 500, 200]
    assert all(r.valid for r in receiver.requests)
    assert len({r.headers["X-Candor-Delivery"] for r in receiver.requests}) == 1  # one delivery, retried
    # The retries waited for the back-off (0.2 s, then 0.4 s).
    stamps = [int(r.headers["X-Candor-Timestamp"]) for r in receiver.requests]
    assert stamps == sorted(stamps)
    messages = [r.getMessage() for r in caplog.records if r.name == "server.webhooks"]
    assert any("failed on attempt 1, next in" in m for m in messages), messages
    assert any("failed on attempt 2, next in" in m for m in messages), messages
    assert any("delivered on attempt 3" in m for m in messages), messages


async def test_it_gives_up_after_the_last_attempt_and_hr_can_redeliver(admin: Api, receiver: Receiver) -> None:
    hook_id = await add_hook(admin, receiver)
    receiver.fail_next = 100
    _, queued = await admin.call("POST", f"/api/webhooks/{hook_id}/test", json={}, expect=202)
    await receiver.wait_for(lambda: len(receiver.requests) == 3)
    await asyncio.sleep(1.0)  # longer than the next back-off would be: no 4th attempt
    assert len(receiver.requests) == 3
    d = await settled(admin, hook_id, "failed")
    assert (d["state"], d["attempts"], d["last_status"], d["next_attempt_at"]) == ("failed", 3, 500, None)

    receiver.fail_next = 0
    _, out = await admin.call("POST", f"/api/webhooks/deliveries/{queued['delivery_id']}/redeliver", json={},
                              expect=200)
    assert out["state"] == "queued"
    await receiver.wait_for(lambda: len(receiver.requests) == 4)
    await receiver.wait_for(lambda: receiver.requests[-1].answered == 200)
    d = await settled(admin, hook_id, "delivered")
    assert (d["state"], d["attempts"]) == ("delivered", 4)
    assert receiver.requests[-1].headers["X-Candor-Delivery"] == str(queued["delivery_id"])
    status, body = await admin.call("POST", "/api/webhooks/deliveries/999999/redeliver", json={})
    assert status == 404 and "error" in body


async def test_a_receiver_that_never_answers_times_out(admin: Api, receiver: Receiver) -> None:
    hook_id = await add_hook(admin, receiver)
    receiver.slow_s = 3.0  # CANDOR_WEBHOOK_TIMEOUT_S is 1 here
    await admin.call("POST", f"/api/webhooks/{hook_id}/test", json={}, expect=202)
    await receiver.wait_for(lambda: len(receiver.requests) >= 1)
    deadline = time.monotonic() + 10
    while True:
        [d] = await log_of(admin, hook_id)
        if d["state"] == "failed":
            break
        assert time.monotonic() < deadline, d
        await asyncio.sleep(0.05)
    assert d["last_status"] is None and "no answer within 1 s" in d["last_error"]


async def test_a_wrong_secret_fails_and_rotation_signs_with_the_new_one(
        admin: Api, store: Any, receiver: Receiver) -> None:
    hook_id = await add_hook(admin, receiver)
    right = receiver.secret
    receiver.secret = "not-the-secret"
    await admin.call("POST", f"/api/webhooks/{hook_id}/test", json={}, expect=202)
    await receiver.wait_for(lambda: len(receiver.requests) == 3)  # refused each time (401), retried
    assert [r.valid for r in receiver.requests] == [False, False, False]
    assert all(receiver_accepts(right, r.headers["X-Candor-Timestamp"], r.body, r.headers["X-Candor-Signature"])
               for r in receiver.requests)
    d = await settled(admin, hook_id, "failed")
    assert (d["state"], d["attempts"], d["last_status"]) == ("failed", 3, 401)

    _, rotated = await admin.call("POST", f"/api/webhooks/{hook_id}/secret", json={}, expect=200)
    assert rotated["secret"] not in (right, "") and rotated["id"] == hook_id
    receiver.secret = right  # the old secret no longer verifies
    await admin.call("POST", f"/api/webhooks/{hook_id}/test", json={}, expect=202)
    await receiver.wait_for(lambda: len(receiver.requests) == 4)
    assert not receiver.requests[-1].valid
    receiver.secret = rotated["secret"]
    await receiver.wait_for(lambda: len(receiver.requests) == 5)
    assert receiver.requests[-1].valid and receiver.requests[-1].answered == 200
    actions = store.run_sync(lambda db: [a.action for a in db.exec(select(AuditLog)).all()
                                         if a.action.startswith("webhook.")])
    assert actions == ["webhook.create", "webhook.secret_rotate"]


# --- nothing queued is lost to a crash ------------------------------------------------------------

@contextlib.asynccontextmanager
async def server_process(tmp_path: Path, env: dict[str, str], **kw: Any) -> AsyncIterator[Any]:
    """tests.support.server.running_server, started and stopped off the event loop (the
    receiver answers on this loop meanwhile)."""
    cm = running_server(tmp_path, env=env, **kw)
    base = await asyncio.to_thread(cm.__enter__)
    try:
        yield base
    except BaseException as exc:
        await asyncio.to_thread(cm.__exit__, type(exc), exc, exc.__traceback__)  # prints the server's log
        raise
    await asyncio.to_thread(cm.__exit__, None, None, None)


async def test_a_killed_server_sends_what_was_queued_when_it_is_back(tmp_path: Path, receiver: Receiver) -> None:
    env = {"CANDOR_LOAD_MODELS": "0", "CANDOR_WEBHOOK_TIMEOUT_S": "1", "CANDOR_WEBHOOK_RETRY_S": "3",
           "CANDOR_OUTBOX_POLL_S": "0.2"}
    async with server_process(tmp_path, env) as base:
        token = await asyncio.to_thread(admin_token, base, base.log())
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async def call(method: str, path: str, **kw: Any) -> Any:
                async with http.request(method, base + path, **kw) as resp:
                    assert resp.status < 300, (resp.status, await resp.text())
                    return await resp.json()

            hook = await call("POST", "/api/webhooks", json={"url": receiver.url, "events": ALL_EVENTS})
            receiver.secret = hook["secret"]
            # A delivery that failed and waits for its retry (3 s later) ...
            receiver.fail_next = 1
            waiting = (await call("POST", f"/api/webhooks/{hook['id']}/test", json={}))["delivery_id"]
            await receiver.wait_for(lambda: len(receiver.requests) == 1 and receiver.requests[0].answered == 500)
            # ... and one in flight when the server dies: the receiver holds it open.
            receiver.hold = True
            in_flight = (await call("POST", f"/api/webhooks/{hook['id']}/test", json={}))["delivery_id"]
            await receiver.wait_for(lambda: any(r.json["id"] == in_flight for r in receiver.requests))
            os.killpg(base.process.pid, signal.SIGKILL)
            await asyncio.to_thread(base.process.wait, 10)
        data_dir = base.data_dir
    receiver.hold = False
    receiver.released.set()  # the held request ends (its answer never reached the dead server)
    before = len(receiver.requests)

    async with server_process(tmp_path, env, data_dir=data_dir) as base:
        # The one in flight is due again once its lease (2 x timeout + 1 s) ran out; the failed
        # one at its retry time.
        await receiver.wait_for(lambda: sorted(r.json["id"] for r in receiver.requests[before:]
                                               if r.answered == 200) == [waiting, in_flight], within_s=20)
        assert all(r.valid for r in receiver.requests)
        async with aiohttp.ClientSession(headers=headers) as http:
            deadline = time.monotonic() + 10
            while True:  # the receiver answered; the server writes the outcome a moment later
                async with http.get(f"{base}/api/webhooks/{hook['id']}/deliveries") as resp:
                    log = {d["id"]: d for d in (await resp.json())["deliveries"]}
                if log[waiting]["state"] == log[in_flight]["state"] == "delivered" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
        assert (log[waiting]["state"], log[waiting]["attempts"]) == ("delivered", 2)
        assert (log[in_flight]["state"], log[in_flight]["attempts"]) == ("delivered", 2)  # the cut one counts
        assert "delivered on attempt 2" in base.log()


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_two_server_processes_on_one_database_send_each_delivery_once(
        tmp_path: Path, receiver: Receiver, database: str, request: pytest.FixtureRequest) -> None:
    env = {"CANDOR_LOAD_MODELS": "0", "CANDOR_OUTBOX_POLL_S": "0.05", "CANDOR_WEBHOOK_TIMEOUT_S": "5"}
    if database == "postgres":
        env["CANDOR_DATABASE_URL"] = request.getfixturevalue("postgres_db_url")
    (tmp_path / "two").mkdir()
    async with server_process(tmp_path, env) as one:
        async with server_process(tmp_path / "two", env, data_dir=one.data_dir) as two:
            token = await asyncio.to_thread(admin_token, one, one.log())
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
                async def call(base: str, path: str) -> Any:
                    async with http.post(base + path, json=payload) as resp:
                        assert resp.status < 300, (resp.status, await resp.text())
                        return await resp.json()

                payload: Any = {"url": receiver.url, "events": ALL_EVENTS}
                hook = await call(one, "/api/webhooks")
                receiver.secret = hook["secret"]
                receiver.slow_s = 0.05  # sends overlap with the other process's polls
                payload = {}
                queued = [(await call(base, f"/api/webhooks/{hook['id']}/test"))["delivery_id"]
                          for _ in range(20) for base in (one, two)]
                await receiver.wait_for(lambda: len(receiver.requests) >= len(queued))
                await asyncio.sleep(1.0)
            logs = one.log() + two.log()
    ids = sorted(r.json["id"] for r in receiver.requests)
    assert ids == sorted(queued), "a delivery was sent twice or not at all"
    assert all(r.valid and r.answered == 200 for r in receiver.requests)
    assert "delivered on attempt 1" in one.log() and "delivered on attempt 1" in two.log()  # both sent some
    assert " ERROR " not in logs and "Traceback" not in logs, logs[-3000:]


async def test_two_senders_on_one_database_send_each_delivery_once(
        client: Any, admin: Api, settings: Settings, store: Any, receiver: Receiver) -> None:
    """A second process's sender (here: a second Sender on the same database) claims nothing
    the first one claimed."""
    hook_id = await add_hook(admin, receiver)
    other = webhooks.Sender(settings, store, client.app[webhooks.sealer_key])
    other.start()
    try:
        for _ in range(30):
            await admin.call("POST", f"/api/webhooks/{hook_id}/test", json={}, expect=202)
        await receiver.wait_for(lambda: len(receiver.requests) >= 30)
        await asyncio.sleep(0.5)
    finally:
        await other.close()
    ids = [r.json["id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 30
    rows = store.run_sync(lambda db: db.exec(select(WebhookDelivery)).all())
    assert all(d.state == "delivered" and d.attempts == 1 for d in rows)


# --- the API refuses bad input -------------------------------------------------------------------

async def test_the_api_refuses_bad_input_with_json_errors(client: Any, admin: Api, hr: Api, store: Any) -> None:
    good = {"url": "https://ats.example.com/hooks/candor", "events": ["decision.made"]}
    resp = await client.post("/api/webhooks", json=good)
    assert resp.status == 401 and "error" in await resp.json()
    status, body = await hr.call("POST", "/api/webhooks", json=good)
    assert status == 403 and "admin" in body["error"]
    assert (await hr.call("GET", "/api/webhooks"))[0] == 403
    for payload, expected, words in [
        ({"url": "ftp://ats.example.com/x", "events": ["decision.made"]}, 422, "http"),
        ({"url": "javascript:alert(1)", "events": ["decision.made"]}, 422, "http"),
        ({"url": "https://", "events": ["decision.made"]}, 422, "host"),
        ({"url": "https://user:pw@ats.example.com/", "events": ["decision.made"]}, 422, "password"),
        ({"url": "https://ats.example.com:99999/", "events": ["decision.made"]}, 422, "URL"),
        ({"url": "https://ats.example.com/ x", "events": ["decision.made"]}, 422, "spaces"),
        ({"url": "https://ats.example.com/", "events": []}, 422, "at least one"),
        ({"url": "https://ats.example.com/", "events": ["candidate.hired"]}, 422, "unknown event"),
        ({"url": "https://ats.example.com/", "events": ["ping"]}, 422, "unknown event"),
        ({"url": "https://ats.example.com/" + "a" * 2000, "events": ["decision.made"]}, 422, "2000"),
        ({"events": ["decision.made"]}, 400, "url"),
        ({"url": 5, "events": ["decision.made"]}, 400, "url"),
        ({**good, "secret": "mine"}, 400, "secret"),
    ]:
        status, body = await admin.call("POST", "/api/webhooks", json=payload)
        assert status == expected and words in body["error"], (payload, status, body)
    resp = await client.post("/api/webhooks", data="{not json", headers=admin.headers)
    assert resp.status == 400 and "error" in await resp.json()

    _, made = await admin.call("POST", "/api/webhooks", json={**good, "events": ["decision.made", "invitation.sent",
                                                                                 "decision.made"]}, expect=201)
    assert made["events"] == ["invitation.sent", "decision.made"] and len(made["secret"]) >= 40
    _, listed = await admin.call("GET", "/api/webhooks", expect=200)
    assert listed["webhooks"] == [{"id": made["id"], "url": good["url"], "events": made["events"], "active": True,
                                   "created_at": listed["webhooks"][0]["created_at"]}]
    assert made["secret"] not in json.dumps(listed)
    [stored] = store.run_sync(lambda db: db.exec(select(Webhook)).all())
    assert made["secret"] not in stored.secret_sealed  # stored sealed, never in clear
    assert client.app[webhooks.sealer_key].unseal(stored.secret_sealed) == made["secret"]

    hid = made["id"]
    for path, expected in [(f"/api/webhooks/{hid}/deliveries?limit=abc", 400),
                           (f"/api/webhooks/{hid}/deliveries?limit=0", 400),
                           (f"/api/webhooks/{hid}/deliveries?limit=5000", 400),
                           (f"/api/webhooks/{hid}/deliveries?offset=-1", 400),
                           ("/api/webhooks/999999/deliveries", 404), ("/api/webhooks/abc/deliveries", 400)]:
        status, body = await admin.call("GET", path)
        assert status == expected and "error" in body, (path, status, body)
    assert (await admin.call("POST", "/api/webhooks/999999/test", json={}))[0] == 404
    assert (await admin.call("POST", "/api/webhooks/999999/secret", json={}))[0] == 404
    assert (await admin.call("POST", f"/api/webhooks/{hid}/test"))[0] == 400  # a body is needed ({})
    assert (await hr.call("POST", f"/api/webhooks/{hid}/test", json={}))[0] == 403
    assert (await hr.call("DELETE", f"/api/webhooks/{hid}"))[0] == 403

    _, ping = await admin.call("POST", f"/api/webhooks/{hid}/test", json={}, expect=202)
    await admin.call("DELETE", f"/api/webhooks/{hid}", expect=200)
    assert (await admin.call("DELETE", f"/api/webhooks/{hid}"))[0] == 404
    assert (await admin.call("GET", "/api/webhooks", expect=200))[1]["webhooks"] == []
    # The log stays; what was waiting is not sent to a deleted hook.
    _, log = await admin.call("GET", f"/api/webhooks/{hid}/deliveries", expect=200)
    assert log["total"] == 1 and log["deliveries"][0]["id"] == ping["delivery_id"]
    status, body = await admin.call("POST", f"/api/webhooks/deliveries/{ping['delivery_id']}/redeliver", json={})
    assert status == 409 and "deleted" in body["error"]
    actions = store.run_sync(lambda db: [(a.action, a.target_id) for a in db.exec(select(AuditLog)).all()
                                         if a.action.startswith("webhook.")])
    assert actions == [("webhook.create", hid), ("webhook.delete", hid)]

    _, doc = await admin.call("GET", "/api/openapi.json", expect=200)
    assert {"post", "get"} <= set(doc["paths"]["/api/webhooks"]) and "/api/webhooks/{webhook_id}/test" in doc["paths"]


async def test_redelivering_a_queued_delivery_is_a_conflict(admin: Api, store: Any) -> None:
    _, made = await admin.call("POST", "/api/webhooks", json={"url": "http://127.0.0.1:9/none",
                                                              "events": ["decision.made"]}, expect=201)
    # A delivery not yet due (as if queued by another process a moment ago).
    from datetime import timedelta

    from server.tables import utcnow

    def queue(db: Any) -> int:
        row = WebhookDelivery(webhook_id=made["id"], event="decision.made", payload={},
                              next_attempt_at=utcnow() + timedelta(hours=1))
        db.add(row)
        db.flush()
        return int(row.id)

    delivery_id = store.run_sync(queue)
    status, body = await admin.call("POST", f"/api/webhooks/deliveries/{delivery_id}/redeliver", json={})
    assert status == 409 and "queued" in body["error"]


# --- the page ----------------------------------------------------------------------------------

async def test_the_admin_page_adds_pings_redelivers_rotates_and_deletes(
        client: Any, admin: Api, hr: Api, store: Any, receiver: Receiver) -> None:
    csrf = await page_login(client, "admin@example.com")
    page = await (await client.get("/webhooks")).text()
    assert 'href="/webhooks" aria-current="page"' in page and "No webhooks yet." in text_of(page)

    resp = await client.post("/webhooks", data={"url": "ftp://x", "events": "decision.made", "csrf_token": csrf})
    assert resp.status == 422 and "must start with http:// or https://" in text_of(await resp.text())
    resp = await client.post("/webhooks", data={"url": receiver.url, "csrf_token": csrf})
    assert resp.status == 422 and "choose at least one event" in text_of(await resp.text())
    resp = await client.post("/webhooks", data={"url": receiver.url, "events": "decision.made"})
    assert resp.status == 403  # no CSRF token

    resp = await client.post("/webhooks", data=[("url", receiver.url), ("events", "decision.made"),
                                               ("events", "interview.completed"), ("csrf_token", csrf)])
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    page = await resp.text()
    secret = page.split('id="shown-secret-value"')[1].split('value="')[1].split('"')[0]
    receiver.secret = secret
    words = text_of(page)
    assert "Webhook added for " + receiver.url in words and "Events: Interview completed Decision made" in words
    hook_id = int(page.split('data-webhook-id="')[1].split('"')[0])
    # The secret is shown only in that answer.
    assert secret not in await (await client.get("/webhooks")).text()

    receiver.fail_next = 100
    resp = await client.post(f"/webhooks/{hook_id}/test", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/webhooks?done=ping"
    await receiver.wait_for(lambda: len(receiver.requests) == 3)
    page = await page_once(client, "/webhooks", "Failed (no more tries)")
    assert "Failed (no more tries)" in text_of(page) and "HTTP 500: receiver is down" in text_of(page)
    delivery_id = int(page.split('data-delivery-id="')[1].split('"')[0])
    assert receiver.requests[0].valid  # the secret shown is the one that signs

    receiver.fail_next = 0
    resp = await client.post(f"/webhooks/deliveries/{delivery_id}/redeliver", data={"csrf_token": csrf},
                             allow_redirects=False)
    assert resp.status == 303
    await receiver.wait_for(lambda: receiver.requests[-1].answered == 200)
    page = text_of(await page_once(client, "/webhooks?done=redeliver", "Delivered"))
    assert "The delivery was queued again." in page and "Delivered" in page and "(before: HTTP 500" in page

    resp = await client.post(f"/webhooks/{hook_id}/secret", data={"csrf_token": csrf})
    page = await resp.text()
    assert resp.status == 200 and "New secret for" in text_of(page)
    assert page.split('id="shown-secret-value"')[1].split('value="')[1].split('"')[0] not in ("", secret)

    resp = await client.post("/webhooks/999999/delete", data={"csrf_token": csrf})
    assert resp.status == 404
    resp = await client.post(f"/webhooks/{hook_id}/delete", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303
    page = text_of(await (await client.get("/webhooks?done=deleted")).text())
    assert "The webhook was deleted" in page and "No webhooks yet." in page

    # An HR user without the admin role neither sees the link nor the page.
    hr_client_csrf = await page_login(client, "hr@example.com")
    assert hr_client_csrf
    jobs = await (await client.get("/jobs")).text()
    assert 'href="/webhooks"' not in jobs
    resp = await client.get("/webhooks")
    assert resp.status == 403
    csrf_of(jobs)
