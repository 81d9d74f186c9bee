"""Interview templates: ordered questions, each linked to 1-3 of the job's dimensions."""
from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from server import audit
from server.auth import Principal
from server.errors import Invalid, NotFound
from server.jobs import dimensions_of, get_job, visible_jobs_query
from server.schemas import TemplateIn
from server.store import stored_id
from server.tables import Job, Question, QuestionDimension, Template


def create_template(db: Session, who: Principal, body: TemplateIn) -> Template:
    job = get_job(db, who, body.job_id)
    job_dims = {d.id: d for d in dimensions_of(db, stored_id(job))}
    for qi, question in enumerate(body.questions):
        seen: set[int] = set()
        for link in question.dimensions:
            if link.dimension_id not in job_dims:
                # The same answer whether the id exists elsewhere or not: another job's
                # dimensions are not this user's to discover.
                raise NotFound(f"questions.{qi}: dimension {link.dimension_id} not found in this job")
            if link.dimension_id in seen:
                raise Invalid(f"questions.{qi}: dimension {link.dimension_id} is linked twice")
            seen.add(link.dimension_id)
    template = Template(job_id=stored_id(job), name=body.name, created_by=who.id)
    db.add(template)
    db.flush()
    for position, q_in in enumerate(body.questions):
        row = Question(
            template_id=stored_id(template),
            position=position,
            text=q_in.text,
            time_limit_s=q_in.time_limit_s,
        )
        db.add(row)
        db.flush()
        for link in q_in.dimensions:
            db.add(
                QuestionDimension(
                    question_id=stored_id(row),
                    dimension_id=link.dimension_id,
                    weight=link.weight,
                )
            )
    db.flush()
    audit.record(db, "hr", who.id, "template.create", "template", template.id, job_id=job.id)
    return template


def get_template(db: Session, who: Principal, template_id: int) -> tuple[Template, Job]:
    template = db.get(Template, template_id)
    if template is None:
        raise NotFound(f"template {template_id} not found")
    try:
        job = get_job(db, who, template.job_id)
    except NotFound:
        raise NotFound(f"template {template_id} not found") from None
    return template, job


def questions_of(db: Session, template_id: int) -> list[tuple[Question, list[QuestionDimension]]]:
    questions = list(
        db.exec(
            select(Question).where(Question.template_id == template_id).order_by(col(Question.position))
        )
    )
    ids = [stored_id(q) for q in questions]
    links: dict[int, list[QuestionDimension]] = {i: [] for i in ids}
    if ids:
        for link in db.exec(
            select(QuestionDimension).where(col(QuestionDimension.question_id).in_(ids))
        ):
            links[link.question_id].append(link)
    return [(q, links[stored_id(q)]) for q in questions]


def template_detail(db: Session, template: Template) -> dict[str, Any]:
    names = {d.id: d.name for d in dimensions_of(db, template.job_id)}
    return {
        "id": template.id,
        "job_id": template.job_id,
        "name": template.name,
        "created_at": template.created_at,
        "questions": [
            {
                "id": q.id,
                "index": q.position,
                "text": q.text,
                "time_limit_s": q.time_limit_s,
                "dimensions": [
                    {"dimension_id": link.dimension_id, "name": names.get(link.dimension_id), "weight": link.weight}
                    for link in links
                ],
            }
            for q, links in questions_of(db, stored_id(template))
        ],
    }


def list_templates(db: Session, who: Principal, job_id: int | None = None) -> list[Template]:
    visible = visible_jobs_query(who).with_only_columns(Job.id)
    query = select(Template).where(col(Template.job_id).in_(visible))
    if job_id is not None:
        query = query.where(Template.job_id == job_id)
    return list(db.exec(query.order_by(col(Template.id).desc())))
