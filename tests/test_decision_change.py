"""A decision can be changed, with the reason: audited (who, old, new, why), the candidate's
status follows, the report page shows the history; the one changing it must have reviewed."""
from __future__ import annotations

import hashlib

from typing import Any

from sqlmodel import select

from conftest import Api, login
from server.tables import AuditLog, Candidate, Interview
from tests.test_report_page import csrf_of, page_login, record, reviewed_interview, text_of


async def decided(client: Any, hr: Api, settings: Any) -> int:
    """A human-only interview, reviewed (its recording opened, a note) and decided: talent pool."""
    iid = await reviewed_interview(client, hr, consent=False)
    record(settings.data_dir, iid, seconds=8.0)
    await hr.call("POST", f"/api/interviews/{iid}/notes", json={"text": "Listened."}, expect=201)
    assert (await client.get(f"/api/interviews/{iid}/questions/0/attempts/0/media", headers=hr.headers)).status == 200
    await hr.call("POST", f"/api/interviews/{iid}/decision", json={"decision": "talent_pool"}, expect=200)
    return iid


async def test_a_decision_is_changed_with_its_reason(client: Any, hr: Api, store: Any, settings: Any) -> None:
    iid = await decided(client, hr, settings)
    change = f"/api/interviews/{iid}/decision/change"
    status, body = await hr.call("POST", change, json={"decision": "second_interview", "reason": "   "})
    assert status == 422 and "why" in body["error"]
    status, body = await hr.call("POST", change, json={"decision": "talent_pool", "reason": "same"})
    assert status == 422 and "already" in body["error"]
    status, body = await hr.call("POST", change, json={"decision": "second_interview"})
    assert status == 400 and "reason" in body["error"]  # a missing field: malformed
    _, body = await hr.call("POST", change, json={"decision": "second_interview",
                                                 "reason": "The team lead wants to meet her."}, expect=200)
    assert body == {"decision": "second_interview", "previous": "talent_pool",
                    "candidate_status": "second_interview"}
    candidate = store.run_sync(lambda db: db.get(Candidate, db.get(Interview, iid).candidate_id))
    assert candidate.status == "second_interview"
    rows = store.run_sync(lambda db: [a.detail for a in db.exec(select(AuditLog)).all()
                                      if a.action == "review.decision_change"])
    # The audit log keeps the reason's digest, not its words (they may name the candidate; erasure
    # removes the decision_changes row that holds them).
    [row] = rows
    assert (row["old"], row["new"]) == ("talent_pool", "second_interview") and "reason" not in row
    assert row["reason_sha256"] == hashlib.sha256(b"The team lead wants to meet her.").hexdigest()
    _, report = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    [entry] = report["review"]["decision"]["changes"]
    assert (entry["from"], entry["to"], entry["reason"]) == ("talent_pool", "second_interview",
                                                             "The team lead wants to meet her.")

    # Another HR user with access must review first (the same gate as deciding).
    other = await login(client, store, "admin2@example.com", "admin")
    status, body = await other.call("POST", change, json={"decision": "hire", "reason": "Strong."})
    assert status == 409 and body["missing"], body

    # The report page shows the history and changes it with a reason.
    csrf = await page_login(client)
    page = text_of(await (await client.get(f"/interviews/{iid}/report")).text())
    assert "Changed from Talent pool to Second interview by hr@example.com" in page
    assert "The team lead wants to meet her." in page
    resp = await client.post(f"/interviews/{iid}/decision/change",
                             data={"decision": "hire", "reason": "", "csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 422 and "Say why the decision changes" in text_of(await resp.text())
    resp = await client.post(f"/interviews/{iid}/decision/change",
                             data={"decision": "hire", "reason": "References came back.", "csrf_token": csrf},
                             allow_redirects=False)
    assert resp.status == 303
    page = text_of(await (await client.get(f"/interviews/{iid}/report")).text())
    assert "Changed from Second interview to Hire" in page and "The candidate’s status is now Hired" in page
    csrf_of(await (await client.get(f"/interviews/{iid}/report")).text())


async def test_no_decision_no_change(client: Any, hr: Api, settings: Any) -> None:
    iid = await reviewed_interview(client, hr, consent=False)
    status, body = await hr.call("POST", f"/api/interviews/{iid}/decision/change",
                                 json={"decision": "hire", "reason": "x"})
    assert status == 409 and "no decision to change" in body["error"]
