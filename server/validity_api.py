"""The validity API: a job's predictive validity (computed on request and stored), its stored
history, phrase suggestions and recruitment KPIs; and the scheduled refresh.

`validity_refresh_ctx` is the cleanup context that owns the refresh task: it wakes daily and
recomputes every job with hires whose newest scheduled analysis is older than
CANDOR_VALIDITY_REFRESH_DAYS (default 90: quarterly; 0 turns the schedule off)."""
from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Callable, TypeVar

from aiohttp import web
from sqlmodel import Session

from server import audit, kpis, phrases, validity
from server.api import router
from server.api_router import Call, QueryParam
from server.errors import ApiError, Malformed
from server.jobs import get_job
from server.reports import Thresholds
from server.schemas import JobFamilyIn
from server.tables import utcnow
from server.web import settings_key, store_key

logger = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_RUN_AFTER_S = 600.0  # after start-up, so a restart loop does not recompute at every start
CHECK_EVERY_S = 24 * 3600.0

VALIDITY_SHAPE: dict[str, Any] = {"type": "object", "description": (
    "n (hires with a performance rating after hire), n_hires, bar, min_n, overall {n, r, ci, spearman, "
    "spearman_ci, predictive, direction, hit_rates}, dimensions [{id, name, n, r, ci, spearman, spearman_ci, "
    "predictive (true: the 95% interval excludes 0; false: it includes 0; null: n < min_n), direction "
    "(positive|negative), hit_rates [{score_at_least, n, met, rate, ci}]}], early_leavers {n_leavers, n_stayers, "
    "enough, dimensions [{id, name, mean_leavers, mean_rest, difference, ci, r, r_ci, predictive, direction}]}, "
    "top_performers {n_top, n_rest, enough, threshold_rating, dimensions [{id, name, mean_top, mean_rest, "
    "difference, ci, min_top}]}, no_predictive_value (dimension ids), not_enough_data, message, snapshot_id, "
    "computed_at")}
HISTORY_SHAPE: dict[str, Any] = {"type": "object", "description": (
    "job_id, snapshots [{id, computed_at, trigger (request|schedule), bar, n, not_enough_data, overall {n, r, ci, "
    "predictive}, dimensions [{id, name, n, r, ci, predictive, direction}]}], newest first")}
PHRASES_SHAPE: dict[str, Any] = {"type": "object", "description": (
    "job_id, language, n_top, n_rest, threshold_rating, enough, min_count, suggestions [{phrase, z, delta, "
    "count_top, count_rest, people_top, dimensions [{id, name}] (keyword suggestion for these), rule {signal, "
    "op, value, points}}]")}
KPIS_SHAPE: dict[str, Any] = {"type": "object", "description": (
    "job_id, period, periods [{period (2026-11 or 2026-Q4), invitations_sent, completed_of_sent, completion_rate, "
    "interviews_completed, days_to_decision {n, median, mean}, decisions {hire, second_interview, talent_pool, "
    "not_recommended}}], total (the same over every period)")}


async def _run(call: Call, fn: Callable[[Session], T]) -> T:
    result: T = await call.request.app[store_key].run(fn)
    return result


def parse_bar(raw: str | None) -> float:
    """The rating that counts as "met the bar": a number from 0 to 100 (default 70)."""
    if raw is None or raw.strip() == "":
        return validity.DEFAULT_BAR
    try:
        value = float(raw)
    except ValueError:
        raise Malformed(f"bar must be a number from 0 to 100, got {raw[:30]!r}") from None
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise Malformed(f"bar must be a number from 0 to 100, got {raw[:30]!r}")
    return value


def _thresholds(call: Call) -> Thresholds:
    return Thresholds.from_settings(call.request.app[settings_key])


@router.route("GET", "/api/jobs/{job_id}/validity",
              summary="A job's predictive validity, computed now and stored: per dimension and overall the "
                      "correlation of the interview score with the mean performance rating after hire (Pearson "
                      "with a 95% interval, Spearman), hit rates, early leavers' and top performers' profiles; "
                      "'not enough data' below min_n",
              response=VALIDITY_SHAPE, errors=(400, 404), tag="validity",
              query=(QueryParam("bar", "the performance rating (0-100) that counts as meeting the bar; default 70",
                                "number"),))
async def get_validity(call: Call) -> dict[str, Any]:
    job_id = call.int_param("job_id")
    bar = parse_bar(call.request.query.get("bar"))
    thresholds = _thresholds(call)
    return await _run(call, lambda db: validity.compute(db, call.who, job_id, bar, "request", thresholds))


@router.route("GET", "/api/job-families",
              summary="The job families among the jobs you see, with how many jobs each has",
              response={"type": "object", "properties": {"families": {"type": "array"}}}, tag="validity")
async def get_families(call: Call) -> dict[str, Any]:
    return {"families": await _run(call, lambda db: validity.families(db, call.who))}


@router.route("GET", "/api/job-families/{family}/validity",
              summary="Predictive validity across every job of one family (dimensions matched by name; the shape "
                      "of GET /api/jobs/{id}/validity with dimension ids null, plus family and job_ids)",
              response=VALIDITY_SHAPE, errors=(400, 404), tag="validity",
              query=(QueryParam("bar", "the performance rating (0-100) that counts as meeting the bar; default 70",
                                "number"),))
async def get_family_validity(call: Call) -> dict[str, Any]:
    family = call.request.match_info["family"]
    bar = parse_bar(call.request.query.get("bar"))
    thresholds = _thresholds(call)
    return await _run(call, lambda db: validity.compute_family(db, call.who, family, bar, thresholds))


@router.route("PUT", "/api/jobs/{job_id}/family", body=JobFamilyIn,
              summary="Set a job's family (\"\" for none): validity is also analysed across a family's jobs",
              response={"type": "object", "properties": {"id": {"type": "integer"}, "family": {"type": "string"}}},
              errors=(400, 404, 422), tag="validity")
async def put_family(call: Call) -> dict[str, Any]:
    job_id = call.int_param("job_id")
    body: JobFamilyIn = call.body
    return await _run(call, lambda db: set_family(db, call.who, job_id, body.family))


def set_family(db: Session, who: Any, job_id: int, family: str) -> dict[str, Any]:
    job = get_job(db, who, job_id)
    old, job.family = job.family, family.strip()
    db.add(job)
    if old != job.family:
        audit.record(db, "hr", who.id, "job.family", "job", job_id, family=job.family, previous=old)
    return {"id": job_id, "family": job.family}


@router.route("GET", "/api/jobs/{job_id}/validity/history",
              summary="A job's stored validity analyses (on request and scheduled), newest first",
              response=HISTORY_SHAPE, errors=(404,), tag="validity")
async def get_validity_history(call: Call) -> dict[str, Any]:
    job_id = call.int_param("job_id")
    return await _run(call, lambda db: validity.history(db, call.who, job_id))


@router.route("GET", "/api/jobs/{job_id}/phrases",
              summary="Words and phrases top performers said in their interviews more than the other hires "
                      "(weighted log-odds with an informative Dirichlet prior), as keyword and rule suggestions",
              response=PHRASES_SHAPE, errors=(404,), tag="validity")
async def get_phrases(call: Call) -> dict[str, Any]:
    job_id = call.int_param("job_id")
    thresholds = _thresholds(call)
    return await _run(call, lambda db: phrases.job_phrases(db, call.who, job_id, thresholds))


@router.route("GET", "/api/jobs/{job_id}/kpis",
              summary="Recruitment KPIs of a job per month or quarter: invitations sent, interviews completed, "
                      "completion rate, days from invitation to decision, decisions by kind",
              response=KPIS_SHAPE, errors=(400, 404), tag="validity",
              query=(QueryParam("period", "month (default) or quarter"),))
async def get_kpis(call: Call) -> dict[str, Any]:
    job_id = call.int_param("job_id")
    period = kpis.parse_period(call.request.query.get("period"))
    return await _run(call, lambda db: kpis.job_kpis(db, call.who, job_id, period))


# --- the scheduled refresh ----------------------------------------------------------------------------

async def refresh_all(store: Any, every: timedelta, now: datetime | None = None,
                      thresholds: Thresholds = Thresholds()) -> list[int]:
    """Recompute every job that is due (each in its own transaction); the ids recomputed."""
    now = now or utcnow()
    due: list[int] = await store.run(lambda db: validity.due_for_refresh(db, now, every))
    done = []
    for job_id in due:
        def work(db: Session, job_id: int = job_id) -> None:
            validity.compute(db, validity.SYSTEM, job_id, validity.DEFAULT_BAR, "schedule", thresholds, now)

        try:
            await store.run(work)
        except ApiError as exc:
            logger.warning("validity refresh: job %d not recomputed: %s", job_id, exc.message)
            continue
        done.append(job_id)
    if done:
        logger.info("validity refresh: recomputed job(s) %s", ", ".join(map(str, done)))
    return done


async def _scheduled(app: web.Application, every: timedelta) -> None:
    await asyncio.sleep(FIRST_RUN_AFTER_S)
    while True:
        try:
            await refresh_all(app[store_key], every, thresholds=Thresholds.from_settings(app[settings_key]))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("validity refresh failed; trying again tomorrow")
        await asyncio.sleep(CHECK_EVERY_S)


async def validity_refresh_ctx(app: web.Application) -> AsyncIterator[None]:
    days = app[settings_key].validity_refresh_days
    task = asyncio.create_task(_scheduled(app, timedelta(days=days)), name="validity-refresh") if days else None
    yield
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
