"""The HR API for recalibrations (the rules and the statistics are in server/recalibration.py):
propose weights for a job, read them, try them in shadow, apply and roll back."""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from pydantic import Field, ValidationError
from sqlmodel import Session

from server import recalibration
from server.api import router
from server.api_router import Call
from server.errors import Malformed, from_validation_error
from server.reports import Thresholds
from server.schemas import Body
from server.web import settings_key, store_key

T = TypeVar("T")

CORRELATION = {"type": "object", "properties": {"r": {"type": ["number", "null"]},
                                                "ci": {"type": ["array", "null"], "items": {"type": "number"}},
                                                "n": {"type": "integer"}}}
WEIGHTS = {"type": "object", "description": "dimension id -> weight", "additionalProperties": {"type": "number"}}
RATIOS = {"type": "object", "description": '{"sex": {category: ratio}, "race_ethnicity": {...}}',
          "additionalProperties": {"type": "object", "additionalProperties": {"type": ["number", "null"]}}}
RECALIBRATION_SHAPE: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "job_id": {"type": "integer"},
    "state": {"type": "string", "enum": ["proposed", "shadow", "applied", "rolled_back"]},
    "base_version": {"type": "integer", "description": "the job version whose weights are `current`"},
    "current": WEIGHTS, "proposed": WEIGHTS,
    "validity": {"type": "object", "description": "correlation of the overall with the mean performance rating "
                                                  "after hire (proposed: cross-validated), 95% intervals",
                 "properties": {"current": CORRELATION, "proposed": CORRELATION,
                                "gain": {"type": "object", "properties": {
                                    "value": {"type": ["number", "null"]},
                                    "ci": {"type": ["array", "null"], "items": {"type": "number"}}}}}},
    "impact_ratios": {"type": "object", "properties": {"current": RATIOS, "proposed": RATIOS},
                      "description": "selection: overall at or above the median of the job's scored people"},
    "allowed": {"type": "boolean", "description": "false: a category (not a small sample) falls below 0.8"},
    "reason": {"type": "string"}, "n": {"type": "integer", "description": "rated hires in the fit"},
    "removal": {"type": "array", "items": {"type": "integer"},
                "description": "dimensions the fit gives no weight (kept at a 1% floor: retire them to remove)"},
    "override_reason": {"type": ["string", "null"]},
    "applied_version": {"type": ["integer", "null"]}, "rollback_version": {"type": ["integer", "null"]}}}
LIST_SHAPE = {"type": "object", "properties": {"recalibrations": {"type": "array", "items": RECALIBRATION_SHAPE}}}
VERSION_SHAPE = {"type": "object", "properties": {"version": {"type": "integer"},
                                                  "changes": {"type": "array", "items": {"type": "string"}}}}


class ApplyIn(Body):
    override_reason: str = Field(default="", max_length=2000,
                                 description="Required when the fairness check refused the weights: why HR goes "
                                             "ahead anyway (stored with the recalibration, audited)")


class ShadowIn(Body):
    on: bool = Field(description="true: new reports of the job also give the overall under the proposed weights")


async def _run(call: Call, fn: Callable[[Session], T]) -> T:
    result: T = await call.request.app[store_key].run(fn)
    return result


@router.route("POST", "/api/jobs/{job_id}/recalibrations", status=201,
              summary="Propose dimension weights fitted to performance after hire (cross-validated, "
                      "non-negative, shrunk toward today's), with validity and adverse-impact ratios under both; "
                      "422 below 30 rated hires",
              response=RECALIBRATION_SHAPE, errors=(404, 422), tag="validity")
async def post_recalibration(call: Call) -> dict[str, Any]:
    job_id = call.int_param("job_id")
    thresholds = Thresholds.from_settings(call.request.app[settings_key])
    return await _run(call, lambda db: recalibration.to_json(recalibration.create(db, call.who, job_id, thresholds)))


@router.route("GET", "/api/jobs/{job_id}/recalibrations", summary="A job's recalibrations, newest first",
              response=LIST_SHAPE, errors=(404,), tag="validity")
async def get_recalibrations(call: Call) -> dict[str, Any]:
    job_id = call.int_param("job_id")
    return await _run(call, lambda db: {"recalibrations": [
        recalibration.to_json(r) for r in recalibration.list_for_job(db, call.who, job_id)]})


@router.route("GET", "/api/recalibrations/{recalibration_id}", summary="One recalibration",
              response=RECALIBRATION_SHAPE, errors=(404,), tag="validity")
async def get_recalibration(call: Call) -> dict[str, Any]:
    rid = call.int_param("recalibration_id")
    return await _run(call, lambda db: recalibration.to_json(recalibration.get(db, call.who, rid)))


@router.route("POST", "/api/recalibrations/{recalibration_id}/apply",
              summary="Apply the proposed weights as a new job version (body, optional: {override_reason}); 409 when "
                      "the fairness check refused them "
                      "and no override_reason is given, when the job changed since, or when not proposed/shadow",
              response=VERSION_SHAPE, errors=(400, 404, 409, 422), tag="validity")
async def post_apply(call: Call) -> dict[str, Any]:
    """The body `{override_reason?}` may be left out altogether (no override), so it is read here
    rather than declared (a declared body is required)."""
    rid = call.int_param("recalibration_id")
    raw = await call.request.read()
    body = ApplyIn()
    if raw.strip():
        try:
            body = ApplyIn.model_validate_json(raw, strict=True)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise Malformed("request body is not valid JSON") from None
            raise from_validation_error(exc) from None
    return await _run(call, lambda db: recalibration.apply(db, call.who, rid, body.override_reason))


@router.route("POST", "/api/recalibrations/{recalibration_id}/rollback",
              summary="Roll an applied recalibration back: a new job version with the weights it replaced",
              response=VERSION_SHAPE, errors=(404, 409), tag="validity")
async def post_rollback(call: Call) -> dict[str, Any]:
    rid = call.int_param("recalibration_id")
    return await _run(call, lambda db: recalibration.rollback(db, call.who, rid))


@router.route("POST", "/api/recalibrations/{recalibration_id}/shadow",
              summary="Shadow mode on or off: while on, the job's reports also give the overall under the "
                      "proposed weights (`shadow`); one per job",
              body=ShadowIn, response=RECALIBRATION_SHAPE, errors=(404, 409), tag="validity")
async def post_shadow(call: Call) -> dict[str, Any]:
    rid = call.int_param("recalibration_id")
    body: ShadowIn = call.body
    return await _run(call, lambda db: recalibration.to_json(recalibration.set_shadow(db, call.who, rid, body.on)))
