"""Real headless Chromium for the tests, driven by Playwright's sync API.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``./candor test``; override with
``$CANDOR_TEST_CHROMIUM``). Never run ``playwright install``: nothing is downloaded.

Fixtures (conftest imports them):

- ``browser``: the session's Chromium (launched once, on first use, with Chromium's built-in
  fake camera and microphone), for one sync test.
- ``page``: a new page in a new, isolated browser context of that Chromium, closed after the
  test.
- ``launch_browser``: a factory for a Chromium of the test's own, e.g. with its own fake media
  files: ``launch_browser(video=Path("motion.y4m"), audio=Path("speech.wav"))``; closed after
  the test.
- ``playwright``: the session's sync ``Playwright`` object.

Async tests and the sync API: between two sync calls, Playwright leaves its event loop
marked as this thread's running loop, so an async test (pytest-asyncio) that ran afterwards
would fail with "Runner.run() cannot be called from a running event loop". These fixtures
therefore mark that loop as running only for the duration of a sync test that requests one of
them, and clear it afterwards. Consequences: use them only in plain ``def`` tests (an ``async
def`` test that asks for one gets a clear error; for async tests use Playwright's async API
with ``launch_options()``), and do not call ``asyncio.run()`` inside a test that uses them (run
the server under test in a subprocess: ``tests.support.server.running_server``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

logger = logging.getLogger(__name__)

DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Without the background-networking flags Chromium keeps trying to reach Google's hosts;
# --allow-loopback-in-peer-connection lets WebRTC gather 127.0.0.1 host candidates (the
# tests run in a network namespace that has only loopback). Do not add --disable-features:
# it would replace Playwright's own list.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
)


class BrowserSetupError(RuntimeError):
    """Chromium or Playwright is not available."""


def chromium_executable() -> str:
    path = os.environ.get("CANDOR_TEST_CHROMIUM", DEFAULT_CHROMIUM)
    if not os.access(path, os.X_OK):
        raise BrowserSetupError(
            f"Chromium not found at {path}. Install Debian's chromium "
            "(`apt-get install chromium`, or run the tests with `./candor test`, which does); "
            "do not run `playwright install`."
        )
    return path


def chromium_args(
    video: Path | str | None = None,
    audio: Path | str | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """Chromium's command-line flags, with optional fake camera (.y4m/.mjpeg) and microphone
    (.wav) files; without them Chromium makes up a test pattern and a beep."""
    args = list(CHROMIUM_ARGS)
    for flag, path in (
        ("--use-file-for-fake-video-capture", video),
        ("--use-file-for-fake-audio-capture", audio),
    ):
        if path is None:
            continue
        path = Path(path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"fake media file for {flag} not found: {path}")
        args.append(f"{flag}={path}")
    args.extend(extra)
    return args


def launch_options(
    video: Path | str | None = None,
    audio: Path | str | None = None,
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch()`` (sync or async API)."""
    return {
        "executable_path": chromium_executable(),
        "headless": True,
        "args": chromium_args(video, audio, extra),
    }


class PlaywrightSession:
    """One sync Playwright for the whole test session, started on first use.

    ``active()`` marks Playwright's event loop as this thread's running loop for the length
    of one sync test, as its sync API expects, and clears it again afterwards so that async
    tests run later in the same thread find no running loop.
    """

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._browser: Browser | None = None

    @contextlib.contextmanager
    def active(self) -> Iterator[Playwright]:
        if self._playwright is None:
            self._start()
        else:
            asyncio._set_running_loop(self._loop)
        try:
            assert self._playwright is not None
            yield self._playwright
        finally:
            asyncio._set_running_loop(None)

    def _start(self) -> None:
        chromium_executable()  # a clear error before Playwright's own
        if asyncio._get_running_loop() is not None:
            raise BrowserSetupError("an asyncio loop is running: use Playwright's async API here")
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as exc:
            raise BrowserSetupError("playwright is not installed: run `./candor test`") from exc
        manager = sync_playwright()
        self._playwright = manager.start()
        # Starting leaves Playwright's loop marked as running in this thread; keep it.
        self._loop = asyncio._get_running_loop() or manager._loop

    def shared_browser(self) -> Browser:
        """The session's Chromium with the built-in fake devices (relaunched if it died)."""
        assert self._playwright is not None, "call inside active()"
        if self._browser is None or not self._browser.is_connected():
            self._browser = self._playwright.chromium.launch(**launch_options())
            logger.info("launched %s %s", chromium_executable(), self._browser.version)
        return self._browser

    def close(self) -> None:
        if self._playwright is None:
            return
        playwright, self._playwright = self._playwright, None
        asyncio._set_running_loop(self._loop)
        try:
            if self._browser is not None and self._browser.is_connected():
                self._browser.close()
        finally:
            self._browser = None
            playwright.stop()  # also ends Playwright's driver process and closes its loop
            asyncio._set_running_loop(None)


def _refuse_async(request: pytest.FixtureRequest) -> None:
    function = getattr(request, "function", None)
    if function is not None and inspect.iscoroutinefunction(function):
        raise BrowserSetupError(
            f"{request.node.name} is an async test; the browser fixtures use Playwright's sync "
            "API. Make the test a plain `def`, or use playwright.async_api with "
            "tests.support.browser.launch_options()."
        )


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[PlaywrightSession]:
    session = PlaywrightSession()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def playwright(
    playwright_session: PlaywrightSession, request: pytest.FixtureRequest
) -> Iterator[Playwright]:
    """The session's sync Playwright, active for this (sync) test."""
    _refuse_async(request)
    with playwright_session.active() as pw:
        yield pw


@pytest.fixture
def browser(playwright: Playwright, playwright_session: PlaywrightSession) -> Browser:
    """The session's headless Chromium (launched once, with the built-in fake devices)."""
    return playwright_session.shared_browser()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a new browser context (own cookies and storage), closed after the test."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def launch_browser(playwright: Playwright) -> Iterator[Callable[..., Browser]]:
    """``launch_browser(video=None, audio=None, extra=())`` -> a Chromium of this test's own."""
    launched: list[Browser] = []

    def launch(
        video: Path | str | None = None,
        audio: Path | str | None = None,
        extra: Sequence[str] = (),
    ) -> Browser:
        launched.append(playwright.chromium.launch(**launch_options(video, audio, extra)))
        return launched[-1]

    try:
        yield launch
    finally:
        for b in launched:
            with contextlib.suppress(Exception):
                b.close()
