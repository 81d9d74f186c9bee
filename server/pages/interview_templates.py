"""Template pages: the builder (questions, each with a time limit and 1-3 of the job's dimensions
with weights), the same builder to edit a template (each save a new version: server/versions.py),
and one template with its questions, versions, the copy-to-job form and the form that invites
candidates. Each question has a kind (structured, situational with its scenario, follow-up: see
server/follow_ups.py); the builder lists the question bank's suggestions for a job family
(server/question_bank.py) to add from, and the template page saves a question to the bank."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlmodel import Session, col, select

from server import question_bank
from server.api_router import QueryParam
from server.candidates import search_candidates
from server.errors import ApiError, Invalid, NotFound
from server.interview_templates import create_template, get_template, template_detail
from server.jobs import dimensions_of, get_job, list_jobs
from server.pages.common import (
    MAX_ID, FormErrors, PageCall, describe, form_rows, hr_page, localised, see_other, validation_errors,
)
from server.pages.interviews import (
    default_deadline, interview_rows, invitation_values, parse_invitation, send_invitations,
)
from server.i18n import N_, _
from server.report_words import translated
from server.schemas import QUESTION_KINDS, BankQuestionIn, QuestionEdit, TemplateCopyIn, TemplateEdit, TemplateIn
from server.store import stored_id
from server.tables import Candidate, Dimension, utcnow
from server.versions import archive_template, copy_template, edit_template, template_history

QUESTION_ROWS = 3
MORE_ROWS = 2
MAX_QUESTIONS = 50
DEFAULT_TIME_LIMIT_S = "120"
DEFAULT_WEIGHT = "1"


def _dims(dimensions: list[Dimension]) -> list[dict[str, Any]]:
    return [{"id": d.id, "name": d.name, "description": d.description} for d in dimensions]


KIND_LABELS = {"structured": N_("Structured"), "situational": N_("Situational (a scenario first)"),
               "follow_up": N_("Follow-up (only when keywords were missing)")}


def _empty_question(dims: list[dict[str, Any]]) -> dict[str, Any]:
    return {"text": "", "time_limit_s": DEFAULT_TIME_LIMIT_S, "checked": set(),
            "weights": {d["id"]: DEFAULT_WEIGHT for d in dims}, "id": None, "kind": "structured", "scenario": ""}


async def _job_and_dims(call: PageCall) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    job_id = call.id_param("job_id", "job")

    def work(db: Session) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        job = get_job(db, call.who, job_id)
        return {"id": job.id, "title": job.title, "language": job.language}, _dims(dimensions_of(db, job_id))

    return await call.store.run(work)


async def _builder(call: PageCall, job: dict[str, Any], dims: list[dict[str, Any]], *, name: str,
                   questions: list[dict[str, Any]], errors: FormErrors | None = None,
                   status: int = 200, edit: dict[str, Any] | None = None) -> web.Response:
    """The builder; with `edit` ({"id", "version", "note"}) editing that template. Below the
    questions, the bank's suggestions for the chosen job family in the job's language."""
    action = f"/templates/{edit['id']}/edit" if edit else f"/jobs/{job['id']}/templates/new"
    bank = await _bank(call, job, dims)
    return call.render("hr_template_new.html", status=status, nav="jobs", job=job, dims=dims, template_name=name,
                       questions=questions, errors=errors or FormErrors(), edit=edit, form_action=action,
                       kinds=[(k, KIND_LABELS[k]) for k in QUESTION_KINDS], kinds_by_value=KIND_LABELS, bank=bank)


def _family(call: PageCall) -> str:
    return (call.text("bank_family") or call.request.query.get("family", "")).strip()[:40]


async def _bank(call: PageCall, job: dict[str, Any], dims: list[dict[str, Any]]) -> dict[str, Any]:
    family = _family(call)
    names = {f["id"] for f in question_bank.families()}
    chosen = family if family in names else ""

    def work(db: Session) -> dict[str, Any]:
        return question_bank.suggestions(db, chosen or None, job["language"], {d["id"]: d["name"] for d in dims})

    found = await call.store.run(work) if chosen else {"questions": []}
    dim_names = {d["id"]: d["name"] for d in dims}
    for item in found["questions"]:
        item["matched"] = [dim_names[i] for i in item["dimension_ids"]]
    return {"family": chosen, "families": question_bank.families(job["language"]), "suggestions": found["questions"]}


async def _add_from_bank(call: PageCall, job: dict[str, Any], dims: list[dict[str, Any]],
                         questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`action=add:<bank id>`: the suggestion as a question row (its dimensions ticked where the
    job has a dimension of that name), in the first empty row or a new one."""
    wanted = call.text("action")[len("add:"):]
    bank = await _bank(call, job, dims)
    item = next((s for s in bank["suggestions"] if s["id"] == wanted), None)
    if item is None or len(questions) >= MAX_QUESTIONS:
        return questions
    row = _empty_question(dims)
    row.update(text=item["text"], time_limit_s=str(item["time_limit_s"]), kind=item["kind"],
               scenario=item["scenario"], checked=set(item["dimension_ids"][:3]))
    for i, q in enumerate(questions):
        if not q["text"].strip() and not q["checked"] and q["id"] is None:
            questions[i] = row
            return questions
    return [*questions, row]


@hr_page("GET", "/jobs/{job_id}/templates/new", summary="HR: the interview template builder",
         errors=(404,))
async def template_new(call: PageCall) -> web.Response:
    job, dims = await _job_and_dims(call)
    return await _builder(call, job, dims, name="",
                    questions=[_empty_question(dims) for _ in range(QUESTION_ROWS)])


def read_questions(call: PageCall, dims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    count = form_rows(call.form, QUESTION_ROWS, MAX_QUESTIONS)
    questions = []
    for i in range(count):
        questions.append({
            "text": call.text(f"q_text_{i}"),
            "time_limit_s": call.text(f"q_time_{i}").strip(),
            "checked": {d["id"] for d in dims if call.text(f"q_dim_{i}_{d['id']}")},
            "weights": {d["id"]: call.text(f"q_weight_{i}_{d['id']}").strip() for d in dims},
            "id": _question_id(call.text(f"q_id_{i}")),  # editing: the question this row is
            "kind": call.text(f"q_kind_{i}").strip() or "structured",
            "scenario": call.text(f"q_scenario_{i}"),
        })
    return questions


def _question_id(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else None


def build_template(job_id: int, name: str, questions: list[dict[str, Any]],
                   dims: list[dict[str, Any]]) -> TemplateIn | FormErrors:
    errors = FormErrors()
    names = {d["id"]: d["name"] for d in dims}
    out: list[dict[str, Any]] = []
    row_of: list[int] = []
    for i, q in enumerate(questions):
        if not q["text"].strip() and not q["checked"]:
            continue  # a blank question row: ignored
        links = [{"dimension_id": d["id"], "weight": q["weights"].get(d["id"], "")}
                 for d in dims if d["id"] in q["checked"]]
        out.append({"text": q["text"], "time_limit_s": q["time_limit_s"], "dimensions": links,
                    "kind": q["kind"], "scenario": q["scenario"] if q["kind"] == "situational" else ""})
        row_of.append(i)
    if not out:
        errors.add(_("add at least one question"), "q-0")
        return errors
    data = {"job_id": job_id, "name": name, "questions": out}

    def label(loc: tuple[Any, ...], kind: str, described: str) -> tuple[str, str]:
        if loc[:1] == ("name",):
            return "name", _("template name %(problem)s", problem=described)
        if loc[:1] == ("questions",) and len(loc) >= 2 and isinstance(loc[1], int):
            row = row_of[loc[1]]
            where, what = f"q-{row}", _("question %(n)s", n=row + 1)
            rest = loc[2:]
            if rest[:1] == ("dimensions",):
                if len(rest) == 1:
                    chosen = len(out[loc[1]]["dimensions"])
                    if kind == "too_short":
                        return where, _("%(what)s: choose at least one dimension", what=what)
                    if kind == "too_long":
                        return where, _("%(what)s: choose at most 3 dimensions (you chose %(n)s)", what=what, n=chosen)
                    return where, _("%(what)s: dimensions %(problem)s", what=what, problem=described)
                link = out[loc[1]]["dimensions"][rest[1]]
                dim_name = names.get(link["dimension_id"], "?")
                return where, _("%(what)s: weight for %(name)s %(problem)s", what=what, name=dim_name,
                                problem=described)
            if rest[:1] == ("text",):
                return where, _("%(what)s: the question text %(problem)s", what=what, problem=described)
            if rest[:1] == ("scenario",):
                return where, _("%(what)s: the scenario %(problem)s", what=what, problem=described)
            if rest[:1] == ("kind",):
                return where, _("%(what)s: choose structured, situational or follow-up", what=what)
            if rest[:1] == ("time_limit_s",):
                if kind in ("greater_than_equal", "less_than_equal"):
                    return where, _("%(what)s: the time limit must be between 10 and 3600 seconds", what=what)
                return where, _("%(what)s: the time limit (seconds) %(problem)s", what=what, problem=described)
            return where, _("%(what)s: %(problem)s", what=what, problem=described)
        if loc[:1] == ("questions",):
            return "q-0", _("questions: %(problem)s", problem=described)
        return "", described

    try:
        return TemplateIn.model_validate(data, strict=False)
    except ValidationError as exc:
        return validation_errors(exc, label)


@hr_page("POST", "/jobs/{job_id}/templates/new", summary="HR: create a template from the builder",
         errors=(404, 422))
async def template_create(call: PageCall) -> web.Response:
    job, dims = await _job_and_dims(call)
    name = call.text("name")
    questions = read_questions(call, dims)
    if call.text("action") == "more":
        questions += [_empty_question(dims)
                      for _ in range(min(MORE_ROWS, MAX_QUESTIONS - len(questions)))]
        return await _builder(call, job, dims, name=name, questions=questions)
    if call.text("action") == "suggest" or call.text("action").startswith("add:"):
        if call.text("action").startswith("add:"):
            questions = await _add_from_bank(call, job, dims, questions)
        return await _builder(call, job, dims, name=name, questions=questions)
    body = build_template(job["id"], name, questions, dims)
    if isinstance(body, FormErrors):
        return await _builder(call, job, dims, name=name, questions=questions, errors=body, status=422)
    try:
        template = await call.store.run(lambda db: create_template(db, call.who, body))
    except ApiError as exc:
        errors = FormErrors()
        errors.add(localised(exc.message))
        return await _builder(call, job, dims, name=name, questions=questions, errors=errors,
                        status=exc.status)
    return see_other(f"/templates/{template.id}")


async def _template_page(call: PageCall, *, q: str, values: dict[str, Any],
                         errors: FormErrors | None = None, status: int = 200) -> web.Response:
    template_id = call.id_param("template_id", "template")

    def work(db: Session) -> dict[str, Any]:
        template, job = get_template(db, call.who, template_id)
        candidates = search_candidates(db, q)
        # Candidates ticked before a failed submit stay listed (and ticked) whatever the search.
        shown = {c.id for c in candidates}
        ticked = [int(v) for v in values["candidate_ids"] if v.isdigit() and 0 < int(v) <= MAX_ID]
        missing = [i for i in ticked if i not in shown]
        if missing:
            extra = db.exec(select(Candidate).where(col(Candidate.id).in_(missing))).all()
            candidates = list(extra) + candidates
        return {
            "template": template_detail(db, template),
            "job": {"id": job.id, "title": job.title, "archived": job.archived_at is not None},
            "bank_families": question_bank.families(job.language),
            "kind_labels": KIND_LABELS,
            "history": template_history(db, template)["versions"],
            # Where it can be copied to: the other jobs this user sees that take templates.
            "copy_jobs": [{"id": j.id, "title": j.title} for j in list_jobs(db, call.who)
                          if j.id != job.id and j.archived_at is None],
            "candidates": candidates,
            "interviews": [r for r in interview_rows(db, call.who, job_id=job.id)
                           if r["template"]["id"] == template_id],
        }

    context = await call.store.run(work)
    return call.render(
        "hr_template.html", status=status, nav="jobs", q=q, values=values,
        errors=errors or FormErrors(), now_utc=utcnow().strftime("%Y-%m-%d %H:%M"), report_text=translated, **context,
    )


@hr_page("GET", "/templates/{template_id}",
         summary="HR: a template's questions and the form to invite candidates", errors=(404,),
         query=(QueryParam("q", "search the candidates to invite (name, email, resume words)"),))
async def template_page(call: PageCall) -> web.Response:
    q = call.request.query.get("q", "").strip()[:500]
    return await _template_page(
        call, q=q, values={"deadline": default_deadline(), "candidate_ids": set(), "q": q},
    )


@hr_page("POST", "/templates/{template_id}",
         summary="HR: invite the chosen candidates to this template's interview (batch)",
         errors=(404, 409, 422))
async def template_invite(call: PageCall) -> web.Response:
    template_id = call.id_param("template_id", "template")
    # The template must exist and be visible before the form is even looked at.
    await call.store.run(lambda db: get_template(db, call.who, template_id))
    values = invitation_values(call)
    body = parse_invitation(call, template_id)
    if not isinstance(body, FormErrors):
        result = await send_invitations(call, body)
        if isinstance(result, web.Response):
            return result
        body = result
    return await _template_page(call, q=values["q"], values=values, errors=body,
                                status=body.status)


# --- editing (each save a new version), archiving, copying ---------------------------------------

async def _editing(call: PageCall) -> tuple[int, dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The template (its detail), its job and the job's dimensions (the newest version's)."""
    template_id = call.id_param("template_id", "template")

    def work(db: Session) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        template, job = get_template(db, call.who, template_id)
        return (template_detail(db, template), {"id": job.id, "title": job.title, "language": job.language},
                _dims(dimensions_of(db, stored_id(job))))

    template, job, dims = await call.store.run(work)
    return template_id, template, job, dims


def _question_rows(template: dict[str, Any], dims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for q in template["questions"]:
        weights = {d["id"]: DEFAULT_WEIGHT for d in dims}
        weights.update({link["dimension_id"]: f"{link['weight']:g}" for link in q["dimensions"]})
        rows.append({"text": q["text"], "time_limit_s": str(q["time_limit_s"]), "id": q["id"],
                     "checked": {link["dimension_id"] for link in q["dimensions"]}, "weights": weights,
                     "kind": q["kind"], "scenario": q["scenario"]})
    return rows


@hr_page("GET", "/templates/{template_id}/edit", summary="HR: the builder editing a template (saves a new version)",
         errors=(404,))
async def template_edit_form(call: PageCall) -> web.Response:
    template_id, template, job, dims = await _editing(call)
    questions = _question_rows(template, dims) + [_empty_question(dims) for _ in range(MORE_ROWS)]
    return await _builder(call, job, dims, name=template["name"], questions=questions,
                    edit={"id": template_id, "version": template["version"], "note": ""})


@hr_page("POST", "/templates/{template_id}/edit", summary="HR: save a template's next version from the builder",
         errors=(404, 409, 422))
async def template_edit(call: PageCall) -> web.Response:
    template_id, template, job, dims = await _editing(call)
    name = call.text("name")
    note = call.text("note").strip()[:500]
    edit = {"id": template_id, "version": template["version"], "note": note}
    questions = read_questions(call, dims)
    if call.text("action") == "more":
        questions += [_empty_question(dims) for _ in range(min(MORE_ROWS, MAX_QUESTIONS - len(questions)))]
        return await _builder(call, job, dims, name=name, questions=questions, edit=edit)
    if call.text("action") == "suggest" or call.text("action").startswith("add:"):
        if call.text("action").startswith("add:"):
            questions = await _add_from_bank(call, job, dims, questions)
        return await _builder(call, job, dims, name=name, questions=questions, edit=edit)
    body = build_template(job["id"], name, questions, dims)
    if isinstance(body, FormErrors):
        return await _builder(call, job, dims, name=name, questions=questions, errors=body, status=422, edit=edit)
    kept = [q for q in questions if q["text"].strip() or q["checked"]]  # as build_template keeps them
    change = TemplateEdit(name=body.name, note=note, questions=[
        QuestionEdit(id=row["id"], **q.model_dump()) for q, row in zip(body.questions, kept, strict=True)])
    try:
        await call.store.run(lambda db: edit_template(db, call.who, template_id, change))
    except ApiError as exc:
        errors = FormErrors()
        errors.add(localised(exc.message))
        return await _builder(call, job, dims, name=name, questions=questions, errors=errors, status=exc.status,
                              edit=edit)
    return see_other(f"/templates/{template_id}#versions")


@hr_page("POST", "/templates/{template_id}/archive", summary="HR: archive a template (no new invitations)",
         errors=(404, 409))
async def template_archive(call: PageCall) -> web.Response:
    template_id = call.id_param("template_id", "template")
    await call.store.run(lambda db: archive_template(db, call.who, template_id, True))
    return see_other(f"/templates/{template_id}")


@hr_page("POST", "/templates/{template_id}/restore", summary="HR: restore an archived template", errors=(404, 409))
async def template_restore(call: PageCall) -> web.Response:
    template_id = call.id_param("template_id", "template")
    await call.store.run(lambda db: archive_template(db, call.who, template_id, False))
    return see_other(f"/templates/{template_id}")


@hr_page("POST", "/templates/{template_id}/copy",
         summary="HR: copy a template into another job (dimensions mapped by name)", errors=(404, 409, 422))
async def template_copy(call: PageCall) -> web.Response:
    template_id = call.id_param("template_id", "template")
    job_id = _question_id(call.text("job_id"))
    blank = {"deadline": default_deadline(), "candidate_ids": set(), "q": ""}
    if job_id is None:
        return await _template_page(call, q="", values=blank, status=422,
                                    errors=_one_error(_("choose the job to copy the template into"), 422))
    body = TemplateCopyIn(job_id=job_id)
    try:
        copied = await call.store.run(lambda db: copy_template(db, call.who, template_id, body))
    except ApiError as exc:
        return await _template_page(call, q="", values=blank, errors=_one_error(localised(exc.message), exc.status),
                                    status=exc.status)
    return see_other(f"/templates/{copied['id']}")


def _one_error(message: str, status: int) -> FormErrors:
    errors = FormErrors()
    errors.add(message)
    errors.status = status
    return errors


@hr_page("POST", "/templates/{template_id}/questions/{question_id}/bank",
         summary="HR: save one of the template's questions to the question bank (audited)", errors=(404, 422))
async def template_save_to_bank(call: PageCall) -> web.Response:
    template_id = call.id_param("template_id", "template")
    question_id = call.id_param("question_id", "question")
    family = call.text("family").strip()

    def work(db: Session) -> str:
        template, job = get_template(db, call.who, template_id)
        detail = template_detail(db, template)
        q = next((q for q in detail["questions"] if q["id"] == question_id), None)
        if q is None:
            raise NotFound(f"question {question_id} not found in template {template_id}")
        if not family:
            raise Invalid(_("choose the job family to save the question under"))
        try:
            body = BankQuestionIn.model_validate(
                {"family": family, "language": job.language, "text": q["text"], "kind": q["kind"],
                 "scenario": q["scenario"], "time_limit_s": q["time_limit_s"],
                 "dimensions": [d["name"] for d in q["dimensions"] if d["name"]]}, strict=False)
        except ValidationError as exc:
            why = describe(exc.errors()[0])
            raise Invalid(_("the question cannot be saved to the bank: %(why)s", why=why)) from None
        row = question_bank.save(db, call.who, body)
        return f"hr-{row.id}"

    blank = {"deadline": default_deadline(), "candidate_ids": set(), "q": ""}
    try:
        saved = await call.store.run(work)
    except ApiError as exc:
        return await _template_page(call, q="", values=blank, errors=_one_error(localised(exc.message), exc.status),
                                    status=exc.status)
    return see_other(f"/templates/{template_id}?saved={saved}#questions")
