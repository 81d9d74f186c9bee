"""Predictive validity of a job's interview: does the score predict how the hire did?

`analyse(people, dims, bar)` is pure (the shape of `GET /api/jobs/{id}/validity`, DESIGN.md):
- per dimension and overall, the correlation of the interview score with the mean performance
  rating after hire (server/validity_stats.py: Pearson with its Fisher interval, Spearman), over
  the hires with such a rating (`n`); below MIN_N it is "not enough data" (`predictive` None),
  from MIN_N on a dimension whose interval includes 0 is flagged as having no predictive value;
- hit rates: of the hires scoring at least X on the dimension, the share whose rating met `bar`;
- early leavers (left within validity_data.EARLY_LEAVE_DAYS) against the hires known to have
  stayed that long: mean scores, the difference with a Welch interval, and the point-biserial
  correlation of the score with leaving (its interval decides `predictive`);
- top performers (the top 10% of rated hires by mean rating, ties at the threshold included)
  against the other rated hires: mean scores, the difference, the lowest score among the top.

Jobs carry no job family (the question bank's families are for suggesting questions only), so
the analysis is per job.

`compute` runs it for a job the user may see and stores each result as a ValiditySnapshot;
`due_for_refresh` and `refresh` recompute, on the schedule, every job with hires whose newest
scheduled snapshot is older than the period (server/validity_api.py owns the task)."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

from sqlmodel import Session, col, select

from server import audit
from server.auth import Principal
from server.errors import NotFound
from server.jobs import get_job, visible_jobs_query
from server.reports import Thresholds
from server.store import stored_id
from server.tables import Dimension, Employee, ValiditySnapshot
from server.validity_data import EARLY_LEAVE_DAYS, JobPeople, Person, family_people, job_people
from server.validity_stats import MIN_N, correlation, hit_rate, mean_difference

logger = logging.getLogger(__name__)

DEFAULT_BAR = 70.0  # the performance rating (0-100) that counts as "met the bar"
HIT_CUTOFFS = (50.0, 60.0, 70.0, 80.0, 90.0)  # "of hires scoring >= X"
TOP_SHARE = 0.10
MIN_GROUP = 5  # each side of a profile comparison needs at least this many people
HISTORY_LIMIT = 200
# The scheduled refresh acts as an admin that sees every job; its audit rows say "system".
SYSTEM = Principal(id=0, email="system", role="admin")


@dataclass(frozen=True, slots=True)
class DimRef:
    id: int
    name: str


def dim_refs(dims: Iterable[Dimension | DimRef | tuple[int, str]]) -> list[DimRef]:
    out = []
    for d in dims:
        if isinstance(d, DimRef):
            out.append(d)
        elif isinstance(d, tuple):
            out.append(DimRef(int(d[0]), str(d[1])))
        else:
            out.append(DimRef(stored_id(d), d.name))
    return out


def _r2(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _ci2(ci: tuple[float, float] | None) -> list[float] | None:
    return None if ci is None else [round(ci[0], 2), round(ci[1], 2)]


def _hit_rates(scores: Sequence[float | None], ratings: Sequence[float | None], bar: float) -> list[dict[str, Any]]:
    rates = [hit_rate(scores, ratings, cutoff, bar) for cutoff in HIT_CUTOFFS]
    return [h.to_json() for h in rates if h.n > 0]


def _correlation_block(scores: Sequence[float | None], ratings: Sequence[float | None],
                       bar: float) -> dict[str, Any]:
    return {**correlation(scores, ratings).to_json(), "hit_rates": _hit_rates(scores, ratings, bar)}


def analyse(people: Sequence[Person], dims: Iterable[Dimension | DimRef | tuple[int, str]],
            bar: float = DEFAULT_BAR) -> dict[str, Any]:
    """The validity analysis of one job's scored people (the contract of GET /api/jobs/{id}/validity)."""
    refs = dim_refs(dims)
    rated = [p for p in people if p.hired and p.mean_rating is not None]
    ratings: list[float | None] = [p.mean_rating for p in rated]
    n = len(rated)

    overall = _correlation_block([p.overall for p in rated], ratings, bar)
    dimensions = []
    for d in refs:
        block = _correlation_block([p.scores.get(d.id) for p in rated], ratings, bar)
        dimensions.append({"id": d.id, "name": d.name, **block})

    no_value = [d["name"] for d in dimensions if d["predictive"] is False]
    predicts = [d["name"] for d in dimensions if d["predictive"] is True]
    if n < MIN_N:
        message = (f"not enough data: {n} hire(s) with a performance rating after hire; a correlation "
                   f"needs at least {MIN_N}")
    else:
        parts = []
        if predicts:
            parts.append("predicts performance: " + ", ".join(predicts))
        if no_value:
            parts.append("no predictive value: " + ", ".join(no_value))
        message = "; ".join(parts) or "no dimension could be assessed"
    return {
        "n": n,
        "n_hires": sum(1 for p in people if p.hired),
        "bar": bar,
        "min_n": MIN_N,
        "overall": overall,
        "dimensions": dimensions,
        "early_leavers": early_leavers(people, refs),
        "top_performers": top_performers(rated, refs),
        "no_predictive_value": [d["id"] for d in dimensions if d["predictive"] is False],
        "not_enough_data": n < MIN_N,
        "message": message,
    }


def early_leavers(people: Sequence[Person], refs: Sequence[DimRef]) -> dict[str, Any]:
    """Hires who left within EARLY_LEAVE_DAYS against those known to have stayed that long
    (a rating is not needed: many leave before their first review)."""
    known = [p for p in people if p.hired and p.early_leaver is not None]
    leavers = [p for p in known if p.early_leaver]
    stayers = [p for p in known if not p.early_leaver]
    enough = len(leavers) >= MIN_GROUP and len(stayers) >= MIN_GROUP and len(known) >= MIN_N
    left: list[float | None] = [1.0 if p.early_leaver else 0.0 for p in known]
    out = []
    for d in refs:
        diff = mean_difference([p.scores.get(d.id) for p in leavers], [p.scores.get(d.id) for p in stayers])
        corr = correlation([p.scores.get(d.id) for p in known], left)
        out.append({"id": d.id, "name": d.name, "mean_leavers": _r2(diff.mean_a), "mean_rest": _r2(diff.mean_b),
                    "difference": _r2(diff.difference), "ci": _ci2(diff.ci),
                    "r": None if corr.r is None else round(corr.r, 4),
                    "r_ci": None if corr.ci is None else [round(corr.ci[0], 4), round(corr.ci[1], 4)],
                    "predictive": corr.predictive if enough else None,
                    "direction": corr.direction if enough else None})
    return {"n_leavers": len(leavers), "n_stayers": len(stayers), "enough": enough, "min_group": MIN_GROUP,
            "days": EARLY_LEAVE_DAYS, "dimensions": out}


def top_performers(rated: Sequence[Person], refs: Sequence[DimRef]) -> dict[str, Any]:
    """The top TOP_SHARE of rated hires by mean rating (ties at the threshold included) against
    the other rated hires."""
    if not rated:
        return {"n_top": 0, "n_rest": 0, "enough": False, "threshold_rating": None, "share": TOP_SHARE,
                "dimensions": []}
    ordered = sorted((p.mean_rating or 0.0 for p in rated), reverse=True)
    k = max(1, math.ceil(len(rated) * TOP_SHARE - 1e-9))
    threshold = ordered[k - 1]
    top = [p for p in rated if (p.mean_rating or 0.0) >= threshold]
    rest = [p for p in rated if (p.mean_rating or 0.0) < threshold]
    enough = len(rated) >= MIN_N and len(top) >= 3 and len(rest) >= MIN_GROUP
    out = []
    for d in refs:
        top_scores = [p.scores.get(d.id) for p in top]
        diff = mean_difference(top_scores, [p.scores.get(d.id) for p in rest])
        known = [s for s in top_scores if s is not None]
        out.append({"id": d.id, "name": d.name, "mean_top": _r2(diff.mean_a), "mean_rest": _r2(diff.mean_b),
                    "difference": _r2(diff.difference), "ci": _ci2(diff.ci),
                    "min_top": _r2(min(known)) if known else None})
    return {"n_top": len(top), "n_rest": len(rest), "enough": enough, "threshold_rating": round(threshold, 2),
            "share": TOP_SHARE, "dimensions": out}


# --- stored computations ---------------------------------------------------------------------------

def compute(db: Session, who: Principal, job_id: int, bar: float = DEFAULT_BAR, trigger: str = "request",
            thresholds: Thresholds = Thresholds(), now: datetime | None = None,
            people: JobPeople | None = None) -> dict[str, Any]:
    """Analyse the job now (404 for a job this user cannot see), store it as a snapshot, audit it.
    `people`: the job's people when the caller already read them (with the same user)."""
    jp = people if people is not None and people.job_id == job_id else job_people(db, who, job_id, thresholds, now)
    result = {"job_id": job_id, **analyse(jp.people, jp.dimensions, bar)}
    snapshot = ValiditySnapshot(job_id=job_id, trigger=trigger, data=result)
    if now is not None:
        snapshot.computed_at = now
    db.add(snapshot)
    db.flush()
    actor = ("system", None) if trigger == "schedule" else ("hr", who.id)
    audit.record(db, actor[0], actor[1], "validity.compute", "job", job_id, snapshot_id=snapshot.id,
                 trigger=trigger, n=result["n"], bar=bar)
    return {**result, "snapshot_id": stored_id(snapshot), "computed_at": _iso(snapshot.computed_at)}


def compute_family(db: Session, who: Principal, family: str, bar: float = DEFAULT_BAR,
                   thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
    """The analysis over every job of one family the user sees (404 when there is none), the
    dimensions matched by name. Ratings are pooled as they are: the jobs should rate on one scale.
    Not stored (a snapshot belongs to one job); audited."""
    fp = family_people(db, who, family, thresholds)
    if not fp.job_ids:
        raise NotFound(f"no job of family {family.strip()[:40]!r} that you can see")
    result = analyse(fp.people, [(i, name) for i, name in enumerate(fp.names, start=1)], bar)
    # Dimensions of a family are names, not one job's dimension ids.
    for block in (result["dimensions"], result["early_leavers"].get("dimensions", []),
                  result["top_performers"].get("dimensions", [])):
        for d in block:
            d["id"] = None
    result["no_predictive_value"] = [d["name"] for d in result["dimensions"] if d["predictive"] is False]
    audit.record(db, "hr", who.id, "validity.compute_family", "job_family", None, family=fp.family,
                 jobs=fp.job_ids, n=result["n"], bar=bar)
    return {"family": fp.family, "job_ids": fp.job_ids, **result}


def families(db: Session, who: Principal) -> list[dict[str, Any]]:
    """The job families among the jobs the user sees, with their job counts."""
    counts: dict[str, list[Any]] = {}
    for job in db.exec(visible_jobs_query(who)).all():
        if job.family.strip():
            entry = counts.setdefault(job.family.strip().lower(), [job.family.strip(), 0])
            entry[1] += 1
    return [{"family": name, "jobs": n} for name, n in sorted(counts.values(), key=lambda e: str(e[0]).lower())]


def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()


def history(db: Session, who: Principal, job_id: int) -> dict[str, Any]:
    """The job's stored analyses, newest first, each summarised (the full one is `data`)."""
    get_job(db, who, job_id)
    rows = db.exec(select(ValiditySnapshot).where(ValiditySnapshot.job_id == job_id)
                   .order_by(col(ValiditySnapshot.computed_at).desc(), col(ValiditySnapshot.id).desc())
                   .limit(HISTORY_LIMIT)).all()
    out = []
    for row in rows:
        data = row.data or {}
        overall = data.get("overall") or {}
        out.append({
            "id": row.id, "computed_at": _iso(row.computed_at), "trigger": row.trigger, "bar": data.get("bar"),
            "n": data.get("n"), "not_enough_data": data.get("not_enough_data"),
            "overall": {k: overall.get(k) for k in ("n", "r", "ci", "predictive")},
            "dimensions": [{k: d.get(k) for k in ("id", "name", "n", "r", "ci", "predictive", "direction")}
                           for d in data.get("dimensions", [])],
        })
    return {"job_id": job_id, "snapshots": out}


def jobs_with_hires(db: Session) -> list[int]:
    return sorted({int(j) for j in db.exec(select(Employee.job_id).distinct()).all()})


def due_for_refresh(db: Session, now: datetime, every: timedelta) -> list[int]:
    """The jobs with hires whose newest scheduled snapshot is older than `every` (or missing)."""
    due = []
    for job_id in jobs_with_hires(db):
        last = db.exec(select(ValiditySnapshot.computed_at).where(
            ValiditySnapshot.job_id == job_id, ValiditySnapshot.trigger == "schedule")
            .order_by(col(ValiditySnapshot.computed_at).desc())).first()
        if last is None or _aware(last) + every <= now:
            due.append(job_id)
    return due


def refresh(db: Session, job_id: int, now: datetime, bar: float = DEFAULT_BAR) -> dict[str, Any]:
    """The scheduled recomputation of one job (trigger "schedule", audited as the system)."""
    return compute(db, SYSTEM, job_id, bar, trigger="schedule", now=now)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
