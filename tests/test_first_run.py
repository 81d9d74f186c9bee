"""The README's run command on a fresh data directory: the server prints a first admin login,
that login works, the demo invitation link opens, and the models become ready."""
from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

from tests.support.server import running_server

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str) -> tuple[int, str]:
    try:
        with _opener.open(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _post_json(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with _opener.open(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_fresh_data_dir_prints_a_working_login(tmp_path: Path) -> None:
    with running_server(tmp_path) as base:
        log = base.log()
        email = re.search(r"^\s+email\s+(\S+@\S+)$", log, re.M)
        password = re.search(r"^\s+password\s+(\S+)$", log, re.M)
        link = re.search(r"(http://\S+/i/[A-Za-z0-9_-]{43,})", log)
        assert email and password and link, log
        status, body = _post_json(f"{base}/api/login", {"email": email[1], "password": password[1]})
        assert status == 200 and body["role"] == "admin", body
        status, page = _get(link[1].replace(re.match(r"http://[^/]+", link[1])[0], base))
        assert status == 200 and "Demo" in page
        status, page = _get(f"{base}/login")
        assert status == 200
        # Models load in the background after start; health says when they are ready.
        deadline = time.monotonic() + 90
        while True:
            status, raw = _get(f"{base}/api/health")
            health = json.loads(raw)
            if health["models_ready"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert health["models_ready"], health
        assert "vosk:ko" in health["models"]["loaded"]
    # A second start on the same data directory creates no second admin and prints no password.
    with running_server(tmp_path) as base:
        assert not re.search(r"^\s+password\s", base.log(), re.M)
