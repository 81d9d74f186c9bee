"""Erasure of one candidate: after a real interview (a session driven without media, a recording
written with server.recording's writers, clips rendered by HR opening them, a note, a decision,
outbox mail and a webhook delivery), erasing leaves no row and no byte of theirs in the database
or under the data directory, and a certificate whose digest verifies; another candidate is not
touched. Also: who may erase, 409 during a live interview, and the candidate's data download."""
from __future__ import annotations

import hashlib
import io
import json
import wave
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, select

from analyzers.speech import Word
from conftest import Api, invite, login
from server import recording, webhook_events
from server.mail_outbox import message_for
from server.sealing import sealer_key
from server.session import State
from server.sessions import sessions_key
from server.tables import AuditLog, DeletionCertificate, Interview, Webhook
from tests.test_controls import FakeLink, FakePeer
from tests.test_report_page import csrf_of, page_login, record, text_of
from tests.test_reports import Sample

SECRET_WORD = "xylophonist"  # said only by the first candidate


async def interviewed(client: Any, hr: Api, settings: Any, store: Any, name: str, email: str, word: str) -> tuple[int, int, str]:
    """A candidate with everything an interview leaves: (candidate id, interview id, link token)."""
    token, iid = await invite(hr, name, email)
    session = await client.app[sessions_key].session_for(iid)
    link, peer = FakeLink(), FakePeer()
    await session.attach_candidate(link)
    await session.start(consent=True)
    peer.media()
    await session.offer(peer)
    await session.media_up()
    for _ in range(2):
        t = session.clock()
        words = (Word("large", t, t + 0.4, 1.0), Word("project", t + 0.5, t + 0.9, 1.0),
                 Word("schedule", t + 1.0, t + 1.5, 1.0), Word(word, t + 1.6, t + 2.2, 1.0))
        session.on_transcript(f"large project schedule {word}", True, t, t + 2.2, words)
        for i in range(10):
            session.on_vision(Sample(smile=i % 2 == 0), session.clock())
        peer.media()
        await session.drain_writes()
        await session.candidate_next()
    assert session.state == State.COMPLETED
    await session.settled()
    record(settings.data_dir, iid, seconds=6.0)
    _, report = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    urls = [c["media_url"] for c in report["clips"]] + [q["media_url"] for q in report["questions"] if q.get("media_url")]
    for url in urls:  # HR watches: clips are rendered into the recording's cache
        resp = await client.get(url.replace("http://candor.test", ""), headers=hr.headers)
        assert resp.status == 200, await resp.text()
    await hr.call("POST", f"/api/interviews/{iid}/notes", json={"text": f"Said {word} twice."}, expect=201)
    await hr.call("POST", f"/api/interviews/{iid}/decision", json={"decision": "not_recommended", "note": "No."},
                  expect=200)

    def mail_and_hook(db: Any) -> int:
        interview = db.get(Interview, iid)
        message_for(db, settings, "reminder", interview, "http://candor.test", None)
        if db.exec(select(Webhook)).first() is None:
            db.add(Webhook(url="http://hooks.test/x", secret_sealed=client.app[sealer_key].seal("s" * 32),
                           events=list(webhook_events.EVENTS), created_by=1))
            db.flush()
        for hook in db.exec(select(Webhook)):
            hook.active = True
            db.add(hook)
        db.flush()
        assert webhook_events.emit(db, webhook_events.INTERVIEW_COMPLETED, webhook_events.about_interview(db, iid))
        for hook in db.exec(select(Webhook)):  # queued, never sent (no receiver in a test)
            hook.active = False
            db.add(hook)
        return interview.candidate_id

    cid = store.run_sync(mail_and_hook)
    return cid, iid, token


def table_rows(store: Any) -> dict[str, list[dict[str, Any]]]:
    def work(db: Any) -> dict[str, list[dict[str, Any]]]:
        return {t.name: [dict(r) for r in db.execute(sa_select(t)).mappings()] for t in SQLModel.metadata.sorted_tables}
    return store.run_sync(work)


def rows_of(tables: dict[str, list[dict[str, Any]]], candidate_id: int, interview_ids: set[int],
            invitation_ids: set[int], needles: list[str]) -> dict[str, int]:
    """Per table, the rows that belong to the candidate: by id column or by holding a needle."""
    out: dict[str, int] = {}
    for name, rows in tables.items():
        n = 0
        for row in rows:
            if name == "candidates":
                hit = row["id"] == candidate_id
            elif name in ("interviews",):
                hit = row["id"] in interview_ids
            elif name == "invitations":
                hit = row["id"] in invitation_ids
            else:
                hit = (name not in ("audit_log", "deletion_certificates")
                       and (row.get("candidate_id") == candidate_id or row.get("interview_id") in interview_ids
                            or row.get("invitation_id") in invitation_ids))
            text = json.dumps(row, default=str).lower()
            if hit or any(n.lower() in text for n in needles):
                n += 1
        if n:
            out[name] = n
    return out


def files_holding(data_dir: Path, needles: list[bytes]) -> list[str]:
    found = []
    for p in sorted(data_dir.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            found += [f"{p.relative_to(data_dir)}: {n[:20]!r}" for n in needles if n in data]
    return found


async def test_erasure_leaves_nothing_of_the_candidate_and_a_certificate(
        client: Any, hr: Api, admin: Api, settings: Any, store: Any) -> None:
    cid, iid, token = await interviewed(client, hr, settings, store, "Zebulon Quartermaine",
                                        "zebulon.q@example.com", SECRET_WORD)
    other_cid, other_iid, other_token = await interviewed(client, hr, settings, store, "Olga Other",
                                                          "olga@example.com", "gardening")
    rec_dir = recording.recording_dir(recording.recordings_root(settings.data_dir), iid)
    assert (rec_dir / "clips").is_dir() and list((rec_dir / "clips").glob("*.webm")), "clips were rendered"
    pcm = (rec_dir / "audio-0.pcm").read_bytes()
    mjpeg = (rec_dir / "video-0.mjpeg").read_bytes()
    media_needles = [pcm[len(pcm) // 2:len(pcm) // 2 + 64], mjpeg[len(mjpeg) // 2:len(mjpeg) // 2 + 64]]
    text_needles = ["Zebulon", "Quartermaine", "zebulon.q@example.com", SECRET_WORD]
    for who, words in ((cid, b"Zebulon Quartermaine CV"), (other_cid, b"Olga Other CV")):  # uploaded resume files
        (settings.data_dir / "resumes" / str(who)).mkdir(parents=True)
        (settings.data_dir / "resumes" / str(who) / "cv.txt").write_bytes(words)

    invitations = {r["id"] for r in table_rows(store)["invitations"] if r["candidate_id"] == cid}
    other_invitations = {r["id"] for r in table_rows(store)["invitations"] if r["candidate_id"] == other_cid}
    before = rows_of(table_rows(store), cid, {iid}, invitations, text_needles)
    for table in ("candidates", "invitations", "interviews", "interview_weights", "state_changes",
                  "transcript_segments", "question_signals", "scores", "reports", "review_notes", "clip_views",
                  "decisions", "outbound_mail", "webhook_deliveries"):
        assert before.get(table), f"the test candidate has no {table} rows: {before}"
    other_before = rows_of(table_rows(store), other_cid, {other_iid}, other_invitations, ["olga", "gardening"])
    other_files = sorted((p.name, p.stat().st_size) for p in
                         recording.recording_dir(recording.recordings_root(settings.data_dir), other_iid).rglob("*"))
    assert files_holding(settings.data_dir, [n.encode() for n in text_needles[:3]] + media_needles)

    # The preview says what will go.
    _, preview = await hr.call("GET", f"/api/candidates/{cid}/erase", expect=200)
    assert preview["interview_ids"] == [iid] and preview["rows"]["transcript_segments"] > 0 and preview["files"] > 0

    status, body = await hr.call("POST", f"/api/candidates/{cid}/erase", json={"reason": "request", "confirm": True})
    assert status == 200, body
    cert = body["certificate"]

    # Nothing of the candidate in any table (the audit log keeps ids only, no text of theirs).
    after = rows_of(table_rows(store), cid, {iid}, invitations, text_needles)
    assert after == {"audit_log": 0} or after == {}, after
    audit_text = json.dumps(table_rows(store)["audit_log"], default=str).lower()
    assert all(n.lower() not in audit_text for n in text_needles)
    # Nothing under the data directory: no name, email or words, no recording byte, no directory.
    assert not rec_dir.exists() and not (settings.data_dir / "resumes" / str(cid)).exists()
    assert (settings.data_dir / "resumes" / str(other_cid) / "cv.txt").read_bytes() == b"Olga Other CV"
    assert files_holding(settings.data_dir, [n.encode() for n in text_needles] + media_needles) == []
    # The other candidate is untouched, row for row and file for file.
    assert rows_of(table_rows(store), other_cid, {other_iid}, other_invitations, ["olga", "gardening"]) == other_before
    assert sorted((p.name, p.stat().st_size) for p in recording.recording_dir(
        recording.recordings_root(settings.data_dir), other_iid).rglob("*")) == other_files

    # The certificate: counts, and a digest anyone can recompute.
    assert cert["reason"] == "request" and cert["scope"] == "candidate" and cert["interview_ids"] == [iid]
    assert cert["erased_by"] == {"kind": "hr", "id": cert["erased_by"]["id"]} and cert["erased_by"]["id"]
    assert cert["counts"]["rows"] == {k: v for k, v in before.items() if k != "audit_log"}
    assert cert["counts"]["files"] == preview["files"] and cert["counts"]["bytes"] > 0
    assert hashlib.sha256(cert["canonical"].encode()).hexdigest() == cert["digest"] and cert["verified"]
    assert json.loads(cert["canonical"])["counts"] == cert["counts"]
    assert "zebulon" not in json.dumps(cert).lower()
    _, again = await admin.call("GET", f"/api/erasures/{cert['id']}", expect=200)
    assert again["digest"] == cert["digest"] and again["verified"] is True
    _, listing = await hr.call("GET", "/api/erasures", expect=200)
    assert [c["id"] for c in listing["certificates"]] == [cert["id"]] and listing["total"] == 1
    _, found = await hr.call("POST", "/api/erasures/lookup", json={"email": " Zebulon.Q@example.com"}, expect=200)
    assert [c["id"] for c in found["certificates"]] == [cert["id"]]
    _, none = await hr.call("POST", "/api/erasures/lookup", json={"email": "olga@example.com"}, expect=200)
    assert none["certificates"] == []
    [row] = store.run_sync(lambda db: db.exec(select(AuditLog).where(AuditLog.action == "candidate.erase")).all())
    assert row.target_id == cid and row.detail["certificate_id"] == cert["id"] and row.detail["digest"] == cert["digest"]
    # A changed certificate no longer verifies.
    def tamper(db: Any) -> None:
        c = db.get(DeletionCertificate, cert["id"])
        c.counts = {**c.counts, "files": 0}
        db.add(c)
    store.run_sync(tamper)
    _, tampered = await hr.call("GET", f"/api/erasures/{cert['id']}", expect=200)
    assert tampered["verified"] is False

    # Gone: the candidate, the link and the data download; the other candidate's download still works.
    assert (await hr.call("GET", f"/api/candidates/{cid}"))[0] == 404
    assert (await client.get(f"/i/{token}/my-data")).status == 404
    assert (await client.get(f"/i/{other_token}/my-data")).status == 200
    assert (await hr.call("POST", f"/api/candidates/{cid}/erase", json={"confirm": True}))[0] == 404


async def test_who_may_erase_and_not_during_an_interview(client: Any, hr: Api, admin: Api, store: Any) -> None:
    token, iid = await invite(hr, "Live Person", "live@example.com")
    cid = store.run_sync(lambda db: db.get(Interview, iid).candidate_id)
    other = await login(client, store, "other-hr@example.com")
    assert (await other.call("POST", f"/api/candidates/{cid}/erase", json={"confirm": True}))[0] == 403
    assert (await other.call("DELETE", f"/api/candidates/{cid}"))[0] == 403
    assert (await hr.call("POST", "/api/candidates/99999/erase", json={"confirm": True}))[0] == 404
    status, body = await hr.call("POST", f"/api/candidates/{cid}/erase", json={"confirm": False})
    assert status == 422 and "confirm" in body["error"]
    assert (await hr.call("POST", f"/api/candidates/{cid}/erase", json={"confirm": True, "reason": "whim"}))[0] == 422
    assert (await hr.call("POST", f"/api/candidates/{cid}/erase", json={}))[0] == 400
    assert (await client.post(f"/api/candidates/{cid}/erase", json={"confirm": True})).status == 401

    session = await client.app[sessions_key].session_for(iid)
    link, peer = FakeLink(), FakePeer()
    await session.attach_candidate(link)
    await session.start(consent=True)
    peer.media()
    await session.offer(peer)
    await session.media_up()
    assert session.state == State.LIVE
    status, body = await admin.call("POST", f"/api/candidates/{cid}/erase", json={"confirm": True})
    assert status == 409 and "in progress" in body["error"], body
    assert store.run_sync(lambda db: db.get(Interview, iid)) is not None
    await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "end", "note": "stop"}, expect=200)
    for _ in range(100):
        if session.state == State.COMPLETED:
            break
        await session.settled()
    await session.settled()
    # Over: the admin may erase it (the HR user who added them too); the session left memory.
    status, body = await admin.call("DELETE", f"/api/candidates/{cid}")
    assert status == 200, body
    assert body["certificate"]["erased_by"]["kind"] == "hr"
    assert iid not in client.app[sessions_key].sessions
    assert store.run_sync(lambda db: db.get(Interview, iid)) is None


async def test_an_invited_candidate_is_erased_and_their_open_session_closed(client: Any, hr: Api, store: Any) -> None:
    token, iid = await invite(hr, "Waiting Person", "waiting@example.com")
    cid = store.run_sync(lambda db: db.get(Interview, iid).candidate_id)
    session = await client.app[sessions_key].session_for(iid)
    link = FakeLink()
    await session.attach_candidate(link)
    status, body = await hr.call("POST", f"/api/candidates/{cid}/erase", json={"confirm": True})
    assert status == 200, body
    assert iid not in client.app[sessions_key].sessions and link.closed
    assert (await client.get(f"/i/{token}")).status == 404


async def test_my_data_download_holds_their_transcript_and_media_only(
        client: Any, hr: Api, settings: Any, store: Any) -> None:
    cid, iid, token = await interviewed(client, hr, settings, store, "Zebulon Quartermaine",
                                        "zebulon.q@example.com", SECRET_WORD)
    await interviewed(client, hr, settings, store, "Olga Other", "olga@example.com", "gardening")
    # The interview is finished: the link no longer opens it, but the data download works.
    assert (await client.get(f"/i/{token}")).status == 410
    resp = await client.get(f"/i/{token}/my-data")
    assert resp.status == 200 and resp.content_type == "application/zip"
    assert "attachment" in resp.headers["Content-Disposition"] and resp.headers["Cache-Control"] == "no-store"
    z = zipfile.ZipFile(io.BytesIO(await resp.read()))
    names = z.namelist()
    data = json.loads(z.read("data.json"))
    assert data["tables"]["candidates"][0]["email"] == "zebulon.q@example.com"
    assert any(SECRET_WORD in s["text"] for s in data["tables"]["transcript_segments"])
    assert data["tables"]["review_notes"][0]["text"] == f"Said {SECRET_WORD} twice."
    assert data["tables"]["decisions"][0]["decision"] == "not_recommended"
    assert data["tables"]["reports"] and data["tables"]["scores"] and data["tables"]["question_signals"]
    assert data["tables"]["invitations"][0]["token_sha256"].startswith("(withheld")
    transcript = z.read(f"interview-{iid}/transcript.txt").decode()
    assert SECRET_WORD in transcript and "Tell us about a project." in transcript
    with wave.open(io.BytesIO(z.read(f"interview-{iid}/audio.wav"))) as w:
        assert w.getframerate() == 16000 and w.getnframes() >= 16000 * 6
    frames = [n for n in names if n.startswith(f"interview-{iid}/video/")]
    assert len(frames) >= 10 and all(z.read(n)[:2] == b"\xff\xd8" for n in frames)
    everything = b"".join(z.read(n) for n in names).lower()
    assert b"olga" not in everything and b"gardening" not in everything
    [exported] = store.run_sync(lambda db: db.exec(select(AuditLog).where(
        AuditLog.action == "candidate.data_export")).all())
    assert exported.target_id == cid and "zebulon" not in json.dumps(exported.detail).lower()
    assert (await client.get("/i/not-a-real-token/my-data")).status == 404


async def test_the_pages_show_what_is_erased_and_need_the_email_typed(
        client: Any, hr: Api, settings: Any, store: Any) -> None:
    cid, iid, token = await interviewed(client, hr, settings, store, "Zebulon Quartermaine",
                                        "zebulon.q@example.com", SECRET_WORD)
    # The candidate's finished page offers their copy of the data.
    closed = await client.get(f"/i/{token}")
    assert closed.status == 410 and f'href="/i/{token}/my-data"' in await closed.text()
    csrf = await page_login(client)
    page = await (await client.get(f"/candidates/{cid}")).text()
    assert f'href="/candidates/{cid}/erase"' in page
    page = await (await client.get(f"/candidates/{cid}/erase")).text()
    text = text_of(page)
    assert "transcript segments" in text and "recording files" in text and "Erase this candidate" in text
    resp = await client.post(f"/candidates/{cid}/erase", data={"csrf_token": csrf, "confirm_email": "wrong@example.com"},
                             allow_redirects=False)
    assert resp.status == 422 and "type the candidate's email exactly" in text_of(await resp.text()).lower()
    assert (await hr.call("GET", f"/api/candidates/{cid}"))[0] == 200
    resp = await client.post(f"/candidates/{cid}/erase", data={"confirm_email": "zebulon.q@example.com"},
                             allow_redirects=False)
    assert resp.status == 403  # no CSRF token
    resp = await client.post(f"/candidates/{cid}/erase",
                             data={"csrf_token": csrf, "confirm_email": " Zebulon.Q@example.com "}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    location = resp.headers["Location"]
    cert_id = int(location.split("/")[2].split("?")[0])
    page = await (await client.get(location)).text()
    cert = store.run_sync(lambda db: db.get(DeletionCertificate, cert_id))
    assert "The candidate was erased." in text_of(page) and cert.digest in page and "verifies" in text_of(page)
    assert "zebulon" not in page.lower()
    listing = await (await client.get("/erasures")).text()
    assert f'href="/erasures/{cert_id}"' in listing
    assert (await hr.call("GET", f"/api/candidates/{cid}"))[0] == 404
    assert (await client.get(f"/candidates/{cid}/erase")).status == 404
    assert (await client.get("/erasures/999")).status == 404
    csrf_of(listing)


def test_deliveries_are_matched_by_exact_address_or_id(store: Any) -> None:
    from server import auth
    from server.erasure import _deliveries_naming
    from server.tables import WebhookDelivery

    def work(db: Any) -> list[int]:
        user = auth.create_user(db, "hooks@example.com", "correct horse battery staple", "admin")
        hook = Webhook(url="http://hooks.test/x", secret_sealed="x", events=["decision.made"], created_by=user.id)
        db.add(hook)
        db.flush()
        for payload in ({"candidate_id": 5, "email": "jimbo@example.com"},  # another person
                        {"candidate_id": 6, "nested": {"to": ["BO@example.com"]}},  # names bo
                        {"interview_id": 9, "email": "x@example.com"},  # bo's interview
                        {"candidate_id": 7, "email": "bo@example.com.evil"}):
            db.add(WebhookDelivery(webhook_id=hook.id, event="decision.made", payload=payload))
        db.flush()
        return _deliveries_naming(db, {8}, "bo@example.com", {9}, set())

    assert store.run_sync(work) == [2, 3]
