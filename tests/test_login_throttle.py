"""Login hardening: throttled logins (per account and per address, decided before any hashing,
429 with Retry-After), argon2 off the store thread, logout that revokes the credential that was
used, a monitor feed that ends with its login, and token kinds bound to their carriers."""
from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlmodel import select

from conftest import PASSWORD, Api, login
from server import auth, monitor
from server.app import create_app
from server.auth import LoginThrottle, TooManyAttempts
from server.settings import Settings, SettingsError
from server.store import Store
from server.tables import AuthToken, utcnow
from server.web import SESSION_COOKIE

EMAIL = "target@example.com"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def user(store: Store, email: str = EMAIL, role: str = "hr") -> None:
    store.run_sync(lambda db: auth.create_user(db, email, PASSWORD, role))


async def api_login(client: Any, email: str, password: str) -> Any:
    return await client.post("/api/login", json={"email": email, "password": password})


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The threads argon2 verifies passwords on (one name per verification)."""
    threads: list[str] = []
    real = PasswordHasher.verify

    def spy(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        threads.append(threading.current_thread().name)
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    return threads


# --- 1. throttling --------------------------------------------------------------------------

async def test_thirty_wrong_passwords_then_the_right_one_gets_429(
    client: Any, store: Store, verifications: list[str]
) -> None:
    user(store)
    statuses = []
    for i in range(30):
        resp = await api_login(client, EMAIL, f"wrong password {i}")
        statuses.append(resp.status)
        if resp.status == 429:
            assert int(resp.headers["Retry-After"]) >= 1
            assert "too many login attempts" in (await resp.json())["error"]
    assert statuses[:5] == [401] * 5 and 429 in statuses
    resp = await api_login(client, EMAIL, PASSWORD)
    assert resp.status == 429, await resp.text()
    assert int(resp.headers["Retry-After"]) >= 1
    body = await resp.json()
    assert "try again in" in body["error"] and "token" not in body
    # Refused attempts were decided before any hashing: only the first few were verified.
    assert len(verifications) <= 8, len(verifications)


async def test_back_off_grows_and_a_success_clears_the_account() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)

    def attempt(ok: bool, email: str = EMAIL, remote: str = "10.0.0.1") -> None:
        throttle.settle(throttle.admit(email, remote), ok)

    for _ in range(5):
        attempt(False)
    waits = []
    for _ in range(12):
        with pytest.raises(TooManyAttempts) as refused:
            throttle.admit(EMAIL, "10.0.0.2")  # another address: the account itself is blocked
        waits.append(refused.value.retry_after)
        clock.now += refused.value.retry_after
        attempt(False, remote=f"10.0.1.{len(waits)}")
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    # Even the right password waits out the back-off; afterwards it succeeds and clears it.
    with pytest.raises(TooManyAttempts):
        throttle.admit(EMAIL, "10.0.0.3")
    clock.now += 900
    attempt(True)
    for _ in range(4):
        attempt(False)
    throttle.admit(EMAIL, "10.0.0.4")  # 4 failures since the success: still allowed
    # A quiet window forgets an account's failures.
    clock.now += 16 * 60
    assert throttle.accounts.wait(EMAIL, clock.now) == 0


async def test_per_address_limit_and_concurrent_attempts_cannot_overshoot() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    for i in range(20):
        throttle.settle(throttle.admit(f"user{i}@example.com", "192.0.2.7"), False)
    with pytest.raises(TooManyAttempts):
        throttle.admit("fresh@example.com", "192.0.2.7")
    throttle.admit("fresh@example.com", "192.0.2.8")  # another address is not affected
    # A success does not clear the address (one's own account must not reset the count): the
    # next failure from it blocks for longer.
    clock.now += 1
    throttle.settle(throttle.admit("mine@example.com", "192.0.2.7"), True)
    throttle.settle(throttle.admit("other@example.com", "192.0.2.7"), False)
    with pytest.raises(TooManyAttempts) as refused:
        throttle.admit("third@example.com", "192.0.2.7")
    assert refused.value.retry_after == 2
    # IPv6 clients are counted per /64.
    assert LoginThrottle.address_key("2001:db8::1") == LoginThrottle.address_key("2001:db8::ffff")
    # Five attempts in flight at once use up the account's allowance: the sixth waits.
    tickets = [throttle.admit("busy@example.com", f"198.51.100.{i}") for i in range(5)]
    with pytest.raises(TooManyAttempts):
        throttle.admit("busy@example.com", "198.51.100.9")
    for ticket in tickets:
        throttle.settle(ticket, False)


async def test_throttle_is_bounded_in_size() -> None:
    throttle = LoginThrottle(max_entries=100)
    for i in range(1000):
        throttle.settle(throttle.admit(f"u{i}@example.com", f"10.{i // 256}.{i % 256}.1"), False)
    assert len(throttle.accounts.entries) <= 100 and len(throttle.addresses.entries) <= 100


async def test_per_address_limit_over_http(aiohttp_client: Any, settings: Settings, store: Store) -> None:
    app = create_app(settings, store=store)
    app[auth.login_throttle_key] = LoginThrottle(address_limit=3)
    client = await aiohttp_client(app)
    user(store)
    for i in range(3):
        assert (await api_login(client, f"nobody{i}@example.com", "wrong password")).status == 401
    resp = await api_login(client, EMAIL, PASSWORD)  # another account, the same address
    assert resp.status == 429 and "Retry-After" in resp.headers


async def test_behind_a_trusted_proxy_each_client_is_counted_apart(
    aiohttp_client: Any, settings: Settings, store: Store
) -> None:
    """The test client connects from 127.0.0.1: as a trusted proxy its X-Forwarded-For names the
    client; without the setting a forged header changes nothing."""
    async def wrong(client: Any, forwarded: str) -> int:
        resp = await client.post("/api/login", json={"email": "nobody@example.com", "password": "wrong password"},
                                 headers={"X-Forwarded-For": forwarded})
        return int(resp.status)

    proxied = create_app(dataclasses.replace(settings, trusted_proxies=("127.0.0.0/8",)), store=store)
    proxied[auth.login_throttle_key] = LoginThrottle(address_limit=2)
    client = await aiohttp_client(proxied)
    assert [await wrong(client, "198.51.100.7") for _ in range(3)] == [401, 401, 429]
    # Another client behind the same proxy is not blocked; the client's own spoofed entry on
    # the left is not believed (the proxy appended the real address).
    assert await wrong(client, "198.51.100.9") == 401
    assert await wrong(client, "198.51.100.7, 198.51.100.10") == 401
    assert await wrong(client, "198.51.100.10, 198.51.100.7") == 429

    direct = create_app(settings, store=store)
    direct[auth.login_throttle_key] = LoginThrottle(address_limit=2)
    client = await aiohttp_client(direct)
    assert [await wrong(client, f"203.0.113.{i}") for i in range(3)] == [401, 401, 429]


def test_trusted_proxies_setting_is_checked() -> None:
    assert Settings.from_env({"CANDOR_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16"}).trusted_proxies == (
        "10.0.0.5", "10.1.0.0/16")
    with pytest.raises(SettingsError, match="CANDOR_TRUSTED_PROXIES"):
        Settings.from_env({"CANDOR_TRUSTED_PROXIES": "proxy.local"})


async def test_argon2_runs_off_the_store_thread(client: Any, store: Store, verifications: list[str]) -> None:
    user(store)
    assert (await api_login(client, EMAIL, PASSWORD)).status == 200
    assert (await api_login(client, EMAIL, "wrong password!")).status == 401
    assert (await api_login(client, "nobody@example.com", "wrong password!")).status == 401
    assert len(verifications) == 3
    assert all(name.startswith("argon2") for name in verifications), verifications


async def test_creating_a_user_hashes_off_the_store_thread(
    client: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await login(client, store, "admin@example.com", "admin")
    threads: list[str] = []
    real = PasswordHasher.hash

    def spy(self: PasswordHasher, password: str | bytes, **kwargs: Any) -> str:
        threads.append(threading.current_thread().name)
        return real(self, password, **kwargs)

    monkeypatch.setattr(PasswordHasher, "hash", spy)
    await admin.call("POST", "/api/users", json={"email": "new@example.com", "password": "long enough pass",
                                                 "role": "hr"}, expect=201)
    status, body = await admin.call("POST", "/api/users", json={"email": "n2@example.com", "password": "short",
                                                                "role": "hr"})
    assert status == 422 and "12" in body["error"]
    assert threads and all(name.startswith("argon2") for name in threads), threads
    assert (await api_login(client, "new@example.com", "long enough pass")).status == 200


async def test_a_slow_login_does_not_hold_other_requests(
    client: Any, store: Store, hr: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = PasswordHasher.verify

    def slow(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        time.sleep(1.5)
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", slow)
    logins = [asyncio.create_task(api_login(client, f"x{i}@example.com", "wrong password")) for i in range(3)]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    status, _ = await hr.call("GET", "/api/jobs")
    assert status == 200
    assert time.monotonic() - started < 1.0
    for task in logins:
        assert (await task).status == 401


async def test_page_login_says_in_words_to_wait(client: Any, store: Store) -> None:
    user(store)
    for i in range(5):
        resp = await client.post("/login", data={"email": EMAIL, "password": f"wrong {i} password"},
                                 allow_redirects=False)
        assert resp.status == 401
    resp = await client.post("/login", data={"email": EMAIL, "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert SESSION_COOKIE not in resp.cookies
    page = await resp.text()
    assert "Too many failed attempts to log in" in page and "please wait 1 second" in page


# --- 2. logout and the monitor feed -----------------------------------------------------------

async def page_session(client: Any, email: str = EMAIL) -> str:
    resp = await client.post("/login", data={"email": email, "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    page = await (await client.get("/monitor")).text()
    match = re.search(r'"csrf_token":\s*"([^"]+)"', page) or re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def test_api_logout_with_the_cookie_ends_the_page_session(client: Any, store: Store) -> None:
    user(store)
    csrf = await page_session(client)
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    assert (await client.get("/api/me")).status == 200
    resp = await client.post("/api/logout", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and (await resp.json()) == {"ok": True}
    # The session is gone from the database, not only from this browser's cookie jar.
    resp = await client.get("/api/me", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    assert resp.status == 401
    assert store.run_sync(lambda db: db.exec(select(AuthToken)).all()) == []


async def test_monitor_feed_closes_after_logout(
    client: Any, store: Store, hr: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor, "LOGIN_CHECK_EVERY_S", 0.2)
    ws = await client.ws_connect(f"/ws/monitor?token={hr.token}")
    assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
    await hr.call("POST", "/api/logout", expect=200)
    message = await ws.receive_json(timeout=3)
    assert message["type"] == "error" and "logged out" in message["error"]
    await ws.receive(timeout=3)
    assert ws.closed and ws.close_code == monitor.AUTH_REQUIRED_CLOSE


async def test_monitor_feed_closes_when_the_login_expires(
    client: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor, "LOGIN_CHECK_EVERY_S", 0.2)
    user(store)
    csrf = await page_session(client)
    assert csrf
    ws = await client.ws_connect("/ws/monitor")  # the page's way: the session cookie
    assert (await ws.receive_json(timeout=5))["type"] == "snapshot"

    def expire(db: Any) -> None:
        for row in db.exec(select(AuthToken)):
            row.expires_at = utcnow() - timedelta(seconds=1)
            db.add(row)

    store.run_sync(expire)
    assert (await ws.receive_json(timeout=3))["type"] == "error"
    await ws.receive(timeout=3)
    assert ws.close_code == monitor.AUTH_REQUIRED_CLOSE


# --- 3. token kinds bound to their carriers ---------------------------------------------------

async def test_resolve_token_checks_the_carrier(store: Store) -> None:
    user(store)

    def issue(kind: auth.TokenKind) -> str:
        return store.run_sync(lambda db: auth.issue_token(db, auth.authenticate(db, EMAIL, PASSWORD), kind, 1))[0]

    api_token, session_token = issue("api"), issue("session")
    resolve = auth.resolve_token
    assert store.run_sync(lambda db: resolve(db, api_token, "api")) is not None
    assert store.run_sync(lambda db: resolve(db, api_token, "session")) is None
    assert store.run_sync(lambda db: resolve(db, session_token, "session")) is not None
    assert store.run_sync(lambda db: resolve(db, session_token, "api")) is None


async def test_monitor_refuses_a_token_on_the_wrong_carrier(client: Any, store: Store, hr: Api) -> None:
    # An API token in the session cookie.
    resp = await client.get("/ws/monitor", headers={"Cookie": f"{SESSION_COOKIE}={hr.token}"})
    assert resp.status == 401
    # A page session as ?token=.
    user(store)
    session_token = store.run_sync(
        lambda db: auth.issue_token(db, auth.authenticate(db, EMAIL, PASSWORD), "session", 1))[0]
    resp = await client.get(f"/ws/monitor?token={session_token}")
    assert resp.status == 401


async def test_an_api_token_in_the_cookie_does_not_skip_csrf(client: Any, store: Store, hr: Api) -> None:
    resp = await client.post("/api/jobs", json={"title": "x"}, headers={"Cookie": f"{SESSION_COOKIE}={hr.token}"})
    assert resp.status in (401, 403), await resp.text()
    resp = await client.post("/api/logout", headers={"Cookie": f"{SESSION_COOKIE}={hr.token}"})
    assert resp.status in (401, 403)
    assert (await hr.call("GET", "/api/me"))[0] == 200


async def test_login_helper_still_works(client: Any, store: Store) -> None:
    api = await login(client, store, "plain@example.com")
    assert (await api.call("GET", "/api/me", expect=200))[1]["email"] == "plain@example.com"
