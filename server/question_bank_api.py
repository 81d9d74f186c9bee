"""The HR API of the question bank (server/question_bank.py): suggestions by job family, and HR's
own questions saved to the bank."""
from __future__ import annotations

from typing import Any

from sqlmodel import Session

from server import question_bank
from server.api import router
from server.api_router import Call, QueryParam
from server.jobs import dimensions_of, get_job
from server.schemas import BankQuestionIn, Created
from server.store import stored_id
from server.web import store_key

SUGGESTIONS_SHAPE = {"type": "object", "properties": {
    "family": {"type": ["string", "null"]}, "language": {"type": "string"},
    "families": {"type": "array", "description": "every job family: id, name in the language"},
    "questions": {"type": "array", "description": "id, family, source (builtin|hr), language, kind "
                                                 "(structured|situational|follow_up), text, scenario, time_limit_s, "
                                                 "dimensions (typical names); with job_id also dimension_ids (the "
                                                 "job's dimensions of those names) and unmatched"}}}


@router.route("GET", "/api/question-bank",
              summary="Suggested questions by job family (system recommendation by job type), matched to a job's "
                      "dimensions by name when job_id is given",
              query=(QueryParam("family", "engineering, sales, customer_service, manufacturing_safety or "
                                          "management (default: every family)"),
                     QueryParam("language", "en, ko or zh (zh-CN etc. accepted; default: the job's language, "
                                            "else en)"),
                     QueryParam("job_id", "match the suggestions' dimension names to this job's dimensions",
                                "integer")),
              response=SUGGESTIONS_SHAPE, errors=(404, 422), tag="templates")
async def get_question_bank(call: Call) -> dict[str, Any]:
    family = (call.request.query.get("family") or "").strip() or None
    language = (call.request.query.get("language") or "").strip()
    job_id = call.query_int("job_id")

    def work(db: Session) -> dict[str, Any]:
        dims = None
        lang = language or "en"
        if job_id is not None:
            job = get_job(db, call.who, job_id)
            dims = {stored_id(d): d.name for d in dimensions_of(db, stored_id(job))}
            lang = language or job.language or "en"
        return question_bank.suggestions(db, family, lang, dims)

    result: dict[str, Any] = await call.request.app[store_key].run(work)
    return result


@router.route("POST", "/api/question-bank", summary="Save one of HR's own questions to the question bank (audited)",
              body=BankQuestionIn, response=Created, status=201, errors=(422,), tag="templates")
async def post_question_bank(call: Call) -> Created:
    def work(db: Session) -> Created:
        return Created(id=stored_id(question_bank.save(db, call.who, call.body)))

    result: Created = await call.request.app[store_key].run(work)
    return result
