"""Debian's Chromium runs headless under Playwright through the support fixtures, and the
sync fixtures leave no running event loop behind for async tests."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from tests.support.browser import chromium_args

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser


def test_renders_a_data_url(page: Page) -> None:
    page.goto("data:text/html,<title>candor</title><h1 id=h>Hello, <b>Chromium</b></h1>")
    assert page.title() == "candor"
    assert page.inner_text("#h") == "Hello, Chromium"
    assert page.evaluate("1 + 2") == 3


def test_fake_camera_and_microphone(browser: Browser) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        # getUserMedia needs a secure context; http://localhost is one. Playwright answers
        # the request itself, so nothing goes on the network.
        page.route(
            "http://localhost/**",
            lambda route: route.fulfill(body="<p>media</p>", content_type="text/html"),
        )
        page.goto("http://localhost/media")
        tracks = page.evaluate(
            """async () => {
                const s = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
                const kinds = s.getTracks().map(t => t.kind).sort();
                s.getTracks().forEach(t => t.stop());
                return kinds;
            }"""
        )
        assert tracks == ["audio", "video"]
    finally:
        context.close()


async def test_async_test_after_browser_tests_finds_no_running_loop() -> None:
    # pytest-asyncio could not have started this test if Playwright's loop were still
    # marked as running in this thread.
    await asyncio.sleep(0)


def test_same_browser_again(page: Page, browser: Browser) -> None:
    page.set_content("<p id=p>again</p>")
    assert page.inner_text("#p") == "again"
    assert browser.is_connected()


def test_fake_media_files_must_exist(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        chromium_args(video=tmp_path / "missing.y4m")
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")
    assert f"--use-file-for-fake-audio-capture={wav}" in chromium_args(audio=wav)
