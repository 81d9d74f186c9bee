"""Limits on the candidate's live channel (a security report): the offer's size and media
sections are checked before any WebRTC work, its body is read whole however it arrives, one
offer at a time per interview and a few per minute, parser errors are not echoed, and the
websocket refuses deeply nested JSON. No log line carries the invitation token."""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from conftest import Api, invite
from server import signaling
from server.sessions import sessions_key


async def offer_sdp(audio: bool = True, video: bool = True) -> str:
    """An offer like a candidate page's: one audio and one video section, send only."""
    pc = RTCPeerConnection()
    try:
        if audio:
            pc.addTransceiver("audio", direction="sendonly")
        if video:
            pc.addTransceiver("video", direction="sendonly")
        offer = await pc.createOffer()
        return str(offer.sdp)
    finally:
        await pc.close()


def offer_body(sdp: str) -> bytes:
    return json.dumps({"sdp": sdp, "type": "offer"}).encode()


def with_extra_sections(sdp: str, kind: str, count: int) -> str:
    """The offer with `count` more copies of its first `kind` section (as in the report)."""
    lines = sdp.split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"m={kind} "))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")), len(lines) - 1)
    section = lines[start:end]
    return "\r\n".join(lines[:end] + section * count + lines[end:])


async def post_offer(client: Any, token: str, raw: bytes) -> tuple[int, Any, Any]:
    resp = await client.post(f"/i/{token}/offer", data=raw, headers={"Content-Type": "application/json"})
    body = await resp.json() if resp.content_type == "application/json" else await resp.text()
    return resp.status, body, resp.headers


def no_aiortc(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record (and refuse) every peer connection the server would make for an offer."""
    manager = client.app[sessions_key]
    made: list[int] = []

    def new_peer(session: Any) -> Any:
        made.append(session.id)
        raise AssertionError("the offer reached aiortc")

    monkeypatch.setattr(manager, "new_peer", new_peer)
    return made


async def raw_request(client: Any, head: bytes, parts: list[bytes], pause_s: float = 0.0,
                      wait_s: float = 10.0) -> tuple[int, bytes]:
    """Send an HTTP request in pieces over a plain TCP connection; the status and the body."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(head)
        for i, part in enumerate(parts):
            if i and pause_s:
                await asyncio.sleep(pause_s)
            writer.write(part)
            await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), wait_s)
        headers: dict[str, str] = {}
        while (line := await asyncio.wait_for(reader.readline(), wait_s)) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(reader.readexactly(length), wait_s) if length else b""
        return int(status_line.split()[1]), body
    finally:
        writer.close()


def head(token: str, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (f"POST /i/{token}/offer HTTP/1.1\r\nHost: candor.test\r\nContent-Type: application/json\r\n"
            f"{framing}\r\nConnection: close\r\n\r\n").encode()


def assert_no_token_logged(caplog: pytest.LogCaptureFixture, token: str) -> None:
    # (aiohttp's access log, which names the path, is off in run.py; the test server has it on)
    for record in caplog.records:
        if record.name == "aiohttp.access":
            continue
        assert token not in record.getMessage(), record.getMessage()
        assert not record.exc_text or token not in record.exc_text


# --- 1. media sections and size ------------------------------------------------------------


async def test_offers_with_more_than_one_audio_and_one_video_section_are_refused_before_aiortc(
        client: Any, hr: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    token, _ = await invite(hr)
    sdp = await offer_sdp()
    made = no_aiortc(client, monkeypatch)
    application = sdp + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
    for bad in [with_extra_sections(sdp, "video", 1), with_extra_sections(sdp, "audio", 1),
                with_extra_sections(sdp, "video", 5), application]:
        assert len(bad) <= signaling.MAX_SDP_BYTES
        status, body, _ = await post_offer(client, token, offer_body(bad))
        assert status == 400, body
        assert "media section" in body["error"] and "one audio" in body["error"], body
    assert made == []


async def test_one_audio_and_one_video_section_are_answered(client: Any, hr: Api) -> None:
    token, _ = await invite(hr)
    for sdp in [await offer_sdp(), await offer_sdp(video=False)]:
        status, body, _ = await post_offer(client, token, offer_body(sdp))
        assert status == 200, body
        assert body["type"] == "answer" and body["sdp"].startswith("v=0")


async def test_offers_larger_than_a_browser_needs_get_413(client: Any, hr: Api,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    token, _ = await invite(hr)
    sdp = await offer_sdp()
    made = no_aiortc(client, monkeypatch)
    # A valid offer padded with attribute lines to 20 KB: under the old 64 KB cap.
    padded = sdp + "".join(f"a=x-padding:{i:05d}{'p' * 80}\r\n" for i in range(220))
    assert 20_000 < len(padded) < 64 * 1024
    status, body, _ = await post_offer(client, token, offer_body(padded))
    assert status == 413 and "too large" in body["error"], body
    # The report's offer: 440 video sections in 55 KB.
    huge = with_extra_sections(sdp, "video", 439)
    assert huge.count("m=video") == 440
    status, body, _ = await post_offer(client, token, offer_body(huge))
    assert status == 413 and "too large" in body["error"], body
    assert made == []


async def test_a_large_body_gets_413_without_being_read(client: Any, hr: Api) -> None:
    token, _ = await invite(hr)
    # Announced as 10 MB, only a little of it sent: the answer comes at once.
    status, body = await raw_request(client, head(token, 10_000_000), [b'{"sdp": "v=0'], wait_s=5)
    assert status == 413 and "too large" in json.loads(body)["error"]
    # Chunked, no length announced: refused once the cap is passed, the rest never sent.
    chunk = b'{"sdp": "' + b"v" * 30_000
    status, body = await raw_request(client, head(token, None), [b"%x\r\n%s\r\n" % (len(chunk), chunk)],
                                     wait_s=5)
    assert status == 413 and "too large" in json.loads(body)["error"]


# --- 2. the body arrives in pieces -----------------------------------------------------------


async def test_an_offer_in_two_segments_is_read_whole(client: Any, hr: Api) -> None:
    token, _ = await invite(hr)
    raw = offer_body(await offer_sdp())
    half = len(raw) // 2
    status, body = await raw_request(client, head(token, len(raw)), [raw[:half], raw[half:]], pause_s=0.3)
    assert status == 200, body
    assert json.loads(body)["type"] == "answer"
    # Chunked transfer encoding, two chunks 0.3 s apart.
    chunks = [b"%x\r\n%s\r\n" % (len(part), part) for part in (raw[:half], raw[half:])] + [b"0\r\n\r\n"]
    status, body = await raw_request(client, head(token, None), chunks, pause_s=0.3)
    assert status == 200, body


async def test_an_offer_that_stops_arriving_gets_408(client: Any, hr: Api,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    token, _ = await invite(hr)
    monkeypatch.setattr(signaling, "OFFER_READ_TIMEOUT_S", 0.3)
    raw = offer_body(await offer_sdp())
    status, body = await raw_request(client, head(token, len(raw)), [raw[:100]], wait_s=5)
    assert status == 408 and "try again" in json.loads(body)["error"]


# --- 3. one offer at a time, a few a minute ------------------------------------------------


async def test_a_second_offer_while_one_is_answered_gets_429(client: Any, hr: Api,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    token, _ = await invite(hr)
    other_token, _ = await invite(hr, "Bo", "bo@example.com")
    manager = client.app[sessions_key]
    entered, release = asyncio.Event(), asyncio.Event()
    real_session_for = manager.session_for

    async def slow_session_for(interview_id: int) -> Any:
        entered.set()
        await release.wait()
        return await real_session_for(interview_id)

    raw = offer_body(await offer_sdp())
    monkeypatch.setattr(manager, "session_for", slow_session_for)
    first = asyncio.create_task(post_offer(client, token, raw))
    await asyncio.wait_for(entered.wait(), 5)
    status, body, headers = await asyncio.wait_for(post_offer(client, token, raw), 5)
    assert status == 429 and "already being answered" in body["error"], body
    assert int(headers["Retry-After"]) >= 1
    # Another interview's offer is not held up by this one (only by the test's gate).
    other = asyncio.create_task(post_offer(client, other_token, raw))
    release.set()
    assert (await asyncio.wait_for(first, 20))[0] == 200
    assert (await asyncio.wait_for(other, 20))[0] == 200
    monkeypatch.setattr(manager, "session_for", real_session_for)
    status, body, _ = await post_offer(client, token, raw)  # the first is done: a new one is fine
    assert status == 200, body


async def test_offers_per_link_are_rate_limited(client: Any, hr: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    token, _ = await invite(hr)
    other_token, _ = await invite(hr, "Bo", "bo@example.com")
    made = no_aiortc(client, monkeypatch)
    malformed = offer_body("v=0 but nothing else")
    for _ in range(signaling.OFFERS_PER_WINDOW):
        status, body, _ = await post_offer(client, token, malformed)
        assert status == 400, body
    status, body, headers = await post_offer(client, token, malformed)
    assert status == 429 and "too many offers" in body["error"], body
    assert 1 <= int(headers["Retry-After"]) <= signaling.OFFER_WINDOW_S
    status, _, _ = await post_offer(client, other_token, malformed)
    assert status == 400  # the other link is not limited
    assert made == []


async def test_offers_per_address_are_rate_limited(client: Any, hr: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """One host cycling through many links is refused, though each link stays under its own limit."""
    monkeypatch.setattr(signaling, "OFFERS_PER_ADDRESS_WINDOW", 5)
    tokens = [(await invite(hr, f"C{i}", f"c{i}@example.com"))[0] for i in range(6)]
    made = no_aiortc(client, monkeypatch)
    malformed = offer_body("v=0 but nothing else")
    for token in tokens[:5]:
        assert (await post_offer(client, token, malformed))[0] == 400
    status, body, headers = await post_offer(client, tokens[5], malformed)
    assert status == 429 and "from this address" in body["error"], body
    assert int(headers["Retry-After"]) >= 1
    assert made == []


async def test_the_rate_limit_window_moves_on(client: Any, hr: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    token, _ = await invite(hr)
    malformed = offer_body("v=0 but nothing else")
    # Filled under the real window, so a slow machine cannot let the first offers expire early;
    # then the window is made short and outlived.
    for _ in range(signaling.OFFERS_PER_WINDOW):
        assert (await post_offer(client, token, malformed))[0] == 400
    assert (await post_offer(client, token, malformed))[0] == 429
    monkeypatch.setattr(signaling, "OFFER_WINDOW_S", 0.5)
    await asyncio.sleep(0.6)
    assert (await post_offer(client, token, malformed))[0] == 400


async def test_a_reconnecting_page_stays_under_the_limit() -> None:
    # The page's backoff (1, 2, 4, 8, then 10 s) from a first offer at 0: offers in any window.
    times, t = [0.0], 0.0
    for delay in [1, 2, 4, 8] + [10] * 20:
        t += delay
        times.append(t)
    worst = max(sum(1 for u in times if s <= u < s + signaling.OFFER_WINDOW_S) for s in times)
    assert worst < signaling.OFFERS_PER_WINDOW


# --- 4. the parser's words stay in the log ---------------------------------------------------


async def test_unusable_sdp_gets_a_fixed_message_and_the_detail_is_logged_without_the_token(
        client: Any, hr: Api, caplog: pytest.LogCaptureFixture) -> None:
    token, iid = await invite(hr)
    sdp = ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
           "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n")
    pc = RTCPeerConnection()
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        detail = None
    except Exception as exc:
        detail = str(exc)
    finally:
        await pc.close()
    assert detail, "aiortc should refuse this SDP"
    caplog.set_level(logging.INFO, logger="server.signaling")
    status, body, _ = await post_offer(client, token, offer_body(sdp))
    assert status == 400, body
    assert detail not in body["error"] and "SDP" in body["error"]
    assert body["error"] == signaling.OFFER_UNUSABLE
    logged = [r.getMessage() for r in caplog.records if r.name == "server.signaling"]
    assert any(detail in m and f"interview {iid}" in m for m in logged), logged
    assert_no_token_logged(caplog, token)


# --- 5. deeply nested JSON on the websocket ----------------------------------------------------


async def test_deeply_nested_json_on_the_socket_is_refused(client: Any, hr: Api,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    token, _ = await invite(hr)
    ws = await client.ws_connect(f"/i/{token}/ws")
    assert (await ws.receive_json(timeout=5))["type"] == "state"
    for deep in ["[" * 3000, "[" * 2000 + "]" * 2000, '{"a":' * 600 + "1" + "}" * 600,
                 '{"type": "ping", "x": ' + "[" * 9 + "]" * 9 + "}"]:
        assert len(deep) <= signaling.MAX_WS_MESSAGE
        await ws.send_str(deep)
        reply = await ws.receive_json(timeout=5)
        assert reply["type"] == "error" and "nested too deeply" in reply["error"], reply
    # Brackets in strings are not nesting, and eight levels are fine.
    await ws.send_str(json.dumps({"type": "ping", "x": "[[[[[[[[[[[[{{{{{{{{{{{"}))
    assert await ws.receive_json(timeout=5) == {"type": "pong"}
    await ws.send_str(json.dumps({"type": "ping", "x": [[[[[[[1]]]]]]]}))
    assert await ws.receive_json(timeout=5) == {"type": "pong"}
    await ws.send_str('{"type": "ping", "x": "\\"[[[[[[[[[[[[[[["}')  # an escaped quote
    assert await ws.receive_json(timeout=5) == {"type": "pong"}
    assert not ws.closed
    await ws.close()
    assert_no_token_logged(caplog, token)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_depth_scan_does_not_recurse() -> None:
    text = "[" * 1_000_000
    assert signaling._nested_deeper_than(text, 8)
    assert not signaling._nested_deeper_than("[" * 8 + "]" * 8, 8)
    assert signaling._nested_deeper_than("[" * 9 + "]" * 9, 8)
    assert not signaling._nested_deeper_than('["' + "[" * 50 + '"]', 8)
