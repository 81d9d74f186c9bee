"""Job and template versions: every edit saves the next version; nothing is overwritten.

A job's live rows (dimensions, scoring rules) and a template's (questions, dimension links) are
its newest version; each saved version is also kept whole, as JSON (`job_versions`,
`template_versions`). An invitation freezes the newest job and template versions on the
interview (`Interview.job_version`, `template_version`), and the interview is asked, scored and
reported from those saved versions (server/plan.py), so an edit never changes an interview
already sent or its report.

Identity: a dimension keeps its id across versions (renamed, reweighted, new keywords or rules),
so scores, percentiles and the results board compare interviews of different versions by
dimension. A dimension left out of an edit is retired: kept for the versions that had it, absent
from newer ones; adding a dimension of a retired one's name brings it back with its id. Questions
likewise keep their ids; one left out of an edit is retired.

Archived jobs and templates take no new invitations (409) until restored; nothing is deleted.
A database from before versions has no saved versions: its jobs and templates read as version 1
(the live rows, which no edit could have changed), saved as such before their first edit.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from server import audit, jurisdictions
from server.auth import Principal
from server.errors import Conflict, Invalid, NotFound
from server.interview_templates import (
    add_links, check_kinds, create_template, get_template, questions_of, save_template_version, template_snapshot,
)
from server.jobs import dimensions_of, get_job, job_snapshot, save_job_version
from server.schemas import (
    DimensionEdit, JobEdit, QuestionDimensionIn, QuestionEdit, QuestionIn, TemplateCopyIn, TemplateEdit, TemplateIn,
)
from server.store import stored_id
from server.tables import (
    Dimension, Interview, Job, JobVersion, Question, QuestionDimension, ScoringRule, Template, TemplateVersion,
    User, utcnow,
)

logger = logging.getLogger(__name__)


# --- reading versions ------------------------------------------------------------------------

def _job_rows(db: Session, job_id: int) -> list[JobVersion]:
    return list(db.exec(select(JobVersion).where(JobVersion.job_id == job_id).order_by(col(JobVersion.version))))


def _template_rows(db: Session, template_id: int) -> list[TemplateVersion]:
    return list(db.exec(select(TemplateVersion).where(TemplateVersion.template_id == template_id)
                        .order_by(col(TemplateVersion.version))))


def job_version_data(db: Session, job: Job, version: int) -> dict[str, Any]:
    """The job as version `version` held it (404 when there is no such version)."""
    row = db.get(JobVersion, (stored_id(job), version))
    if row is not None:
        return dict(row.data)
    if version == job.version == 1 and not _job_rows(db, stored_id(job)):
        return job_snapshot(db, job)  # a job from before versions: its live rows are version 1
    raise NotFound(f"job {job.id} has no version {version} (versions 1 to {job.version})")


def template_version_data(db: Session, template: Template, version: int) -> dict[str, Any]:
    row = db.get(TemplateVersion, (stored_id(template), version))
    if row is not None:
        return dict(row.data)
    if version == template.version == 1 and not _template_rows(db, stored_id(template)):
        return template_snapshot(db, template)
    raise NotFound(f"template {template.id} has no version {version} (versions 1 to {template.version})")


def interview_versions(db: Session, interview: Interview) -> tuple[dict[str, Any], dict[str, Any]]:
    """The job and template versions the interview was invited with."""
    job = db.get(Job, interview.job_id)
    template = db.get(Template, interview.template_id)
    assert job is not None and template is not None, "foreign keys"
    return (job_version_data(db, job, interview.job_version),
            template_version_data(db, template, interview.template_version))


def _emails(db: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {stored_id(u): u.email for u in db.exec(select(User).where(col(User.id).in_(ids)))}


def _history(rows: list[Any], first: dict[str, Any], created_by: int, created_at: datetime,
             changes: Any, db: Session) -> list[dict[str, Any]]:
    if not rows:  # from before versions: version 1 is the live rows
        entries = [(1, first, created_by, created_at, "")]
    else:
        entries = [(r.version, r.data, r.created_by, r.created_at, r.note) for r in rows]
    emails = _emails(db, {e[2] for e in entries})
    out = []
    previous: dict[str, Any] | None = None
    for version, data, by, at, note in entries:
        out.append({"version": version, "created_by": by, "created_by_email": emails.get(by), "created_at": at,
                    "note": note, "changes": changes(previous, data) if previous is not None else ["created"]})
        previous = data
    out.reverse()  # newest first
    return out


def job_history(db: Session, job: Job) -> dict[str, Any]:
    rows = _job_rows(db, stored_id(job))
    first = job_snapshot(db, job) if not rows else {}
    return {"job_id": job.id, "current": job.version, "archived_at": job.archived_at,
            "versions": _history(rows, first, job.created_by, job.created_at, job_changes, db)}


def template_history(db: Session, template: Template) -> dict[str, Any]:
    rows = _template_rows(db, stored_id(template))
    first = template_snapshot(db, template) if not rows else {}
    return {"template_id": template.id, "current": template.version, "archived_at": template.archived_at,
            "versions": _history(rows, first, template.created_by, template.created_at, template_changes, db)}


def job_at_version(db: Session, job: Job, version: int) -> dict[str, Any]:
    """GET /api/jobs/{id}?version=N: that version in the shape of the job's detail."""
    data = job_version_data(db, job, version)
    return {"id": job.id, "created_by": job.created_by, "created_at": job.created_at, **data,
            "version": version, "current_version": job.version, "archived_at": job.archived_at}


def template_at_version(db: Session, template: Template, version: int) -> dict[str, Any]:
    data = template_version_data(db, template, version)
    names = {stored_id(d): d.name for d in dimensions_of(db, template.job_id, include_retired=True)}
    return {"id": template.id, "job_id": template.job_id, "name": data["name"], "created_at": template.created_at,
            "version": version, "current_version": template.version, "archived_at": template.archived_at,
            "questions": [{**q, "dimensions": [{**link, "name": names.get(link["dimension_id"])}
                                               for link in q["dimensions"]]} for q in data["questions"]]}


# --- what changed --------------------------------------------------------------------------------

def job_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One line per change between two versions of a job, by dimension identity."""
    out = []
    if old.get("title") != new.get("title"):
        out.append(f"title: {old.get('title')!r} → {new.get('title')!r}")
    before = {d["id"]: d for d in old.get("dimensions", [])}
    after = {d["id"]: d for d in new.get("dimensions", [])}
    for dim_id, d in after.items():
        if dim_id not in before:
            out.append(f"added dimension {d['name']!r}")
            continue
        was = before[dim_id]
        if was["name"] != d["name"]:
            out.append(f"renamed dimension {was['name']!r} → {d['name']!r}")
        what = [key for key in ("description", "keywords", "weight", "rules") if was.get(key) != d.get(key)]
        if what:
            out.append(f"{d['name']}: {', '.join(what)} changed")
    out += [f"retired dimension {d['name']!r}" for dim_id, d in before.items() if dim_id not in after]
    kept_before = [i for i in before if i in after]
    kept_after = [i for i in after if i in before]
    if kept_before != kept_after:
        out.append("dimensions reordered")
    return out


def template_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    if old.get("name") != new.get("name"):
        out.append(f"name: {old.get('name')!r} → {new.get('name')!r}")
    before = {q["id"]: q for q in old.get("questions", [])}
    after = {q["id"]: q for q in new.get("questions", [])}
    for qid, q in after.items():
        if qid not in before:
            out.append(f"added question {q['index'] + 1}: {_short(q['text'])}")
            continue
        what = [label for key, label in (("text", "text"), ("time_limit_s", "time limit"),
                                         ("dimensions", "dimensions and weights"), ("kind", "kind"),
                                         ("scenario", "scenario"))
                if before[qid].get(key, _DEFAULTS.get(key)) != q.get(key, _DEFAULTS.get(key))]
        if what:
            out.append(f"question {q['index'] + 1}: {', '.join(what)} changed")
    out += [f"removed question {q['index'] + 1}: {_short(q['text'])}" for qid, q in before.items()
            if qid not in after]
    if [i for i in before if i in after] != [i for i in after if i in before]:
        out.append("questions reordered")
    return out


# Versions saved before question kinds existed hold none: they were structured.
_DEFAULTS: dict[str, Any] = {"kind": "structured", "scenario": ""}


def _short(text: str, most: int = 60) -> str:
    return repr(text if len(text) <= most else text[: most - 1] + "…")


# --- editing a job -------------------------------------------------------------------------------

def _first_job_version(db: Session, job: Job) -> None:
    """A job from before versions: keep its live rows as version 1 before they change."""
    if not _job_rows(db, stored_id(job)):
        row = save_job_version(db, job, job.created_by, note="as it was before versions were kept")
        row.created_at = job.created_at
        db.add(row)


def _first_template_version(db: Session, template: Template) -> None:
    if not _template_rows(db, stored_id(template)):
        row = save_template_version(db, template, template.created_by, note="as it was before versions were kept")
        row.created_at = template.created_at
        db.add(row)


def _not_archived(job: Job, template: Template | None = None) -> None:
    if job.archived_at is not None:
        raise Conflict(f"job {job.id} is archived: restore it first (POST /api/jobs/{job.id}/restore)")
    if template is not None and template.archived_at is not None:
        raise Conflict(f"template {template.id} is archived: restore it first "
                       f"(POST /api/templates/{template.id}/restore)")


def edit_job(db: Session, who: Principal, job_id: int, body: JobEdit) -> dict[str, Any]:
    """Save the job's next version (or nothing, when the edit changes nothing)."""
    job = get_job(db, who, job_id)
    db.refresh(job, with_for_update=True)  # two edits at once: one after the other, not the same version
    _not_archived(job)
    if body.dimensions is not None:
        _check_rules(job, body.dimensions)
    _first_job_version(db, job)
    old = job_snapshot(db, job)
    if body.title is not None:
        job.title = body.title
        db.add(job)
    if body.dimensions is not None:
        _apply_dimensions(db, job, body.dimensions)
    new = job_snapshot(db, job)
    changes = job_changes(old, new)
    if not changes:
        db.rollback()  # nothing changed (the rules rewritten as they were): no version
        return {"id": job_id, "version": job.version, "changed": False, "changes": [], "templates_to_update": []}
    job.version += 1
    db.add(job)
    save_job_version(db, job, who.id, body.note)
    before = {d["id"]: d for d in old["dimensions"]}
    after = {d["id"]: d for d in new["dimensions"]}
    audit.record(db, "hr", who.id, "job.edit", "job", job_id, version=job.version,
                 title_changed=old["title"] != new["title"],
                 added=[i for i in after if i not in before], retired=[i for i in before if i not in after],
                 renamed=[i for i in after if i in before and after[i]["name"] != before[i]["name"]],
                 changed=[i for i in after if i in before and after[i] != before[i]],
                 note_sha256=audit.text_digest(body.note))
    return {"id": job_id, "version": job.version, "changed": True, "changes": changes,
            "templates_to_update": templates_linking_retired(db, job)}


def _check_rules(job: Job, dims: list[DimensionEdit]) -> None:
    names = [d.name.lower() for d in dims]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise Invalid(f"dimension names must be unique within a job: {', '.join(duplicates)}")
    ids = [d.id for d in dims if d.id is not None]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise Invalid(f"dimension {', '.join(map(str, twice))} is listed twice")
    profile = jurisdictions.profile(job.jurisdiction)
    forbidden = jurisdictions.forbidden_rule_signals(profile, [r.signal for d in dims for r in d.rules])
    if forbidden:
        raise Invalid(f"the {profile.name} profile forbids rules on {', '.join(forbidden)}; remove those rules")


def _apply_dimensions(db: Session, job: Job, edits: list[DimensionEdit]) -> None:
    """The job's live dimensions become `edits`, in order: an entry with an id updates that
    dimension; one without is matched by name to a dimension of the job no other entry claims
    (so a retired one comes back with its id), else it is new; the rest are retired."""
    every = dimensions_of(db, stored_id(job), include_retired=True)
    by_id = {stored_id(d): d for d in every}
    claimed = {e.id for e in edits if e.id is not None}
    for n, e in enumerate(edits):
        if e.id is not None and e.id not in by_id:
            raise Invalid(f"dimensions.{n}: dimension {e.id} is not a dimension of job {job.id}")
    by_name = {d.name.lower(): d for d in every if stored_id(d) not in claimed}
    targets: list[Dimension | None] = []
    for n, e in enumerate(edits):
        if e.id is not None:
            clash = by_name.get(e.name.lower())
            if clash is not None:  # a dimension no entry keeps: it would be retired under the same name
                raise Invalid(f"dimensions.{n}: {e.name!r} is the name of dimension {clash.id}"
                              f"{' (retired)' if clash.retired else ''}: send that id (or the name without "
                              f"an id) to keep it, or choose another name")
            targets.append(by_id[e.id])
        else:
            targets.append(by_name.get(e.name.lower()))
    kept = {stored_id(t) for t in targets if t is not None}
    # Names move in two steps, so that two dimensions may swap names under the unique index.
    for e, dim in zip(edits, targets, strict=True):
        if dim is not None and dim.name != e.name:
            dim.name = f"(renaming {dim.id})"
            db.add(dim)
    db.flush()
    for position, (e, dim) in enumerate(zip(edits, targets, strict=True)):
        if dim is None:
            dim = Dimension(job_id=stored_id(job), position=position, name=e.name)
        else:
            for stale in db.exec(select(ScoringRule).where(ScoringRule.dimension_id == dim.id)):
                db.delete(stale)
        dim.name, dim.description, dim.keywords = e.name, e.description, list(e.keywords)
        dim.weight, dim.position, dim.retired = e.weight, position, False
        db.add(dim)
        db.flush()
        for rule_pos, rule in enumerate(e.rules):
            db.add(ScoringRule(dimension_id=stored_id(dim), position=rule_pos, signal=rule.signal, op=rule.op,
                               value=rule.value, points=rule.points, scope=rule.scope))
    for d in every:
        if stored_id(d) not in kept and not d.retired:
            d.retired = True
            db.add(d)
    db.flush()


def templates_linking_retired(db: Session, job: Job) -> list[dict[str, Any]]:
    """The job's templates (not archived) whose newest version links a retired dimension."""
    active = {stored_id(d) for d in dimensions_of(db, stored_id(job))}
    names = {stored_id(d): d.name for d in dimensions_of(db, stored_id(job), include_retired=True)}
    out = []
    for template in db.exec(select(Template).where(Template.job_id == job.id, col(Template.archived_at).is_(None))
                            .order_by(col(Template.id))):
        gone = _retired_links(db, template, active)
        if gone:
            out.append({"id": template.id, "name": template.name, "dimensions": [names[d] for d in gone]})
    return out


def _retired_links(db: Session, template: Template, active: set[int]) -> list[int]:
    seen: dict[int, None] = {}
    for _, links in questions_of(db, stored_id(template)):
        for link in links:
            if link.dimension_id not in active:
                seen.setdefault(link.dimension_id, None)
    return list(seen)


# --- editing a template --------------------------------------------------------------------------

def edit_template(db: Session, who: Principal, template_id: int, body: TemplateEdit) -> dict[str, Any]:
    template, job = get_template(db, who, template_id)
    db.refresh(template, with_for_update=True)
    _not_archived(job, template)
    if body.questions is not None:
        check_kinds(body.questions)
        _check_questions(db, template, job, body.questions)
    _first_template_version(db, template)
    old = template_snapshot(db, template)
    if body.name is not None:
        template.name = body.name
        db.add(template)
    if body.questions is not None:
        _apply_questions(db, template, body.questions)
    new = template_snapshot(db, template)
    changes = template_changes(old, new)
    if not changes:
        db.rollback()
        return {"id": template_id, "version": template.version, "changed": False, "changes": [],
                "templates_to_update": []}
    template.version += 1
    db.add(template)
    save_template_version(db, template, who.id, body.note)
    before = {q["id"] for q in old["questions"]}
    after = {q["id"]: q for q in new["questions"]}
    audit.record(db, "hr", who.id, "template.edit", "template", template_id, version=template.version,
                 job_id=job.id, name_changed=old["name"] != new["name"],
                 added=[i for i in after if i not in before], removed=sorted(before - set(after)),
                 note_sha256=audit.text_digest(body.note))
    return {"id": template_id, "version": template.version, "changed": True, "changes": changes,
            "templates_to_update": []}


def _check_questions(db: Session, template: Template, job: Job, questions: list[QuestionEdit]) -> None:
    every = {stored_id(d): d for d in dimensions_of(db, stored_id(job), include_retired=True)}
    mine = set(db.exec(select(Question.id).where(Question.template_id == template.id)).all())
    seen_ids: set[int] = set()
    for n, q in enumerate(questions):
        if q.id is not None:
            if q.id not in mine:
                raise Invalid(f"questions.{n}: question {q.id} is not a question of template {template.id}")
            if q.id in seen_ids:
                raise Invalid(f"questions.{n}: question {q.id} is listed twice")
            seen_ids.add(q.id)
        linked: set[int] = set()
        for link in q.dimensions:
            dim = every.get(link.dimension_id)
            if dim is None:
                raise NotFound(f"questions.{n}: dimension {link.dimension_id} not found in this job")
            if dim.retired:
                raise Invalid(f"questions.{n}: dimension {dim.name!r} ({dim.id}) is retired from the job")
            if link.dimension_id in linked:
                raise Invalid(f"questions.{n}: dimension {link.dimension_id} is linked twice")
            linked.add(link.dimension_id)


def _apply_questions(db: Session, template: Template, edits: list[QuestionEdit]) -> None:
    every = {stored_id(q): q for q in db.exec(select(Question).where(Question.template_id == template.id))}
    # Positions move in two steps under the (template, position) unique index: first every
    # question below zero (where retired ones stay), then the new order.
    for q in every.values():
        q.position = -stored_id(q)
        db.add(q)
    db.flush()
    listed = {e.id for e in edits if e.id is not None}
    for q in every.values():
        if stored_id(q) not in listed:
            q.retired = True
            db.add(q)
    for link in db.exec(select(QuestionDimension).where(col(QuestionDimension.question_id).in_(listed))).all():
        db.delete(link)
    db.flush()
    for position, e in enumerate(edits):
        row = every[e.id] if e.id is not None else Question(template_id=stored_id(template), position=position,
                                                            text=e.text, time_limit_s=e.time_limit_s)
        row.position, row.text, row.time_limit_s, row.retired = position, e.text, e.time_limit_s, False
        row.kind, row.scenario = e.kind, e.scenario
        db.add(row)
        db.flush()
        add_links(db, row, e.dimensions)
    db.flush()


# --- archiving -------------------------------------------------------------------------------------

def archive_job(db: Session, who: Principal, job_id: int, archived: bool) -> dict[str, Any]:
    job = get_job(db, who, job_id)
    if (job.archived_at is not None) == archived:
        raise Conflict(f"job {job_id} is {'already' if archived else 'not'} archived")
    job.archived_at = utcnow() if archived else None
    db.add(job)
    audit.record(db, "hr", who.id, "job.archive" if archived else "job.restore", "job", job_id)
    return {"id": job_id, "archived_at": job.archived_at}


def archive_template(db: Session, who: Principal, template_id: int, archived: bool) -> dict[str, Any]:
    template, job = get_template(db, who, template_id)
    if (template.archived_at is not None) == archived:
        raise Conflict(f"template {template_id} is {'already' if archived else 'not'} archived")
    template.archived_at = utcnow() if archived else None
    db.add(template)
    audit.record(db, "hr", who.id, "template.archive" if archived else "template.restore", "template",
                 template_id, job_id=job.id)
    return {"id": template_id, "archived_at": template.archived_at}


def check_invitable(db: Session, template: Template, job: Job) -> None:
    """409 when new invitations to this template are refused: it or its job is archived, or its
    newest version links a dimension the job's newest version retired."""
    if job.archived_at is not None:
        raise Conflict(f"job {job.id} is archived: it takes no new invitations "
                       f"(restore it: POST /api/jobs/{job.id}/restore)")
    if template.archived_at is not None:
        raise Conflict(f"template {template.id} is archived: it takes no new invitations "
                       f"(restore it: POST /api/templates/{template.id}/restore)")
    gone = _retired_links(db, template, {stored_id(d) for d in dimensions_of(db, stored_id(job))})
    if gone:
        names = {stored_id(d): d.name for d in dimensions_of(db, stored_id(job), include_retired=True)}
        raise Conflict(f"template {template.id} links dimensions retired from the job "
                       f"({', '.join(names[d] for d in gone)}): edit the template "
                       f"(PATCH /api/templates/{template.id}) before inviting")


# --- copying a template into another job ---------------------------------------------------------

def copy_template(db: Session, who: Principal, template_id: int, body: TemplateCopyIn) -> dict[str, Any]:
    """A new template in `body.job_id` with the source's newest questions; each linked dimension
    is mapped to the target job's dimension of the same name (case and surrounding spaces
    ignored). 422 naming every dimension without a match: nothing is copied then."""
    source, source_job = get_template(db, who, template_id)
    target = get_job(db, who, body.job_id)
    _not_archived(target)
    source_names = {stored_id(d): d.name for d in dimensions_of(db, stored_id(source_job), include_retired=True)}
    target_dims = {d.name.strip().lower(): d for d in dimensions_of(db, stored_id(target))}
    data = template_version_data(db, source, source.version)
    missing: dict[str, None] = {}
    for q in data["questions"]:
        for link in q["dimensions"]:
            name = source_names[link["dimension_id"]]
            if name.strip().lower() not in target_dims:
                missing.setdefault(name, None)
    if missing:
        raise Invalid(f"job {target.id} has no dimension named {', '.join(repr(m) for m in missing)}: add "
                      f"{'it' if len(missing) == 1 else 'them'} to that job (or rename) and copy again",
                      unmatched=list(missing))
    mapped: dict[int, int] = {}
    questions = []
    for q in data["questions"]:
        links = []
        for link in q["dimensions"]:
            to = target_dims[source_names[link["dimension_id"]].strip().lower()]
            mapped[link["dimension_id"]] = stored_id(to)
            links.append(QuestionDimensionIn(dimension_id=stored_id(to), weight=link["weight"]))
        questions.append(QuestionIn(text=q["text"], time_limit_s=q["time_limit_s"], dimensions=links,
                                    kind=q.get("kind", "structured"), scenario=q.get("scenario", "")))
    copy = create_template(db, who, TemplateIn(job_id=stored_id(target), name=body.name or source.name,
                                               questions=questions))
    audit.record(db, "hr", who.id, "template.copy", "template", copy.id, from_template=template_id,
                 from_version=source.version, job_id=target.id, mapped={str(k): v for k, v in mapped.items()})
    return {"id": copy.id, "job_id": target.id, "version": copy.version,
            "mapped": [{"from": k, "to": v, "name": source_names[k]} for k, v in mapped.items()]}


def version_counts(db: Session, job_id: int) -> dict[int, int]:
    """Interviews per job version (for the job page's history)."""
    rows = db.exec(select(Interview.job_version, func.count()).where(Interview.job_id == job_id)
                   .group_by(col(Interview.job_version))).all()
    return {v: n for v, n in rows}
