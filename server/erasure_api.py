"""The erasure API: erase one candidate on request, and the deletion certificates.

Who may erase: an admin, or the HR user who added the candidate to the pool (the pool is shared;
other HR users are refused with 403). Refused with 409 while one of the candidate's interviews
is in progress."""
from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field
from sqlmodel import Session

from server import erasure
from server.api import router
from server.api_router import Call, QueryParam
from server.auth import Principal
from server.errors import Forbidden, Invalid, NotFound
from server.schemas import Body
from server.sessions import sessions_key
from server.tables import Candidate, DeletionCertificate
from server.web import settings_key, store_key


class EraseIn(Body):
    reason: Literal["request"] = Field(default="request", description="why: the candidate asked (a retention "
                                       "purge erases by itself, with reason `retention`)")
    confirm: bool = Field(description="must be true: erasure cannot be undone")


class EmailIn(Body):
    email: str = Field(min_length=3, max_length=320)


def may_erase(who: Principal, candidate: Candidate) -> bool:
    return who.is_admin or candidate.created_by == who.id


async def erase_for(request: web.Request, who: Principal, candidate_id: int) -> DeletionCertificate:
    """Erase the candidate on `who`'s request (404 unknown, 403 not theirs, 409 in an interview)."""
    app = request.app
    data_dir = app[settings_key].data_dir

    def work(db: Session) -> tuple[DeletionCertificate, list[Any]]:
        candidate = db.get(Candidate, candidate_id)
        if candidate is None:
            raise NotFound(f"candidate {candidate_id} not found")
        if not may_erase(who, candidate):
            raise Forbidden("only an admin or the HR user who added this candidate may erase them")
        return erasure.erase_candidate_sync(db, candidate_id, data_dir, "request", erasure.Actor("hr", who.id))

    store = app[store_key]
    cert, directories = await store.run(work)
    await erasure.finish_erasure(store, app[sessions_key], cert, directories)
    return cert


@router.route("POST", "/api/candidates/{candidate_id}/erase",
              summary="Erase a candidate and everything about them (recordings, transcripts, signals, scores, "
                      "reports, clips, notes, decisions, mail, webhook deliveries); returns the deletion certificate",
              body=EraseIn, errors=(403, 404, 409, 422), tag="compliance")
async def post_erase(call: Call) -> dict[str, Any]:
    body: EraseIn = call.body
    if body.confirm is not True:
        raise Invalid("confirm must be true: erasure cannot be undone")
    cert = await erase_for(call.request, call.who, call.int_param("candidate_id"))
    return {"certificate": erasure.certificate_out(cert)}


@router.route("DELETE", "/api/candidates/{candidate_id}", summary="The same as POST .../erase (reason: request)",
              errors=(403, 404, 409), tag="compliance")
async def delete_candidate(call: Call) -> dict[str, Any]:
    cert = await erase_for(call.request, call.who, call.int_param("candidate_id"))
    return {"certificate": erasure.certificate_out(cert)}


@router.route("GET", "/api/candidates/{candidate_id}/erase",
              summary="What erasing the candidate would remove: rows per table, files, bytes, interviews in progress",
              errors=(404,), tag="compliance")
async def get_erase_preview(call: Call) -> dict[str, Any]:
    cid = call.int_param("candidate_id")
    data_dir = call.request.app[settings_key].data_dir
    return await call.request.app[store_key].run(lambda db: erasure.preview(db, cid, data_dir))


@router.route("GET", "/api/erasures", summary="Deletion certificates, newest first",
              query=(QueryParam("limit", "at most this many (default 100, max 500)"),
                     QueryParam("offset", "skip this many")), tag="compliance")
async def get_erasures(call: Call) -> dict[str, Any]:
    limit = _bounded(call.request.query.get("limit"), 100, 500)
    offset = _bounded(call.request.query.get("offset"), 0, 10**9)

    def work(db: Session) -> dict[str, Any]:
        total, rows = erasure.list_certificates(db, limit, offset)
        return {"total": total, "certificates": [erasure.certificate_out(c) for c in rows]}

    return await call.request.app[store_key].run(work)


@router.route("GET", "/api/erasures/{certificate_id}",
              summary="One deletion certificate: `digest` is the sha256 of `canonical` (`verified`: it still is)",
              errors=(404,), tag="compliance")
async def get_erasure(call: Call) -> dict[str, Any]:
    cert_id = call.int_param("certificate_id")
    return await call.request.app[store_key].run(
        lambda db: erasure.certificate_out(erasure.get_certificate(db, cert_id)))


@router.route("POST", "/api/erasures/lookup", summary="Certificates of erasures of the candidate with this email "
              "(matched against each certificate's salted hash; the email is not stored)",
              body=EmailIn, tag="compliance")
async def lookup_erasures(call: Call) -> dict[str, Any]:
    email: str = call.body.email
    return await call.request.app[store_key].run(
        lambda db: {"certificates": [erasure.certificate_out(c) for c in erasure.certificates_for_email(db, email)]})


def _bounded(raw: str | None, default: int, maximum: int) -> int:
    if raw in (None, ""):
        return default
    if not raw.isascii() or not raw.isdigit():
        raise Invalid("limit and offset must be whole numbers >= 0")
    return min(int(raw), maximum)
