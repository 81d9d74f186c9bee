"""The HR API for editing jobs and templates by versions, archiving and copying (the rules are
in server/versions.py)."""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from sqlmodel import Session

from server.api import router
from server.api_router import Call
from server.interview_templates import get_template
from server.jobs import get_job
from server.schemas import Created, JobEdit, TemplateCopyIn, TemplateEdit, VersionSaved
from server.versions import (
    archive_job, archive_template, copy_template, edit_job, edit_template, job_at_version, job_history,
    template_at_version, template_history,
)
from server.web import store_key

VERSIONS_SHAPE = {"type": "object", "properties": {
    "current": {"type": "integer"}, "archived_at": {"type": ["string", "null"]},
    "versions": {"type": "array", "description": "newest first: version, created_by(_email), created_at, note, "
                                                 "changes (one line per change from the version before)"}}}
T = TypeVar("T")
ARCHIVED_SHAPE = {"type": "object", "properties": {"id": {"type": "integer"},
                                                   "archived_at": {"type": ["string", "null"]}}}


async def _run(call: Call, fn: Callable[[Session], T]) -> T:
    result: T = await call.request.app[store_key].run(fn)
    return result


# --- jobs ---------------------------------------------------------------------------------------

@router.route("PATCH", "/api/jobs/{job_id}",
              summary="Edit a job: saves its next version (title and/or the whole list of dimensions; a "
                      "dimension left out is retired, one without id is new or matched by name). Interviews "
                      "already invited keep their version",
              body=JobEdit, response=VersionSaved, errors=(404, 409, 422), tag="jobs")
async def patch_job(call: Call) -> VersionSaved:
    job_id = call.int_param("job_id")
    return VersionSaved(**await _run(call, lambda db: edit_job(db, call.who, job_id, call.body)))


@router.route("GET", "/api/jobs/{job_id}/versions", summary="A job's saved versions, newest first",
              response=VERSIONS_SHAPE, errors=(404,), tag="jobs")
async def get_job_versions(call: Call) -> dict[str, Any]:
    job_id = call.int_param("job_id")
    return await _run(call, lambda db: job_history(db, get_job(db, call.who, job_id)))


@router.route("GET", "/api/jobs/{job_id}/versions/{version}",
              summary="A job as one saved version held it (the shape of GET /api/jobs/{id})",
              errors=(404,), tag="jobs")
async def get_job_version(call: Call) -> dict[str, Any]:
    job_id, version = call.int_param("job_id"), call.int_param("version")
    return await _run(call, lambda db: job_at_version(db, get_job(db, call.who, job_id), version))


@router.route("POST", "/api/jobs/{job_id}/archive",
              summary="Archive a job: kept with its interviews and reports, but no new invitations or templates",
              response=ARCHIVED_SHAPE, errors=(404, 409), tag="jobs")
async def post_job_archive(call: Call) -> dict[str, Any]:
    job_id = call.int_param("job_id")
    return await _run(call, lambda db: archive_job(db, call.who, job_id, True))


@router.route("POST", "/api/jobs/{job_id}/restore", summary="Restore an archived job",
              response=ARCHIVED_SHAPE, errors=(404, 409), tag="jobs")
async def post_job_restore(call: Call) -> dict[str, Any]:
    job_id = call.int_param("job_id")
    return await _run(call, lambda db: archive_job(db, call.who, job_id, False))


# --- templates ------------------------------------------------------------------------------------

@router.route("PATCH", "/api/templates/{template_id}",
              summary="Edit a template: saves its next version (name and/or the whole list of questions in "
                      "order; a question left out is removed from the new version)",
              body=TemplateEdit, response=VersionSaved, errors=(404, 409, 422), tag="templates")
async def patch_template(call: Call) -> VersionSaved:
    template_id = call.int_param("template_id")
    return VersionSaved(**await _run(call, lambda db: edit_template(db, call.who, template_id, call.body)))


@router.route("GET", "/api/templates/{template_id}/versions", summary="A template's saved versions, newest first",
              response=VERSIONS_SHAPE, errors=(404,), tag="templates")
async def get_template_versions(call: Call) -> dict[str, Any]:
    template_id = call.int_param("template_id")
    return await _run(call, lambda db: template_history(db, get_template(db, call.who, template_id)[0]))


@router.route("GET", "/api/templates/{template_id}/versions/{version}",
              summary="A template as one saved version held it", errors=(404,), tag="templates")
async def get_template_version(call: Call) -> dict[str, Any]:
    template_id, version = call.int_param("template_id"), call.int_param("version")

    def work(db: Session) -> dict[str, Any]:
        return template_at_version(db, get_template(db, call.who, template_id)[0], version)

    return await _run(call, work)


@router.route("POST", "/api/templates/{template_id}/archive",
              summary="Archive a template: kept with its interviews, but no new invitations",
              response=ARCHIVED_SHAPE, errors=(404, 409), tag="templates")
async def post_template_archive(call: Call) -> dict[str, Any]:
    template_id = call.int_param("template_id")
    return await _run(call, lambda db: archive_template(db, call.who, template_id, True))


@router.route("POST", "/api/templates/{template_id}/restore", summary="Restore an archived template",
              response=ARCHIVED_SHAPE, errors=(404, 409), tag="templates")
async def post_template_restore(call: Call) -> dict[str, Any]:
    template_id = call.int_param("template_id")
    return await _run(call, lambda db: archive_template(db, call.who, template_id, False))


@router.route("POST", "/api/templates/{template_id}/copy",
              summary="Copy a template's newest version into another job, mapping each dimension to the one of "
                      "the same name there (422 listing the names without a match: nothing copied)",
              body=TemplateCopyIn, response=Created, status=201, errors=(404, 409, 422), tag="templates")
async def post_template_copy(call: Call) -> dict[str, Any]:
    template_id = call.int_param("template_id")
    return await _run(call, lambda db: copy_template(db, call.who, template_id, call.body))
