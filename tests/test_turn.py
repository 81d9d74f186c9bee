"""TURN through a real coturn (`turnserver`, Debian package coturn) on 127.0.0.1 with TURN REST
credentials (`--use-auth-secret`): the credentials server/turn.py mints are the ones coturn
accepts, they expire, a wrong secret is refused; and a Chromium candidate forced to relay
(CANDOR_ICE_TRANSPORT_POLICY=relay) takes a real interview through coturn."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint

from server.settings import Settings, SettingsError
from server.turn import mint, page_ice_servers, turn_password
from tests.support.server import free_port, read_log

SECRET = "candor-test-static-auth-secret"
REALM = "candor.test"


@dataclass
class Coturn:
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def log(self) -> str:
        return read_log(self.log_path, limit=200_000)


def _free_udp_range(count: int = 40) -> int:
    """The start of `count` UDP ports nobody holds now (coturn's relay port range)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            start = int(sock.getsockname()[1])
        if start + count > 65535:
            continue
        free = True
        for port in range(start, start + count):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    free = False
                    break
        if free:
            return start
    raise RuntimeError("no free UDP port range for coturn's relays")


@contextlib.contextmanager
def running_coturn(tmp: Path, secret: str = SECRET) -> Iterator[Coturn]:
    turnserver = shutil.which("turnserver")
    assert turnserver, "turnserver is missing: run ./candor test (it installs the coturn package)"
    port = free_port()
    relay = _free_udp_range()
    log_path = tmp / "coturn.log"
    args = [
        turnserver, "-n",  # no configuration file: everything is on this line
        "--use-auth-secret", f"--static-auth-secret={secret}", f"--realm={REALM}",
        "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
        f"--min-port={relay}", f"--max-port={relay + 39}", "--no-tls", "--no-dtls", "--no-tcp",
        # The test network has only loopback: the server's media address is 127.0.0.1, which
        # coturn refuses as a peer unless told (never in production).
        "--allow-loopback-peers", "--no-cli", "--log-file=stdout", "--simple-log", "-v",
        f"--pidfile={tmp / 'coturn.pid'}", f"--userdb={tmp / 'coturn.db'}",
    ]
    with log_path.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    server = Coturn(port, log_path, process)
    try:
        deadline = time.monotonic() + 15
        while f"UDP listener opened on: 127.0.0.1:{port}" not in server.log():
            assert process.poll() is None, f"coturn exited:\n{server.log()}"
            assert time.monotonic() < deadline, f"coturn did not start:\n{server.log()}"
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    with running_coturn(tmp_path) as server:
        yield server


class _Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.put_nowait((data, addr))


async def _allocate(port: int, username: str, password: str) -> tuple[Any, _Sink]:
    return await asyncio.wait_for(
        create_turn_endpoint(_Sink, ("127.0.0.1", port), username, password, lifetime=60), 10)


# --- the credential ----------------------------------------------------------------------------


def test_credential_is_coturns_turn_rest_scheme() -> None:
    cred = mint(("turn:127.0.0.1:3478?transport=udp",), "s3cret", 600, label="42", now=1_000_000)
    assert cred.username == "1000600:42" and cred.expires_at == 1_000_600
    expected = base64.b64encode(hmac.new(b"s3cret", b"1000600:42", hashlib.sha1).digest()).decode()
    assert cred.credential == expected == turn_password("s3cret", "1000600:42")
    assert cred.ice_server() == {"urls": ["turn:127.0.0.1:3478?transport=udp"], "username": "1000600:42",
                                 "credential": expected}
    # Without a label: a random id, different each time (never personal data).
    a, b = (mint(("turn:x",), "s", 600) for _ in range(2))
    assert a.username != b.username and re.fullmatch(r"\d+:[0-9a-f]{16}", a.username)


def test_page_ice_servers_adds_turn_only_when_configured() -> None:
    stun_only = Settings(ice_servers=({"urls": "stun:stun.example:3478"},))
    assert page_ice_servers(stun_only, "7") == [{"urls": "stun:stun.example:3478"}]
    with_turn = Settings(ice_servers=({"urls": "stun:stun.example:3478"},), turn_urls=("turn:t.example:3478",),
                         turn_secret="s3cret", turn_ttl_s=120)
    servers = page_ice_servers(with_turn, "7")
    assert servers[0] == {"urls": "stun:stun.example:3478"}
    expiry, label = servers[1]["username"].split(":")
    assert label == "7" and 110 <= int(expiry) - time.time() <= 121
    assert servers[1]["credential"] == turn_password("s3cret", servers[1]["username"])


def test_turn_settings_are_checked() -> None:
    env = {"CANDOR_TURN_URLS": "turn:127.0.0.1:3478?transport=udp, turns:turn.example:5349",
           "CANDOR_TURN_SECRET": "x", "CANDOR_TURN_TTL_S": "900", "CANDOR_ICE_TRANSPORT_POLICY": "relay"}
    s = Settings.from_env(env)
    assert s.turn_urls == ("turn:127.0.0.1:3478?transport=udp", "turns:turn.example:5349")
    assert s.turn_ttl_s == 900 and s.ice_transport_policy == "relay"
    for bad, words in (({"CANDOR_TURN_URLS": "turn:x"}, "CANDOR_TURN_SECRET"),
                       ({"CANDOR_TURN_URLS": "http://x", "CANDOR_TURN_SECRET": "x"}, "not a turn"),
                       ({"CANDOR_ICE_TRANSPORT_POLICY": "relay"}, "needs a TURN server"),
                       ({"CANDOR_ICE_TRANSPORT_POLICY": "sometimes"}, "all or relay"),
                       ({"CANDOR_TURN_TTL_S": "5"}, "at least 60")):
        with pytest.raises(SettingsError, match=words):
            Settings.from_env(bad)


async def test_candidate_page_carries_fresh_turn_credentials_and_the_policy(aiohttp_client: Any,
                                                                          tmp_path: Path) -> None:
    from conftest import invite, login
    from server.app import create_app
    from server.store import Store

    settings = Settings(data_dir=tmp_path / "data", load_models=False, turn_urls=("turn:127.0.0.1:3478",),
                        turn_secret="s3cret", ice_transport_policy="relay")
    store = Store(settings.db_url)
    try:
        client = await aiohttp_client(create_app(settings, store=store))
        token, interview_id = await invite(await login(client, store, "hr@example.com"))

        async def config() -> dict[str, Any]:
            html = await (await client.get(f"/i/{token}")).text()
            return dict(json.loads(html.split('id="candor-config">', 1)[1].split("</script>", 1)[0]))

        first = await config()
        assert first["ice_transport_policy"] == "relay"
        [entry] = first["ice_servers"]
        assert entry["urls"] == ["turn:127.0.0.1:3478"] and entry["username"].endswith(f":{interview_id}")
        assert entry["credential"] == turn_password("s3cret", entry["username"])
        await asyncio.sleep(1.01)  # the expiry is in whole seconds: a later load gets a later one
        assert (await config())["ice_servers"][0]["username"] != entry["username"]
    finally:
        store.close()


# --- a real coturn -----------------------------------------------------------------------------


async def test_coturn_accepts_minted_credentials_and_relays_to_loopback(coturn: Coturn) -> None:
    cred = mint((coturn.url,), SECRET, 600, label="1")
    transport, _ = await _allocate(coturn.port, cred.username, cred.credential)
    try:
        relayed = transport.get_extra_info("sockname")
        assert relayed[0] == "127.0.0.1"
        # Data sent through the allocation reaches a peer on loopback from the relayed address.
        loop = asyncio.get_running_loop()
        peer_transport, peer = await loop.create_datagram_endpoint(_Sink, local_addr=("127.0.0.1", 0))
        try:
            transport.sendto(b"through coturn", peer_transport.get_extra_info("sockname"))
            data, addr = await asyncio.wait_for(peer.received.get(), 5)
            assert data == b"through coturn" and tuple(addr) == tuple(relayed)
        finally:
            peer_transport.close()
    finally:
        transport.close()
    assert f"realm <{REALM}> user <{cred.username}>" in coturn.log() or cred.username in coturn.log()


@pytest.mark.parametrize("case", ["expired", "wrong-secret"])
async def test_coturn_refuses_expired_or_wrongly_signed_credentials(coturn: Coturn, case: str) -> None:
    if case == "expired":
        cred = mint((coturn.url,), SECRET, 60, label="1", now=time.time() - 3600)  # expired 59 min ago
    else:
        cred = mint((coturn.url,), "not-the-secret", 600, label="1")
    with pytest.raises(stun.TransactionFailed) as failed:
        await _allocate(coturn.port, cred.username, cred.credential)
    assert failed.value.response.attributes["ERROR-CODE"][0] == 401


# --- a Chromium candidate through coturn -------------------------------------------------------


def _relay_env(coturn: Coturn, secret: str = SECRET) -> dict[str, str]:
    return {"CANDOR_TURN_URLS": coturn.url, "CANDOR_TURN_SECRET": secret, "CANDOR_TURN_TTL_S": "600",
            "CANDOR_ICE_TRANSPORT_POLICY": "relay"}


SELECTED_PAIR_JS = """async () => {
  const stats = await window.candor.pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (!pair) {
    stats.forEach((s) => { if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s; });
  }
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  return {local: local.candidateType, remote: remote.candidateType, localAddress: local.address,
          url: local.url || null};
}"""


@pytest.mark.browser
def test_chromium_candidate_interview_through_coturn_relay(launch_browser: Any, tmp_path: Path) -> None:
    from tests.support.media import face_y4m, speech_wav
    from tests.support.server import running_server
    from tests.test_candidate_page import KOREAN_ANSWER, new_page, page_errors, wait_for_models, wait_state
    from tests.test_e2e_interview import admin_login, make_interview

    with running_coturn(tmp_path) as turn, running_server(tmp_path, env=_relay_env(turn), timeout=120) as server:
        wait_for_models(server)
        token = admin_login(server)
        interview_id, link = make_interview(server, token)
        browser = launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER))
        page = new_page(browser)
        try:
            page.goto(f"{link}?raw_audio=1")
            config = json.loads(page.inner_text("#candor-config"))
            assert config["ice_transport_policy"] == "relay"
            turn_entry = config["ice_servers"][-1]
            assert turn_entry["urls"] == [turn.url] and turn_entry["username"].endswith(f":{interview_id}")
            page.click("#consent-yes")
            page.wait_for_function("() => (window.candor.stream !== null)")
            page.click("#join")
            page.wait_for_function("() => (window.candor.pcState === 'connected')", timeout=30_000)
            wait_state(page, "live", timeout=30_000)
            pair = page.evaluate(SELECTED_PAIR_JS)
            # The candidate's side of the media path is coturn's relay, never its own address.
            assert pair is not None and pair["local"] == "relay", pair
            sdp = page.evaluate("window.candor.pc.localDescription.sdp")
            candidates = [line for line in sdp.splitlines() if line.startswith("a=candidate")]
            assert candidates and all(" typ relay" in c for c in candidates), candidates
            page.wait_for_function("() => (window.candor.captions.length > 0)", timeout=45_000)
            time.sleep(1.0)
            page.click("#next")
            page.wait_for_function("() => (window.candor.question && window.candor.question.index === 1)",
                                   timeout=20_000)
            page.wait_for_function("() => (!document.getElementById('next').disabled)")
            time.sleep(3.0)
            page.click("#next")
            page.click("#finish-yes")
            wait_state(page, "finished", timeout=30_000)
            assert not page_errors(page)
            # Closing the connection releases the allocation: coturn then logs what it relayed.
            page.evaluate("window.candor.pc.close()")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                text = turn.log()
                if text.count("delete: realm=") >= text.count("ALLOCATE processed, success"):
                    break
                time.sleep(0.2)
        finally:
            page.context.close()
        log = turn.log()
        db = sqlite3.connect(server.data_dir / "candor.sqlite3")
        state = db.execute("select state from interviews where id = ?", (interview_id,)).fetchone()[0]
        words = db.execute("select count(*) from transcript_segments where interview_id = ? and question_index = 0",
                           (interview_id,)).fetchone()[0]
        db.close()
    assert state == "completed"
    assert words > 0, "the answer heard through the relay was recorded"
    # coturn's own log: an allocation for this interview's user name, and media relayed by it.
    assert re.search(rf"user <\d+:{interview_id}>.*ALLOCATE processed, success", log), log[-5000:]
    assert re.search(rf"user <\d+:{interview_id}>.*CREATE_PERMISSION processed, success", log), log[-5000:]
    assert re.search(r"peer 127\.0\.0\.1", log), log[-5000:]  # the server's media address
    # Bytes coturn sent on to the server (its "peer"), per allocation, logged when released.
    relayed = [int(sb) for sb in re.findall(
        rf"peer usage: realm=<{REALM}>, username=<\d+:{interview_id}>, rp=\d+, rb=\d+, sp=\d+, sb=(\d+)", log)]
    assert relayed and max(relayed) > 200_000, (relayed, log[-5000:])


@pytest.mark.browser
def test_wrong_turn_secret_fails_the_connection_clearly(launch_browser: Any, tmp_path: Path) -> None:
    from tests.support.media import face_y4m, speech_wav
    from tests.support.server import running_server
    from tests.test_candidate_page import KOREAN_ANSWER, new_page
    from tests.test_e2e_interview import admin_login, make_interview

    with running_coturn(tmp_path) as turn, \
            running_server(tmp_path, env={**_relay_env(turn, secret="not-coturns-secret"),
                                          "CANDOR_LOAD_MODELS": "0"}) as server:
        token = admin_login(server)
        interview_id, link = make_interview(server, token)
        browser = launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER))
        page = new_page(browser)
        try:
            page.goto(f"{link}?lang=en&raw_audio=1")  # the job is Korean; the notice is read in English
            page.click("#consent-no")
            page.wait_for_function("() => (window.candor.stream !== null)")
            page.click("#join")
            # No relay candidate can be gathered: the page never connects and says so, retrying.
            page.wait_for_function("() => (window.candor.offers >= 1)", timeout=30_000)
            time.sleep(8)
            assert page.evaluate("window.candor.pcState") != "connected"
            assert page.evaluate("document.body.dataset.state") != "live"
            # The page's own connect-failure notice (the network blocks the call), retrying.
            page.wait_for_function("() => { const n = document.getElementById('notice');"
                                   " return !n.hidden && n.dataset.kind === 'connect'; }", timeout=30_000)
            assert "could not reach the interview server" in page.inner_text("#notice")
            assert page.evaluate("window.candor.state") == "connecting"
            sdp = page.evaluate("window.candor.pc && window.candor.pc.localDescription && "
                                "window.candor.pc.localDescription.sdp") or ""
            assert " typ relay" not in sdp
        finally:
            page.context.close()
        log = turn.log()
    # coturn saw this interview's user name and refused every request it signed.
    assert re.search(rf"user <\d+:{interview_id}>.*error 401", log), log[-5000:]
    assert "ALLOCATE processed, success" not in log
