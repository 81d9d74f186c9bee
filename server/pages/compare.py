"""The comparison page: /jobs/{id}/compare?interviews=1,2,3 (the results board's "Compare
selected" sends the ticked rows), 2 to 4 completed interviews of the job side by side: a grouped
bar chart of the dimension scores (SVG drawn here, no script), then per dimension each
candidate's score, percentile, evidence and key clips, with overall, recommendation, review and
decision per candidate. Bad input is a clear message on the page with its 4xx status."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from server.compare import MAX_COMPARED, MIN_COMPARED, comparison_for
from server.errors import ApiError
from server.evidence_words import mmss
from server.pages.common import PageCall, hr_page, sentence
from server.pages.reports import DECISION_LABELS, RECOMMENDATION_LABELS
from server.i18n import _
from server.report_words import translated
from server.api_router import QueryParam

# Chart geometry (SVG user units): labels on the left, bars from X0 for 0 to X0 + SCALE * 100.
WIDTH, X0, SCALE = 720, 190, 4.6
BAR_H, BAR_GAP, GROUP_GAP, AXIS_H = 14, 3, 14, 22


@dataclass(frozen=True, slots=True)
class Bar:
    slot: int  # the candidate's place (its colour)
    name: str
    y: float
    width: float | None  # None: not assessed
    label: str


@dataclass(slots=True)
class Group:
    dimension_id: int
    name: str
    y: float  # top of the group
    label_y: float
    bars: list[Bar] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: float
    x0: float
    groups: list[Group]
    ticks: list[tuple[int, float]]  # (value, x)
    axis_y: float
    title: str


def dimension_chart(data: dict[str, Any]) -> Chart:
    """Grouped bars: one group per dimension, one bar per candidate in the candidates' order."""
    names = [c["name"] for c in data["candidates"]]
    per = len(names) * (BAR_H + BAR_GAP) - BAR_GAP
    groups: list[Group] = []
    y = 6.0
    for dim in data["dimensions"]:
        group = Group(dim["id"], dim["name"], y, y + per / 2 + 4)
        for slot, cell in enumerate(dim["scores"]):
            top = y + slot * (BAR_H + BAR_GAP)
            score = cell["score"]
            if score is None:
                group.bars.append(Bar(slot, names[slot], top, None, _("not assessed")))
            else:
                group.bars.append(Bar(slot, names[slot], top, max(SCALE * score, 1.0), f"{score:.1f}"))
        groups.append(group)
        y += per + GROUP_GAP
    axis_y = y - GROUP_GAP + 6
    title = _("Dimension scores, 0 to 100:") + " " + "; ".join(
        f"{g.name}: " + ", ".join(f"{b.name} {b.label}" for b in g.bars) for g in groups)
    return Chart(WIDTH, axis_y + AXIS_H, X0, groups, [(t, X0 + SCALE * t) for t in (0, 25, 50, 75, 100)],
                 axis_y, title)


def _view(data: dict[str, Any]) -> dict[str, Any]:
    for cand in data["candidates"]:
        cand["recommendation_label"] = _(RECOMMENDATION_LABELS.get(cand["recommendation"]["decision"],
                                                                   cand["recommendation"]["decision"]))
        decision = cand["decision"]
        cand["decision_label"] = _(DECISION_LABELS.get(decision["decision"], decision["decision"])) if decision \
            else _("Not decided")
    for dim in data["dimensions"]:
        for cell in dim["scores"]:
            for clip in cell["clips"]:
                # Same origin, the report page's URL: the session cookie goes with it and opening marks it seen.
                clip["src"] = urlsplit(clip["media_url"]).path
                clip["when"] = f"{mmss(clip['start_s'])}–{mmss(clip['end_s'])}"
    return data


@hr_page("GET", "/jobs/{job_id}/compare",
         summary=f"HR: {MIN_COMPARED} to {MAX_COMPARED} completed interviews of a job side by side (dimension "
                 f"chart, evidence and clips per dimension)",
         errors=(400, 404, 409, 422),
         query=(QueryParam("interviews", "interview ids, comma-separated or the parameter repeated"),))
async def compare_page(call: PageCall) -> web.Response:
    job_id = call.id_param("job_id", "job")
    try:
        data = await comparison_for(call.request, call.who, job_id, call.request.query.getall("interviews", []))
    except ApiError as exc:
        if exc.status == 404 and str(exc.message).startswith("job "):
            raise
        return call.render("hr_compare.html", status=exc.status, nav="jobs", job_id=job_id,
                           error=sentence(_(exc.message)), data=None, chart=None, report_text=translated)
    return call.render("hr_compare.html", nav="jobs", job_id=job_id, error=None, data=_view(data),
                       chart=dimension_chart(data), report_text=translated)
