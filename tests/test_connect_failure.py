"""Media that cannot connect, for real: UDP dropped (iptables, in the suite's own network
namespace), as on a network that blocks video calls; real Chromium, a real server. The candidate is told what is wrong and what to try within 20 s while the
page keeps retrying, HR's panel shows it as a warning, and the server's log names the cause."""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.server import running_server
from tests.test_candidate_page import seed_demo

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

# Only media is UDP here (the pages and websockets are TCP on the same loopback).
DROP_UDP = ("INPUT", "-i", "lo", "-p", "udp", "-j", "DROP")


def iptables(*args: str) -> None:
    subprocess.run(["iptables", *args], check=True, capture_output=True, timeout=20)


def test_a_candidate_whose_media_cannot_connect_is_told_within_20_s(browser: Browser, tmp_path: Path) -> None:
    demo = seed_demo(tmp_path / "server-data")
    with running_server(tmp_path, env={"CANDOR_LOAD_MODELS": "0"}) as base:
        iptables("-A", *DROP_UDP)
        context = browser.new_context()
        try:
            hr = context.new_page()
            hr.goto(f"{base}/login")
            hr.get_by_label("Email").fill(demo["email"])
            hr.get_by_label("Password").fill(demo["password"])
            hr.get_by_role("button", name="Log in").click()
            hr.wait_for_url(re.compile(r"/jobs$"))
            hr.goto(f"{base}/monitor")

            candidate = context.new_page()
            candidate.goto(f"{base}/i/{demo['token']}?lang=en")  # the demo job is Korean
            candidate.click("#consent-yes")
            candidate.wait_for_function("() => (window.candor.stream !== null)")
            candidate.click("#join")
            joined = time.monotonic()
            candidate.wait_for_selector("#notice:not([hidden])", timeout=25_000)
            told_after = time.monotonic() - joined
            notice = candidate.inner_text("#notice")
            assert told_after <= 20.0, f"told after {told_after:.1f} s"
            for words in ("could not reach", "another network", "another browser", "keeps trying"):
                assert words in notice, (words, notice)
            # Still trying by itself: another offer follows.
            candidate.wait_for_function("() => (window.candor.offers >= 2)", timeout=15_000)

            card = hr.locator(f"#interview-{demo['interview_id']}")
            alert = card.locator("[data-part=alert]")
            alert.wait_for(state="visible", timeout=10_000)
            assert "mon-alert-warn" in (alert.get_attribute("class") or "")
            assert re.search(r"(not connected after|could not connect \(.+\))", alert.inner_text()), alert.inner_text()
        finally:
            context.close()
            iptables("-D", *DROP_UDP)
        log = base.log_path.read_text(errors="replace")
        assert re.search(r"WARNING .*camera and microphone did not connect within 15 s \(.+\)", log), log[-3000:]
