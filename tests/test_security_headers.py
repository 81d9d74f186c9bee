"""Security headers on every response, Secure cookies behind a TLS proxy, links never written
from an arbitrary Host header, and link tokens kept out of the log."""
from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from conftest import PASSWORD, Api, invite, login, make_job_and_template
from server import auth
from server.app import create_app
from server.settings import Settings, SettingsError
from server.store import Store
from server.tables import Invitation
from server.web import SESSION_COOKIE

TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde"


def assert_secure_headers(resp: Any, what: str) -> None:
    headers = resp.headers
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, (what, csp)
    assert "default-src 'self'" in csp and "script-src 'self'" in csp, (what, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (what, csp)
    assert headers.get("X-Frame-Options") == "DENY", what
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("Referrer-Policy") in ("no-referrer", "same-origin"), what
    assert headers.get("Server") == "Candor", (what, headers.get("Server"))


async def test_every_kind_of_response_has_the_security_headers(client: Any, hr: Api, store: Store) -> None:
    token, iid = await invite(hr)
    store.run_sync(lambda db: auth.create_user(db, "page@example.com", PASSWORD, "hr"))
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/login", {}),                          # HR page
        ("GET", f"/i/{token}", {}),                     # candidate page
        ("GET", "/i/not-a-token", {}),                  # candidate error page
        ("GET", "/api/health", {}),                     # JSON
        ("GET", f"/api/interviews/{iid}", {"headers": hr.headers}),
        ("GET", "/api/jobs/999", {"headers": hr.headers}),  # JSON error
        ("GET", "/api/jobs", {}),                       # 401
        ("DELETE", "/api/jobs", {"headers": hr.headers}),  # 405
        ("GET", "/static/candor.css", {}),              # static file
        ("GET", "/static/interview.js", {}),
        ("GET", "/static/nothing.css", {}),             # static 404
        ("GET", "/no-such-page", {}),                   # HTML 404
        ("GET", "/", {}),                               # redirect
        ("GET", "/jobs", {}),                           # redirect to login
        ("POST", "/login", {"data": {"email": "page@example.com", "password": "wrong"}}),
    ]
    for method, path, kwargs in cases:
        resp = await client.request(method, path, allow_redirects=False, **kwargs)
        assert_secure_headers(resp, f"{method} {path} -> {resp.status}")
    resp = await client.post("/login", data={"email": "page@example.com", "password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 303
    assert_secure_headers(resp, "login redirect")
    for path in ("/jobs", "/candidates", f"/interviews/{iid}/report", "/jobs/abc"):
        resp = await client.get(path, allow_redirects=False)
        assert_secure_headers(resp, f"GET {path} -> {resp.status}")
        if resp.content_type == "text/html":
            assert resp.headers.get("Cache-Control") == "no-store", path


async def test_candidate_page_cannot_be_framed_and_sends_no_referrer(client: Any, hr: Api) -> None:
    token, _ = await invite(hr)
    resp = await client.get(f"/i/{token}")
    assert resp.status == 200
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"  # the token is a credential
    assert resp.headers["Cache-Control"] == "no-store"
    for path in ("/i/no-such-token", f"/i/{token}/nothing"):  # error pages too
        other = await client.get(path)
        assert other.status == 404 and other.headers["Referrer-Policy"] == "no-referrer", path
    page = await resp.text()
    # No inline script: only JSON data blocks and /static/ scripts.
    for tag in page.split("<script")[1:]:
        head = tag.split(">", 1)[0]
        assert 'type="application/json"' in head or "src=" in head, head


async def test_websocket_handshake_has_no_version_in_server_header(client: Any, hr: Api) -> None:
    token, _ = await invite(hr)
    ws = await client.ws_connect(f"/i/{token}/ws")
    try:
        assert ws._response.headers.get("Server") == "Candor"
    finally:
        await ws.close()


async def test_requests_aiohttp_cannot_parse_get_no_version_either(client: Any) -> None:
    """aiohttp answers these itself, before any middleware: its 400 must not show versions."""
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"):
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(raw)
        await writer.drain()
        head = (await asyncio.wait_for(reader.read(4096), 5)).decode(errors="replace")
        writer.close()
        assert head.startswith("HTTP/1.") and " 400 " in head.split("\r\n", 1)[0], head[:200]
        assert "\r\nServer: Candor\r\n" in head and "aiohttp" not in head.split("\r\n\r\n", 1)[0], head[:300]


# --- cookies ---------------------------------------------------------------------------------

async def login_cookie(aiohttp_client: Any, tmp_path: Path, **settings: Any) -> str:
    app = create_app(Settings(data_dir=tmp_path / "data", load_models=False, **settings))
    client = await aiohttp_client(app)
    from server.web import store_key

    app[store_key].run_sync(lambda db: auth.create_user(db, "hr@example.com", PASSWORD, "hr"))
    resp = await client.post("/login", data={"email": "hr@example.com", "password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 303
    cookie: str = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    return cookie


async def test_session_cookie_is_secure_behind_a_tls_proxy(aiohttp_client: Any, tmp_path: Path) -> None:
    # The proxy speaks plain http to us: request.scheme is http, yet the public URL is https.
    cookie = await login_cookie(aiohttp_client, tmp_path / "a", public_url="https://candor.example")
    assert "Secure" in cookie and "HttpOnly" in cookie
    cookie = await login_cookie(aiohttp_client, tmp_path / "b", public_url="http://candor.example")
    assert "Secure" not in cookie
    cookie = await login_cookie(aiohttp_client, tmp_path / "c", secure_cookies=True)
    assert "Secure" in cookie
    cookie = await login_cookie(aiohttp_client, tmp_path / "d", public_url="https://candor.example",
                                secure_cookies=False)
    assert "Secure" not in cookie


def test_secure_cookies_and_allowed_hosts_settings() -> None:
    assert Settings.from_env({"CANDOR_PUBLIC_URL": "https://x.example/"}).cookies_secure
    assert not Settings.from_env({"CANDOR_PUBLIC_URL": "http://x.example"}).cookies_secure
    assert not Settings.from_env({}).cookies_secure
    assert Settings.from_env({"CANDOR_SECURE_COOKIES": "on"}).cookies_secure
    assert not Settings.from_env({"CANDOR_SECURE_COOKIES": "0",
                                  "CANDOR_PUBLIC_URL": "https://x.example"}).cookies_secure
    with pytest.raises(SettingsError):
        Settings.from_env({"CANDOR_SECURE_COOKIES": "maybe"})
    s = Settings.from_env({"CANDOR_ALLOWED_HOSTS": "hr.internal, Proxy.Example:8443",
                           "CANDOR_HOST": "10.0.0.5", "CANDOR_PORT": "9000"})
    assert s.allowed_hosts == ("hr.internal", "proxy.example:8443")
    assert s.allowed_host("hr.internal") and s.allowed_host("HR.internal:1234")
    assert s.allowed_host("proxy.example:8443") and not s.allowed_host("proxy.example:8444")
    assert s.allowed_host("10.0.0.5:9000") and not s.allowed_host("10.0.0.5:9001")
    assert not s.allowed_host("localhost")  # replaced by the setting
    d = Settings()
    assert d.allowed_host("127.0.0.1:8080") and d.allowed_host("localhost:3000")
    for bad in ("evil.example", "127.0.0.1@evil.example", "localhost/x", "", "localhost:0",
                "127.0.0.1:99999", "localhost evil"):
        assert not d.allowed_host(bad), bad
    with pytest.raises(SettingsError):
        Settings.from_env({"CANDOR_ALLOWED_HOSTS": "http://x.example/"})


# --- links and the Host header -----------------------------------------------------------------

@pytest.fixture
async def hostless(aiohttp_client: Any, tmp_path: Path) -> tuple[Any, Store]:
    """An app without CANDOR_PUBLIC_URL."""
    settings = Settings(data_dir=tmp_path / "data", load_models=False,
                        allowed_hosts=("127.0.0.1", "localhost", "hr.internal:8443"))
    store = Store(settings.db_url)
    yield await aiohttp_client(create_app(settings, store=store)), store
    store.close()


async def test_links_never_come_from_an_unknown_host_header(hostless: tuple[Any, Store]) -> None:
    client, store = hostless
    hr = await login(client, store, "hr@example.com")
    _, _, tpl_id = await make_job_and_template(hr)
    _, c = await hr.call("POST", "/api/candidates", json={"name": "Ada", "email": "ada@example.com"},
                         expect=201)
    from datetime import datetime, timedelta, timezone

    body = {"template_id": tpl_id, "candidate_ids": [c["id"]],
            "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}
    for host in ("evil.example", "evil.example:80", "hr.internal:8444", "127.0.0.1.evil.example"):
        resp = await client.post("/api/invitations", json=body, headers={**hr.headers, "Host": host})
        answer = await resp.json()
        assert resp.status == 400, (host, answer)
        assert "CANDOR_PUBLIC_URL" in answer["error"]
        assert "evil" not in str(answer.get("invitations", ""))
    assert store.run_sync(lambda db: db.exec(select(func.count()).select_from(Invitation)).one()) == 0

    resp = await client.post("/api/invitations", json=body, headers={**hr.headers, "Host": "hr.internal:8443"})
    assert resp.status == 201, await resp.text()
    created = (await resp.json())["invitations"][0]
    assert created["url"].startswith("http://hr.internal:8443/i/")
    iid = created["interview_id"]
    resp = await client.post(f"/api/interviews/{iid}/link", json={}, headers={**hr.headers, "Host": "evil.example"})
    assert resp.status == 400 and "CANDOR_PUBLIC_URL" in (await resp.json())["error"]
    # Refused before anything changed: the link sent still works.
    assert (await client.get("/i/" + created["url"].rsplit("/", 1)[1])).status == 200
    # The test server's own address (127.0.0.1:<port>) is allowed by default.
    resp = await client.post(f"/api/interviews/{iid}/link", json={}, headers=hr.headers)
    assert resp.status == 200
    assert (await resp.json())["url"].startswith(f"http://127.0.0.1:{client.port}/i/")


async def test_public_url_wins_over_any_host(client: Any, hr: Api) -> None:
    _, iid = await invite(hr)
    resp = await client.post(f"/api/interviews/{iid}/link", json={}, headers={**hr.headers, "Host": "evil.example"})
    assert resp.status == 200
    assert (await resp.json())["url"].startswith("http://candor.test/i/")


# --- tokens in the log -------------------------------------------------------------------------

def test_redaction_of_messages_args_and_extras() -> None:
    from server import log_redaction

    redactor = log_redaction.RedactTokens()
    record = logging.LogRecord("aiohttp.access", logging.INFO, __file__, 1,
                               '127.0.0.1 "GET /i/%s/ws HTTP/1.1" 101 %s', (TOKEN, "-"), None)
    record.first_request_line = f"GET /i/{TOKEN}/offer HTTP/1.1"
    assert redactor.filter(record)
    assert TOKEN not in record.getMessage() and "/i/<redacted>/ws" in record.getMessage()
    assert TOKEN not in record.first_request_line
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "unhandled error in %s %s",
                               ("POST", f"/i/{TOKEN}/offer"), None)
    redactor.filter(record)
    assert record.getMessage() == "unhandled error in POST /i/<redacted>/offer"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "GET /ws/monitor?token=%s&x=1 %d",
                               (TOKEN, 5), None)
    redactor.filter(record)
    assert record.getMessage() == "GET /ws/monitor?token=<redacted>&x=1 5"
    try:
        raise ValueError(f"bad link /i/{TOKEN}")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "oops", (), sys.exc_info())
    redactor.filter(record)
    out = logging.Formatter().format(record)
    assert TOKEN not in out and "/i/<redacted>" in out
    assert log_redaction.redact("/api/interviews/3 and /static/i.css") == "/api/interviews/3 and /static/i.css"


async def test_access_log_never_shows_link_tokens(client: Any, hr: Api) -> None:
    from server import log_redaction

    token, _ = await invite(hr)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    access = logging.getLogger("aiohttp.access")
    old_level = access.level
    access.setLevel(logging.INFO)
    try:
        log_redaction.install(root)
        assert any(isinstance(f, log_redaction.RedactTokens) for f in handler.filters)
        log_redaction.install(root)  # twice: still one filter
        assert sum(isinstance(f, log_redaction.RedactTokens) for f in handler.filters) == 1
        assert (await client.get(f"/i/{token}")).status == 200
        assert (await client.post(f"/i/{token}/offer", data=b"{}")).status >= 400
    finally:
        root.removeHandler(handler)
        access.setLevel(old_level)
        for h in root.handlers:
            for f in [f for f in h.filters if isinstance(f, log_redaction.RedactTokens)]:
                h.removeFilter(f)
    logged = stream.getvalue()
    assert "/i/<redacted>" in logged, logged
    assert token not in logged


def test_run_py_installs_the_filter(capsys: Any) -> None:
    import run
    from server import log_redaction

    root = logging.getLogger()
    spare = logging.StreamHandler(io.StringIO())
    root.addHandler(spare)  # basicConfig leaves a configured root alone; install() still runs
    try:
        assert run.main(["schema"]) == 0
        assert any(isinstance(f, log_redaction.RedactTokens) for f in spare.filters)
    finally:
        root.removeHandler(spare)
        for h in root.handlers:
            for f in [f for f in h.filters if isinstance(f, log_redaction.RedactTokens)]:
                h.removeFilter(f)
    capsys.readouterr()
