"""A job's results board (`GET /api/jobs/{id}/results`): one row per interview with the same
overall, percentile and recommendation as its report; sorted, filtered, paged; CSV with the same
rows. The interviews are real sessions (transcript in, scores out) plus stored scores for the pool."""
from __future__ import annotations

import csv
import io
from typing import Any

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
