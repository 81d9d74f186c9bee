"""The data layer on both databases it supports: SQLite (default) and a real PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from server import auth
from server.auth import Principal
from server.candidates import create_candidate, search_candidates
from server.errors import ApiError, Conflict, Invalid
from server.interview_templates import create_template, questions_of
from server.invitations import create_invitations, open_link
from server.jobs import create_job, job_detail
from server.schemas import CandidateIn, InvitationIn, JobIn, TemplateIn
from server.store import Store, make_engine, schema_ddl
from server.tables import Interview, InterviewWeight, Job, Question, StateChange, Template, User


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'candor.sqlite3'}"
    return request.getfixturevalue("postgres_db_url")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()


@pytest.fixture
def who(store: Store) -> Principal:
    user = store.run_sync(lambda db: auth.create_user(db, "hr@example.com", "p" * 12, "hr"))
    return Principal(id=user.id, email=user.email, role=user.role)  # type: ignore[arg-type]


def job_body(**kw: Any) -> JobIn:
    return JobIn.model_validate({
        "title": "Engineer", "language": "ko",
        "dimensions": [
            {"name": "프로젝트 관리", "keywords": ["대형 프로젝트", "large project", "일정"],
             "rules": [{"signal": "keyword_hits:일정", "op": ">=", "value": 1, "points": 10}]},
            {"name": "Safety", "keywords": ["procedure"]},
        ], **kw})


def seed(store: Store, who: Principal, resume: str = "") -> tuple[int, int, list[int], int]:
    def work(db: Any) -> tuple[int, int, list[int], int]:
        job = create_job(db, who, job_body(), "ko")
        dims = [d["id"] for d in job_detail(db, job)["dimensions"]]
        tpl = create_template(db, who, TemplateIn.model_validate({
            "job_id": job.id, "name": "T", "questions": [
                {"text": "Q1", "time_limit_s": 60, "dimensions": [
                    {"dimension_id": dims[0], "weight": 2}, {"dimension_id": dims[1], "weight": 1}]},
                {"text": "Q2", "time_limit_s": 30, "dimensions": [{"dimension_id": dims[1], "weight": 1}]},
            ]}))
        cand = create_candidate(db, who, CandidateIn(name="김민수", email="minsu@example.com", resume_text=resume))
        return job.id, tpl.id, dims, cand.id  # type: ignore[return-value]
    return store.run_sync(work)


def test_schema_applies_and_matches_models(store: Store, db_url: str) -> None:
    inspector = inspect(store.engine)
    for table in SQLModel.metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name


def test_round_trip_of_json_unicode_and_aware_times(store: Store, who: Principal) -> None:
    job_id, tpl_id, dims, cand_id = seed(store, who)
    detail = store.run_sync(lambda db: job_detail(db, db.get(Job, job_id)))
    assert detail["dimensions"][0]["name"] == "프로젝트 관리"
    assert detail["dimensions"][0]["keywords"] == ["대형 프로젝트", "large project", "일정"]
    assert detail["dimensions"][0]["rules"][0]["signal"] == "keyword_hits:일정"
    created = detail["created_at"]
    assert created.tzinfo is not None and abs(created - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_failed_transaction_leaves_no_rows(store: Store, who: Principal) -> None:
    job_id, _, dims, _ = seed(store, who)

    def half(db: Any) -> None:
        create_template(db, who, TemplateIn.model_validate({
            "job_id": job_id, "name": "half", "questions": [
                {"text": "ok", "time_limit_s": 60, "dimensions": [{"dimension_id": dims[0], "weight": 1}]}]}))
        raise Invalid("something later failed")

    with pytest.raises(Invalid):
        store.run_sync(half)
    names = store.run_sync(lambda db: [t.name for t in db.exec(select(Template))])
    assert names == ["T"]
    assert store.run_sync(lambda db: len(db.exec(select(Question)).all())) == 2


def test_unique_email_is_enforced_by_the_database(store: Store, who: Principal) -> None:
    seed(store, who)
    with pytest.raises(Conflict):
        store.run_sync(lambda db: create_candidate(db, who, CandidateIn(name="x", email="minsu@example.com")))
    with pytest.raises(IntegrityError):
        store.run_sync(lambda db: db.add(User(email="hr@example.com", password_hash="x", role="hr")))


def test_search_by_name_email_and_resume(store: Store, who: Principal) -> None:
    seed(store, who, resume="대형 프로젝트를 이끌었습니다. 100%_done")
    names = lambda q: store.run_sync(lambda db: [c.name for c in search_candidates(db, q)])  # noqa: E731
    assert names("대형 프로젝트") == ["김민수"]
    assert names("MINSU@") == ["김민수"]
    assert names("민수") == ["김민수"]
    assert names("100%_") == ["김민수"]
    assert names("100%x") == []  # % and _ are literal, not wildcards
    assert names("nothing") == []


def test_invitation_weights_and_expiry(store: Store, who: Principal) -> None:
    _, tpl_id, dims, cand_id = seed(store, who, resume="I led a Large Project.")
    issued = store.run_sync(lambda db: create_invitations(db, who, InvitationIn(
        template_id=tpl_id, candidate_ids=[cand_id],
        deadline=datetime.now(timezone.utc) + timedelta(days=1)), boost=1.5))[0]
    invitation, interview = issued.invitation, issued.interview
    weights = store.run_sync(lambda db: db.exec(
        select(InterviewWeight).where(InterviewWeight.interview_id == interview.id)).all())
    boosted = {(w.dimension_id, w.base_weight): (w.weight, w.matched_keywords) for w in weights}
    assert boosted[(dims[0], 2.0)] == (3.0, ["large project"])
    assert boosted[(dims[1], 1.0)] == (1.0, [])
    assert store.run_sync(lambda db: open_link(db, issued.token)).closed is None

    def expire(db: Any) -> None:
        inv = db.get(type(invitation), invitation.id)
        inv.deadline = datetime.now(timezone.utc) - timedelta(seconds=1)
        db.add(inv)

    store.run_sync(expire)
    link = store.run_sync(lambda db: open_link(db, issued.token))
    assert link.closed and "deadline" in link.closed
    with pytest.raises(ApiError) as err:
        link.check()
    assert err.value.status == 410
    state, changes = store.run_sync(lambda db: (
        db.get(Interview, interview.id).state,
        [(c.from_state, c.to_state, c.actor_kind) for c in db.exec(select(StateChange))]))
    assert state == "expired" and changes == [("invited", "expired", "system")]


def test_schema_sql_creates_the_same_tables(db_url: str) -> None:
    """schema.sql (SQLite DDL) is canonical; on PostgreSQL the DDL from the same tables runs."""
    engine = make_engine(db_url)
    ddl = schema_ddl(engine)
    with engine.begin() as conn:
        for statement in ddl.split(";\n"):
            body = "\n".join(l for l in statement.splitlines() if not l.startswith("--")).strip()
            if body:
                conn.execute(text(body))
    names = set(inspect(engine).get_table_names())
    assert names == set(SQLModel.metadata.tables)
    engine.dispose()
