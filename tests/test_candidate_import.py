"""Batch import of candidates from CSV and XLSX (openpyxl writes a real workbook): all rows or
none, every bad row named with its spreadsheet row number, structured fields from the columns
or else read from the resume text, and the form on the /candidates page."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import aiohttp
from openpyxl import Workbook
from sqlmodel import func, select

from server import auth
from server.app import create_app
from server.candidate_import import XLSX_TYPE
from server.settings import Settings
from server.tables import AuditLog, Candidate
from server.web import store_key
from tests.conftest import Api
from tests.test_pages_hr import HR_EMAIL, PASSWORD, log_in, text_of

CSV = (
    "name,email,resume_text,time_zone,education_level,years_experience,current_title,notes\n"
    "Kim Minsu,kim@example.com,Tunnel works; MSc; 9 years,Asia/Seoul,,,,ignored\n"
    "\"Lee, Jiwoo\",LEE@example.com,,,bachelor,3.5,Site engineer,\n"
    "王芳,wang@example.com,北京大学 本科 6年工作经验,,,,,\n"
)


async def post_import(hr: Api, data: bytes, content_type: str) -> tuple[int, Any]:
    resp = await hr.client.post("/api/candidates/import", data=data,
                                headers={**hr.headers, "Content-Type": content_type})
    return resp.status, await resp.json()


def count(store: Any) -> int:
    return int(store.run_sync(lambda db: db.exec(select(func.count()).select_from(Candidate)).one()))


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_csv_import_with_fields_from_columns_or_resume(hr: Api, store: Any) -> None:
    status, body = await post_import(hr, CSV.encode(), "text/csv")
    assert status == 200, body
    assert body == {"imported": 3}
    _, pool = await hr.call("GET", "/api/candidates", expect=200)
    by_email = {c["email"]: c for c in pool["candidates"]}
    assert set(by_email) == {"kim@example.com", "lee@example.com", "wang@example.com"}
    kim, lee, wang = by_email["kim@example.com"], by_email["lee@example.com"], by_email["wang@example.com"]
    # Empty columns: read from the resume text.
    assert (kim["education_level"], kim["years_experience"], kim["time_zone"]) == ("master", 9.0, "Asia/Seoul")
    assert (wang["education_level"], wang["years_experience"]) == ("bachelor", 6.0)
    # Given columns win.
    assert (lee["name"], lee["education_level"], lee["years_experience"], lee["current_title"]) == (
        "Lee, Jiwoo", "bachelor", 3.5, "Site engineer")
    _, found = await hr.call("GET", "/api/candidates?q=tunnel", expect=200)
    assert [c["email"] for c in found["candidates"]] == ["kim@example.com"]
    _, found = await hr.call("GET", "/api/candidates?education_min=master", expect=200)
    assert [c["email"] for c in found["candidates"]] == ["kim@example.com"]
    _, found = await hr.call("GET", "/api/candidates?experience_min=4&education_min=bachelor", expect=200)
    assert sorted(c["email"] for c in found["candidates"]) == ["kim@example.com", "wang@example.com"]

    audits = store.run_sync(lambda db: list(db.exec(select(AuditLog).where(AuditLog.action == "candidate.import"))))
    assert len(audits) == 3 and all("@" not in str(a.detail) for a in audits)

    # The same file again: every row is already in the pool, nothing imported twice.
    status, body = await post_import(hr, CSV.encode(), "text/csv")
    assert status == 422 and [r["row"] for r in body["rows"]] == [2, 3, 4]
    assert "already in the pool" in body["rows"][0]["error"]
    assert count(store) == 3


async def test_one_bad_row_imports_nothing_and_names_every_bad_row(hr: Api, store: Any) -> None:
    await hr.call("POST", "/api/candidates", json={"name": "Old", "email": "old@example.com"}, expect=201)
    csv_text = (
        "email,name,years_experience,education_level\n"
        "a@example.com,A,1,\n"  # row 2: good
        "not-an-email,B,,\n"  # row 3
        "c@example.com,C,lots,\n"  # row 4
        "A@example.com,A again,,\n"  # row 5: the same email as row 2
        "old@example.com,Old,,\n"  # row 6: already in the pool
        "d@example.com,D,,phd\n"  # row 7
        "e@example.com,,,\n"  # row 8: no name
        "f@example.com,F,2,master\n"  # row 9: good
    )
    status, body = await post_import(hr, csv_text.encode(), "text/csv")
    assert status == 422, body
    rows = {r["row"]: r["error"] for r in body["rows"]}
    assert set(rows) == {3, 4, 5, 6, 7, 8}
    assert "email" in rows[3] and "number" in rows[4] and "row 2" in rows[5]
    assert "already in the pool" in rows[6] and "education_level" in rows[7] and "name" in rows[8]
    assert "nothing imported" in body["error"]
    assert count(store) == 1  # only the one added before


async def test_xlsx_import_and_bad_row(hr: Api, store: Any) -> None:
    good = xlsx([["name", "email", "years_experience", "current_title", "extra"],
                 ["Park", "park@example.com", 7, "Foreman", "x"],
                 [None, None, None, None, None],  # an empty row: skipped
                 ["Choi", "choi@example.com", 2.5, None, None]])
    status, body = await post_import(hr, good, XLSX_TYPE)
    assert status == 200 and body == {"imported": 2}, body
    _, found = await hr.call("GET", "/api/candidates?title=fore", expect=200)
    assert [(c["email"], c["years_experience"]) for c in found["candidates"]] == [("park@example.com", 7.0)]

    bad = xlsx([["name", "email"], ["Han", "han@example.com"], ["Yoon", "yoon@@example"]])
    status, body = await post_import(hr, bad, XLSX_TYPE)
    assert status == 422 and body["rows"] == [{"row": 3, "error": body["rows"][0]["error"]}]
    assert "email" in body["rows"][0]["error"]
    assert count(store) == 2


async def test_files_that_are_not_imports(hr: Api, store: Any) -> None:
    for data, content_type, expected, words in [
        (b"name,notes\nA,x\n", "text/csv", 422, "lacks email"),
        (b"name,email\n", "text/csv", 422, "no rows"),
        (b"\xff\xfe\x00bad", "text/csv", 400, "not UTF-8"),
        (b"PK\x03\x04" + bytes(200), XLSX_TYPE, 422, "XLSX cannot be read"),
        (xlsx([]), XLSX_TYPE, 400, "empty"),
        (b"{}", "application/json", 415, "CSV or XLSX"),
    ]:
        status, body = await post_import(hr, data, content_type)
        assert status == expected and words in body["error"], (words, status, body)
    assert count(store) == 0


async def test_import_form_on_the_pool_page(aiohttp_client: Any, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, load_models=False))
    client = await aiohttp_client(app)
    app[store_key].run_sync(lambda db: auth.create_user(db, HR_EMAIL, PASSWORD, "hr"))
    csrf = await log_in(client)
    page = await (await client.get("/candidates")).text()
    assert 'action="/candidates/import"' in page and 'enctype="multipart/form-data"' in page

    def form(data: bytes, name: str, token: str | None = csrf) -> aiohttp.FormData:
        f = aiohttp.FormData()
        if token is not None:
            f.add_field("csrf_token", token)
        f.add_field("file", data, filename=name, content_type="text/csv")
        return f

    bad = b"name,email\nGood,good@example.com\nBad,bad-email\n"
    resp = await client.post("/candidates/import", data=form(bad, "pool.csv"), allow_redirects=False)
    assert resp.status == 422
    text = text_of(await resp.text())
    assert "Nothing was imported" in text and "Row 3: email" in text
    assert "good@example.com" not in text.split("Import candidates")[0]  # not in the pool list

    resp = await client.post("/candidates/import", data=form(CSV.encode(), "pool.csv", None), allow_redirects=False)
    assert resp.status == 403

    resp = await client.post("/candidates/import", data=form(CSV.encode(), "pool.csv"), allow_redirects=False)
    assert resp.status == 303
    text = text_of(await (await client.get(resp.headers["Location"])).text())
    assert "Imported 3 candidates" in text and "kim@example.com" in text and "Site engineer" in text
