"""The admin's webhook page in real headless Chromium against the real server: add a hook through
the form, copy the secret shown once, send a test ping that a real receiver (a threaded HTTP
server checking the signature itself) accepts, see it delivered in the log, delete the hook."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from tests.support.server import REPO_ROOT, running_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

EMAIL = "admin@browser.example"
PASSWORD = "a long enough password"


class Receiver(ThreadingHTTPServer):
    secret = ""
    got: list[tuple[dict[str, str], bytes, bool]]


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802  (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        stamp = self.headers.get("X-Candor-Timestamp", "")
        mac = hmac.new(self.server.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest("sha256=" + mac, self.headers.get("X-Candor-Signature", ""))
        self.server.got.append((dict(self.headers), body, valid))
        self.send_response(200 if valid else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), Handler)
    server.got = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def add_admin(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "run.py"), "adduser", EMAIL, "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n", text=True, capture_output=True, cwd=REPO_ROOT, timeout=60,
        env={**os.environ, "CANDOR_DATA_DIR": str(data_dir), "CANDOR_LOAD_MODELS": "0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_admin_adds_a_webhook_and_pings_it_in_chromium(browser: Browser, tmp_path: Path, receiver: Receiver) -> None:
    add_admin(tmp_path / "server-data")
    url = f"http://127.0.0.1:{receiver.server_address[1]}/candor"
    with running_server(tmp_path, env={"CANDOR_LOAD_MODELS": "0", "CANDOR_OUTBOX_POLL_S": "0.2"}) as base:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.set_default_timeout(15_000)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base}/login")
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{base}/jobs")
            page.get_by_role("link", name="Webhooks").click()
            page.wait_for_url(f"{base}/webhooks")
            assert page.locator("#no-webhooks").is_visible()

            # A bad URL is refused next to the field; what was typed stays.
            page.get_by_label("URL the events are POSTed to").fill("ftp://ats.example.com/")
            page.get_by_role("button", name="Add webhook").click()
            assert "must start with http:// or https://" in page.inner_text("#error-summary")
            page.get_by_label("URL the events are POSTed to").fill(url)
            page.get_by_label("Invitation sent").uncheck()
            page.get_by_role("button", name="Add webhook").click()
            secret = page.get_by_label("Signing secret").input_value()
            assert len(secret) >= 40
            receiver.secret = secret
            hook = page.locator("section.webhook")
            assert hook.locator(".webhook-url").inner_text() == url
            assert hook.locator(".tag").all_inner_texts() == ["Interview completed", "Decision made"]

            hook.get_by_role("button", name="Send a test ping").click()
            page.wait_for_url(f"{base}/webhooks?done=ping")
            deadline = time.monotonic() + 15
            while page.locator("tr[data-state=delivered]").count() == 0:
                assert time.monotonic() < deadline, page.inner_text("table.deliveries")
                time.sleep(0.3)
                page.reload()
            row = page.locator("tr[data-state=delivered]")
            assert "Delivered" in row.inner_text() and "HTTP 200" in row.inner_text()
            [(headers, body, valid)] = receiver.got
            assert valid and headers["X-Candor-Event"] == "ping" and json.loads(body)["event"] == "ping"
            # The secret is not on the page any more.
            assert secret not in page.content()

            hook.get_by_role("button", name="Delete").click()
            page.wait_for_url(f"{base}/webhooks?done=deleted")
            assert page.locator("#no-webhooks").is_visible()
            assert errors == []
        finally:
            context.close()
