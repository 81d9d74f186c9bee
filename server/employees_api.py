"""The employee archive's API: employees per job, one employee with the recruitment record as it
was frozen at the hire, the key clips of that record, and records added one at a time
(performance review, training, outcome, departure). The rules are in server/employees.py."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Optional, TypeVar

import av
from aiohttp import web
from pydantic import Field
from sqlmodel import Session

from server import audit, clips, recording
from server.api import router
from server.api_router import Call, QueryParam
from server.employees import (
    MAX_COURSE, MAX_METRIC, add_outcome, add_performance, add_training, employee_detail, list_employees,
    parse_when, record_clip, set_departure,
)
from server.errors import Conflict, Invalid
from server.review import renderer_key
from server.schemas import Body
from server.web import base_url, settings_key, store_key

logger = logging.getLogger(__name__)
T = TypeVar("T")

EMPLOYEE_FIELDS = {"id": {"type": "integer"}, "candidate_id": {"type": "integer"}, "name": {"type": "string"},
                   "email": {"type": "string"}, "job_id": {"type": "integer"}, "job_title": {"type": "string"},
                   "hired_at": {"type": "string"}, "start_date": {"type": ["string", "null"]},
                   "left_at": {"type": ["string", "null"]}, "left_voluntary": {"type": ["boolean", "null"]},
                   "source": {"type": "string", "description": "interview | history"},
                   "interview_id": {"type": ["integer", "null"]},
                   "mean_rating": {"type": ["number", "null"],
                                   "description": "mean performance rating of periods ended after the hire"},
                   "ratings": {"type": "integer"}}
LIST_SHAPE = {"type": "object", "properties": {"employees": {"type": "array", "items": {
    "type": "object", "properties": EMPLOYEE_FIELDS}}}}
DETAIL_SHAPE = {"type": "object", "properties": {
    **EMPLOYEE_FIELDS,
    "recruitment_record": {"type": ["object", "null"], "description": (
        "frozen at the hire: source interview -> report (scores, clips with media_url, recommendation), notes, "
        "decision, job; source history -> the imported scores, overall and decision")},
    "performance": {"type": "array"}, "training": {"type": "array"}, "outcomes": {"type": "array"}}}
SAVED_SHAPE = {"type": "object", "properties": {"id": {"type": "integer"}, "updated": {
    "type": "boolean", "description": "true: a record of the same period existed and was corrected"}}}


class PerformanceIn(Body):
    period_end: str = Field(max_length=40, description="ISO date: the end of the reviewed period")
    rating: float = Field(ge=0, le=100, description="the overall rating on 0-100")
    competencies: dict[str, float] = Field(default_factory=dict, max_length=50,
                                           description="optional per-competency ratings, 0-100")


class TrainingIn(Body):
    course: str = Field(min_length=1, max_length=MAX_COURSE)
    completed_at: str = Field(max_length=40, description="ISO date")
    result: Optional[float] = Field(default=None, ge=0, le=100, description="0-100 when graded")


class OutcomeIn(Body):
    metric: str = Field(min_length=1, max_length=MAX_METRIC, description="e.g. safety_incidents")
    period_end: str = Field(max_length=40, description="ISO date")
    value: float


class DepartureIn(Body):
    left_at: str = Field(max_length=40, description="ISO date: the last working day")
    voluntary: bool


def competencies_of(raw: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in raw.items():
        name = name.strip()
        if not name or len(name) > 100:
            raise Invalid("competencies: a name must be 1-100 characters")
        if not 0 <= value <= 100:
            raise Invalid(f"competencies: {name} {value:g} is outside 0-100")
        out[name] = float(value)
    return out


async def _run(call: Call, fn: Callable[[Session], T]) -> T:
    result: T = await call.request.app[store_key].run(fn)
    return result


@router.route("GET", "/api/employees", summary="Employees of the jobs this user sees (of one job with job_id)",
              response=LIST_SHAPE, errors=(400, 404, 422), tag="employees",
              query=(QueryParam("job_id", "only this job's employees", "integer"),))
async def get_employees(call: Call) -> dict[str, Any]:
    job_id = call.query_int("job_id")
    return {"employees": await _run(call, lambda db: list_employees(db, call.who, job_id))}


def with_clip_urls(detail: dict[str, Any], base: str) -> dict[str, Any]:
    """The record's clips played through the employee's route (the frozen time range, whatever
    the interview's report says today); the report's own address stays as `interview_media_url`."""
    report = (detail.get("recruitment_record") or {}).get("report")
    for clip in (report or {}).get("clips", []):
        clip["interview_media_url"] = clip.get("media_url")
        clip["media_url"] = f"{base}/api/employees/{detail['id']}/clips/{clip['id']}/media"
    return detail


@router.route("GET", "/api/employees/{employee_id}",
              summary="One employee with the recruitment record (as frozen at the hire), performance reviews, "
                      "training and outcomes", response=DETAIL_SHAPE, errors=(404,), tag="employees")
async def get_employee(call: Call) -> dict[str, Any]:
    eid = call.int_param("employee_id")
    base = base_url(call.request)

    def work(db: Session) -> dict[str, Any]:
        detail = employee_detail(db, call.who, eid)
        audit.record(db, "hr", call.who.id, "employee.view", "employee", eid, via="api")
        return with_clip_urls(detail, base)

    return await _run(call, work)


@router.route("GET", "/api/employees/{employee_id}/clips/{clip_id}/media",
              summary="A key clip of the employee's recruitment record (the time range frozen at the hire); 409 "
                      "with the reason when it cannot be played", errors=(404, 409), content_type="video/webm",
              tag="employees")
async def employee_clip_media(call: Call) -> web.StreamResponse:
    eid = call.int_param("employee_id")
    clip_id = call.request.match_info["clip_id"]
    iid, clip = await _run(call, lambda db: record_clip(db, call.who, eid, clip_id))
    settings = call.request.app[settings_key]
    loop = asyncio.get_running_loop()
    try:
        path = await loop.run_in_executor(call.request.app[renderer_key], clips.render_clip,
                                          recording.recordings_root(settings.data_dir), iid,
                                          float(clip["start_s"]), float(clip["end_s"]))
    except clips.MediaProblem as exc:
        raise Conflict(f"this clip cannot be played: {exc}", unavailable=str(exc)) from None
    except (ValueError, OSError, av.FFmpegError) as exc:
        logger.warning("employee %s: clip %s cannot be rendered: %s", eid, clip_id, exc)
        raise Conflict(f"this clip cannot be played: the recording could not be read ({type(exc).__name__})",
                       unavailable=type(exc).__name__) from None
    if call.request.headers.get("Range", "bytes=0-").replace(" ", "").startswith("bytes=0-"):  # a new playback
        await _run(call, lambda db: audit.record(db, "hr", call.who.id, "employee.clip_view", "employee", eid,
                                                 interview_id=iid, clip_id=clip_id))
    return await clips.media_response(call.request, path, {"Cache-Control": "private, max-age=3600"})


@router.route("POST", "/api/employees/{employee_id}/performance",
              summary="Add a performance review for a period (the same period again corrects it)",
              body=PerformanceIn, response=SAVED_SHAPE, status=201, errors=(404, 422), tag="employees")
async def post_performance(call: Call) -> dict[str, Any]:
    eid = call.int_param("employee_id")
    body: PerformanceIn = call.body
    period_end = parse_when(body.period_end, "period_end")
    competencies = competencies_of(body.competencies)

    def work(db: Session) -> dict[str, Any]:
        row, updated = add_performance(db, call.who, eid, period_end, body.rating, competencies, "api")
        return {"id": row.id, "updated": updated}

    return await _run(call, work)


@router.route("POST", "/api/employees/{employee_id}/training",
              summary="Add a training record (the same course and date again corrects it)",
              body=TrainingIn, response=SAVED_SHAPE, status=201, errors=(404, 422), tag="employees")
async def post_training(call: Call) -> dict[str, Any]:
    eid = call.int_param("employee_id")
    body: TrainingIn = call.body
    completed_at = parse_when(body.completed_at, "completed_at")

    def work(db: Session) -> dict[str, Any]:
        row, updated = add_training(db, call.who, eid, body.course, completed_at, body.result, "api")
        return {"id": row.id, "updated": updated}

    return await _run(call, work)


@router.route("POST", "/api/employees/{employee_id}/outcomes",
              summary="Add a job-specific outcome for a period, e.g. safety_incidents (the same metric and period "
                      "again corrects it)", body=OutcomeIn, response=SAVED_SHAPE, status=201, errors=(404, 422),
              tag="employees")
async def post_outcome(call: Call) -> dict[str, Any]:
    eid = call.int_param("employee_id")
    body: OutcomeIn = call.body
    period_end = parse_when(body.period_end, "period_end")

    def work(db: Session) -> dict[str, Any]:
        row, updated = add_outcome(db, call.who, eid, body.metric, period_end, body.value, "api")
        return {"id": row.id, "updated": updated}

    return await _run(call, work)


@router.route("POST", "/api/employees/{employee_id}/departure",
              summary="Record the employee's departure: the last day and whether they chose to leave",
              body=DepartureIn, response=SAVED_SHAPE, errors=(404, 422), tag="employees")
async def post_departure(call: Call) -> dict[str, Any]:
    eid = call.int_param("employee_id")
    body: DepartureIn = call.body
    left_at = parse_when(body.left_at, "left_at")

    def work(db: Session) -> dict[str, Any]:
        employee = set_departure(db, call.who, eid, left_at, body.voluntary, "api")
        return {"id": employee.id, "updated": True}

    return await _run(call, work)
