"""/jobs/{id}/recalibrations (a job's proposals, and the form that makes one) and
/recalibrations/{id}: today's and the proposed weights side by side, the validity under both with
intervals and the gain, the impact ratios under both against the 0.8 line, and the actions
(shadow on/off, apply with a written reason when the fairness check refused, roll back). The
rules are in server/recalibration.py; these pages only call it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlmodel import Session

from server import recalibration
from server.adverse_impact import FOUR_FIFTHS
from server.errors import ApiError
from server.i18n import N_, _
from server.jobs import dimensions_of, get_job
from server.pages.adverse_impact import ATTRIBUTE_WORDS, category_words
from server.pages.common import FormErrors, PageCall, hr_page, see_other
from server.reports import Thresholds
from server.store import stored_id

STATE_WORDS = {"proposed": N_("Proposed"), "shadow": N_("In shadow mode"), "applied": N_("Applied to the job"),
               "rolled_back": N_("Rolled back")}
# The charts' geometry (SVG user units).
LABEL_W, BAR_W, ROW_H = 200, 380, 46


@dataclass(frozen=True, slots=True)
class WeightRow:
    dimension_id: int
    name: str
    current: float
    proposed: float
    current_share: float
    proposed_share: float
    removal: bool


@dataclass(frozen=True, slots=True)
class RatioRow:
    category: str
    label: str
    current: float | None
    proposed: float | None
    small_sample: bool
    failing: bool  # proposed below 0.8 and not a small sample


def weight_rows(rec: dict[str, Any], names: dict[int, str]) -> list[WeightRow]:
    current, proposed = rec["current"], rec["proposed"]
    total_c, total_p = sum(current.values()) or 1.0, sum(proposed.values()) or 1.0
    return [WeightRow(int(d), names.get(int(d), f"#{d}"), current[d], proposed.get(d, 0.0), current[d] / total_c,
                      proposed.get(d, 0.0) / total_p, int(d) in rec["removal"]) for d in current]


def ratio_tables(rec: dict[str, Any]) -> list[tuple[str, list[RatioRow]]]:
    ratios = rec["impact_ratios"]
    out = []
    for attribute in recalibration.ATTRIBUTES:
        now = ratios.get("current", {}).get(attribute, {})
        new = ratios.get("proposed", {}).get(attribute, {})
        small = set(rec["small_samples"].get(attribute, []))
        rows = [RatioRow(c, category_words(c), now.get(c), new.get(c), c in small,
                         new.get(c) is not None and new[c] < FOUR_FIFTHS and c not in small)
                for c in sorted(set(now) | set(new))]
        out.append((attribute, rows))
    return out


def _names(db: Session, job_id: int) -> dict[int, str]:
    return {stored_id(d): d.name for d in dimensions_of(db, job_id, include_retired=True)}


async def _list_page(call: PageCall, job_id: int, errors: FormErrors | None = None, status: int = 200
                     ) -> web.Response:
    def work(db: Session) -> tuple[str, int, list[dict[str, Any]]]:
        job = get_job(db, call.who, job_id)
        return job.title, job.version, [recalibration.to_json(r)
                                        for r in recalibration.list_for_job(db, call.who, job_id)]

    title, version, items = await call.store.run(work)
    return call.render("hr_recalibrations.html", status=status, nav="jobs", job_id=job_id, job_title=title,
                       job_version=version, items=items, errors=errors or FormErrors(), state_words=STATE_WORDS,
                       min_hires=recalibration.MIN_HIRES)


@hr_page("GET", "/jobs/{job_id}/recalibrations", summary="HR: a job's recalibrations and the form to propose one",
         errors=(404,))
async def recalibrations_page(call: PageCall) -> web.Response:
    return await _list_page(call, call.id_param("job_id", "job"))


@hr_page("POST", "/jobs/{job_id}/recalibrations", summary="HR: propose new weights (then the proposal's page)",
         errors=(404, 422))
async def recalibrations_propose(call: PageCall) -> web.Response:
    job_id = call.id_param("job_id", "job")
    thresholds = Thresholds.from_settings(call.settings)
    try:
        rid = await call.store.run(lambda db: recalibration.create(db, call.who, job_id, thresholds).id)
    except recalibration.NotEnoughData as exc:
        errors = FormErrors()
        errors.add(_("Not enough data yet: %(n)s hires with performance ratings, %(needed)s needed.",
                     n=exc.extra.get("n"), needed=exc.extra.get("needed")))
        return await _list_page(call, job_id, errors, status=422)
    return see_other(f"/recalibrations/{rid}")


async def _detail(call: PageCall, rid: int, errors: FormErrors | None = None, status: int = 200) -> web.Response:
    def work(db: Session) -> tuple[dict[str, Any], str, int, dict[int, str]]:
        row = recalibration.get(db, call.who, rid)
        job = get_job(db, call.who, row.job_id)
        return recalibration.to_json(row), job.title, job.version, _names(db, row.job_id)

    rec, title, version, names = await call.store.run(work)
    rows = weight_rows(rec, names)
    tables = ratio_tables(rec)
    return call.render("hr_recalibration.html", status=status, nav="jobs", rec=rec, job_title=title,
                       job_version=version, rows=rows, tables=tables, errors=errors or FormErrors(),
                       failing=[(a, r) for a, rs in tables for r in rs if r.failing], attribute_words=ATTRIBUTE_WORDS,
                       state_words=STATE_WORDS, four_fifths=FOUR_FIFTHS, label_w=LABEL_W, bar_w=BAR_W, row_h=ROW_H,
                       max_share=max([r.current_share for r in rows] + [r.proposed_share for r in rows] + [0.01]),
                       stale=rec["base_version"] != version)


@hr_page("GET", "/recalibrations/{recalibration_id}", summary="HR: one recalibration, side by side with today",
         errors=(404,))
async def recalibration_page(call: PageCall) -> web.Response:
    return await _detail(call, call.id_param("recalibration_id", "recalibration"))


async def _act(call: PageCall, action: Any) -> web.Response:
    rid = call.id_param("recalibration_id", "recalibration")
    try:
        await call.store.run(lambda db: action(db, rid))
    except ApiError as exc:
        if exc.status == 404:
            raise
        errors = FormErrors(status=exc.status)
        errors.add(exc.message)
        return await _detail(call, rid, errors, status=exc.status)
    return see_other(f"/recalibrations/{rid}")


@hr_page("POST", "/recalibrations/{recalibration_id}/shadow", summary="HR: shadow mode on or off",
         errors=(404, 409))
async def recalibration_shadow(call: PageCall) -> web.Response:
    on = call.text("on") == "1"
    return await _act(call, lambda db, rid: recalibration.set_shadow(db, call.who, rid, on))


@hr_page("POST", "/recalibrations/{recalibration_id}/apply",
         summary="HR: apply the proposed weights (a written reason when the fairness check refused them)",
         errors=(404, 409))
async def recalibration_apply(call: PageCall) -> web.Response:
    reason = call.text("override_reason")[:2000]
    return await _act(call, lambda db, rid: recalibration.apply(db, call.who, rid, reason))


@hr_page("POST", "/recalibrations/{recalibration_id}/rollback", summary="HR: roll an applied recalibration back",
         errors=(404, 409))
async def recalibration_rollback(call: PageCall) -> web.Response:
    return await _act(call, lambda db, rid: recalibration.rollback(db, call.who, rid))
