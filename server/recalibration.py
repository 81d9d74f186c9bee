"""Recalibration: dimension weights fitted to what happened after the hire, checked for fairness,
tried in shadow, applied as a new job version and rolled back.

The fit (`propose`, pure: numbers in, a Proposal out):
- data: the job's rated hires (server/validity_data.py: mean performance rating after the hire);
  fewer than MIN_HIRES -> 422 "not enough data";
- model: non-negative least squares of the rating on the dimension scores, both standardised
  (a missing score stands in as the training mean); a standardised coefficient b over the
  dimension's spread is the raw-scale coefficient, and the overall is a weighted mean of raw
  scores, so the fitted weights are those raw coefficients (their shares). A dimension with
  fewer than MIN_HIRES assessed hires, or no spread, is not fitted: it keeps today's share;
- shrinkage toward today's weights: share = lam * fitted + (1 - lam) * today's, lam from
  LAMBDAS by 5-fold cross-validation (fixed seed): the correlation of the out-of-fold overall
  with the rating; the SMALLEST lam within LAM_TOLERANCE of the best wins (the CV curve is flat
  and noisy near its top, and the smaller lam moves today's weights less);
- the shares are scaled so the weights sum like today's. No weight may be 0 (PATCH /api/jobs
  refuses it): a share under FLOOR_SHARE is raised to it. Retiring the dimension instead would
  stop every template that asks about it from taking invitations, so removal stays HR's call:
  a dimension the full-data fit gives nothing is listed in `removal` (retire it on the job page).

Validity under both weightings: the correlation of the overall with the rating (today's weights
involve no fitting; the proposed ones are the pooled out-of-fold overall at the chosen lam, so
the fit is never scored on the people it was fitted to), each with a 95% Fisher-z interval, and
the gain (proposed - today's) with a paired bootstrap interval over hires (fixed seed).

Fairness: the selection rule "overall at or above the median overall of the job's scored people
under those weights", applied to every scored person of the job (hired or not); the impact ratio
of each sex and race/ethnicity category among people who self-identified
(server/adverse_impact.py rate_table). `allowed` = no category that is not a small sample has a
proposed ratio below 0.8. Only ratios (and counts per category) leave this module.

Lifecycle (the Recalibration row): proposed -> shadow (reports of the job's interviews also give
the overall under the proposed weights: server/reports.py) -> applied (a new job version through
server/versions.py edit_job, so history, audit and change list agree) -> rolled_back (another
version with the base version's weights). Every step is audited."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from sqlmodel import Session, col, select

from server import audit
from server.adverse_impact import FOUR_FIFTHS, Outcome, rate_table
from server.auth import Principal
from server.errors import Conflict, Invalid, NotFound
from server.jobs import get_job, job_snapshot
from server.reports import Thresholds
from server.schemas import DimensionEdit, JobEdit
from server.store import stored_id
from server.tables import Job, Recalibration, SelfIdentification, utcnow
from server.validity_data import JobPeople, Person, job_people, overall_under
from server.versions import edit_job, job_version_data

logger = logging.getLogger(__name__)

MIN_HIRES = 30
FOLDS = 5
SEED = 15
LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0)
LAM_TOLERANCE = 0.01
BOOTSTRAP = 2000
FLOOR_SHARE = 0.01
MAX_WEIGHT = 1000.0  # PATCH /api/jobs's limit
Z95 = 1.959963984540054
ATTRIBUTES = ("sex", "race_ethnicity")
STATES_OPEN = ("proposed", "shadow")


class NotEnoughData(Invalid):
    pass


# --- numbers -------------------------------------------------------------------------------------

def nnls(a: np.ndarray, b: np.ndarray, max_iter: int | None = None) -> np.ndarray:
    """min ||a x - b|| subject to x >= 0 (Lawson and Hanson's active-set method)."""
    rows, cols = a.shape
    x = np.zeros(cols)
    passive = np.zeros(cols, dtype=bool)
    tol = 1e-10 * max(1.0, float(np.abs(a).sum()))
    gradient = a.T @ (b - a @ x)
    limit = max_iter or 3 * cols + 10
    for _ in range(limit):
        if passive.all() or gradient[~passive].max(initial=-np.inf) <= tol:
            break
        passive[int(np.argmax(np.where(passive, -np.inf, gradient)))] = True
        for _ in range(limit):
            z = np.zeros(cols)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if (z[passive] > 0).all():
                x = z
                break
            blocked = passive & (z <= 0)
            alpha = float(np.min(x[blocked] / (x[blocked] - z[blocked])))
            x = x + alpha * (z - x)
            passive &= x > tol
            x[~passive] = 0.0
        gradient = a.T @ (b - a @ x)
    return x


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 3:
        return None
    sx, sy = float(np.std(x)), float(np.std(y))
    if sx == 0 or sy == 0:
        return None
    return float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy))


def fisher_ci(r: float | None, n: int) -> tuple[float, float] | None:
    if r is None or n < 4:
        return None
    z = math.atanh(max(-0.999999, min(0.999999, r)))
    half = Z95 / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)


def _rows_r(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row of x with the same row of y (bootstrap resamples)."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = (xc * yc).sum(axis=1) / np.sqrt((xc ** 2).sum(axis=1) * (yc ** 2).sum(axis=1))
    return out


# --- the fit -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Design:
    """The rated hires as arrays: scores (nan = not assessed), ratings, and the dimensions."""

    dims: tuple[int, ...]
    scores: np.ndarray  # hires x dims
    ratings: np.ndarray
    people: tuple[Person, ...]


def _design(hires: Sequence[Person], dims: Sequence[int]) -> Design:
    scores = np.full((len(hires), len(dims)), np.nan)
    for i, person in enumerate(hires):
        for j, d in enumerate(dims):
            value = person.scores.get(d)
            if value is not None:
                scores[i, j] = value
    ratings = np.array([p.mean_rating for p in hires], dtype=float)
    return Design(tuple(dims), scores, ratings, tuple(hires))


def fitted_shares(scores: np.ndarray, ratings: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fitted shares (summing like today's), and which dimensions were fitted. A dimension
    not fitted keeps today's share; the fitted ones share the rest by their raw-scale NNLS
    coefficients (all zero: nothing predicts, so today's shares)."""
    assessed = (~np.isnan(scores)).sum(axis=0)
    sums = np.where(np.isnan(scores), 0.0, scores).sum(axis=0)
    means = np.divide(sums, assessed, out=np.zeros_like(sums), where=assessed > 0)
    filled = np.where(np.isnan(scores), means, scores)
    spread = filled.std(axis=0)
    fit = (assessed >= min(MIN_HIRES, len(ratings))) & (spread > 1e-9)
    shares = current.copy()
    if not fit.any() or ratings.std() == 0:
        return shares, fit
    x = (filled[:, fit] - filled[:, fit].mean(axis=0)) / spread[fit]
    y = (ratings - ratings.mean()) / ratings.std()
    raw = nnls(x, y) / spread[fit]
    if raw.sum() <= 0:
        return shares, fit
    shares[fit] = raw / raw.sum() * current[fit].sum()
    return shares, fit


def combine(fitted: np.ndarray, current: np.ndarray, lam: float) -> np.ndarray:
    """lam * fitted + (1 - lam) * today's, each share at least FLOOR_SHARE, summing to 1."""
    shares = lam * fitted + (1 - lam) * current
    low = shares < FLOOR_SHARE
    if low.any() and not low.all():
        rest = shares[~low].sum()
        shares = np.where(low, FLOOR_SHARE, shares / rest * (1 - FLOOR_SHARE * low.sum()))
    return shares / shares.sum()


def _overalls(people: Sequence[Person], dims: Sequence[int], shares: np.ndarray) -> np.ndarray:
    weights = {d: float(s) for d, s in zip(dims, shares, strict=True)}
    return np.array([np.nan if (o := overall_under(p.scores, weights)) is None else o for p in people])


@dataclass(frozen=True, slots=True)
class Correlation:
    r: float | None
    ci: tuple[float, float] | None
    n: int

    def to_json(self) -> dict[str, Any]:
        return {"r": _round(self.r), "ci": None if self.ci is None else [_round(v) for v in self.ci], "n": self.n}


@dataclass(slots=True)
class Proposal:
    current: dict[int, float]
    proposed: dict[int, float]
    removal: list[int]
    lam: float
    cv: dict[str, float | None]  # lam -> cross-validated r
    n: int
    validity_current: Correlation
    validity_proposed: Correlation
    gain: float | None
    gain_ci: tuple[float, float] | None
    impact_current: dict[str, dict[str, float | None]] = field(default_factory=dict)
    impact_proposed: dict[str, dict[str, float | None]] = field(default_factory=dict)
    small_samples: dict[str, list[str]] = field(default_factory=dict)
    scored: int = 0  # scored people of the job in the adverse-impact check
    self_identified: int = 0
    allowed: bool = False
    reason: str = ""

    def analysis(self) -> dict[str, Any]:
        """What the Recalibration row keeps besides the weights (the API's shape)."""
        return {
            "n": self.n, "lam": self.lam, "cv": self.cv, "removal": self.removal,
            "validity": {"current": self.validity_current.to_json(), "proposed": self.validity_proposed.to_json(),
                         "gain": {"value": _round(self.gain),
                                  "ci": None if self.gain_ci is None else [_round(v) for v in self.gain_ci]}},
            "impact_ratios": {"current": self.impact_current, "proposed": self.impact_proposed},
            "small_samples": self.small_samples, "scored": self.scored, "self_identified": self.self_identified,
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def fit_weights(data: JobPeople) -> Proposal:
    """Proposed weights and the validity under both (the fairness check: `check_impact`)."""
    hires = data.rated_hires
    if len(hires) < MIN_HIRES:
        raise NotEnoughData(f"not enough data: {len(hires)} hires with ratings, {MIN_HIRES} needed",
                            n=len(hires), needed=MIN_HIRES)
    dims = [stored_id(d) for d in data.dimensions]
    total = sum(data.weights[d] for d in dims)
    current = np.array([data.weights[d] / total for d in dims])
    design = _design(hires, dims)
    y = design.ratings
    folds = np.array_split(np.random.default_rng(SEED).permutation(len(hires)), FOLDS)
    oof = {lam: np.full(len(hires), np.nan) for lam in LAMBDAS}
    for test in folds:
        train = np.setdiff1d(np.arange(len(hires)), test)
        fitted, _ = fitted_shares(design.scores[train], y[train], current)
        for lam in LAMBDAS:
            oof[lam][test] = _overalls([hires[i] for i in test], dims, combine(fitted, current, lam))
    cur = _overalls(hires, dims, current)
    cv: dict[float, float | None] = {}
    for lam in LAMBDAS:
        ok = ~np.isnan(oof[lam]) & ~np.isnan(cur)
        cv[lam] = pearson(oof[lam][ok], y[ok])
    best = max((r for r in cv.values() if r is not None), default=None)
    lam = 0.0 if best is None else min(k for k, r in cv.items() if r is not None and r >= best - LAM_TOLERANCE)
    fitted, fit = fitted_shares(design.scores, y, current)
    shares = combine(fitted, current, lam)
    proposed = _scaled(dims, shares, total)
    removal = [d for d, f, s in zip(dims, fitted, fit, strict=True) if s and f <= 0]

    ok = ~np.isnan(oof[lam]) & ~np.isnan(cur)
    n = int(ok.sum())
    r_cur, r_new = pearson(cur[ok], y[ok]), pearson(oof[lam][ok], y[ok])
    gain, gain_ci = None, None
    if r_cur is not None and r_new is not None:
        gain = r_new - r_cur
        idx = np.random.default_rng(SEED).integers(0, n, size=(BOOTSTRAP, n))
        diffs = _rows_r(oof[lam][ok][idx], y[ok][idx]) - _rows_r(cur[ok][idx], y[ok][idx])
        diffs = diffs[np.isfinite(diffs)]
        if len(diffs):
            gain_ci = (float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5)))
    logger.info("recalibration of job %s: n=%s lam=%s r %s -> %s", data.job_id, n, lam, r_cur, r_new)
    return Proposal(
        current={d: float(data.weights[d]) for d in dims}, proposed=proposed, removal=removal, lam=lam,
        cv={f"{k:g}": _round(v) for k, v in cv.items()}, n=len(hires),
        validity_current=Correlation(r_cur, fisher_ci(r_cur, n), n),
        validity_proposed=Correlation(r_new, fisher_ci(r_new, n), n), gain=gain, gain_ci=gain_ci)


def _scaled(dims: Sequence[int], shares: np.ndarray, total: float) -> dict[int, float]:
    """Shares as weights summing like today's (within PATCH's 0 < weight <= 1000)."""
    weights = shares * total
    if weights.max() > MAX_WEIGHT:
        weights = weights * (MAX_WEIGHT / weights.max())
    return {d: float(f"{w:.6g}") for d, w in zip(dims, weights, strict=True)}


# --- the fairness check --------------------------------------------------------------------------

def impact_ratios(people: Sequence[Person], categories: Mapping[int, Mapping[str, str]],
                  weights: Mapping[int, float]) -> tuple[dict[str, dict[str, float | None]], dict[str, list[str]]]:
    """Impact ratio per category of each attribute when the selected are those at or above the
    median overall (of every scored person) under `weights`; and the small-sample categories."""
    scored = [(p, o) for p in people if (o := overall_under(p.scores, weights)) is not None]
    if not scored:
        return {a: {} for a in ATTRIBUTES}, {a: [] for a in ATTRIBUTES}
    cut = float(np.median([o for _, o in scored]))
    outcomes = [Outcome(dict(categories.get(p.candidate_id, {})), o >= cut) for p, o in scored]
    ratios: dict[str, dict[str, float | None]] = {}
    small: dict[str, list[str]] = {}
    for attribute in ATTRIBUTES:
        table = rate_table(attribute, outcomes)
        ratios[attribute] = {g.category: _round(g.impact_ratio) for g in table.groups}
        small[attribute] = [g.category for g in table.groups if g.small_sample]
    return ratios, small


def _ratio_text(ratio: float) -> str:
    text = f"{ratio:.2f}"
    return text if float(text) < FOUR_FIFTHS or ratio >= FOUR_FIFTHS else f"{ratio:.3f}"


def check_impact(proposal: Proposal, people: Sequence[Person], categories: Mapping[int, Mapping[str, str]]) -> None:
    """Fill in the impact ratios under both weightings, `allowed` and `reason`."""
    proposal.impact_current, _ = impact_ratios(people, categories, proposal.current)
    proposal.impact_proposed, proposal.small_samples = impact_ratios(people, categories, proposal.proposed)
    proposal.scored = sum(1 for p in people if overall_under(p.scores, proposal.current) is not None)
    proposal.self_identified = sum(1 for p in people if p.candidate_id in categories)
    failing, small_low = [], []
    for attribute in ATTRIBUTES:
        for category, ratio in proposal.impact_proposed[attribute].items():
            if ratio is None or ratio >= FOUR_FIFTHS:
                continue
            today = proposal.impact_current[attribute].get(category)
            was = "" if today is None else f" ({_ratio_text(today)} under today's)"
            if category in proposal.small_samples[attribute]:
                small_low.append(f"{attribute}: {category} {_ratio_text(ratio)}")
            else:
                failing.append(f"{attribute}: {category} {_ratio_text(ratio)} < {FOUR_FIFTHS:g} under the proposed "
                               f"weights{was}")
    note = (f"; small samples below {FOUR_FIFTHS:g} (not counted: too few people to mean much): "
            f"{', '.join(small_low)}") if small_low else ""
    proposal.allowed = not failing
    if failing:
        proposal.reason = "; ".join(failing) + note
    elif not any(proposal.impact_proposed[a] for a in ATTRIBUTES):
        proposal.reason = ("allowed, but adverse impact could not be checked: nobody scored for this job has "
                           "self-identified a sex or race/ethnicity")
    else:
        lowest = min(((r, a, c) for a in ATTRIBUTES for c, r in proposal.impact_proposed[a].items()
                      if r is not None and c not in proposal.small_samples[a]), default=None)
        proposal.reason = (f"no category with enough people has an impact ratio below {FOUR_FIFTHS:g} under the "
                           f"proposed weights" + ("" if lowest is None else
                                                  f" (lowest: {lowest[1]}: {lowest[2]} {_ratio_text(lowest[0])})")
                           + note)


def propose(data: JobPeople, categories: Mapping[int, Mapping[str, str]]) -> Proposal:
    """The fit and the fairness check together (pure: tests call it on generated people)."""
    proposal = fit_weights(data)
    check_impact(proposal, data.people, categories)
    return proposal


# --- stored recalibrations -----------------------------------------------------------------------

def _categories(db: Session, people: Sequence[Person]) -> dict[int, dict[str, str]]:
    ids = {p.candidate_id for p in people}
    if not ids:
        return {}
    rows = db.exec(select(SelfIdentification).where(col(SelfIdentification.candidate_id).in_(ids))).all()
    return {r.candidate_id: {"sex": r.sex, "race_ethnicity": r.race_ethnicity} for r in rows}


def to_json(row: Recalibration) -> dict[str, Any]:
    """The API's shape (DESIGN.md): dimension ids as string keys."""
    analysis = row.analysis
    return {
        "id": row.id, "job_id": row.job_id, "state": row.state, "base_version": row.base_version,
        "current": row.current, "proposed": row.proposed,
        "validity": analysis.get("validity", {}), "impact_ratios": analysis.get("impact_ratios", {}),
        "allowed": row.allowed, "reason": row.reason, "n": analysis.get("n"),
        "removal": analysis.get("removal", []), "lam": analysis.get("lam"), "cv": analysis.get("cv", {}),
        "small_samples": analysis.get("small_samples", {}), "scored": analysis.get("scored"),
        "self_identified": analysis.get("self_identified"),
        "override_reason": row.override_reason or None,
        "applied_version": row.applied_version, "rollback_version": row.rollback_version,
        "created_by": row.created_by, "created_at": row.created_at, "applied_at": row.applied_at,
        "rolled_back_at": row.rolled_back_at,
    }


def create(db: Session, who: Principal, job_id: int, thresholds: Thresholds = Thresholds()) -> Recalibration:
    """Fit, check and store a proposal for the job (422 below MIN_HIRES rated hires)."""
    job = get_job(db, who, job_id)
    data = job_people(db, who, job_id, thresholds)
    proposal = propose(data, _categories(db, data.people))
    row = Recalibration(job_id=job_id, base_version=job.version,
                        current={str(d): w for d, w in proposal.current.items()},
                        proposed={str(d): w for d, w in proposal.proposed.items()},
                        analysis=proposal.analysis(), allowed=proposal.allowed, reason=proposal.reason[:2000],
                        created_by=who.id)
    db.add(row)
    db.flush()
    audit.record(db, "hr", who.id, "recalibration.propose", "recalibration", stored_id(row), job_id=job_id,
                 base_version=job.version, n=proposal.n, current=row.current, proposed=row.proposed,
                 allowed=proposal.allowed, reason=row.reason, lam=proposal.lam)
    return row


def get(db: Session, who: Principal, recalibration_id: int) -> Recalibration:
    """The recalibration, or 404 (also when its job is not visible to this user)."""
    row = db.get(Recalibration, recalibration_id)
    if row is None:
        raise NotFound(f"recalibration {recalibration_id} not found")
    try:
        get_job(db, who, row.job_id)
    except NotFound:
        raise NotFound(f"recalibration {recalibration_id} not found") from None
    return row


def list_for_job(db: Session, who: Principal, job_id: int) -> list[Recalibration]:
    get_job(db, who, job_id)
    return list(db.exec(select(Recalibration).where(Recalibration.job_id == job_id)
                        .order_by(col(Recalibration.id).desc())))


def shadow_of(db: Session, job_id: int) -> Recalibration | None:
    return db.exec(select(Recalibration).where(Recalibration.job_id == job_id, Recalibration.state == "shadow")
                   .order_by(col(Recalibration.id).desc())).first()


def set_shadow(db: Session, who: Principal, recalibration_id: int, on: bool) -> Recalibration:
    """Shadow mode on (one per job: 409 while another is on) or off."""
    row = get(db, who, recalibration_id)
    job = get_job(db, who, row.job_id)
    if on:
        if row.state == "shadow":
            return row
        if row.state != "proposed":
            raise Conflict(f"recalibration {row.id} is {row.state}: only a proposed one can be tried in shadow")
        if row.base_version != job.version:
            raise Conflict(_stale(row, job.version))
        other = shadow_of(db, row.job_id)
        if other is not None:
            raise Conflict(f"recalibration {other.id} is already in shadow mode for this job: turn it off first")
        row.state = "shadow"
    else:
        if row.state != "shadow":
            return row
        row.state = "proposed"
    db.add(row)
    audit.record(db, "hr", who.id, "recalibration.shadow", "recalibration", stored_id(row), job_id=row.job_id,
                 on=on)
    return row


def _stale(row: Recalibration, version: int) -> str:
    return (f"job {row.job_id} changed since recalibration {row.id} was proposed (version {row.base_version}, now "
            f"{version}): propose again")


def _weights_edit(db: Session, job_id: int, weights: Mapping[str, float], note: str) -> JobEdit:
    """The job's dimensions as they are, only their weights changed."""
    job = db.get(Job, job_id)
    assert job is not None
    dims = job_snapshot(db, job)["dimensions"]
    missing = [d["name"] for d in dims if str(d["id"]) not in weights]
    if missing:
        raise Conflict(f"the job's dimensions changed ({', '.join(missing)} not in the recalibration): propose again")
    return JobEdit(note=note[:500], dimensions=[
        DimensionEdit.model_validate({**d, "weight": float(weights[str(d["id"])])}, strict=False) for d in dims])


def _same_weights(db: Session, job_id: int, weights: Mapping[str, float]) -> bool:
    job = db.get(Job, job_id)
    assert job is not None
    return all(math.isclose(d["weight"], weights.get(str(d["id"]), -1.0), rel_tol=0, abs_tol=1e-9)
               for d in job_snapshot(db, job)["dimensions"])


def apply(db: Session, who: Principal, recalibration_id: int, override_reason: str = "") -> dict[str, Any]:
    """A new job version with the proposed weights; 409 when refused by the fairness check and no
    override reason is given, when the job changed since, or when not proposed/shadow."""
    row = get(db, who, recalibration_id)
    job = get_job(db, who, row.job_id)
    reason = override_reason.strip()
    if row.state not in STATES_OPEN:
        raise Conflict(f"recalibration {row.id} is {row.state}: only a proposed (or shadow) one can be applied")
    if row.base_version != job.version:
        raise Conflict(_stale(row, job.version))
    if not row.allowed and not reason:
        raise Conflict(f"refused by the fairness check ({row.reason}): apply with a written override_reason to "
                       f"go ahead anyway", reason=row.reason)
    if _same_weights(db, row.job_id, row.proposed):
        raise Conflict("the proposed weights are today's: there is nothing to apply")
    note = f"recalibration {row.id}" + (" (fairness check overridden)" if not row.allowed else "")
    saved = edit_job(db, who, row.job_id, _weights_edit(db, row.job_id, row.proposed, note))
    row.state, row.applied_version, row.applied_at = "applied", saved["version"], utcnow()
    row.override_reason = reason[:2000] if not row.allowed else ""
    db.add(row)
    other = shadow_of(db, row.job_id)
    if other is not None and other.id != row.id:  # proposed for the version just replaced: stale now
        other.state = "proposed"
        db.add(other)
        audit.record(db, "hr", who.id, "recalibration.shadow", "recalibration", stored_id(other),
                     job_id=row.job_id, on=False, why=f"recalibration {row.id} applied")
    audit.record(db, "hr", who.id, "recalibration.apply", "recalibration", stored_id(row), job_id=row.job_id,
                 version=saved["version"], weights=row.proposed, allowed=row.allowed,
                 overridden=not row.allowed, override_reason_sha256=audit.text_digest(row.override_reason))
    logger.info("recalibration %s applied: job %s version %s", row.id, row.job_id, saved["version"])
    return {"version": saved["version"], "changes": saved["changes"]}


def rollback(db: Session, who: Principal, recalibration_id: int) -> dict[str, Any]:
    """A new job version with the base version's weights again (409 unless applied, or when the
    job was edited after the recalibration was applied)."""
    row = get(db, who, recalibration_id)
    job = get_job(db, who, row.job_id)
    if row.state != "applied" or row.applied_version is None:
        raise Conflict(f"recalibration {row.id} is {row.state}: only an applied one can be rolled back")
    if job.version != row.applied_version:
        raise Conflict(f"job {row.job_id} was edited after recalibration {row.id} was applied (version "
                       f"{row.applied_version}, now {job.version}): change the weights on the job page")
    base = {str(d["id"]): float(d["weight"]) for d in job_version_data(db, job, row.base_version)["dimensions"]}
    if _same_weights(db, row.job_id, base):
        raise Conflict(f"the job already has the weights of version {row.base_version}: there is nothing to roll back")
    saved = edit_job(db, who, row.job_id, _weights_edit(db, row.job_id, base, f"roll back recalibration {row.id}"))
    row.state, row.rollback_version, row.rolled_back_at = "rolled_back", saved["version"], utcnow()
    db.add(row)
    audit.record(db, "hr", who.id, "recalibration.rollback", "recalibration", stored_id(row), job_id=row.job_id,
                 version=saved["version"], weights=base)
    return {"version": saved["version"], "changes": saved["changes"]}
