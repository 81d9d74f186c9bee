"""running_server() starts a process, waits for /api/health, stops it, and reports its log.

These use a stand-in server (run.py is tested by the server's own tests): a tiny aiohttp app
with the same command line and health route.
"""

from __future__ import annotations

import json
import socket
import sys
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support import server as server_support
from tests.support import smtp
from tests.support.server import ServerError, running_server

STAND_IN = textwrap.dedent(
    """
    import argparse, os, sys
    from aiohttp import web

    parser = argparse.ArgumentParser()
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--fail", action="store_true")
    args = parser.parse_args()
    print("stand-in starting, data dir", os.environ["CANDOR_DATA_DIR"], flush=True)
    if args.fail:
        sys.exit("stand-in: failing on purpose")

    async def health(request):
        return web.json_response({"ok": True, "models_ready": False,
                                  "data_dir": os.environ["CANDOR_DATA_DIR"],
                                  "ice": os.environ["CANDOR_ICE_SERVERS"]})

    app = web.Application()
    app.router.add_get("/api/health", health)
    web.run_app(app, host=args.host, port=args.port, print=None)
    """
)


@pytest.fixture
def stand_in(tmp_path: Path) -> list[str]:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    return [sys.executable, str(script)]


def test_starts_waits_and_stops(tmp_path: Path, stand_in: list[str]) -> None:
    with running_server(tmp_path, command=stand_in) as url:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/api/health", timeout=5) as response:
            body = json.load(response)
        assert body["ok"] is True
        assert body["data_dir"] == str(url.data_dir)
        assert body["ice"] == "[]"
        process = url.process
    assert process.poll() is not None
    assert "stand-in starting" in url.log()


def test_early_exit_shows_the_log(tmp_path: Path, stand_in: list[str]) -> None:
    with pytest.raises(ServerError, match="(?s)exited with code 1.*failing on purpose"):
        with running_server(tmp_path, command=stand_in, args=["--fail"]):
            pass


def _held_port() -> socket.socket:
    """A bound port, as a client's connect() holds one: the server's bind there fails."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _first_pick_is(monkeypatch: pytest.MonkeyPatch, module: Any, port: int) -> None:
    """`module.free_port()` returns `port` once, then real free ports."""
    picks, real_free_port = iter([port]), module.free_port
    monkeypatch.setattr(module, "free_port", lambda: next(picks, None) or real_free_port())


def test_a_port_taken_before_the_server_binds_it_is_replaced(
    tmp_path: Path, stand_in: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with _held_port() as held:
        taken = held.getsockname()[1]
        _first_pick_is(monkeypatch, server_support, taken)
        with running_server(tmp_path, command=stand_in) as url:
            assert not url.endswith(f":{taken}")
            with urllib.request.urlopen(f"{url}/api/health", timeout=5) as response:
                assert json.load(response)["ok"] is True
    first_log = (tmp_path / f"server-{taken}.log").read_text()
    assert "address already in use" in first_log.lower()


def test_an_explicit_port_that_is_taken_fails_with_the_log(
    tmp_path: Path, stand_in: list[str]
) -> None:
    with _held_port() as held:
        taken = held.getsockname()[1]
        with pytest.raises(ServerError, match="(?si)exited with code 1.*address already in use"):
            with running_server(tmp_path, command=stand_in, port=taken):
                pass


def test_a_mail_server_whose_free_port_was_taken_binds_another(monkeypatch: pytest.MonkeyPatch) -> None:
    with _held_port() as held:
        taken = held.getsockname()[1]
        _first_pick_is(monkeypatch, smtp, taken)
        with smtp.smtp_server() as mail:
            assert mail.port != taken
            with socket.create_connection(("127.0.0.1", mail.port), timeout=5) as conn:
                assert conn.recv(100).startswith(b"220")
