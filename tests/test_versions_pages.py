"""The HR pages for versions: the job and template edit forms (filled in from the newest version,
sent back as a browser would), the version history, archive and restore buttons, archived jobs
marked in the list, and copying a template into another job."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conftest import Api
from tests.support.server import running_server
from tests.test_browser_hr import EMAIL, PASSWORD, add_hr_user
from test_pages_hr import text_of
from tests.test_report_page import page_login
from tests.test_versions import DIMS, add_candidate, invite, new_job, new_template

if TYPE_CHECKING:
    from playwright.sync_api import Browser


class Form(HTMLParser):
    """The fields of one form of a page, as a browser would send them (checked boxes only, the
    selected option, textareas' text); `action`: the form whose action this is."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.fields = action, False, {}  # type: ignore[var-annotated]
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside:
            return
        name = a.get("name", "")
        if tag == "input" and name:
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            if a.get("type") not in ("submit",):
                self.fields[name] = a.get("value", "on" if a.get("type") == "checkbox" else "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and ("selected" in a or self._select not in self.fields):
            self.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self.inside:
            self.fields[self._textarea] += data


async def form_of(client: Any, page: str, action: str) -> dict[str, str]:
    resp = await client.get(page)
    assert resp.status == 200, await resp.text()
    parser = Form(action)
    parser.feed(await resp.text())
    assert parser.fields, f"no form posting to {action} on {page}"
    return dict(parser.fields)


async def test_job_edit_form_round_trips_and_saves_a_version(client: Any, hr: Api) -> None:
    job_id, (planning, safety, dress) = await new_job(hr, dims=[
        *DIMS[:2], {**DIMS[2], "rules": [{"signal": "mentions:a clean suit", "op": ">", "value": 0.5,
                                          "points": -5, "scope": "interview"}], "weight": 0.5}])
    tpl = await new_template(hr, job_id, [("Tell us about a project.", [planning, dress])])
    await page_login(client)

    # The form holds the newest version; sent back unchanged it saves no version.
    fields = await form_of(client, f"/jobs/{job_id}/edit", f"/jobs/{job_id}/edit")
    assert fields["title"] == "Site engineer" and fields["dim_id_0"] == str(planning)
    assert fields["dim_rules_0"] == "keyword_hits:schedule >= 1 10"
    assert fields["dim_rules_2"] == "interview mentions:a clean suit > 0.5 -5" and fields["dim_weight_2"] == "0.5"
    resp = await client.post(f"/jobs/{job_id}/edit", data={**fields, "action": "save"}, allow_redirects=False)
    assert resp.status == 303
    _, job = await hr.call("GET", f"/api/jobs/{job_id}", expect=200)
    assert job["version"] == 1

    # Rename one, retire one, add one: version 2, with the ids kept.
    fields.update({"dim_name_0": "Project planning", "dim_retire_2": "on", "dim_name_3": "Customer empathy",
                   "dim_keywords_3": "listen, customer", "note": "appearance is not a competency",
                   "action": "save"})
    resp = await client.post(f"/jobs/{job_id}/edit", data=fields, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/jobs/{job_id}#versions"
    _, job = await hr.call("GET", f"/api/jobs/{job_id}", expect=200)
    assert job["version"] == 2
    assert [(d["id"], d["name"]) for d in job["dimensions"]][:2] == [(planning, "Project planning"), (safety, "Safety")]
    assert [d["name"] for d in job["dimensions"]] == ["Project planning", "Safety", "Customer empathy"]

    # The job page shows the history and the template that still scores the retired dimension.
    page = text_of(await (await client.get(f"/jobs/{job_id}")).text())
    assert "Version 2" in page and "renamed dimension 'Planning' → 'Project planning'" in page
    assert "retired dimension 'Dress and appearance'" in page and "appearance is not a competency" in page
    assert "Standard : Dress and appearance" in page

    # A bad edit: the form again with the problem named, nothing saved.
    resp = await client.post(f"/jobs/{job_id}/edit", data={**fields, "title": " ", "dim_retire_2": "on"})
    assert resp.status == 422 and "job title" in text_of(await resp.text()).lower()
    _, job = await hr.call("GET", f"/api/jobs/{job_id}", expect=200)
    assert job["version"] == 2

    # The template builder edits it: the retired dimension is no longer offered, so HR relinks.
    tfields = await form_of(client, f"/templates/{tpl}/edit", f"/templates/{tpl}/edit")
    assert tfields["q_text_0"] == "Tell us about a project." and f"q_dim_0_{dress}" not in tfields
    empathy = job["dimensions"][2]["id"]
    tfields.update({f"q_dim_0_{empathy}": "on", "q_time_0": "90", "action": "save"})
    resp = await client.post(f"/templates/{tpl}/edit", data=tfields, allow_redirects=False)
    assert resp.status == 303, text_of(await resp.text())
    _, template = await hr.call("GET", f"/api/templates/{tpl}", expect=200)
    assert template["version"] == 2 and template["questions"][0]["time_limit_s"] == 90
    assert [d["dimension_id"] for d in template["questions"][0]["dimensions"]] == [planning, empathy]
    page = text_of(await (await client.get(f"/templates/{tpl}")).text())
    assert "version 2" in page and "question 1: time limit, dimensions and weights changed" in page
    assert await invite(hr, tpl, await add_candidate(hr, "Eve Page")) > 0


async def test_archive_and_restore_buttons_and_copy_form(client: Any, hr: Api) -> None:
    job_id, (planning, *_) = await new_job(hr)
    tpl = await new_template(hr, job_id, [("Tell us about planning.", [planning])])
    other_job, (other_planning, *_) = await new_job(hr, title="Foreman")
    await page_login(client)

    fields = await form_of(client, f"/jobs/{job_id}", f"/jobs/{job_id}/archive")
    resp = await client.post(f"/jobs/{job_id}/archive", data=fields, allow_redirects=False)
    assert resp.status == 303
    page = await (await client.get(f"/jobs/{job_id}")).text()
    assert 'id="archived-tag"' in page and "takes no new invitations" in text_of(page)
    assert f'href="/jobs/{job_id}/edit"' not in page  # no editing while archived
    listing = text_of(await (await client.get("/jobs")).text())
    assert "Site engineer archived" in listing and "Foreman archived" not in listing
    refused = await invite(hr, tpl, await add_candidate(hr, "Fay Page"), expect=409)
    assert "archived" in refused["error"]
    fields = await form_of(client, f"/jobs/{job_id}", f"/jobs/{job_id}/restore")
    assert (await client.post(f"/jobs/{job_id}/restore", data=fields, allow_redirects=False)).status == 303
    assert 'id="archived-tag"' not in await (await client.get(f"/jobs/{job_id}")).text()

    # Template: archive, then copy it into the other job (dimensions matched by name).
    fields = await form_of(client, f"/templates/{tpl}", f"/templates/{tpl}/archive")
    assert (await client.post(f"/templates/{tpl}/archive", data=fields, allow_redirects=False)).status == 303
    page = await (await client.get(f"/templates/{tpl}")).text()
    assert 'id="archived-tag"' in page and 'action="/templates/%d/restore"' % tpl in page
    fields = await form_of(client, f"/templates/{tpl}", f"/templates/{tpl}/copy")
    assert fields["job_id"] == str(other_job)
    resp = await client.post(f"/templates/{tpl}/copy", data=fields, allow_redirects=False)
    assert resp.status == 303
    copy_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    _, copy = await hr.call("GET", f"/api/templates/{copy_id}", expect=200)
    assert copy["job_id"] == other_job and copy["questions"][0]["dimensions"][0]["dimension_id"] == other_planning


@pytest.mark.browser
def test_hr_edits_a_job_and_archives_it_in_chromium(browser: Browser, tmp_path: Path) -> None:
    """The edit form in real Chromium (its scripts run: rule sentences, weight boxes), saving a
    version, the history, and the archive and restore buttons."""
    add_hr_user(tmp_path / "server-data")
    with running_server(tmp_path, env={"CANDOR_LOAD_MODELS": "0"}) as base:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.set_default_timeout(15_000)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base}/jobs/new")
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{base}/jobs/new")
            page.get_by_label("Job title").fill("Store clerk")
            page.fill("#dim_name_0", "Dress and appearance")
            page.fill("#dim_name_1", "Accuracy")
            page.fill("#dim_keywords_1", "count, check")
            page.get_by_label("Interview language").select_option("en")
            page.get_by_role("button", name="Create job").click()
            page.wait_for_url(re.compile(r"/jobs/\d+$"))
            job_url = page.url

            page.get_by_role("link", name="Edit job").click()
            page.wait_for_url(re.compile(r"/jobs/\d+/edit$"))
            assert page.input_value("#dim_name_1") == "Accuracy"
            assert page.input_value("#dim_keywords_1") == "count, check"
            page.get_by_label("Retire this dimension from the new version").first.check()
            page.fill("#dim_name_1", "Cash accuracy")
            page.fill("#dim_name_2", "Customer empathy")
            page.fill("#dim_keywords_2", "listen, customer")
            page.get_by_label("What changed and why").fill("appearance is not a competency")
            page.get_by_role("button", name="Save as version 2").click()
            page.wait_for_url(f"{job_url}#versions")
            versions = page.inner_text("#versions")
            assert "renamed dimension 'Accuracy' → 'Cash accuracy'" in versions
            assert "retired dimension 'Dress and appearance'" in versions
            assert "added dimension 'Customer empathy'" in versions
            dimensions = page.inner_text("table.list")
            assert "Customer empathy" in dimensions and "Dress and appearance" not in dimensions
            page.screenshot(path=str(tmp_path / "job_versions.png"), full_page=True)

            page.get_by_role("button", name="Archive job").click()
            page.wait_for_url(job_url)
            assert page.inner_text("#archived-tag") == "archived"
            assert page.get_by_role("link", name="Edit job").count() == 0
            page.goto(f"{base}/jobs")
            assert "archived" in page.inner_text("table.list")
            page.goto(job_url)
            page.get_by_role("button", name="Restore job").click()
            page.wait_for_url(job_url)
            assert page.locator("#archived-tag").count() == 0
            assert errors == []
        finally:
            context.close()
