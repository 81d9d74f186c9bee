"""Invitations by email through a real SMTP server (aiosmtpd on 127.0.0.1): one message per
invitation with that candidate's own working link, delivery state in the API, refusals shown
with the server's reason and retried, reminders only to the unfinished, nothing lost when the
server process is killed between queueing and sending."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from server.app import create_app
from server.settings import Settings
from server.store import Store
from server.tables import Interview
from tests.conftest import login, make_job_and_template as make_job_in


async def make_job_and_template(api: Any) -> tuple[int, list[int], int]:
    # An English job: these tests read the English wording (test_i18n.py reads the others).
    return await make_job_in(api, language="en")
from tests.support.server import running_server
from tests.support.smtp import SmtpServer, smtp_server
from tests.test_e2e_interview import admin_credentials, admin_login, api

LINK = re.compile(r"http://candor\.test/i/([A-Za-z0-9_-]{20,})")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def mail_settings(tmp_path: Path, smtp: SmtpServer, **extra: Any) -> Settings:
    values: dict[str, Any] = dict(data_dir=tmp_path / "data", load_models=False, public_url="http://candor.test",
                                  smtp_url=smtp.url, mail_from="jobs@candor.test", mail_retry_s=0.3,
                                  outbox_poll_s=0.1)
    values.update(extra)
    return Settings(**values)


async def mail_client(aiohttp_client: Any, settings: Settings) -> tuple[Any, Store]:
    store = Store(settings.db_url)
    client = await aiohttp_client(create_app(settings, store=store))
    return client, store


def deadline_in(hours: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).isoformat()


async def candidates(hr: Any, n: int, **extra: Any) -> list[int]:
    ids = []
    for i in range(n):
        _, c = await hr.call("POST", "/api/candidates", json={"name": f"Candidate {i:02d}",
                                                              "email": f"c{i:02d}@example.com", **extra}, expect=201)
        ids.append(c["id"])
    return ids


async def wait_delivery(hr: Any, interview_id: int, state: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        _, detail = await hr.call("GET", f"/api/interviews/{interview_id}", expect=200)
        seen = detail["delivery"]
        if seen is not None and seen["state"] == state:
            return seen  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"delivery of interview {interview_id} is {seen}, not {state}")


async def test_a_batch_of_50_gets_50_messages_each_with_its_own_working_link(
        aiohttp_client: Any, tmp_path: Path, smtp: SmtpServer) -> None:
    settings = mail_settings(tmp_path, smtp)
    client, store = await mail_client(aiohttp_client, settings)
    hr = await login(client, store, "hr@example.com")
    _, _, tpl = await make_job_and_template(hr)
    ids = await candidates(hr, 50)
    _, created = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl, "candidate_ids": ids, "deadline": deadline_in(72)}, expect=201)
    assert {i["delivery"]["state"] for i in created["invitations"]} == {"queued"}

    received = await asyncio.to_thread(smtp.handler.wait_for, 50)
    await asyncio.sleep(0.3)
    assert len(smtp.handler.received) == 50  # one each, none twice
    interview_of = {i["candidate_id"]: i["interview_id"] for i in created["invitations"]}
    url_of = {i["candidate_id"]: i["url"] for i in created["invitations"]}
    by_address = {r.rcpt_tos[0]: r for r in received}
    assert len(by_address) == 50
    for n, cid in enumerate(ids):
        message = by_address[f"c{n:02d}@example.com"]
        assert message.message["From"] == "jobs@candor.test"
        assert message.message["Reply-To"] == "hr@example.com"
        assert "Site engineer" in message.message["Subject"]
        text = message.text()
        assert f"Candidate {n:02d}" in text
        links = set(LINK.findall(text.replace("/my-data", "")))
        assert links == {url_of[cid].rsplit("/", 1)[1]}, "the message holds this candidate's link, and only it"
        assert f'href="{url_of[cid]}"' in message.html()
        assert f"{url_of[cid]}/my-data" in text and f'href="{url_of[cid]}/my-data"' in message.html()
        assert "human-only review" in text and "2 questions" in text
    # The links work: each opens its own interview's page.
    for cid in ids[:5]:
        token = url_of[cid].rsplit("/", 1)[1]
        resp = await client.get(f"/i/{token}")
        assert resp.status == 200
    detail = await wait_delivery(hr, interview_of[ids[0]], "sent")
    assert detail["to"] == "c00@example.com" and detail["sent_at"]
    # Nothing but the hash and the sealed token is stored: the link is not in the database.
    token = url_of[ids[0]].rsplit("/", 1)[1]
    store.close()
    for path in (tmp_path / "data").glob("candor.sqlite3*"):
        assert token.encode() not in path.read_bytes()


async def test_deadline_is_written_in_the_candidates_time_zone(
        aiohttp_client: Any, tmp_path: Path, smtp: SmtpServer) -> None:
    client, store = await mail_client(aiohttp_client, mail_settings(tmp_path, smtp))
    hr = await login(client, store, "hr@example.com")
    _, _, tpl = await make_job_and_template(hr)
    _, seoul = await hr.call("POST", "/api/candidates", json={"name": "김민준", "email": "minjun@example.com",
                                                              "time_zone": "Asia/Seoul"}, expect=201)
    _, plain = await hr.call("POST", "/api/candidates", json={"name": "Ada", "email": "ada@example.com"},
                             expect=201)
    await hr.call("POST", "/api/invitations", json={"template_id": tpl, "candidate_ids": [seoul["id"], plain["id"]],
                                                    "deadline": "2099-03-04T15:00:00Z"}, expect=201)
    received = await asyncio.to_thread(smtp.handler.wait_for, 2)
    by_address = {r.rcpt_tos[0]: r for r in received}
    assert "Thursday 5 March 2099, 00:00 (Asia/Seoul, UTC+09:00)" in by_address["minjun@example.com"].text()
    assert "Wednesday 4 March 2099, 15:00 (UTC)" in by_address["ada@example.com"].text()
    assert "김민준" in by_address["minjun@example.com"].message["To"]
    status, error = await hr.call("POST", "/api/candidates", json={"name": "X", "email": "x@example.com",
                                                                   "time_zone": "Mars/Olympus"})
    assert status == 422 and "time zone" in error["error"]


async def test_a_refusing_server_shows_failed_with_its_reason_then_a_retry_succeeds(
        aiohttp_client: Any, tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.handler.refuse_next = ["550 5.1.1 mailbox unavailable", "451 4.7.1 greylisted, come back later"]
    client, store = await mail_client(aiohttp_client, mail_settings(tmp_path, smtp, mail_retry_s=1.5))
    hr = await login(client, store, "hr@example.com")
    job_id, _, tpl = await make_job_and_template(hr)
    [cid] = await candidates(hr, 1)
    _, created = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl, "candidate_ids": [cid], "deadline": deadline_in(48)}, expect=201)
    iid = created["invitations"][0]["interview_id"]
    failed = await wait_delivery(hr, iid, "failed")
    assert "550" in failed["error"] and "mailbox unavailable" in failed["error"]
    assert failed["retry_at"] is not None and failed["attempts"] == 1
    # The page shows it too, in words.
    page = await (await client.get(f"/invitations?interviews={iid}", headers=hr.headers)).text()
    assert "mailbox unavailable" in page
    job_page = await (await client.get(f"/jobs/{job_id}", headers=hr.headers)).text()
    assert "Email failed" in job_page and "mailbox unavailable" in job_page  # the job's list flags it
    _, listed = await hr.call("GET", f"/api/interviews?job_id={job_id}", expect=200)
    assert listed["interviews"][0]["delivery"]["state"] == "failed"
    sent = await wait_delivery(hr, iid, "sent")
    assert sent["attempts"] == 3
    assert len(smtp.handler.received) == 1


async def test_gives_up_after_the_last_attempt_and_hr_can_send_again(
        aiohttp_client: Any, tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.handler.refuse_next = ["550 5.1.1 no such user"] * 2
    client, store = await mail_client(aiohttp_client, mail_settings(tmp_path, smtp, mail_max_attempts=2,
                                                                    mail_retry_s=0.1))
    hr = await login(client, store, "hr@example.com")
    _, _, tpl = await make_job_and_template(hr)
    [cid] = await candidates(hr, 1)
    _, created = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl, "candidate_ids": [cid], "deadline": deadline_in(48)}, expect=201)
    iid = created["invitations"][0]["interview_id"]
    deadline = time.monotonic() + 10
    while True:
        failed = await wait_delivery(hr, iid, "failed")
        if failed["attempts"] == 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert failed["attempts"] == 2 and failed["retry_at"] is None, failed
    await asyncio.sleep(0.5)
    assert smtp.handler.received == []
    _, again = await hr.call("POST", f"/api/interviews/{iid}/mail", json={"kind": "invitation"}, expect=202)
    assert again["delivery"]["state"] == "queued" and again["new_link"] is False
    await wait_delivery(hr, iid, "sent")
    [message] = smtp.handler.received
    assert LINK.search(message.text()).group(1) == created["invitations"][0]["url"].rsplit("/", 1)[1]


async def test_reminders_go_only_to_the_unfinished_and_once(
        aiohttp_client: Any, tmp_path: Path, smtp: SmtpServer) -> None:
    client, store = await mail_client(aiohttp_client, mail_settings(tmp_path, smtp, reminder_before_h=24))
    hr = await login(client, store, "hr@example.com")
    _, _, tpl = await make_job_and_template(hr)
    ids = await candidates(hr, 4)
    _, created = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl, "candidate_ids": ids, "deadline": deadline_in(72)}, expect=201)
    interviews = [i["interview_id"] for i in created["invitations"]]
    await asyncio.to_thread(smtp.handler.wait_for, 4)
    await asyncio.sleep(0.3)
    assert all("Reminder" not in r.message["Subject"] for r in smtp.handler.received)

    def set_state(iid: int, state: str) -> None:
        def work(db: Any) -> None:
            row = db.get(Interview, iid)
            row.state = state
            db.add(row)
        store.run_sync(work)

    set_state(interviews[0], "completed")
    set_state(interviews[1], "live")  # in it right now: no reminder
    set_state(interviews[2], "interrupted")
    for iid in interviews:
        if iid != interviews[0]:
            await hr.call("POST", f"/api/interviews/{iid}/deadline", json={"deadline": deadline_in(10)}, expect=200)
    await asyncio.to_thread(smtp.handler.wait_for, 6)
    await asyncio.sleep(0.5)  # several polls: no reminder twice
    reminders = [r for r in smtp.handler.received if r.message["Subject"].startswith("Reminder")]
    assert sorted(r.rcpt_tos[0] for r in reminders) == ["c02@example.com", "c03@example.com"]
    assert all("Site engineer" in r.text() for r in reminders)


async def test_mail_off_keeps_the_copy_flow_and_says_so(client: Any, hr: Any) -> None:
    _, _, tpl = await make_job_and_template(hr)
    [cid] = await candidates(hr, 1)
    _, created = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl, "candidate_ids": [cid], "deadline": deadline_in(48)}, expect=201)
    assert created["invitations"][0]["delivery"] is None
    assert created["invitations"][0]["url"].startswith("http://candor.test/i/")
    iid = created["invitations"][0]["interview_id"]
    status, error = await hr.call("POST", f"/api/interviews/{iid}/mail", json={"kind": "invitation"})
    assert status == 409 and "CANDOR_SMTP_URL" in error["error"]
    _, mail = await hr.call("GET", "/api/mail", expect=200)
    assert mail["on"] is False
    page = await (await client.get(f"/invitations?interviews={iid}", headers=hr.headers)).text()
    assert "Email is off" in page


async def test_a_link_issued_while_mail_was_off_is_replaced_when_mailed(
        aiohttp_client: Any, tmp_path: Path, smtp: SmtpServer) -> None:
    off = Settings(data_dir=tmp_path / "data", load_models=False, public_url="http://candor.test")
    store = Store(off.db_url)
    client = await aiohttp_client(create_app(off, store=store))
    hr = await login(client, store, "hr@example.com")
    _, _, tpl = await make_job_and_template(hr)
    [cid] = await candidates(hr, 1)
    _, created = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl, "candidate_ids": [cid], "deadline": deadline_in(48)}, expect=201)
    old_token = created["invitations"][0]["url"].rsplit("/", 1)[1]
    iid = created["invitations"][0]["interview_id"]
    await client.close()

    client2, store2 = await mail_client(aiohttp_client, mail_settings(tmp_path, smtp))
    resp = await client2.post("/api/login", json={"email": "hr@example.com", "password": hr_password()})
    hr2 = type(hr)(client2, (await resp.json())["token"])
    _, sent = await hr2.call("POST", f"/api/interviews/{iid}/mail", json={"kind": "invitation"}, expect=202)
    assert sent["new_link"] is True
    [message] = await asyncio.to_thread(smtp.handler.wait_for, 1)
    new_token = LINK.search(message.text()).group(1)
    assert new_token != old_token
    assert (await client2.get(f"/i/{new_token}")).status == 200
    assert (await client2.get(f"/i/{old_token}")).status == 404


def hr_password() -> str:
    from tests.conftest import PASSWORD

    return PASSWORD


async def test_mail_wording_is_editable_with_its_variables_checked(
        aiohttp_client: Any, tmp_path: Path, smtp: SmtpServer) -> None:
    client, store = await mail_client(aiohttp_client, mail_settings(tmp_path, smtp))
    hr = await login(client, store, "hr@example.com")
    _, mail = await hr.call("GET", "/api/mail", expect=200)
    assert mail["on"] is True and {v["name"] for v in mail["variables"]} >= {"link", "deadline", "candidate_name"}
    status, error = await hr.call("PUT", "/api/mail/templates/invitation",
                                  json={"subject": "Hi {nmae}", "body": "no link here"})
    assert status == 422 and "{nmae}" in error["error"] and "{link}" in error["error"]
    status, error = await hr.call("PUT", "/api/mail/templates/invitation",
                                  json={"subject": "Hi", "body": "{link.__class__} {link}"})
    assert status == 422
    status, _ = await hr.call("PUT", "/api/mail/templates/nonsense", json={"subject": "a", "body": "{link}"})
    assert status == 404
    await hr.call("PUT", "/api/mail/templates/invitation", json={
        "subject": "{job_title}: your interview, {{braces}}",
        "body": "Dear {candidate_name}, open {link} by {deadline}. <b>not bold</b>"}, expect=200)
    _, _, tpl = await make_job_and_template(hr)
    [cid] = await candidates(hr, 1)
    await hr.call("POST", "/api/invitations", json={
        "template_id": tpl, "candidate_ids": [cid], "deadline": deadline_in(48)}, expect=201)
    [message] = await asyncio.to_thread(smtp.handler.wait_for, 1)
    assert message.message["Subject"] == "Site engineer: your interview, {braces}"
    assert message.text().startswith("Dear Candidate 00, open http://candor.test/i/")
    assert "&lt;b&gt;not bold&lt;/b&gt;" in message.html()
    _, back = await hr.call("DELETE", "/api/mail/templates/invitation", expect=200)
    assert back["default"] is True


def test_killed_between_queueing_and_sending_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL while the mail server holds the messages in DATA (none accepted); the next server
    process on the same data directory sends them all."""
    with smtp_server() as smtp:
        smtp.handler.hold = threading.Event()
        env = {"CANDOR_SMTP_URL": smtp.url, "CANDOR_MAIL_FROM": "jobs@candor.test", "CANDOR_LOAD_MODELS": "0",
               "CANDOR_OUTBOX_POLL_S": "0.2", "CANDOR_MAIL_RETRY_S": "0.5"}
        with running_server(tmp_path, env) as first:
            data_dir, port = first.data_dir, int(first.rsplit(":", 1)[1])
            email, password = admin_credentials(first)
            token = admin_login(first)
            job = api(first, "POST", "/api/jobs", {"title": "Welder", "dimensions": [{"name": "Safety"}]}, token)
            tpl = api(first, "POST", "/api/templates", {"job_id": job["id"], "name": "T", "questions": [
                {"text": "Why?", "time_limit_s": 60,
                 "dimensions": [{"dimension_id": job["dimensions"][0]["id"], "weight": 1}]}]}, token)
            ids = [api(first, "POST", "/api/candidates", {"name": f"W {i}", "email": f"w{i}@example.com"}, token)["id"]
                   for i in range(3)]
            created = api(first, "POST", "/api/invitations", {"template_id": tpl["id"], "candidate_ids": ids,
                                                              "deadline": deadline_in(48)}, token)
            assert smtp.handler.holding.wait(20), "the server began sending"
            os.killpg(first.process.pid, signal.SIGKILL)
            first.process.wait(10)
        smtp.handler.hold.set()
        assert smtp.handler.received == []
        with running_server(tmp_path, env, port=port, data_dir=data_dir) as second:
            received = smtp.handler.wait_for(3, timeout=30)
            token = api(second, "POST", "/api/login", {"email": email, "password": password})["token"]
            deadline = time.monotonic() + 10
            while True:  # the mail server has them; the sender writes "sent" once its answer is read
                states = {api(second, "GET", f"/api/interviews/{i['interview_id']}", token=token)["delivery"]["state"]
                          for i in created["invitations"]}
                if states == {"sent"} or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        assert sorted(r.rcpt_tos[0] for r in received) == ["w0@example.com", "w1@example.com", "w2@example.com"]
        assert states == {"sent"}


async def test_hr_edits_the_wording_on_the_mail_page_and_resends_from_the_invitation_page(
        aiohttp_client: Any, tmp_path: Path, smtp: SmtpServer) -> None:
    from tests.test_pages_hr import csrf_of, text_of

    client, store = await mail_client(aiohttp_client, mail_settings(tmp_path, smtp))
    hr = await login(client, store, "hr@example.com")
    resp = await client.post("/login", data={"email": "hr@example.com", "password": hr_password()},
                             allow_redirects=False)
    assert resp.status == 303
    page = await (await client.get("/mail")).text()
    csrf = csrf_of(page)
    words = text_of(page)
    assert "Email is on" in words and "jobs@candor.test" in words and "{candidate_name}" in words
    assert "Reminder before the deadline" in words and "Alex Kim" in words  # the preview

    resp = await client.post("/mail/reminder", data={"csrf_token": csrf, "subject": "Soon: {jobtitle}",
                                                      "body": "Hello {candidate_name} {"}, allow_redirects=False)
    assert resp.status == 422
    words = text_of(await resp.text())
    assert "{jobtitle}" in words and "stray brace" in words and "{link}" in words  # all at once
    assert "Soon: {jobtitle}" in await resp.text() or "Soon: {jobtitle}" in words  # what HR typed stays

    resp = await client.post("/mail/reminder", data={"csrf_token": csrf, "subject": "Soon: {job_title}",
                                                      "body": "Hello {candidate_name}, {link} closes {deadline}."},
                             allow_redirects=False)
    assert resp.status == 303
    words = text_of(await (await client.get("/mail")).text())
    assert "Soon: Site engineer" in words and "Back to the default wording" in words
    _, mail = await hr.call("GET", "/api/mail", expect=200)
    assert {t["kind"]: t["default"] for t in mail["templates"]} == {
        "invitation": True, "reminder": False, "continue": True}
    resp = await client.post("/mail/reminder/reset", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303
    _, mail = await hr.call("GET", "/api/mail", expect=200)
    assert all(t["default"] for t in mail["templates"])
    assert (await client.post("/mail/bogus", data={"csrf_token": csrf, "subject": "a", "body": "{link}"},
                              allow_redirects=False)).status == 404

    # The invitation page: delivery state, and "email the invitation again".
    _, _, tpl = await make_job_and_template(hr)
    [cid] = await candidates(hr, 1)
    _, created = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl, "candidate_ids": [cid], "deadline": deadline_in(48)}, expect=201)
    iid = created["invitations"][0]["interview_id"]
    await wait_delivery(hr, iid, "sent")
    page = await (await client.get(f"/invitations?interviews={iid}")).text()
    assert "Email sent" in text_of(page) and 'data-delivery="sent"' in page
    resp = await client.post(f"/interviews/{iid}/mail", data={"csrf_token": csrf, "kind": "invitation"},
                             allow_redirects=False)
    assert resp.status == 303
    received = await asyncio.to_thread(smtp.handler.wait_for, 2)
    assert [r.rcpt_tos[0] for r in received] == ["c00@example.com"] * 2
    assert LINK.search(received[0].text()).group(1) == LINK.search(received[1].text()).group(1)
    resp = await client.post(f"/interviews/{iid}/mail", data={"csrf_token": csrf, "kind": "continue"},
                             allow_redirects=False)
    assert resp.status == 409 and "interrupted" in text_of(await resp.text())


async def test_an_abandoned_candidate_is_reopened_and_sent_a_link_to_continue(
        aiohttp_client: Any, tmp_path: Path, smtp: SmtpServer) -> None:
    client, store = await mail_client(aiohttp_client, mail_settings(tmp_path, smtp))
    hr = await login(client, store, "hr@example.com")
    _, _, tpl = await make_job_and_template(hr)
    [cid] = await candidates(hr, 1)
    _, created = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl, "candidate_ids": [cid], "deadline": deadline_in(48)}, expect=201)
    iid = created["invitations"][0]["interview_id"]
    await asyncio.to_thread(smtp.handler.wait_for, 1)
    status, error = await hr.call("POST", f"/api/interviews/{iid}/mail", json={"kind": "continue"})
    assert status == 409 and "invited" in error["error"]  # nothing to continue yet

    def abandon(db: Any) -> None:
        row = db.get(Interview, iid)
        row.state, row.started_at = "abandoned", datetime.now(timezone.utc)
        db.add(row)
    store.run_sync(abandon)
    _, sent = await hr.call("POST", f"/api/interviews/{iid}/mail", json={"kind": "continue"}, expect=202)
    assert sent["delivery"]["kind"] == "continue"
    _, detail = await hr.call("GET", f"/api/interviews/{iid}", expect=200)
    assert detail["state"] == "interrupted"  # reopened, recorded
    received = await asyncio.to_thread(smtp.handler.wait_for, 2)
    assert received[1].message["Subject"].startswith("Continue your video interview")
    token = LINK.search(received[1].text()).group(1)
    assert token == created["invitations"][0]["url"].rsplit("/", 1)[1]
    assert (await client.get(f"/i/{token}")).status == 200
