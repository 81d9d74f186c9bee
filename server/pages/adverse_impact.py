"""/jobs/{id}/adverse-impact (admin): the job's adverse-impact report as tables, with the flags
and warnings in words, a score threshold to try, and the LL144-style CSV summary."""
from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from sqlmodel import Session

from server import audit, self_id
from server.adverse_impact import job_report
from server.api_router import QueryParam
from server.errors import ApiError, Malformed
from server.i18n import N_, _
from server.jobs import get_job
from server.pages.common import PageCall, hr_page
from server.reports import Thresholds

KIND_WORDS = {"advanced": N_("Advanced (second interview or hire)"), "hired": N_("Hired"),
              "scored_above": N_("Scored above the threshold")}
ATTRIBUTE_WORDS = {"sex": N_("Sex / gender"), "race_ethnicity": N_("Race / ethnicity"), "age_band": N_("Age band"),
                   "sex × race_ethnicity": N_("Sex × race / ethnicity")}
# Stored category -> the self-identification form's words for it (server/self_id.py).
CATEGORY_WORDS = {value: label for options in self_id.FIELDS.values() for value, label in options}


# A flag as server/adverse_impact.py writes it (English, as the API and the CSV keep it).
_FLAG = re.compile(r"^(?P<kind>[a-z_]+), (?P<attribute>[a-z_ ×]+): (?P<category>.+) at (?P<ratio>[\d.]+) of the "
                   r"highest rate$")


def flag_words(flag: str) -> str:
    """A four-fifths flag in the page's language; a flag of another form as it is."""
    m = _FLAG.match(flag)
    if m is None or m["kind"] not in KIND_WORDS or m["attribute"] not in ATTRIBUTE_WORDS:
        return flag
    kind, attribute = KIND_WORDS[m["kind"]], ATTRIBUTE_WORDS[m["attribute"]]  # (not inside _(): not msgids)
    return _("%(kind)s, %(attribute)s: %(category)s at %(ratio)s of the highest rate", kind=_(kind),
             attribute=_(attribute), category=category_words(m["category"]), ratio=m["ratio"])


def category_words(category: str) -> str:
    """A category ("female", or an intersection "female · asian") in the page's language; a value
    the form does not offer (imported data) as it is."""
    return " · ".join(_(CATEGORY_WORDS[part]) if part in CATEGORY_WORDS else part for part in category.split(" · "))


@hr_page("GET", "/jobs/{job_id}/adverse-impact", summary="Admin: a job's adverse-impact report",
         errors=(400, 403, 404), query=(QueryParam("threshold", "overall score for the scoring rate (0-100)"),))
async def adverse_impact_page(call: PageCall) -> web.Response:
    if not call.who.is_admin:
        raise ApiError("only an admin sees adverse-impact reports (they are built from self-identification)",
                       status=403)
    job_id = call.id_param("job_id", "job")
    raw = call.request.query.get("threshold", "").strip()
    threshold = None
    if raw:
        try:
            threshold = float(raw)
        except ValueError:
            raise Malformed(f"the threshold must be a number from 0 to 100, not {raw!r}") from None
        if not 0 <= threshold <= 100:
            raise Malformed("the threshold must be a number from 0 to 100")
    thresholds = Thresholds.from_settings(call.settings)

    def work(db: Session) -> tuple[dict[str, Any], str]:
        job = get_job(db, call.who, job_id)
        report = job_report(db, call.who, job_id, thresholds, threshold)
        audit.record(db, "hr", call.who.id, "adverse_impact.view", "job", job_id, format="page")
        return report, job.title

    report, title = await call.store.run(work)
    return call.render("hr_adverse_impact.html", nav="jobs", report=report, job_id=job_id, job_title=title,
                       threshold=raw, kind_words=KIND_WORDS, attribute_words=ATTRIBUTE_WORDS,
                       category_words=category_words, flag_words=flag_words)
