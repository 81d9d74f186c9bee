"""The audit log is append-only and hash-chained: real API activity builds a chain that
`run.py audit verify` and GET /api/audit/verify accept; a row edited or removed directly in the
database (triggers dropped first, as someone with the database's keys would) is found and named;
the triggers refuse UPDATE and DELETE; concurrent writers on PostgreSQL (threads and processes)
keep one valid chain; retention removes only rows older than 183 days, from the chain's start,
and verify still passes; views and exports of reports, recordings, boards and comparisons are
recorded; the export (JSON, CSV) carries the digests an auditor recomputes; only admins get it."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from conftest import Api, invite
from server import audit, audit_chain, audit_cli
from server import audit_export as export
from server.store import Store
from server.tables import AuditAnchor, AuditLog, Interview, Score
from tests.test_report_page import page_login, record, reviewed_interview
from tests.test_scores_hold_up import PLANNING_SAFETY, TWO_QUESTIONS, interview, new_job
from tests.test_scores_hold_up import invite as invite_to

ROOT = Path(__file__).resolve().parent.parent


def recompute(row: dict[str, Any]) -> str:
    """An auditor's own digest of an exported row (the canonical form the docs give)."""
    body = {k: row[k] for k in ("seq", "ts", "actor_kind", "actor_id", "action", "target_kind", "target_id",
                                "detail", "prev_sha256")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


def actions(store: Store) -> list[tuple[str, int | None, dict[str, Any]]]:
    return store.run_sync(lambda db: [(a.action, a.target_id, a.detail)
                                      for a in db.exec(select(AuditLog).order_by(AuditLog.seq))])


def some_rows(store: Store, n: int) -> None:
    for i in range(n):
        store.run_sync(lambda db, i=i: audit.record(db, "hr", 1, "test.row", "interview", i, n=i))


def run_py(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CANDOR_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    env.pop("CANDOR_DATABASE_URL", None)
    return subprocess.run([sys.executable, str(ROOT / "run.py"), "audit", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def cli(store: Store, *args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = audit_cli.main(list(args), store, out, err)
    return code, out.getvalue() + err.getvalue()


# --- the chain over real activity, views and exports recorded --------------------------------

async def test_api_activity_is_chained_and_views_and_exports_are_recorded(
        client: Any, hr: Api, admin: Api, store: Store, settings: Any) -> None:
    iid = await reviewed_interview(client, hr, consent=False)
    record(settings.data_dir, iid, seconds=6.0)
    job_id = store.run_sync(lambda db: db.get(Interview, iid).job_id)

    await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    media = f"/api/interviews/{iid}/questions/0/attempts/0/media"
    for headers in ({}, {"Range": "bytes=0-"}, {"Range": "bytes=200-"}):  # the last: the same playback going on
        resp = await client.get(media, headers={**hr.headers, **headers})
        assert resp.status in (200, 206), await resp.text()
        await resp.read()
    assert (await client.get(f"/api/interviews/{iid}/report.pdf", headers=hr.headers)).status == 200
    for fmt in ("csv", "xlsx"):
        assert (await client.get(f"/api/jobs/{job_id}/results?format={fmt}", headers=hr.headers)).status == 200
    await hr.call("GET", f"/api/jobs/{job_id}/results", expect=200)  # the board on screen: not an export
    await page_login(client)
    assert (await client.get(f"/interviews/{iid}/report")).status == 200

    log = actions(store)
    hr_id = store.run_sync(lambda db: db.exec(select(AuditLog).where(AuditLog.action == "login")).first().actor_id)
    assert [(a, t, d) for a, t, d in log if a == "report.view"] == [
        ("report.view", iid, {"via": "api"}), ("report.view", iid, {"via": "page"})]
    assert [d for a, t, d in log if a == "clip.view" and t == iid] == [
        {"clip_id": "answer-0-0", "reason": None}] * 2  # two playbacks, not three requests
    assert ("report.export", iid, {"format": "pdf"}) in log
    assert [d["format"] for a, t, d in log if a == "results.export" and t == job_id] == ["csv", "xlsx"]
    assert {a for a, *_ in log} >= {"job.create", "candidate.create", "template.create", "interview.pause", "login"}
    rows = store.run_sync(lambda db: db.exec(select(AuditLog).where(AuditLog.action == "report.view")).all())
    assert {r.actor_id for r in rows} == {hr_id}

    verdict = store.run_sync(audit_chain.verify)
    assert verdict.ok and verdict.rows == len(log) and verdict.head_seq == len(log), verdict
    code, out = cli(store, "verify")
    assert code == 0 and f"{len(log)} rows checked" in out, out

    # The export carries the digests; an auditor recomputes every one and follows the chain.
    _, body = await admin.call("GET", "/api/audit?format=json", expect=200)
    assert body["total"] == len(log) and [r["seq"] for r in body["rows"]] == list(range(1, len(log) + 1))
    prev = audit_chain.GENESIS
    for row in body["rows"]:
        assert row["prev_sha256"] == prev and recompute(row) == row["sha256"], row
        prev = row["sha256"]
    assert ("audit.export", None) in [(a, t) for a, t, _ in actions(store)]  # the export itself

    resp = await client.get("/api/audit?format=csv&action=report.*", headers=admin.headers)
    assert resp.status == 200 and resp.content_type == "text/csv"
    exported = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["action"] for r in exported] == ["report.view", "report.export", "report.view"]
    for row in exported:
        as_json = {**row, "seq": int(row["seq"]), "actor_id": int(row["actor_id"]), "target_id": int(row["target_id"]),
                   "detail": json.loads(row["detail"])}
        assert recompute(as_json) == row["sha256"]
    everything = json.dumps(body) + await (await client.get("/api/audit?format=csv", headers=admin.headers)).text()
    assert "ada@example.com" not in everything and '"Ada"' not in everything  # ids only, never the candidate


async def test_compare_views_are_recorded(client: Any, hr: Api, store: Store) -> None:
    job_id, _, tpl = await new_job(hr, PLANNING_SAFETY, TWO_QUESTIONS)
    a, b = await invite_to(hr, tpl, "Ada Real"), await invite_to(hr, tpl, "Kim Lee")
    await interview(client, a, ["we kept the schedule and the budget", "we follow the safety procedure"])
    await interview(client, b, ["I did some work", "we follow the procedure"])
    await hr.call("GET", f"/api/jobs/{job_id}/compare?interviews={a},{b}", expect=200)
    log = actions(store)
    assert ("compare.view", job_id, {"interview_ids": [a, b]}) in log
    # Every score stored is in the chain: per answer, and the overall as it then stood.
    scored = [d for action, t, d in log if action == "score.store" and t == a]
    assert [d["question_index"] for d in scored] == [0, 1]
    overall = store.run_sync(lambda db: {str(s.dimension_id): s.score for s in db.exec(
        select(Score).where(Score.interview_id == a, Score.question_index == None))})  # noqa: E711
    assert scored[-1]["overall"] == overall and overall
    assert store.run_sync(audit_chain.verify).ok


async def test_audit_api_is_for_admins_and_checks_its_query(client: Any, hr: Api, admin: Api) -> None:
    for path in ("/api/audit", "/api/audit/verify", "/api/audit?format=csv"):
        status, body = await hr.call("GET", path)
        assert status == 403 and "error" in body, (path, status, body)
        assert (await client.get(path)).status == 401
    _, verdict = await admin.call("GET", "/api/audit/verify", expect=200)
    assert verdict["ok"] is True and verdict["rows"] >= 2 and "first_bad" not in verdict
    for query, status in (("format=xml", 400), ("since=yesterday", 400), ("limit=-1", 400), ("limit=100001", 422),
                          ("since=2026-06-02&until=2026-06-01", 422)):
        got, body = await admin.call("GET", f"/api/audit?{query}")
        assert got == status and "error" in body, (query, got, body)
    _, few = await admin.call("GET", "/api/audit?action=login&limit=1", expect=200)
    assert few["total"] == 2 and [r["action"] for r in few["rows"]] == ["login"]
    _, none = await admin.call("GET", "/api/audit?since=2999-01-01", expect=200)
    assert none == {"total": 0, "offset": 0, "rows": []}


# --- tampering is found ----------------------------------------------------------------------

def _tamper(path: Path, *statements: str) -> None:
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    db.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    for statement in statements:
        db.executescript(statement)
    db.commit()
    db.close()


async def test_an_edited_row_is_named_by_run_py_audit_verify_and_the_api(
        client: Any, hr: Api, admin: Api, store: Store, settings: Any) -> None:
    await invite(hr)
    code = run_py(settings.data_dir, "verify")
    assert code.returncode == 0 and "intact" in code.stdout, code.stdout + code.stderr
    victim = store.run_sync(lambda db: db.exec(select(AuditLog).where(AuditLog.action == "candidate.create")).one())
    _tamper(settings.sqlite_path, f"UPDATE audit_log SET detail = '{{\"x\": 1}}' WHERE id = {victim.id}")
    code = run_py(settings.data_dir, "verify")
    assert code.returncode == 1, code.stdout + code.stderr
    assert f"row id {victim.id} (seq {victim.seq}): edited" in code.stdout, code.stdout
    _, verdict = await admin.call("GET", "/api/audit/verify", expect=200)
    assert verdict["ok"] is False and verdict["first_bad"]["id"] == victim.id
    assert verdict["first_bad"]["problem"].startswith("edited") and verdict["rows"] == victim.seq - 1


def test_removed_reordered_and_truncated_rows_are_found(tmp_path: Path) -> None:
    cases = {
        "removed": ("DELETE FROM audit_log WHERE seq = 4", 5, "removed: the sequence jumps from 3 to 5"),
        "first removed": ("DELETE FROM audit_log WHERE seq = 1", 2, "removed: the sequence jumps from 0 to 2"),
        # Rows 2 and 3 trade places (their ids stay): each still hashes, but the order is not the written one.
        "reordered": ("UPDATE audit_log SET id = 100 WHERE id = 2; UPDATE audit_log SET id = 2 WHERE id = 3; "
                      "UPDATE audit_log SET id = 3 WHERE id = 100", 2, "reordered"),
        # A row rewritten with a fresh digest: the next row's previous digest no longer matches.
        "replaced": (None, 4, "prev digest mismatch"),
        "tail": ("DELETE FROM audit_log WHERE seq = 6", None,
                 "removed: the chain's head is seq 6 but its last row is seq 5"),
    }
    for name, (statement, bad_id, problem) in cases.items():
        path = tmp_path / f"{name}.sqlite3"
        store = Store(f"sqlite:///{path}")
        some_rows(store, 6)
        if statement is None:
            row = store.run_sync(lambda db: db.exec(select(AuditLog).where(AuditLog.seq == 3)).one())
            row.detail = {"n": 99}
            statement = (f"UPDATE audit_log SET detail = '{{\"n\": 99}}', sha256 = '{audit_chain.digest(row)}' "
                         "WHERE seq = 3")
        _tamper(path, statement)
        verdict = store.run_sync(audit_chain.verify)
        store.close()
        assert not verdict.ok and verdict.first_bad is not None, name
        assert verdict.first_bad.id == bad_id and verdict.first_bad.problem.startswith(problem), (name, verdict)


def test_triggers_refuse_update_and_delete_and_old_rows_are_sealed_once(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    store = Store(f"sqlite:///{path}")
    some_rows(store, 3)
    db = sqlite3.connect(path)
    for statement in ("UPDATE audit_log SET action = 'x' WHERE seq = 2", "DELETE FROM audit_log WHERE seq = 2",
                      "UPDATE audit_log SET sha256 = '' WHERE seq = 1"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(statement)
    db.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        store.run_sync(lambda s: s.connection().execute(text("DELETE FROM audit_log")))
    store.close()
    # A database from before the chain: no chain columns, head or triggers; rows already there.
    db.executescript("""
        DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; DROP INDEX ix_audit_log_seq;
        DELETE FROM audit_log; DROP TABLE audit_chain_head;
        ALTER TABLE audit_log DROP COLUMN seq; ALTER TABLE audit_log DROP COLUMN prev_sha256;
        ALTER TABLE audit_log DROP COLUMN sha256;
        INSERT INTO audit_log (ts, actor_kind, actor_id, action, target_kind, target_id, detail) VALUES
            ('2026-01-02 03:04:05.000000', 'hr', 1, 'job.create', 'job', 1, '{"title": "T"}'),
            ('2026-01-02 03:04:06.500000', 'cli', NULL, 'user.create', 'user', 2, '{}');
    """)
    db.close()
    store = Store(f"sqlite:///{path}")
    some_rows(store, 1)
    log = store.run_sync(lambda s: [(r.seq, r.action) for r in s.exec(select(AuditLog).order_by(AuditLog.seq))])
    assert log == [(1, "job.create"), (2, "user.create"), (3, "test.row")]
    assert store.run_sync(audit_chain.verify).ok
    store.close()
    again = Store(f"sqlite:///{path}")  # a second start seals nothing more and keeps the triggers
    assert again.run_sync(audit_chain.verify).rows == 3
    again.close()
    with pytest.raises(sqlite3.IntegrityError):
        sqlite3.connect(path).execute("DELETE FROM audit_log")


def test_a_rolled_back_transaction_leaves_no_row_and_no_gap(store: Store) -> None:
    def fails(db: Any) -> None:
        audit.record(db, "hr", 1, "never", "", None)
        raise RuntimeError("the request failed")

    some_rows(store, 1)
    with pytest.raises(RuntimeError):
        store.run_sync(fails)
    some_rows(store, 1)
    assert [(a, d) for a, _, d in actions(store)] == [("test.row", {"n": 0}), ("test.row", {"n": 0})]
    assert store.run_sync(audit_chain.verify).ok


# --- retention -------------------------------------------------------------------------------

def _aged(store: Store, days: list[int]) -> None:
    now = datetime.now(timezone.utc)

    def work(db: Any) -> None:
        for age in days:
            audit.record(db, "hr", 1, "test.aged", "", None, age=age).ts = now - timedelta(days=age)

    store.run_sync(work)


def test_pruning_keeps_six_months_and_the_chain_verifiable(store: Store) -> None:
    _aged(store, [400, 390, 300, 100, 250, 10])  # 250 days after a younger row: not a prefix, kept
    now = datetime.now(timezone.utc)
    with pytest.raises(audit_chain.PruneRefused, match="at least 183 days"):
        store.run_sync(lambda db: audit_chain.prune_before(db, now - timedelta(days=182)))
    code, out = cli(store, "prune", "--before", (now - timedelta(days=30)).date().isoformat())
    assert code == 1 and "refused" in out
    assert len(actions(store)) == 6

    pruned = store.run_sync(lambda db: audit_chain.prune_before(db, now - timedelta(days=200), "cli"))
    assert pruned.rows_removed == 3 and pruned.up_to_seq == 3
    log = actions(store)
    assert [d.get("age") for a, _, d in log if a == "test.aged"] == [100, 250, 10]
    assert log[-1][0] == "audit.prune" and log[-1][2]["rows"] == 3 and log[-1][2]["up_to_seq"] == 3
    verdict = store.run_sync(audit_chain.verify)
    assert verdict.ok and verdict.rows == 4, verdict
    code, out = cli(store, "verify")
    assert code == 0, out
    with pytest.raises(DBAPIError, match="append-only"):  # the trigger is back after the removal
        store.run_sync(lambda db: db.connection().execute(text("DELETE FROM audit_log")))
    # Nothing more to remove: nothing happens.
    assert store.run_sync(lambda db: audit_chain.prune_before(db, now - timedelta(days=200))).rows_removed == 0
    # The anchor is part of what is checked: a forged one breaks the chain's start.
    store.run_sync(lambda db: db.add(AuditAnchor(up_to_seq=4, sha256="f" * 64, rows_removed=1, cutoff=now)))
    verdict = store.run_sync(audit_chain.verify)
    assert not verdict.ok and verdict.first_bad is not None and verdict.first_bad.seq == 4


def test_pruning_refuses_a_broken_chain(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    store = Store(f"sqlite:///{path}")
    _aged(store, [400, 390, 10])
    _tamper(path, "UPDATE audit_log SET detail = '{}' WHERE seq = 1")
    with pytest.raises(audit_chain.PruneRefused, match="does not verify"):
        store.run_sync(lambda db: audit_chain.prune_before(db, datetime.now(timezone.utc) - timedelta(days=200)))
    assert len(actions(store)) == 3
    store.close()


def test_cli_export_writes_json_and_csv_with_digests(store: Store) -> None:
    some_rows(store, 3)
    code, out = cli(store, "export", "--format", "json")
    assert code == 0
    body = json.loads(out)
    assert [r["seq"] for r in body["rows"]] == [1, 2, 3] and all(recompute(r) == r["sha256"] for r in body["rows"])
    code, out = cli(store, "export", "--format", "csv", "--action", "audit.export")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["action"] for r in rows] == ["audit.export"] and len(rows[0]["sha256"]) == 64
    assert cli(store, "export", "--since", "soon")[0] == 2


# --- PostgreSQL: many writers, one chain ------------------------------------------------------

WRITER = """
import sys
from concurrent.futures import ThreadPoolExecutor
from server import audit
from server.store import Store

store = Store(sys.argv[1])

def write(thread):
    for i in range(15):
        store.run_sync(lambda db: (audit.record(db, "system", None, "test.proc", "", None, proc=sys.argv[2], i=i),
                                   audit.record(db, "system", None, "test.proc", "", None, proc=sys.argv[2], i=-i)))

with ThreadPoolExecutor(4) as pool:
    list(pool.map(write, range(4)))
store.close()
"""


def test_postgres_concurrent_writers_keep_one_chain_and_triggers_refuse(postgres_db_url: str) -> None:
    store = Store(postgres_db_url)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, postgres_db_url, str(n)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}) for n in range(3)]

    per_process = 4 * 15 * 2
    with ThreadPoolExecutor(4) as pool:  # this process's writers at the same time
        list(pool.map(lambda _: [store.run_sync(lambda db: (audit.record(db, "hr", 1, "test.thread"),
                                                            audit.record(db, "hr", 1, "test.thread")))
                                 for _ in range(15)], range(4)))
    assert all(p.wait(timeout=300) == 0 for p in procs)
    verdict = store.run_sync(audit_chain.verify)
    assert verdict.ok and verdict.rows == per_process * 4 == verdict.head_seq, verdict

    for statement in ("UPDATE audit_log SET action = 'x' WHERE seq = 2", "DELETE FROM audit_log WHERE seq = 2",
                      "TRUNCATE audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            store.run_sync(lambda db, sql=statement: db.connection().execute(text(sql)))

    store.close()


def test_postgres_pruning_removes_only_old_rows_and_the_chain_verifies(postgres_db_url: str) -> None:
    # A session time zone other than UTC: the stored times (and so the digests) must not shift.
    store = Store(postgres_db_url + "?options=-c%20TimeZone%3DAmerica%2FNew_York")
    assert store.run_sync(lambda db: db.connection().execute(text("SHOW TimeZone")).scalar()) == "America/New_York"
    _aged(store, [400, 300, 10])
    now = datetime.now(timezone.utc)
    with pytest.raises(audit_chain.PruneRefused):
        store.run_sync(lambda db: audit_chain.prune_before(db, now))
    pruned = store.run_sync(lambda db: audit_chain.prune_before(db, now - timedelta(days=200)))
    assert pruned.rows_removed == 2
    assert [d.get("age") for _, _, d in actions(store)] == [10, None]  # and the audit.prune row
    assert store.run_sync(audit_chain.verify).ok
    until = (now - timedelta(days=9)).isoformat()
    assert [r.detail.get("age") for r in store.run_sync(lambda db: export.select_rows(
        db, export.AuditQuery.parse({"since": (now - timedelta(days=11)).isoformat(), "until": until}))[1])] == [10]
    with pytest.raises(DBAPIError, match="append-only"):  # deleting is allowed again only inside a prune
        store.run_sync(lambda db: db.connection().execute(text("DELETE FROM audit_log")))
    store.close()
