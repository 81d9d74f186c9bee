"""The API of resume files, structured candidate fields and the batch import:

- `POST /api/candidates/{id}/resume`: a PDF, DOCX or plain-text file (multipart field `file`, or
  the raw body); its text becomes the candidate's resume_text, the fields the rules find
  (server/resume_fields.py) replace the stored ones, the original is kept sealed.
- `GET /api/candidates/{id}/resume`: the original file, as uploaded.
- `PATCH /api/candidates/{id}`: HR's corrections of the structured fields and the time zone.
- `POST /api/candidates/import`: candidates from CSV or XLSX, all rows or none.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from aiohttp import web
from pydantic import AfterValidator, Field
from sqlmodel import Session

from server import audit
from server.api import router
from server.api_router import Call
from server.candidate_import import MAX_IMPORT_BYTES, RAW_TYPES, import_candidates, read_rows
from server.candidates import candidate_out, get_candidate
from server.errors import NotFound
from server.resume_fields import MAX_TITLE, MAX_YEARS, ResumeFields, extract_fields
from server.resumes import (
    MAX_RESUME_BYTES, clean_filename, content_disposition, document_executor, load_resume, read_resume, read_upload,
    store_resume,
)
from server.schemas import Body, _time_zone
from server.tables import Candidate
from server.web import settings_key, store_key

Level = Literal["none", "high_school", "associate", "bachelor", "master", "doctorate"]


class CandidateFieldsIn(Body):
    """Only the fields sent change; null clears a field to unknown."""

    education_level: Optional[Level] = None
    years_experience: Optional[float] = Field(default=None, ge=0, le=MAX_YEARS)
    current_title: Optional[str] = Field(default=None, max_length=MAX_TITLE)
    time_zone: Optional[Annotated[str, AfterValidator(_time_zone)]] = Field(
        default=None, max_length=64, description="IANA time zone; empty or null: the server's default")


def apply_fields(candidate: Candidate, body: CandidateFieldsIn) -> list[str]:
    """Sets the fields `body` names; returns their names."""
    changed = sorted(body.model_fields_set)
    if "education_level" in changed:
        candidate.education_level = body.education_level or ""
    if "years_experience" in changed:
        candidate.years_experience = body.years_experience
    if "current_title" in changed:
        candidate.current_title = (body.current_title or "").replace("\x00", "").strip()
    if "time_zone" in changed:
        candidate.time_zone = body.time_zone or ""
    return changed


def update_fields(db: Session, user_id: int, candidate_id: int, body: CandidateFieldsIn) -> Candidate:
    candidate = get_candidate(db, candidate_id)
    changed = apply_fields(candidate, body)
    db.add(candidate)
    audit.record(db, "hr", user_id, "candidate.update", "candidate", candidate_id, fields=changed)
    return candidate


def take_fields(candidate: Candidate, found: ResumeFields) -> None:
    """What the rules found replaces the stored value; what they did not find stays."""
    if found.education_level is not None:
        candidate.education_level = found.education_level
    if found.years_experience is not None:
        candidate.years_experience = found.years_experience
    if found.current_title is not None:
        candidate.current_title = found.current_title


async def save_resume(app: web.Application, user_id: int, candidate_id: int, data: bytes,
                      filename: str) -> dict[str, Any]:
    """Reads, stores and applies one uploaded resume file (404 before anything is read when
    the candidate does not exist)."""
    store = app[store_key]
    data_dir = Path(app[settings_key].data_dir)
    await store.run(lambda db: get_candidate(db, candidate_id))
    resume = await asyncio.get_running_loop().run_in_executor(document_executor, read_resume, data)
    name = clean_filename(filename, resume.kind)
    found = extract_fields(resume.text)

    def work(db: Session) -> None:
        candidate = get_candidate(db, candidate_id)
        # Sealed inside the transaction: a failure to write leaves the row as it was.
        store_resume(data_dir, candidate_id, name, resume.kind, data)
        candidate.resume_text = resume.text
        take_fields(candidate, found)
        db.add(candidate)
        audit.record(db, "hr", user_id, "candidate.resume", "candidate", candidate_id,
                     kind=resume.kind, bytes=len(data))

    await store.run(work)
    return {"candidate_id": candidate_id, "filename": name, "bytes": len(data), "text_chars": len(resume.text),
            "kind": resume.kind, "fields": found.as_dict()}


@router.route("POST", "/api/candidates/{candidate_id}/resume",
              summary=f"Upload a resume file (PDF, DOCX or UTF-8 text, at most {MAX_RESUME_BYTES // 2**20} MB; "
                      "multipart field 'file' or the raw body); its text and fields replace the stored ones",
              errors=(400, 404, 413, 415, 422), tag="candidates",
              response={"type": "object", "properties": {
                  "candidate_id": {"type": "integer"}, "filename": {"type": "string"},
                  "bytes": {"type": "integer"}, "text_chars": {"type": "integer"}, "kind": {"type": "string"},
                  "fields": {"type": "object"}}})
async def post_resume(call: Call) -> dict[str, Any]:
    cid = call.int_param("candidate_id")
    upload = await read_upload(call.request)
    return await save_resume(call.request.app, call.who.id, cid, upload.data, upload.filename)


@router.route("GET", "/api/candidates/{candidate_id}/resume", summary="Download the resume file as uploaded",
              errors=(404,), tag="candidates", content_type="application/octet-stream")
async def get_resume(call: Call) -> web.Response:
    cid = call.int_param("candidate_id")
    app = call.request.app
    data_dir = Path(app[settings_key].data_dir)
    await app[store_key].run(lambda db: get_candidate(db, cid))
    stored = await asyncio.get_running_loop().run_in_executor(document_executor, load_resume, data_dir, cid)
    if stored is None:
        raise NotFound(f"candidate {cid} has no resume file")
    await app[store_key].run(lambda db: audit.record(db, "hr", call.who.id, "candidate.resume_download",
                                                     "candidate", cid))
    return web.Response(body=stored.data, content_type=stored.media_type,
                        headers={"Content-Disposition": content_disposition(stored.filename),
                                 "Cache-Control": "no-store"})


@router.route("PATCH", "/api/candidates/{candidate_id}",
              summary="Correct a candidate's education level, years of experience, current title or time zone",
              body=CandidateFieldsIn, errors=(404,), tag="candidates")
async def patch_candidate(call: Call) -> dict[str, Any]:
    cid = call.int_param("candidate_id")
    body: CandidateFieldsIn = call.body
    return await call.request.app[store_key].run(
        lambda db: candidate_out(update_fields(db, call.who.id, cid, body), with_resume=True))


@router.route("POST", "/api/candidates/import",
              summary="Import candidates from CSV or XLSX (all rows or none; 422 names every bad row)",
              errors=(400, 413, 415, 422), tag="candidates",
              response={"type": "object", "properties": {"imported": {"type": "integer"}}})
async def post_import(call: Call) -> dict[str, Any]:
    upload = await read_upload(call.request, MAX_IMPORT_BYTES, raw_types=RAW_TYPES, what="CSV or XLSX file")
    rows = await asyncio.get_running_loop().run_in_executor(document_executor, read_rows, upload.data)
    count = await call.request.app[store_key].run(lambda db: import_candidates(db, rows, call.who.id))
    return {"imported": count}
