"""Comparing 2 to 4 candidates of a job side by side (`GET /api/jobs/{id}/compare` and the page
/jobs/{id}/compare): every number is the one of each candidate's report; the page draws a
grouped bar chart per dimension and lists evidence and clips; bad input is a clear 4xx.
The interviews are real sessions (transcript in, scores out), as in tests/test_results_board.py."""
from __future__ import annotations

import re
from urllib.parse import urlsplit
from typing import Any

from conftest import Api, login
from test_scores_hold_up import PLANNING_SAFETY, TWO_QUESTIONS, interview, invite, new_job, report

STRONG = ["we kept the schedule and the budget every single week of the project",
          "we follow the safety procedure and wear a helmet on every site visit"]
WEAK = ["I did some work there", "we follow the procedure"]


async def _two_done(client: Any, hr: Api) -> tuple[int, list[int], int, int, int]:
    job_id, dims, tpl = await new_job(hr, PLANNING_SAFETY, TWO_QUESTIONS)
    ada = await invite(hr, tpl, "Ada Real")
    kim = await invite(hr, tpl, "김민준")
    await interview(client, ada, STRONG)
    await interview(client, kim, WEAK)
    return job_id, dims, tpl, ada, kim


async def test_compare_api_gives_each_reports_numbers_evidence_and_clips(client: Any, hr: Api) -> None:
    job_id, dims, _, ada, kim = await _two_done(client, hr)
    _, body = await hr.call("GET", f"/api/jobs/{job_id}/compare?interviews={ada},{kim}", expect=200)
    assert body["job"]["id"] == job_id and [c["name"] for c in body["candidates"]] == ["Ada Real", "김민준"]
    assert [d["name"] for d in body["dimensions"]] == ["Planning", "Safety"]
    reports = {ada: await report(hr, ada), kim: await report(hr, kim)}
    for cand in body["candidates"]:
        rep = reports[cand["interview_id"]]
        assert cand["overall"] == rep["overall"]["score"] and cand["coverage"] == rep["overall"]["coverage"]
        assert cand["percentile"]["value"] == rep["percentile"]["value"]
        assert cand["recommendation"] == rep["recommendation"]
        assert cand["decision"] is None and cand["review"]["complete"] is False
        assert cand["report_url"] == f"/interviews/{cand['interview_id']}/report"
    clip_count = 0
    for dim in body["dimensions"]:
        assert [c["interview_id"] for c in dim["scores"]] == [ada, kim]
        for cell in dim["scores"]:
            rep_dim = next(d for d in reports[cell["interview_id"]]["dimensions"] if d["id"] == dim["id"])
            assert cell["score"] == rep_dim["score"] and cell["status"] == rep_dim["status"]
            assert cell["percentile"] == rep_dim["percentile"]
            # Clips: the report's clips of the questions that count towards this dimension, same media URL.
            counted = {e["question_index"] for e in rep_dim["evidence"] if e["kind"] == "question"}
            expected = [c for c in reports[cell["interview_id"]]["clips"] if c["question_index"] in counted]
            assert [c["id"] for c in cell["clips"]] == [c["id"] for c in expected]
            assert [c["media_url"] for c in cell["clips"]] == [c["media_url"] for c in expected]
            clip_count += len(cell["clips"])
    assert clip_count > 0, "the strong answers have key clips"
    ada_planning = body["dimensions"][0]["scores"][0]
    assert ada_planning["score"] > body["dimensions"][0]["scores"][1]["score"]  # the answers differ
    texts = [e["text"] for e in ada_planning["evidence"]]
    assert any(t.startswith("Q1: keywords heard: schedule, budget") for t in texts), texts
    assert any(t.startswith("Q1: score ") for t in texts), texts
    # In the API description.
    _, spec = await hr.call("GET", "/api/openapi.json", expect=200)
    op = spec["paths"]["/api/jobs/{job_id}/compare"]["get"]
    assert {"400", "404", "409", "422"} <= set(op["responses"])


async def test_compare_refuses_bad_input_with_clear_errors(client: Any, hr: Api, store: Any) -> None:
    job_id, dims, tpl, ada, kim = await _two_done(client, hr)
    waiting = await invite(hr, tpl, "Wes Waiting")
    other_job, _, other_tpl = await new_job(hr, PLANNING_SAFETY, TWO_QUESTIONS)
    elsewhere = await invite(hr, other_tpl, "Otto Other")
    await interview(client, elsewhere, STRONG)
    base = f"/api/jobs/{job_id}/compare"
    cases = {
        "": (400, "choose 2 to 4"),
        "?interviews=": (400, "choose 2 to 4"),
        f"?interviews={ada},x": (400, "comma-separated list"),
        f"?interviews={ada};{kim}": (400, "comma-separated list"),
        f"?interviews={ada}": (422, "1 chosen"),
        f"?interviews={ada},{kim},{waiting},{elsewhere},{ada + 1000}": (422, "5 chosen"),
        f"?interviews={ada},{ada}": (422, "twice"),
        f"?interviews={ada},999999": (404, "interview 999999 not found"),
        f"?interviews={ada},{waiting}": (409, "not completed"),
        f"?interviews={ada},{elsewhere}": (422, "not an interview for this job"),
        f"?interviews={ada},0": (400, "between 1 and"),
        f"?interviews={ada},,{kim}": (400, "comma-separated list"),
        "?interviews=%EF%BC%91,%EF%BC%92": (400, "comma-separated list"),  # full-width digits
        f"?interviews={ada},99999999999999999999": (400, "comma-separated list"),
        f"?interviews=-{ada},{kim}": (400, "comma-separated list"),
        "?interviews=" + ",".join(["1"] * 150): (400, "comma-separated list"),
    }
    for query, (status, words) in cases.items():
        got, body = await hr.call("GET", base + query)
        assert got == status and words in body["error"], (query, got, body)
    assert (await hr.call("GET", f"/api/jobs/999999/compare?interviews={ada},{kim}"))[0] == 404
    # Another HR user sees neither the job nor its interviews; no token at all: 401.
    other = await login(client, store, "other@example.com", "hr")
    status, body = await other.call("GET", f"{base}?interviews={ada},{kim}")
    assert status == 404 and body["error"]
    assert (await client.get(f"{base}?interviews={ada},{kim}")).status == 401
    # The repeated parameter (a form of checkboxes) works like the list.
    _, body = await hr.call("GET", f"{base}?interviews={kim}&interviews={ada}", expect=200)
    assert [c["name"] for c in body["candidates"]] == ["김민준", "Ada Real"]


async def test_compare_page_draws_the_chart_and_lists_evidence_and_clips(client: Any, hr: Api, settings: Any) -> None:
    from test_pages_hr import text_of
    from tests.test_report_page import page_login, record

    job_id, dims, tpl, ada, kim = await _two_done(client, hr)
    record(settings.data_dir, ada)  # a real recording: Ada's clips can be played
    waiting = await invite(hr, tpl, "Wes Waiting")
    await page_login(client)
    # The board offers a checkbox for each completed interview and the compare form.
    board = await (await client.get(f"/jobs/{job_id}/results")).text()
    assert f'action="/jobs/{job_id}/compare"' in board
    boxes = re.findall(r'<input type="checkbox" name="interviews" value="(\d+)" form="compare-form"', board)
    assert sorted(map(int, boxes)) == sorted([ada, kim])  # not the waiting one

    resp = await client.get(f"/jobs/{job_id}/compare?interviews={ada}&interviews={kim}")
    assert resp.status == 200
    page = await resp.text()
    api = (await hr.call("GET", f"/api/jobs/{job_id}/compare?interviews={ada},{kim}", expect=200))[1]
    svg = page[page.index('<svg class="chart compare-chart"'):page.index("</svg>", page.index("compare-chart"))]
    groups = re.findall(r'<g class="group" data-dimension="(\d+)"', svg)
    assert groups == [str(d) for d in dims]  # one bar group per dimension, in the job's order
    for dim in api["dimensions"]:
        group = svg[svg.index(f'data-dimension="{dim["id"]}"'):]
        group = group[:group.index("</g>")]
        for slot, cell in enumerate(dim["scores"]):
            if cell["score"] is None:
                assert "not assessed" in group
            else:
                bar = re.search(rf'<rect class="bar slot-{slot}"[^>]* width="([\d.]+)"', group)
                assert bar and abs(float(bar.group(1)) - max(4.6 * cell["score"], 1.0)) < 0.06, (slot, group)
                assert f"{cell['score']:.1f}" in group
    legend = page[page.index('id="legend"'):page.index("</ul>", page.index('id="legend"'))]
    assert "Ada Real" in legend and "김민준" in legend
    text = text_of(page)
    assert "Overall" in text and "Recommendation" in text and "Not decided" in text
    assert f"{api['candidates'][0]['overall']:.1f}" in text
    assert "keywords heard: schedule, budget" in text
    # Clip links: the URLs the report page plays (opening one marks it seen).
    links = re.findall(r'<a href="(/api/interviews/\d+/clips/[^"]+/media)" data-clip=', page)
    expected = {urlsplit(c["media_url"]).path for iid in (ada, kim) for c in (await report(hr, iid))["clips"]}
    assert links and set(links) <= expected
    # Opening one from here plays it and marks it seen, as on the report page.
    ada_link = next(link for link in links if link.startswith(f"/api/interviews/{ada}/"))
    resp = await client.get(ada_link)
    assert resp.status == 200 and resp.content_type == "video/webm" and len(await resp.read()) > 1000
    seen = (await report(hr, ada))["review"]["clips_seen"]
    assert seen == [ada_link.split("/")[-2]]
    assert f'href="/interviews/{ada}/report"' in page and f'href="/interviews/{kim}/report"' in page

    # Bad input: the page says what is wrong, with the status, and links back to the board.
    for query, status, words in ((f"interviews={ada}", 422, "1 chosen"),
                                 ("", 400, "Choose 2 to 4"),
                                 (f"interviews={ada},{waiting}", 409, "not completed"),
                                 (f"interviews={ada},abc", 400, "comma-separated"),
                                 (f"interviews={ada},424242", 404, "not found")):
        resp = await client.get(f"/jobs/{job_id}/compare?{query}")
        body = await resp.text()
        assert resp.status == status and words in text_of(body), (query, resp.status)
        assert f'href="/jobs/{job_id}/results"' in body
    assert (await client.get(f"/jobs/424242/compare?interviews={ada},{kim}")).status == 404


async def test_a_human_only_review_compares_as_not_assessed(client: Any, hr: Api, store: Any) -> None:
    from test_pages_hr import text_of
    from tests.test_report_page import page_login

    from server.tables import Interview

    job_id, dims, _, ada, kim = await _two_done(client, hr)

    def human_only(db: Any) -> None:
        row = db.get(Interview, kim)
        row.consent = False
        db.add(row)

    store.run_sync(human_only)
    _, body = await hr.call("GET", f"/api/jobs/{job_id}/compare?interviews={ada},{kim}", expect=200)
    human = body["candidates"][1]
    assert human["overall"] is None and "human-only" in human["recommendation"]["reason"]
    for dim in body["dimensions"]:
        cell = dim["scores"][1]
        assert cell["status"] == "not_assessed" and cell["score"] is None and "human-only" in cell["reason"]
        assert cell["evidence"] == [] and cell["clips"] == []
        assert dim["scores"][0]["score"] is not None
    await page_login(client)
    page = await (await client.get(f"/jobs/{job_id}/compare?interviews={ada},{kim}")).text()
    svg = page[page.index('<svg class="chart compare-chart"'):page.index("</svg>", page.index("compare-chart"))]
    assert svg.count("김민준: not assessed") == len(dims) and svg.count('class="bar slot-0"') == len(dims)
    assert 'class="bar slot-1"' not in svg
    assert "no AI score" in text_of(page)


def test_chart_geometry_groups_bars_and_marks_not_assessed() -> None:
    from server.pages.compare import SCALE, X0, dimension_chart

    data = {"candidates": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
            "dimensions": [{"id": 1, "name": "Planning", "scores": [{"score": 50.0}, {"score": None}, {"score": 0.0}]},
                           {"id": 2, "name": "Safety", "scores": [{"score": 100.0}, {"score": 20.0}, {"score": 75.5}]}]}
    chart = dimension_chart(data)
    assert [g.name for g in chart.groups] == ["Planning", "Safety"]
    first, second = chart.groups
    assert [b.width for b in first.bars] == [SCALE * 50, None, 1.0]  # 0 still shows a sliver
    assert first.bars[1].label == "not assessed"
    assert [b.slot for b in second.bars] == [0, 1, 2] and second.bars[0].width == SCALE * 100
    assert second.y > first.bars[-1].y + 14  # groups do not overlap
    assert chart.ticks[0] == (0, X0) and chart.ticks[-1] == (100, X0 + SCALE * 100)
    assert "B not assessed" in chart.title
