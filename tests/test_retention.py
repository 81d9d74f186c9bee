"""The retention purge: with the clock of each interview set back, exactly the candidates not
hired whose period is over are erased (the job's jurisdiction profile decides the period; the
setting overrides it for the default profile), the hired and the recent are kept, some
interviews of a candidate can go while the candidate stays, a dry run erases nothing, and
`run.py purge` prints what it did."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select as sa_select
from sqlmodel import SQLModel, select

from conftest import Api, make_job_and_template
from server import recording
from server.retention import find_due, purge
from server.settings import REPO_ROOT
from server.tables import (
    AuditLog, Candidate, Decision, DeletionCertificate, Employee, Interview, Invitation, Job, StateChange, Template,
    TranscriptSegment, utcnow,
)

NOW = utcnow()


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


async def candidate(hr: Api, name: str) -> int:
    _, c = await hr.call("POST", "/api/candidates", json={"name": name, "email": f"{name}@example.com"}, expect=201)
    return int(c["id"])


async def interview(hr: Api, store: Any, settings: Any, template_id: int, candidate_id: int, *, state: str,
                    days: float, decision: str | None = None) -> int:
    """An interview whose retention clock started `days` ago: the decision's, the completion's,
    the last state change's or (never begun) the deadline's."""
    _, inv = await hr.call("POST", "/api/invitations", json={
        "template_id": template_id, "candidate_ids": [candidate_id],
        "deadline": (NOW + timedelta(days=3)).isoformat()}, expect=201)
    iid = int(inv["invitations"][0]["interview_id"])

    def shape(db: Any) -> None:
        row = db.get(Interview, iid)
        row.state = state
        if state == "completed":
            row.completed_at = ago(days + 1 if decision else days)
            db.add(TranscriptSegment(interview_id=iid, question_index=0, text=f"words of {candidate_id}",
                                     start_s=0.0, end_s=1.0))
        if state in ("expired", "abandoned"):
            db.add(StateChange(interview_id=iid, ts=ago(days), from_state="invited", to_state=state,
                               actor_kind="system"))
        if state == "invited" and days > 0:
            invitation = db.get(Invitation, row.invitation_id)
            invitation.deadline = ago(days)
            db.add(invitation)
        if state == "live":
            row.started_at = ago(days)
        db.add(row)
        if decision:
            db.add(Decision(interview_id=iid, user_id=1, decision=decision, created_at=ago(days)))
            person = db.get(Candidate, candidate_id)
            person.status = "hired" if decision == "hire" else decision
            db.add(person)

    store.run_sync(shape)
    if state == "completed":
        writer = recording.AudioWriter(recording.recording_dir(recording.recordings_root(settings.data_dir), iid), 0.0)
        writer.write(b"\x01\x02" * 16000)
        writer.close()
    return iid


def counts(store: Any) -> dict[str, int]:
    return store.run_sync(lambda db: {t.name: db.execute(sa_select(func.count()).select_from(t)).scalar_one()
                                      for t in SQLModel.metadata.sorted_tables})


async def scenario(hr: Api, store: Any, settings: Any) -> dict[str, Any]:
    _, _, tpl = await make_job_and_template(hr)
    _, _, eu_tpl = await make_job_and_template(hr)

    def eu(db: Any) -> int:
        job = db.get(Job, db.get(Template, eu_tpl).job_id)
        job.jurisdiction = "eu"  # 180 days
        db.add(job)
        return job.id

    eu_job = store.run_sync(eu)
    s: dict[str, Any] = {"eu_job": eu_job}
    for name, template, state, days, decision in (
        ("old_rejected", tpl, "completed", 400, "not_recommended"),
        ("old_hired", tpl, "completed", 400, "hire"),
        ("recent_pool", tpl, "completed", 100, "talent_pool"),
        ("old_expired", tpl, "expired", 400, None),
        ("never_begun", tpl, "invited", 400, None),
        ("eu_200", eu_tpl, "completed", 200, "not_recommended"),
        ("default_200", tpl, "completed", 200, "not_recommended"),
        ("live_now", tpl, "live", 400, None),
        ("employee_rejected", tpl, "completed", 400, "not_recommended"),
    ):
        cid = await candidate(hr, name)
        s[name] = (cid, await interview(hr, store, settings, template, cid, state=state, days=days, decision=decision))
    cid = await candidate(hr, "split")
    s["split_old"] = (cid, await interview(hr, store, settings, tpl, cid, state="completed", days=400))
    s["split_open"] = (cid, await interview(hr, store, settings, eu_tpl, cid, state="invited", days=0))
    s["never_invited"] = (await candidate(hr, "never_invited"), None)

    def employed(db: Any) -> None:
        # Hired through an imported past interview; a later live interview did not lead to a hire.
        db.add(Employee(candidate_id=s["employee_rejected"][0], job_id=db.get(Template, tpl).job_id,
                        hired_at=ago(800), source="history"))

    store.run_sync(employed)
    return s


async def test_purge_erases_exactly_the_expired_not_hired(client: Any, hr: Api, store: Any, settings: Any) -> None:
    s = await scenario(hr, store, settings)
    expected_whole = {s[k][0] for k in ("old_rejected", "old_expired", "never_begun", "eu_200")}
    due = store.run_sync(lambda db: find_due(db, settings, NOW))
    assert {d.candidate_id for d in due if d.whole} == expected_whole
    assert [(d.candidate_id, d.interview_ids) for d in due if not d.whole] == [(s["split_old"][0], (s["split_old"][1],))]
    # The setting overrides the default profile's 365 days, not the EU profile's 180.
    shorter = replace(settings, retention_days=150)
    due_150 = store.run_sync(lambda db: find_due(db, shorter, NOW))
    assert {d.candidate_id for d in due_150 if d.whole} == expected_whole | {s["default_200"][0]}
    longer = replace(settings, retention_days=1000)
    assert {d.candidate_id for d in store.run_sync(lambda db: find_due(db, longer, NOW))} == {s["eu_200"][0]}

    # A dry run erases nothing.
    before = counts(store)
    dry = await purge(store, settings, now=NOW, dry_run=True)
    assert {p.due.candidate_id for p in dry} == expected_whole | {s["split_old"][0]}
    assert all(p.certificate_id is None for p in dry) and counts(store) == before

    done = await purge(store, settings, now=NOW)
    assert {p.due.candidate_id for p in done} == expected_whole | {s["split_old"][0]} and all(p.certificate_id for p in done)
    after = counts(store)
    gone = {"old_rejected", "old_expired", "never_begun", "eu_200"}
    kept = {"old_hired", "recent_pool", "default_200", "live_now", "split_open", "never_invited", "employee_rejected"}

    def present(db: Any) -> dict[str, tuple[bool, bool]]:
        return {k: (db.get(Candidate, s[k][0]) is not None, s[k][1] is not None and db.get(Interview, s[k][1]) is not None)
                for k in [*gone, *kept, "split_old"]}

    state = store.run_sync(present)
    assert all(state[k] == (False, False) for k in gone), state
    assert all(state[k] == (True, s[k][1] is not None) for k in kept), state
    assert state["split_old"] == (True, False)  # the candidate stays with the open interview
    assert after["candidates"] == before["candidates"] - 4 and after["interviews"] == before["interviews"] - 5
    assert after["transcript_segments"] == before["transcript_segments"] - 3  # old_rejected, eu_200, split_old
    root = recording.recordings_root(settings.data_dir)
    for k in ("old_rejected", "eu_200", "split_old"):
        assert not recording.recording_dir(root, s[k][1]).exists()
    for k in ("old_hired", "recent_pool", "default_200"):
        assert recording.recording_dir(root, s[k][1]).exists()

    certs = store.run_sync(lambda db: db.exec(select(DeletionCertificate)).all())
    assert len(certs) == 5 and {c.reason for c in certs} == {"retention"} and {c.erased_by_kind for c in certs} == {"system"}
    assert {c.candidate_id: c.scope for c in certs}[s["split_old"][0]] == "interviews"
    assert {c.candidate_id: c.interview_ids for c in certs}[s["split_old"][0]] == [s["split_old"][1]]
    audits = store.run_sync(lambda db: db.exec(select(AuditLog).where(
        AuditLog.action.in_(["candidate.erase", "interview.erase"]))).all())  # type: ignore[attr-defined]
    assert sorted(a.detail["certificate_id"] for a in audits) == sorted(c.id for c in certs)
    # Nothing is due any more.
    assert await purge(store, settings, now=NOW) == []


async def test_purge_command_prints_what_it_erases(client: Any, hr: Api, store: Any, settings: Any) -> None:
    _, _, tpl = await make_job_and_template(hr)
    cid = await candidate(hr, "gone")
    await interview(hr, store, settings, tpl, cid, state="completed", days=400, decision="not_recommended")
    keep = await candidate(hr, "kept")
    await interview(hr, store, settings, tpl, keep, state="completed", days=10, decision="not_recommended")
    env = {**os.environ, "CANDOR_DATA_DIR": str(settings.data_dir), "CANDOR_LOAD_MODELS": "0"}

    def run(*args: str) -> str:
        out = subprocess.run([sys.executable, "run.py", "purge", *args], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    dry = run("--dry-run")
    assert f"would erase candidate {cid}\n" in dry and f"candidate {keep}" not in dry and "1 would erase" in dry
    assert store.run_sync(lambda db: db.get(Candidate, cid)) is not None
    real = run()
    assert f"erased candidate {cid} (certificate " in real and f"candidate {keep}" not in real
    assert store.run_sync(lambda db: db.get(Candidate, cid)) is None
    assert store.run_sync(lambda db: db.get(Candidate, keep)) is not None
    [cert] = store.run_sync(lambda db: db.exec(select(DeletionCertificate)).all())
    assert cert.erased_by_kind == "cli" and cert.digest in real
    assert run().strip() == "nothing past its retention"
