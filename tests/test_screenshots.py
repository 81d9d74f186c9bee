"""Every main page, as people see it: at a laptop's 1366x900 and a phone's 390x844, in real
Chromium, with the demo's Korean job. The screenshots are kept as artefacts
($CANDOR_TEST_SCREENSHOTS; `./candor test` puts them in artifacts/screenshots/). The test checks
what a screenshot alone would not: every page loads, nothing is wider than a phone's screen
(no sideways scrolling), Korean text has a font that has Hangul, and no page has a script error.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.server import running_server
from tests.test_candidate_page import seed_demo

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

SIZES = (("laptop", 1366, 900), ("phone", 390, 844))


@pytest.fixture
def artefacts(tmp_path: Path) -> Path:
    path = Path(os.environ.get("CANDOR_TEST_SCREENSHOTS", tmp_path)) / "pages"
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_korean_text_has_a_font_with_hangul() -> None:
    """fonts-noto-cjk (installed by ./candor) is what Chromium uses for Hangul and Han; without
    it Korean renders as empty boxes."""
    fc_match = shutil.which("fc-match")
    assert fc_match, "fontconfig's fc-match is missing"
    family = subprocess.run([fc_match, "-f", "%{family}", ":lang=ko"], capture_output=True, text=True,
                            check=True).stdout
    assert "CJK" in family or "Nanum" in family, f"no Korean font installed (fc-match :lang=ko gives {family!r})"


def test_main_pages_at_laptop_and_phone_width(browser: Browser, tmp_path: Path, artefacts: Path) -> None:
    data_dir = tmp_path / "server-data"
    demo = seed_demo(data_dir)
    with running_server(tmp_path, env={"CANDOR_LOAD_MODELS": "0"}) as base:
        for name, width, height in SIZES:
            context = browser.new_context(viewport={"width": width, "height": height}, timezone_id="Asia/Seoul")
            context.set_default_timeout(15_000)
            try:
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(f"{base}/login")
                shoot(page, artefacts, "login", name)
                page.get_by_label("Email").fill(demo["email"])
                page.get_by_label("Password").fill(demo["password"])
                page.get_by_role("button", name="Log in").click()
                page.wait_for_url(re.compile(r"/jobs$"))
                job = first_link(page, r"/jobs/\d+")
                page.goto(f"{base}{job}")
                template = first_link(page, r"/templates/\d+")
                candidate = first_link(page, r"/candidates/\d+")
                pages = [("jobs", "/jobs"), ("job", job), ("new-job", "/jobs/new"), ("template", template),
                         ("candidates", "/candidates"), ("candidate", candidate),
                         ("links", f"/invitations?interviews={demo['interview_id']}"), ("monitor", "/monitor"),
                         ("account", "/account")]
                for label, path in pages:
                    response = page.goto(f"{base}{path}")
                    assert response is not None and response.status == 200, (label, path)
                    shoot(page, artefacts, label, name)
                # The candidate's side: the interview page and a link that does not open.
                page.goto(f"{base}/i/{demo['token']}?lang=en")  # the demo job is Korean
                assert "Interview for" in page.inner_text("h1")
                shoot(page, artefacts, "candidate-page", name)
                response = page.goto(f"{base}/i/not-a-link")
                assert response is not None and response.status == 404
                shoot(page, artefacts, "candidate-unknown-link", name)
                assert not errors, errors
            finally:
                context.close()
    made = sorted(p.name for p in artefacts.glob("*.png"))
    assert len(made) == 2 * 12, made


def first_link(page: object, pattern: str) -> str:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    hrefs = page.eval_on_selector_all("main a[href]", "links => links.map(a => a.getAttribute('href'))")
    found = next((h for h in hrefs if re.fullmatch(pattern, h)), None)
    assert found, (pattern, hrefs)
    return found


def shoot(page: object, folder: Path, label: str, size: str) -> None:
    """Save the page and check it fits the screen's width (no sideways scrolling)."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.screenshot(path=str(folder / f"{label}-{size}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 1:  # name what sticks out, for whoever fixes it
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 6).map(el => `${el.tagName.toLowerCase()}.${el.className} ${Math.round(el.getBoundingClientRect().right)}px`)""")
        raise AssertionError(f"{label} at {size} width is {overflow} px wider than the screen: {wide}")
