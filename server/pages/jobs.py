"""Job pages: the list, the new-job form (title, language, competency dimensions with keywords
and scoring rules, analysis switches) and one job with its templates and interviews."""
from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from server.errors import ApiError
from server.interview_templates import list_templates
from server.model_bank import models_key
from server.jobs import create_job, get_job, job_detail, list_jobs
from server.pages.common import (
    FormErrors, PageCall, form_rows, hr_page, see_other, validation_errors,
)
from server.pages.interviews import interview_rows
from server.schemas import JobIn
from server.store import stored_id
from server.tables import Dimension, Interview, Template

DIMENSION_ROWS = 5
MORE_ROWS = 3
MAX_DIMENSIONS = 30
SWITCHES = (
    ("analyze_expression", "Facial expression (smiles)",
     "Some jurisdictions forbid inferring emotion from the face in hiring; switch it off there."),
    ("analyze_eye_contact", "Eye contact", "How often the candidate looks at the camera."),
    ("analyze_posture", "Posture and gestures", "Upright posture and hand movement."),
)
SIGNAL_HELP = (
    "keyword_hits:<one of the dimension's keywords>", "mentions:<phrase>", "keyword_density", "word_count",
    "speech_rate_wpm", "filler_ratio", "answer_seconds", "coherence", "pause_count", "longest_pause_s",
    "face_present_ratio", "multiple_faces_ratio", "eye_contact_ratio", "smile_ratio", "upright_ratio",
    "gesture_activity",
)
# A rule line starting with this word is checked over the whole interview (scope "interview").
INTERVIEW_PREFIX = "interview"
LANGUAGES = (("ko", "Korean"), ("en", "English"), ("ja", "Japanese"), ("zh", "Chinese"),
             ("de", "German"), ("fr", "French"), ("es", "Spanish"))
_RULE_OPS = (">=", "<=", "==", ">", "<")


@hr_page("GET", "/jobs", summary="HR: the jobs this user may see")
async def jobs_list(call: PageCall) -> web.Response:
    def work(db: Session) -> list[dict[str, Any]]:
        jobs = list_jobs(db, call.who)
        ids = [j.id for j in jobs]
        counts: dict[str, dict[int, int]] = {}
        for name, column in (("dimensions", col(Dimension.job_id)),
                             ("templates", col(Template.job_id)),
                             ("interviews", col(Interview.job_id))):
            rows = db.exec(
                select(column, func.count()).where(column.in_(ids)).group_by(column)
            ).all() if ids else []
            counts[name] = {job_id: count for job_id, count in rows}
        return [
            {"id": j.id, "title": j.title, "language": j.language, "created_at": j.created_at,
             **{name: counts[name].get(stored_id(j), 0) for name in counts}}
            for j in jobs
        ]

    return call.render("hr_jobs.html", nav="jobs", jobs=await call.store.run(work))


def _blank_job_values(default_language: str) -> dict[str, Any]:
    return {"title": "", "language": default_language,
            **{name: True for name, _, _ in SWITCHES}}


def _job_form(call: PageCall, *, values: dict[str, Any], rows: list[dict[str, str]],
              errors: FormErrors | None = None, status: int = 200) -> web.Response:
    return call.render(
        "hr_job_new.html", status=status, nav="jobs", values=values, rows=rows,
        errors=errors or FormErrors(), switches=SWITCHES, signals=SIGNAL_HELP,
        languages=LANGUAGES, default_language=call.settings.default_language,
    )


@hr_page("GET", "/jobs/new", summary="HR: the new-job form")
async def job_new(call: PageCall) -> web.Response:
    rows = [_empty_row() for _ in range(DIMENSION_ROWS)]
    return _job_form(call, values=_blank_job_values(call.settings.default_language), rows=rows)


def _empty_row() -> dict[str, str]:
    return {"name": "", "description": "", "keywords": "", "rules": "", "weight": ""}


def split_keywords(text: str) -> list[str]:
    return [k.strip() for k in re.split(r"[,\n]", text) if k.strip()]


def parse_rules(text: str, row: int, errors: FormErrors) -> list[dict[str, str]]:
    """One rule a line: `signal op value points`, e.g. `keyword_hits:procedure >= 1 10`, or with
    `interview` first for a rule over the whole interview (`interview mentions:follow operating
    procedures > 0.8 10`). The signal may contain spaces (a keyword of two words), so the line
    is split from the right."""
    rules = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        scope = "answer"
        first, _, rest = line.partition(" ")
        if first.lower() == INTERVIEW_PREFIX and rest.strip():
            scope, line = "interview", rest.strip()
        parts = line.rsplit(None, 3)
        if len(parts) != 4 or parts[1] not in _RULE_OPS:
            errors.add(
                f"dimension {row + 1}, rule line {n} ({line!r}): write 'signal op value points', "
                f"e.g. 'keyword_hits:procedure >= 1 10'; op is one of {' '.join(_RULE_OPS)}",
                f"dim-{row}",
            )
            continue
        signal, op, value, points = parts
        rules.append({"signal": signal, "op": op, "value": value, "points": points, "scope": scope})
    return rules


def read_job_form(call: PageCall) -> tuple[dict[str, Any], list[dict[str, str]]]:
    values: dict[str, Any] = {
        "title": call.text("title"),
        "language": call.text("language").strip(),
        **{name: bool(call.text(name)) for name, _, _ in SWITCHES},
    }
    count = form_rows(call.form, DIMENSION_ROWS, MAX_DIMENSIONS)
    rows = [
        {key: call.text(f"dim_{key}_{i}") for key in ("name", "description", "keywords", "rules", "weight")}
        for i in range(count)
    ]
    return values, rows


def build_job(values: dict[str, Any], rows: list[dict[str, str]]) -> JobIn | FormErrors:
    errors = FormErrors()
    dimensions: list[dict[str, Any]] = []
    row_of: list[int] = []  # the form row of each dimension sent to validation
    for i, row in enumerate(rows):
        if not any(v.strip() for v in row.values()):
            continue  # a blank row: ignored
        dimensions.append({
            "name": row["name"],
            "description": row["description"].strip(),
            "keywords": split_keywords(row["keywords"]),
            "rules": parse_rules(row["rules"], i, errors),
            **({"weight": row["weight"].strip()} if row["weight"].strip() else {}),
        })
        row_of.append(i)
    if not dimensions:
        errors.add("add at least one competency dimension (fill in its name)", "dim-0")
    if errors:
        return errors
    data = {
        "title": values["title"],
        "language": values["language"] or None,
        "dimensions": dimensions,
        **{name: values[name] for name, _, _ in SWITCHES},
    }

    def label(loc: tuple[Any, ...], kind: str, described: str) -> tuple[str, str]:
        if loc[:1] == ("title",):
            return "title", f"job title {described}"
        if loc[:1] == ("language",):
            return "language", "language: use a language code such as ko or en"
        if loc[:1] == ("dimensions",) and len(loc) >= 2 and isinstance(loc[1], int):
            row = row_of[loc[1]]
            where = f"dim-{row}"
            rest = loc[2:]
            if rest[:1] == ("rules",) and len(rest) >= 3:
                field = rest[2]
                if field == "signal":
                    described = ("is not a known signal; use one of " + ", ".join(SIGNAL_HELP))
                return where, f"dimension {row + 1}, rule line {rest[1] + 1}: {field} {described}"
            if rest[:1] == ("keywords",):
                return where, f"dimension {row + 1}, keywords: {described}"
            if not rest:  # the dimension as a whole, e.g. a keyword_hits: rule on another keyword
                return where, f"dimension {row + 1}: {described}"
            return where, f"dimension {row + 1}: {rest[0]} {described}"
        if loc[:1] == ("dimensions",):
            return "dim-0", f"dimensions: {described}"
        return "", f"{'.'.join(map(str, loc))}: {described}"

    try:
        return JobIn.model_validate(data, strict=False)
    except ValidationError as exc:
        return validation_errors(exc, label)


@hr_page("POST", "/jobs/new", summary="HR: create a job from the form", errors=(422,))
async def job_create(call: PageCall) -> web.Response:
    values, rows = read_job_form(call)
    if call.text("action") == "more":
        rows += [_empty_row() for _ in range(min(MORE_ROWS, MAX_DIMENSIONS - len(rows)))]
        return _job_form(call, values=values, rows=rows)
    body = build_job(values, rows)
    if isinstance(body, FormErrors):
        return _job_form(call, values=values, rows=rows, errors=body, status=422)
    language = call.settings.default_language
    bank = call.request.app[models_key]
    installed = bank.speech_languages()
    try:
        job = await call.store.run(lambda db: create_job(db, call.who, body, language, installed))
        bank.ensure_language(job.language)
    except ApiError as exc:
        errors = FormErrors()
        errors.add(exc.message)
        return _job_form(call, values=values, rows=rows, errors=errors, status=exc.status)
    return see_other(f"/jobs/{job.id}")


@hr_page("GET", "/jobs/{job_id}", summary="HR: one job with its dimensions, templates and interviews",
         errors=(404,))
async def job_page(call: PageCall) -> web.Response:
    job_id = call.id_param("job_id", "job")

    def work(db: Session) -> dict[str, Any]:
        job = get_job(db, call.who, job_id)
        return {
            "job": job_detail(db, job),
            "templates": list_templates(db, call.who, job_id),
            "interviews": interview_rows(db, call.who, job_id=job_id),
        }

    context = await call.store.run(work)
    return call.render("hr_job.html", nav="jobs", switches=SWITCHES, **context)
