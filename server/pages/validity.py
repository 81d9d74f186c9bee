"""/jobs/{id}/validity: which interview dimensions predict how hires did.

The analysis is computed on each visit (and stored, as `GET /api/jobs/{id}/validity` does) and
shown as a table with verdicts, server-rendered SVG charts (a scatter of score against mean rating
per dimension with its least-squares line; bars of r with their 95% intervals), hit rates, top
performers' and early leavers' profiles, phrase suggestions and the job's recruitment KPIs."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from aiohttp import web
from sqlmodel import Session

from server import kpis as kpis_module
from server import phrases as phrases_module
from server import validity
from server.api_router import QueryParam
from server.i18n import N_, _
from server.jobs import get_job
from server.errors import Invalid
from server.pages.common import PageCall, hr_page, see_other
from server.reports import Thresholds
from server.store import stored_id
from server.validity_api import parse_bar, set_family
from server.validity_data import JobPeople, job_people

MAX_POINTS = 1500  # per scatter; beyond it the chart is a blur anyway
HISTORY_SHOWN = 8

VERDICTS = {
    "predicts": N_("predicts performance"),
    "predicts_negative": N_("predicts lower performance"),
    "none": N_("no predictive value"),
}


def verdict(block: dict[str, Any], min_n: int) -> tuple[str, str]:
    """(key, words) for one correlation block of the analysis."""
    if block.get("predictive") is None:
        return "not_enough", _("not enough data (n < %(min_n)s)", min_n=min_n)
    if block["predictive"]:
        key = "predicts_negative" if block.get("direction") == "negative" else "predicts"
        return key, _(VERDICTS[key])
    return "none", _(VERDICTS["none"])


# --- charts -----------------------------------------------------------------------------------------

def nice_range(values: Sequence[float], default: tuple[float, float] = (0.0, 100.0)) -> tuple[float, float]:
    """The data's range widened to tens (at least 10 wide)."""
    if not values:
        return default
    lo, hi = math.floor(min(values) / 10) * 10, math.ceil(max(values) / 10) * 10
    if hi - lo < 10:
        hi = lo + 10
    return float(lo), float(hi)


@dataclass(slots=True)
class Scatter:
    id: int
    name: str
    n: int
    width: int = 440
    height: int = 300
    left: int = 46
    right: int = 10
    top: int = 10
    bottom: int = 36
    x_range: tuple[float, float] = (0.0, 100.0)
    y_range: tuple[float, float] = (0.0, 100.0)
    points: list[tuple[float, float]] = field(default_factory=list)  # in SVG coordinates
    fit: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)

    @property
    def plot(self) -> tuple[int, int, int, int]:
        return self.left, self.top, self.width - self.right, self.height - self.bottom

    def sx(self, value: float) -> float:
        x0, _, x1, _ = self.plot
        lo, hi = self.x_range
        return round(x0 + (value - lo) / (hi - lo) * (x1 - x0), 1)

    def sy(self, value: float) -> float:
        _, y0, _, y1 = self.plot
        lo, hi = self.y_range
        return round(y1 - (value - lo) / (hi - lo) * (y1 - y0), 1)


def least_squares(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    """(intercept, slope), or None without variation in x."""
    if len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my - slope * mx, slope


def clip_line(a: float, b: float, x_lo: float, x_hi: float, y_lo: float,
              y_hi: float) -> tuple[float, float, float, float] | None:
    """The part of y = a + b·x with x in [x_lo, x_hi] that lies inside [y_lo, y_hi]."""
    lo, hi = x_lo, x_hi
    if b != 0:
        xa, xb = (y_lo - a) / b, (y_hi - a) / b
        lo, hi = max(lo, min(xa, xb)), min(hi, max(xa, xb))
    elif not y_lo <= a <= y_hi:
        return None
    if lo >= hi:
        return None
    return lo, a + b * lo, hi, a + b * hi


def scatter(dim_id: int, name: str, pairs: Sequence[tuple[float, float]]) -> Scatter:
    chart = Scatter(dim_id, name, len(pairs))
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    chart.x_range, chart.y_range = nice_range(xs), nice_range(ys)
    step = max(1, math.ceil(len(pairs) / MAX_POINTS))
    chart.points = [(chart.sx(x), chart.sy(y)) for x, y in pairs[::step]]
    line = least_squares(xs, ys)
    if line is not None:
        clipped = clip_line(line[0], line[1], min(xs), max(xs), *chart.y_range)
        if clipped is not None:
            x1, y1, x2, y2 = clipped
            chart.fit = (chart.sx(x1), chart.sy(y1), chart.sx(x2), chart.sy(y2))
    chart.x_ticks = _ticks(chart.x_range, chart.sx)
    chart.y_ticks = _ticks(chart.y_range, chart.sy)
    return chart


def _ticks(span: tuple[float, float], scale: Any) -> list[tuple[float, str]]:
    lo, hi = span
    step = 10 if hi - lo <= 60 else 20 if hi - lo <= 120 else 50
    out, value = [], math.ceil(lo / step) * step
    while value <= hi + 1e-9:
        out.append((scale(value), f"{value:g}"))
        value += step
    return out


@dataclass(frozen=True, slots=True)
class BarRow:
    name: str
    r: float | None
    lo: float | None
    hi: float | None
    key: str


@dataclass(slots=True)
class Bars:
    rows: list[BarRow]
    width: int = 640
    label_width: int = 200
    row: int = 30
    x0: int = 210
    x1: int = 620

    @property
    def height(self) -> int:
        return len(self.rows) * self.row + 26

    def sx(self, r: float) -> float:
        return round(self.x0 + (max(-1.0, min(1.0, r)) + 1) / 2 * (self.x1 - self.x0), 1)

    @property
    def ticks(self) -> list[tuple[float, str]]:
        return [(self.sx(t), f"{t:g}") for t in (-1.0, -0.5, 0.0, 0.5, 1.0)]


def charts(jp: JobPeople, result: dict[str, Any]) -> tuple[list[Scatter], Bars]:
    rated = [p for p in jp.people if p.hired and p.mean_rating is not None]
    scatters = []
    for d in jp.dimensions:
        did = stored_id(d)
        pairs = [(float(s), float(p.mean_rating)) for p in rated
                 if (s := p.scores.get(did)) is not None and p.mean_rating is not None]
        scatters.append(scatter(did, d.name, pairs))
    rows = []
    min_n = result["min_n"]
    for name, block in [(_("Overall"), result["overall"]), *((d["name"], d) for d in result["dimensions"])]:
        ci = block.get("ci") or [None, None]
        rows.append(BarRow(name, block.get("r"), ci[0], ci[1], verdict(block, min_n)[0]))
    return scatters, Bars(rows)


# --- the page ------------------------------------------------------------------------------------------

@hr_page("GET", "/jobs/{job_id}/validity",
         summary="HR: a job's predictive validity (correlations with performance, charts, profiles, phrase "
                 "suggestions, KPIs)", errors=(400, 404),
         query=(QueryParam("bar", "the performance rating (0-100) that counts as meeting the bar; default 70"),
                QueryParam("period", "KPIs by month (default) or quarter")))
async def validity_page(call: PageCall) -> web.Response:
    job_id = call.id_param("job_id", "job")
    bar = parse_bar(call.request.query.get("bar"))
    period = kpis_module.parse_period(call.request.query.get("period"))
    thresholds = Thresholds.from_settings(call.settings)

    def work(db: Session) -> dict[str, Any]:
        job = get_job(db, call.who, job_id)
        jp = job_people(db, call.who, job_id, thresholds)
        result = validity.compute(db, call.who, job_id, bar, "request", thresholds, people=jp)
        family = (validity.compute_family(db, call.who, job.family, bar, thresholds)
                  if job.family.strip() else None)
        return {"title": job.title, "jp": jp, "result": result, "family_name": job.family, "family": family,
                "phrases": phrases_module.job_phrases(db, call.who, job_id, thresholds),
                "kpis": kpis_module.job_kpis(db, call.who, job_id, period),
                "history": validity.history(db, call.who, job_id)["snapshots"][:HISTORY_SHOWN]}

    data = await call.store.run(work)
    result = data["result"]
    scatters, bars = charts(data["jp"], result)
    min_n = result["min_n"]
    verdicts = {"overall": verdict(result["overall"], min_n)}
    verdicts.update({str(d["id"]): verdict(d, min_n) for d in result["dimensions"]})
    hit_cutoffs = list(validity.HIT_CUTOFFS)
    hits = {str(d["id"]): {h["score_at_least"]: h for h in d["hit_rates"]} for d in result["dimensions"]}
    hits["overall"] = {h["score_at_least"]: h for h in result["overall"]["hit_rates"]}
    rows = [("overall", _("Overall"), result["overall"]), *((str(d["id"]), d["name"], d) for d in result["dimensions"])]
    return call.render(
        "hr_validity.html", nav="jobs", job_id=job_id, title=data["title"], v=result, bar=bar, period=period,
        rows=rows, verdicts=verdicts, scatters=scatters, bars=bars, hit_cutoffs=hit_cutoffs, hits=hits,
        phrases=data["phrases"], kpis=data["kpis"], history=data["history"],
        family_name=data["family_name"], family=data["family"],
        family_rows=[(d["name"], d, verdict(d, min_n)) for d in data["family"]["dimensions"]] if data["family"] else [],
        decision_labels={"hire": _("Hire"), "second_interview": _("Second interview"),
                         "talent_pool": _("Talent pool"), "not_recommended": _("Not recommended")},
    )


@hr_page("POST", "/jobs/{job_id}/family", summary="HR: set the job's family (then the validity page)",
         errors=(404, 422))
async def validity_family(call: PageCall) -> web.Response:
    job_id = call.id_param("job_id", "job")
    family = call.text("family").strip()
    if len(family) > 40:
        raise Invalid(_("A job family is at most 40 characters."))
    await call.store.run(lambda db: set_family(db, call.who, job_id, family))
    return see_other(f"/jobs/{job_id}/validity#family")
