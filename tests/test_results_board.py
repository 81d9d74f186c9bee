"""A job's results board (`GET /api/jobs/{id}/results`): one row per interview with the same
overall, percentile and recommendation as its report; sorted, filtered, paged; CSV with the same
rows. The interviews are real sessions (transcript in, scores out) plus stored scores for the pool."""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import Api, login
from test_scores_hold_up import PLANNING_SAFETY, TWO_QUESTIONS, fake_completed, interview, invite, new_job, report


async def test_board_matches_the_reports_and_sorts_filters_and_exports(client: Any, hr: Api, store: Any) -> None:
    job_id, dims, tpl = await new_job(hr, PLANNING_SAFETY, TWO_QUESTIONS)
    pool = {"Pat One": (20, 30), "Pat Two": (40, 50), "Pat Three": (60, 70), "Pat Four": (80, 90),
            "Pat Five": (55, 65)}
    for name, (planning, safety) in pool.items():
        fake_completed(store, await invite(hr, tpl, name), {dims[0]: planning, dims[1]: safety})
    real = await invite(hr, tpl, "Ada Real")
    await interview(client, real, ["we kept the schedule and the budget every single week of the project",
                                   "we follow the safety procedure and wear a helmet on every site visit"])
    waiting = await invite(hr, tpl, "Wes Waiting")

    _, board = await hr.call("GET", f"/api/jobs/{job_id}/results", expect=200)
    assert board["total"] == 7 and [d["name"] for d in board["dimensions"]] == ["Planning", "Safety"]
    rows = {r["name"]: r for r in board["rows"]}
    # The board says what the report says.
    rep = await report(hr, real)
    ada = rows["Ada Real"]
    assert ada["overall"] == rep["overall"]["score"] and ada["coverage"] == rep["overall"]["coverage"]
    assert ada["percentile"] == rep["percentile"]["value"]
    assert ada["recommendation"] == rep["recommendation"]["decision"]
    assert ada["dimensions"] == {d["name"]: d["score"] for d in rep["dimensions"]}
    assert rows["Pat Four"]["overall"] == 85.0 and rows["Pat Four"]["percentile"] == 100.0
    assert rows["Wes Waiting"]["state"] == "invited" and rows["Wes Waiting"]["overall"] is None
    # Sorted by overall, highest first; rows without one last.
    overall = [r["overall"] for r in board["rows"]]
    assert overall[-1] is None and overall[:-1] == sorted(overall[:-1], reverse=True)
    assert board["rows"][-1]["interview_id"] == waiting

    async def names(query: str) -> list[str]:
        _, body = await hr.call("GET", f"/api/jobs/{job_id}/results?{query}", expect=200)
        return [r["name"] for r in body["rows"]]

    assert await names("sort=name&order=asc") == sorted(rows)
    assert await names(f"min_{dims[1]}=65&sort=overall") == ["Pat Four", "Pat Three", "Pat Five"]
    assert await names("state=invited") == ["Wes Waiting"]
    assert await names("q=pat t") == ["Pat Three", "Pat Two"]  # by overall, highest first
    assert await names("recommendation=not_recommended&sort=overall&order=asc") == [
        r["name"] for r in sorted(board["rows"], key=lambda r: r["overall"] or 0)
        if r["recommendation"] == "not_recommended"]
    assert await names("sort=overall&limit=2&offset=1") == [r["name"] for r in board["rows"][1:3]]

    # CSV: the same rows, every dimension a column.
    resp = await client.get(f"/api/jobs/{job_id}/results?format=csv&sort=name&order=asc", headers=hr.headers)
    assert resp.status == 200 and resp.content_type == "text/csv"
    table = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["name"] for r in table] == sorted(rows)
    by_name = {r["name"]: r for r in table}
    assert float(by_name["Pat Four"]["Safety"]) == 90.0 and by_name["Wes Waiting"]["overall"] == ""
    assert float(by_name["Ada Real"]["overall"]) == ada["overall"]

    # Bad input is a clear 400; another HR user does not see the job.
    for query in ("sort=charisma", "order=up", f"min_{dims[0]}=lots", "limit=-1", "format=pdf"):
        status, body = await hr.call("GET", f"/api/jobs/{job_id}/results?{query}")
        assert status == 400 and body["error"], (query, body)
    other = await login(client, store, "other@example.com", "hr")
    assert (await other.call("GET", f"/api/jobs/{job_id}/results"))[0] == 404


async def test_results_page_sorts_filters_and_links_the_csv(client: Any, hr: Api, store: Any) -> None:
    from test_pages_hr import text_of
    from tests.test_report_page import page_login

    job_id, dims, tpl = await new_job(hr, PLANNING_SAFETY, TWO_QUESTIONS)
    for name, (planning, safety) in {"Low Lee": (10, 20), "High Han": (90, 80), "Mid Moon": (50, 60)}.items():
        fake_completed(store, await invite(hr, tpl, name), {dims[0]: planning, dims[1]: safety})
    await invite(hr, tpl, "Wes Waiting")
    await page_login(client)
    page = await (await client.get(f"/jobs/{job_id}")).text()
    assert f'href="/jobs/{job_id}/results"' in page
    resp = await client.get(f"/jobs/{job_id}/results")
    assert resp.status == 200
    text = text_of(await resp.text())
    assert text.index("High Han") < text.index("Mid Moon") < text.index("Low Lee") < text.index("Wes Waiting")
    assert "4 of 4 interviews" in text and "85.0" in text and "Not decided" in text
    text = text_of(await (await client.get(f"/jobs/{job_id}/results?sort=name&order=asc")).text())
    assert text.index("High Han") < text.index("Low Lee") < text.index("Mid Moon")
    page = await (await client.get(f"/jobs/{job_id}/results?state=completed&q=lee")).text()
    assert "1 of 4 interviews" in text_of(page) and "High Han" not in page
    assert f'href="/api/jobs/{job_id}/results?state=completed&amp;q=lee&amp;format=csv"' in page
    assert (await client.get(f"/jobs/{job_id}/results?sort=charisma")).status == 400


@pytest.mark.browser
def test_hr_sorts_filters_and_downloads_the_board_in_chromium(browser: Any, tmp_path: Path) -> None:
    from sqlmodel import select

    from server.auth import Principal
    from server.candidates import create_candidate
    from server.invitations import create_invitations
    from server.jobs import dimensions_of
    from server.schemas import CandidateIn, InvitationIn
    from server.store import Store, stored_id
    from server.tables import Interview, Job, Score, Template, User, utcnow
    from tests.support.server import running_server
    from tests.test_candidate_page import seed_demo

    data_dir = tmp_path / "server-data"
    demo = seed_demo(data_dir)
    store = Store(f"sqlite:///{data_dir / 'candor.sqlite3'}")
    try:
        def fill(db: Any) -> tuple[int, list[int]]:
            user = db.exec(select(User).where(User.email == demo["email"])).one()
            who = Principal(id=stored_id(user), email=user.email, role=user.role)
            job = db.exec(select(Job)).one()
            template = db.exec(select(Template)).one()
            dims = [stored_id(d) for d in dimensions_of(db, stored_id(job))]
            people = {"Ann Alpha": 30.0, "Ben Beta": 80.0, "Cho Gamma": 55.0}
            ids = [stored_id(create_candidate(
                db, who, CandidateIn(name=n, email=f"{n.split()[0].lower()}@example.com")))
                   for n in people]
            issued = create_invitations(db, who, InvitationIn(template_id=stored_id(template), candidate_ids=ids,
                                                              deadline=utcnow() + timedelta(days=3)), 1.5)
            for item, score in zip(issued, people.values(), strict=True):
                itv = db.get(Interview, item.interview.id)
                itv.state, itv.consent, itv.completed_at = "completed", True, utcnow()
                db.add(itv)
                for d in dims:
                    db.add(Score(interview_id=itv.id, dimension_id=d, question_index=None, score=score, evidence=[]))
            return stored_id(job), dims

        job_id, dims = store.run_sync(fill)
    finally:
        store.close()
    with running_server(tmp_path, env={"CANDOR_LOAD_MODELS": "0"}) as base:
        context = browser.new_context(accept_downloads=True)
        try:
            page = context.new_page()
            page.goto(f"{base}/login")
            page.get_by_label("Email").fill(demo["email"])
            page.get_by_label("Password").fill(demo["password"])
            page.get_by_role("button", name="Log in").click()
            page.goto(f"{base}/jobs/{job_id}")
            page.get_by_role("link", name="Results board").click()
            names = lambda: page.locator("#results tbody th").all_inner_texts()  # noqa: E731
            # Highest overall first; the demo candidate (invited, no score) last.
            assert names() == ["Ben Beta", "Cho Gamma", "Ann Alpha", "Demo Candidate"]
            page.get_by_role("link", name="Candidate", exact=True).click()
            assert names() == ["Ann Alpha", "Ben Beta", "Cho Gamma", "Demo Candidate"]
            page.get_by_label("State").select_option(label="Completed")
            page.get_by_role("button", name="Filter").click()
            assert names() == ["Ann Alpha", "Ben Beta", "Cho Gamma"]  # still by name
            assert page.inner_text("#count") == "3 of 4 interviews"
            with page.expect_download() as info:
                page.get_by_role("link", name="Download CSV").click()
            rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8"))))
            assert [r["name"] for r in rows] == names()
            assert [float(r["overall"]) for r in rows] == [30.0, 80.0, 55.0]
            from openpyxl import load_workbook

            with page.expect_download() as info:
                page.get_by_role("link", name="Download Excel").click()
            sheet = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
            assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == names()

            # One ticked row is not a comparison: the page says so (422) and leads back to the board.
            page.get_by_label("Compare Ann Alpha").check()
            page.get_by_role("button", name="Compare selected").click()
            assert "1 chosen" in page.inner_text("#compare-error")
            page.get_by_role("link", name="Back to the results board").click()
            # Two ticked rows: side by side, one bar group per dimension, both names in the legend.
            page.get_by_label("Compare Ben Beta").check()
            page.get_by_label("Compare Cho Gamma").check()
            page.get_by_role("button", name="Compare selected").click()
            page.wait_for_url("**/compare?**")
            chart = page.locator("#dimension-chart")
            assert chart.is_visible() and chart.bounding_box()["height"] > 50
            assert page.locator("#dimension-chart g.group").count() == len(dims)
            assert page.locator("#legend li").all_inner_texts() == ["Ben Beta", "Cho Gamma"]
            assert page.locator("table.compare thead th.cand-head").all_inner_texts() == ["Ben Beta", "Cho Gamma"]
            # From there to a full report, and its PDF.
            page.get_by_role("link", name="Ben Beta").first.click()
            page.wait_for_url("**/report")
            with page.expect_download() as info:
                page.get_by_role("link", name="Download PDF").click()
            assert info.value.suggested_filename.startswith("candor-report-")
            from pypdf import PdfReader

            reader = PdfReader(Path(info.value.path()))
            text = "\n".join(p.extract_text() for p in reader.pages)
            assert "Ben Beta" in text and "ben@example.com" in text and "by Candor" in text
        finally:
            context.close()


def test_board_percentile_equals_the_reports_formula() -> None:
    """The board ranks by bisection; the report compares with the others one by one."""
    import random

    from server.reports import percentile
    from server.results import _percentile_among_others

    rng = random.Random(3)
    for size in (3, 6, 7, 50):
        pool = [float(rng.choice([10, 20, 20, 35.5, 50, 50, 50, 80])) for _ in range(size)]
        ranked = sorted(pool)
        for i, score in enumerate(pool):
            others = pool[:i] + pool[i + 1:]
            assert _percentile_among_others(score, ranked) == percentile(score, others).value


async def test_the_board_as_an_excel_file(client: Any, hr: Api, store: Any) -> None:
    from openpyxl import load_workbook

    job_id, dims, tpl = await new_job(hr, PLANNING_SAFETY, TWO_QUESTIONS)
    for name, (planning, safety) in {"Low Lee": (10, 20), "High Han": (90, 80)}.items():
        fake_completed(store, await invite(hr, tpl, name), {dims[0]: planning, dims[1]: safety})
    await invite(hr, tpl, "Wes Waiting")
    _, board = await hr.call("GET", f"/api/jobs/{job_id}/results", expect=200)
    resp = await client.get(f"/api/jobs/{job_id}/results?format=xlsx", headers=hr.headers)
    assert resp.status == 200 and resp.content_type.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = table[0]
    assert header[:5] == ["name", "email", "state", "overall", "coverage"] and "Safety" in header
    assert [r[0] for r in table[1:]] == [r["name"] for r in board["rows"]]
    high = table[1]
    assert high[0] == "High Han" and high[3] == 85.0 and high[header.index("Safety")] == 80  # numbers, not text
    assert table[-1][3] in (None, "")  # not scored: an empty cell, not 0
