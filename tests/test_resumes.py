"""Resume files: real PDF (fpdf2, Korean text with NanumGothic) and DOCX (python-docx) files
uploaded through the API and the candidate page, their text searchable, the structured fields
read from them and editable, the original stored encrypted and downloaded identical, and every
kind of bad file refused with a clear status and message."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import aiohttp
from docx import Document
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter
from sqlmodel import select

from server import auth
from server.app import create_app
from server.erasure import RESUMES_DIR
from server.resume_fields import extract_fields
from server.resumes import MAX_RESUME_BYTES
from server.settings import Settings
from server.tables import AuditLog
from server.web import store_key
from tests.conftest import Api
from tests.test_pages_hr import HR_EMAIL, PASSWORD, log_in, text_of

NANUM = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")
PDF_TYPE = "application/pdf"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def make_pdf(lines: list[str], korean: bool = False) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    if korean:
        pdf.add_font("Nanum", fname=str(NANUM))
        pdf.set_font("Nanum", size=12)
    else:
        pdf.set_font("Helvetica", size=12)
    for line in lines:
        pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def make_docx(lines: list[str]) -> bytes:
    document = Document()
    for line in lines:
        document.add_paragraph(line)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Skills"
    table.rows[0].cells[1].text = "scaffolding inspection"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def encrypt_pdf(data: bytes, password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password="owner-" + password, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def new_candidate(hr: Api, email: str, name: str = "Kim Minsu") -> int:
    _, body = await hr.call("POST", "/api/candidates", json={"name": name, "email": email}, expect=201)
    return int(body["id"])


async def upload(hr: Api, cid: int, data: bytes, content_type: str = PDF_TYPE,
                 filename: str | None = None) -> tuple[int, Any]:
    if filename is not None:  # multipart, the way a browser form sends it
        form = aiohttp.FormData()
        form.add_field("file", data, filename=filename, content_type=content_type)
        resp = await hr.client.post(f"/api/candidates/{cid}/resume", data=form, headers=hr.headers)
    else:
        resp = await hr.client.post(f"/api/candidates/{cid}/resume", data=data,
                                    headers={**hr.headers, "Content-Type": content_type})
    return resp.status, await resp.json()


async def search(hr: Api, query: str) -> list[int]:
    _, body = await hr.call("GET", f"/api/candidates?{query}", expect=200)
    return [c["id"] for c in body["candidates"]]


def files_under(data_dir: Path, cid: int) -> list[Path]:
    return [p for p in (data_dir / RESUMES_DIR / str(cid)).rglob("*") if p.is_file()]


async def test_english_pdf_uploads_is_searchable_encrypted_and_downloads_identical(
        hr: Api, settings: Any, store: Any) -> None:
    cid = await new_candidate(hr, "kim@example.com")
    other = await new_candidate(hr, "lee@example.com", "Lee")
    pdf = make_pdf(["Kim Minsu", "Current title: Site engineer", "MSc Civil Engineering, 2016",
                    "8 years of experience in tunnelling and formwork"])
    status, body = await upload(hr, cid, pdf, filename="Kim CV.pdf")
    assert status == 200, body
    assert body["candidate_id"] == cid and body["filename"] == "Kim CV.pdf" and body["bytes"] == len(pdf)
    assert body["kind"] == "pdf" and body["text_chars"] > 40
    assert body["fields"] == {"education_level": "master", "years_experience": 8.0,
                              "current_title": "Site engineer"}

    # The text from the file is the resume text: keyword search finds it, only it.
    assert await search(hr, "q=tunnelling") == [cid]
    assert await search(hr, "q=formwork+tunnelling") == [cid]
    assert other not in await search(hr, "q=tunnelling")
    _, one = await hr.call("GET", f"/api/candidates/{cid}", expect=200)
    assert "tunnelling" in one["resume_text"]
    assert one["education_level"] == "master" and one["years_experience"] == 8.0
    assert one["current_title"] == "Site engineer"

    # On disk: sealed, neither the PDF nor its words in clear.
    stored = files_under(settings.data_dir, cid)
    assert stored, "nothing stored under resumes/<id>/"
    for path in stored:
        raw = path.read_bytes()
        assert b"%PDF" not in raw and b"tunnelling" not in raw.lower() and b"Kim CV" not in raw
        assert raw.startswith(b"\x89CNDRv")

    resp = await hr.client.get(f"/api/candidates/{cid}/resume", headers=hr.headers)
    assert resp.status == 200
    assert await resp.read() == pdf
    assert resp.content_type == PDF_TYPE
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert "Kim%20CV.pdf" in resp.headers["Content-Disposition"]

    # The audit log has ids only: no file name, no resume word, no email.
    rows = store.run_sync(lambda db: list(db.exec(select(AuditLog).where(
        AuditLog.target_kind == "candidate", AuditLog.target_id == cid))))
    actions = {r.action for r in rows}
    assert {"candidate.resume", "candidate.resume_download"} <= actions
    for r in rows:
        text = str(r.detail)
        assert "Kim" not in text and "tunnelling" not in text and "@" not in text


async def test_korean_pdf_fields_and_search(hr: Api) -> None:
    cid = await new_candidate(hr, "park@example.com", "박지성")
    pdf = make_pdf(["박지성 이력서", "직위: 현장 소장", "학력: 서울대학교 토목공학 석사", "경력 12년 (2013년부터)",
                    "전문 분야: 터널 굴착"], korean=True)
    status, body = await upload(hr, cid, pdf)
    assert status == 200, body
    assert body["fields"] == {"education_level": "master", "years_experience": 12.0, "current_title": "현장 소장"}
    assert await search(hr, "q=터널") == [cid]


async def test_docx_uploads_with_table_text_and_raw_body(hr: Api, settings: Any) -> None:
    cid = await new_candidate(hr, "wang@example.com", "Wang Fang")
    docx = make_docx(["王芳", "职位：项目经理", "北京大学 本科", "10年工作经验", "Bachelor of Engineering"])
    status, body = await upload(hr, cid, docx, DOCX_TYPE)
    assert status == 200, body
    assert body["kind"] == "docx" and body["filename"] == "resume.docx"
    assert body["fields"] == {"education_level": "bachelor", "years_experience": 10.0, "current_title": "项目经理"}
    assert await search(hr, "q=scaffolding") == [cid]  # a word from the DOCX's table
    for path in files_under(settings.data_dir, cid):
        assert b"word/document.xml" not in path.read_bytes()
    resp = await hr.client.get(f"/api/candidates/{cid}/resume", headers=hr.headers)
    assert await resp.read() == docx and resp.content_type == DOCX_TYPE


async def test_plain_text_upload_and_type_by_content_not_name(hr: Api) -> None:
    cid = await new_candidate(hr, "text@example.com")
    text = "High school diploma\n3 yrs warehouse logistics\n".encode()
    # Declared as a PDF, named .pdf: the content says text, and text it is.
    status, body = await upload(hr, cid, text, PDF_TYPE, filename="cv.pdf")
    assert status == 200, body
    assert body["kind"] == "text"
    assert body["fields"]["education_level"] == "high_school" and body["fields"]["years_experience"] == 3.0
    # A real PDF sent as text/plain is still read as a PDF.
    status, body = await upload(hr, cid, make_pdf(["Doctorate in chemistry"]), "text/plain")
    assert status == 200 and body["kind"] == "pdf" and body["fields"]["education_level"] == "doctorate"


async def test_bad_files_are_refused_with_clear_messages(hr: Api) -> None:
    cid = await new_candidate(hr, "bad@example.com")
    good = make_pdf(["Bachelor of Arts", "5 years sales"])
    status, _ = await upload(hr, cid, good)
    assert status == 200

    cases: list[tuple[bytes, str, int, str]] = [
        (good[: len(good) // 3], PDF_TYPE, 422, "PDF cannot be read"),  # cut short
        (b"%PDF-1.7\n" + bytes(range(256)) * 20, PDF_TYPE, 422, "PDF cannot be read"),  # garbage after the magic
        (encrypt_pdf(good, "secret"), PDF_TYPE, 422, "password-protected"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(2000), PDF_TYPE, 422, "image"),  # a JPEG renamed .pdf
        (b"PK\x03\x04" + bytes(300), DOCX_TYPE, 422, "DOCX cannot be read"),  # a corrupt DOCX
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), DOCX_TYPE, 422, "password-protected Office"),
        (bytes(range(256)) * 8, "text/plain", 422, "not a PDF, a DOCX or UTF-8 text"),
        (b"", PDF_TYPE, 422, "empty"),
        (make_pdf([]), PDF_TYPE, 422, "no text"),  # a PDF with no text layer (a scan)
    ]
    for data, content_type, expected, words in cases:
        status, body = await upload(hr, cid, data, content_type, filename="cv.pdf")
        assert status == expected, (words, status, body)
        assert words in body["error"], (words, body)

    # Over the limit: 413 whether the client declares the length or streams it.
    big = b"a" * (MAX_RESUME_BYTES + 1)
    status, body = await upload(hr, cid, big, "text/plain")
    assert status == 413 and "5 MB" in body["error"]
    status, body = await upload(hr, cid, big, "text/plain", filename="big.txt")
    assert status == 413 and "5 MB" in body["error"]

    # A form without the file field, a content type that is no document.
    status, body = await upload(hr, cid, b"x", "image/jpeg")
    assert status == 415 and "multipart/form-data" in body["error"]

    # None of the refused uploads replaced the good one.
    _, one = await hr.call("GET", f"/api/candidates/{cid}", expect=200)
    assert "5 years sales" in one["resume_text"]
    resp = await hr.client.get(f"/api/candidates/{cid}/resume", headers=hr.headers)
    assert await resp.read() == good


async def test_missing_candidate_and_missing_file(hr: Api, client: Any) -> None:
    status, body = await upload(hr, 999, make_pdf(["x"]))
    assert status == 404
    cid = await new_candidate(hr, "none@example.com")
    status, body = await hr.call("GET", f"/api/candidates/{cid}/resume")
    assert status == 404 and "no resume file" in body["error"]
    resp = await client.get(f"/api/candidates/{cid}/resume")
    assert resp.status == 401


async def test_patch_fields_and_pool_filters(hr: Api) -> None:
    a = await new_candidate(hr, "a@example.com", "A")
    b = await new_candidate(hr, "b@example.com", "B")
    c = await new_candidate(hr, "c@example.com", "C")
    await hr.call("PATCH", f"/api/candidates/{a}", json={"education_level": "doctorate", "years_experience": 12,
                                                         "current_title": "Chief Engineer"}, expect=200)
    await hr.call("PATCH", f"/api/candidates/{b}", json={"education_level": "bachelor", "years_experience": 2.5,
                                                         "current_title": "Junior engineer"}, expect=200)
    _, body = await hr.call("PATCH", f"/api/candidates/{c}", json={"time_zone": "Asia/Seoul"}, expect=200)
    assert body["time_zone"] == "Asia/Seoul" and body["education_level"] is None

    assert sorted(await search(hr, "education_min=bachelor")) == [a, b]
    assert await search(hr, "education_min=master") == [a]
    assert await search(hr, "experience_min=3") == [a]
    assert sorted(await search(hr, "experience_min=2.5")) == [a, b]
    assert sorted(await search(hr, "title=ENGINEER")) == [a, b]
    assert await search(hr, "title=junior&education_min=bachelor") == [b]
    assert await search(hr, "title=junior&education_min=master") == []

    # Only the sent fields change; null clears to unknown.
    _, body = await hr.call("PATCH", f"/api/candidates/{a}", json={"years_experience": None}, expect=200)
    assert body["years_experience"] is None and body["education_level"] == "doctorate"

    for bad in ({"education_level": "phd"}, {"years_experience": -1}, {"years_experience": 500},
                {"time_zone": "Mars/Olympus"}, {"current_title": "x" * 201}):
        status, err = await hr.call("PATCH", f"/api/candidates/{a}", json=bad)
        assert status == 422, (bad, err)
    status, err = await hr.call("PATCH", f"/api/candidates/{a}", json={"name": "New name"})
    assert status == 400  # not a field this route changes
    status, err = await hr.call("GET", "/api/candidates?education_min=phd")
    assert status == 422 and "education_min" in err["error"]
    status, err = await hr.call("GET", "/api/candidates?experience_min=lots")
    assert status == 400


def test_extraction_rules() -> None:
    f = extract_fields("Bachelor of Science\n2019 - 2024: 5 years\nPosition: QA lead")
    assert (f.education_level, f.years_experience, f.current_title) == ("bachelor", 5.0, "QA lead")
    # A year is not experience; a highest degree wins; "mastered" is no degree.
    f = extract_fields("2019년 입사\n2020年\nmastered welding")
    assert (f.education_level, f.years_experience, f.current_title) == (None, None, None)
    assert extract_fields("전문학사").education_level == "associate"
    assert extract_fields("博士 and 本科").education_level == "doctorate"
    assert extract_fields("高中").education_level == "high_school"


async def test_page_upload_shows_file_and_fields(aiohttp_client: Any, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, load_models=False))
    client = await aiohttp_client(app)
    app[store_key].run_sync(lambda db: auth.create_user(db, HR_EMAIL, PASSWORD, "hr"))
    csrf = await log_in(client)
    path = "/candidates/1/resume"
    resp = await client.post("/candidates", data={"csrf_token": csrf, "name": "Choi", "email": "choi@example.com",
                                                  "resume_text": "", "time_zone": ""}, allow_redirects=False)
    assert resp.status == 303
    page = await (await client.get("/candidates/1")).text()
    assert 'enctype="multipart/form-data"' in page and 'name="file"' in page

    pdf = make_pdf(["Choi resume", "PhD robotics", "6 years", "Title: Researcher"])
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("file", pdf, filename="choi.pdf", content_type=PDF_TYPE)
    resp = await client.post(path, data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    page = text_of(await (await client.get(resp.headers["Location"])).text())
    assert "Resume file saved" in page and "choi.pdf" in page and "robotics" in page
    assert "Doctorate" in page and "6 years" in page and "Researcher" in page
    resp = await client.get("/candidates/1/resume")
    assert resp.status == 200 and await resp.read() == pdf

    # Without the CSRF token: refused, nothing replaced.
    form = aiohttp.FormData()
    form.add_field("file", b"High school only", filename="x.txt", content_type="text/plain")
    resp = await client.post(path, data=form, allow_redirects=False)
    assert resp.status == 403
    # A bad file: the page again with the reason.
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("file", b"\xff\xd8\xff\xe0" + bytes(100), filename="photo.pdf", content_type=PDF_TYPE)
    resp = await client.post(path, data=form, allow_redirects=False)
    assert resp.status == 422
    assert "The file was not saved: the file is an image" in text_of(await resp.text())
    resp = await client.get("/candidates/1/resume")
    assert await resp.read() == pdf

    # HR corrects the fields on the page; the pool page filters on them.
    resp = await client.post("/candidates/1/fields", data={
        "csrf_token": csrf, "education_level": "master", "years_experience": "7", "current_title": "Lead researcher",
        "time_zone": "Asia/Seoul"}, allow_redirects=False)
    assert resp.status == 303
    resp = await client.post("/candidates/1/fields", data={
        "csrf_token": csrf, "education_level": "guru", "years_experience": "x", "current_title": "",
        "time_zone": ""}, allow_redirects=False)
    assert resp.status == 422
    page = text_of(await (await client.get("/candidates?education_min=master&experience_min=7")).text())
    assert "Choi" in page and "Lead researcher" in page
    page = text_of(await (await client.get("/candidates?education_min=doctorate")).text())
    assert "choi@example.com" not in page and "No candidate matches these filters" in page


async def test_erasing_the_candidate_removes_the_resume_file(hr: Api, settings: Any) -> None:
    cid = await new_candidate(hr, "gone@example.com")
    status, _ = await upload(hr, cid, make_pdf(["Associate degree", "4 years"]))
    assert status == 200 and files_under(settings.data_dir, cid)
    status, body = await hr.call("POST", f"/api/candidates/{cid}/erase", json={"reason": "request", "confirm": True})
    assert status == 200, body
    assert not (settings.data_dir / RESUMES_DIR / str(cid)).exists()
    status, _ = await hr.call("GET", f"/api/candidates/{cid}/resume")
    assert status == 404


async def test_a_sealed_file_copied_to_another_candidate_does_not_open(hr: Api, settings: Any) -> None:
    a = await new_candidate(hr, "a1@example.com")
    b = await new_candidate(hr, "b1@example.com")
    assert (await upload(hr, a, make_pdf(["Secret project Nimbus"])))[0] == 200
    assert (await upload(hr, b, b"plain resume of b"))[0] == 200
    (source,) = files_under(settings.data_dir, a)
    (target,) = files_under(settings.data_dir, b)
    target.write_bytes(source.read_bytes())
    resp = await hr.client.get(f"/api/candidates/{b}/resume", headers=hr.headers)
    assert resp.status == 500
    body = await resp.json()
    assert "cannot be opened" in body["error"] and "Nimbus" not in str(body)


async def test_add_form_takes_a_resume_file(aiohttp_client: Any, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, load_models=False))
    client = await aiohttp_client(app)
    app[store_key].run_sync(lambda db: auth.create_user(db, HR_EMAIL, PASSWORD, "hr"))
    csrf = await log_in(client)
    page = await (await client.get("/candidates")).text()
    assert 'name="resume_file" type="file"' in page

    def add_form(email: str, data: bytes, filename: str) -> aiohttp.FormData:
        form = aiohttp.FormData()
        for name, value in (("csrf_token", csrf), ("name", "Jung"), ("email", email), ("resume_text", "pasted"),
                            ("time_zone", "")):
            form.add_field(name, value)
        form.add_field("resume_file", data, filename=filename, content_type="application/octet-stream")
        return form

    # A corrupt DOCX: the form again with the reason, and nobody added.
    resp = await client.post("/candidates", data=add_form("jung@example.com", b"PK\x03\x04" + bytes(64), "cv.docx"),
                             allow_redirects=False)
    assert resp.status == 422
    assert "Resume file: the DOCX cannot be read" in text_of(await resp.text())
    assert "jung@example.com" not in text_of(await (await client.get("/candidates")).text())

    docx = make_docx(["Jung Hoon", "Title: Safety manager", "고등학교 졸업", "15 years on site"])
    resp = await client.post("/candidates", data=add_form("jung@example.com", docx, "jung.docx"),
                             allow_redirects=False)
    assert resp.status == 303, await resp.text()
    page = text_of(await (await client.get("/candidates?title=safety&education_min=high_school")).text())
    assert "jung@example.com" in page and "Safety manager" in page
    resp = await client.get("/candidates/1/resume")
    assert resp.status == 200 and await resp.read() == docx
    assert "pasted" not in text_of(await (await client.get("/candidates/1")).text())
