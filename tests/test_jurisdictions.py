"""Jurisdiction profiles (server/jurisdictions.py) and consent records (server/consent.py),
without media: the profiles' rules, jobs refused for rules on forbidden signals, the notice on
the candidate's page, consent records written before any analysis, and withdrawal."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlmodel import select

from analyzers.vision import VisionSample
from conftest import JOB, Api
from server import jurisdictions
from server.plan import load_plan
from server.sessions import sessions_key
from server.tables import AuditLog, ConsentRecord, Interview, StateChange


def job_body(jurisdiction: str | None, *, smile_rule: bool = False, **extra: Any) -> dict[str, Any]:
    body = copy.deepcopy(JOB)
    if jurisdiction is not None:
        body["jurisdiction"] = jurisdiction
    if smile_rule:
        body["dimensions"][1]["rules"].append({"signal": "smile_ratio", "op": ">=", "value": 0.2, "points": 5})
    return {**body, **extra}


async def invite_for(hr: Api, jurisdiction: str, email: str = "ada@example.com",
                     language: str | None = None) -> tuple[str, int, int]:
    """(link token, interview id, job id) for a one-question interview of a job of that profile."""
    body = job_body(jurisdiction, **({"language": language} if language else {}))
    _, job = await hr.call("POST", "/api/jobs", json=body, expect=201)
    dims = [d["id"] for d in job["dimensions"]]
    _, tpl = await hr.call("POST", "/api/templates", json={
        "job_id": job["id"], "name": "Standard",
        "questions": [{"text": "Tell us about a project.", "time_limit_s": 60,
                       "dimensions": [{"dimension_id": dims[1], "weight": 1}]}]}, expect=201)
    _, c = await hr.call("POST", "/api/candidates", json={"name": "Ada", "email": email}, expect=201)
    _, inv = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl["id"], "candidate_ids": [c["id"]],
        "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, expect=201)
    first = inv["invitations"][0]
    return first["url"].rsplit("/", 1)[1], first["interview_id"], job["id"]


async def receive_until(ws: Any, what: str, value: str) -> dict[str, Any]:
    """The next message whose `what` is `value` (state messages before it are skipped)."""
    for _ in range(10):
        msg = await ws.receive_json(timeout=5)
        if msg.get(what) == value:
            return msg
    raise AssertionError(f"no message with {what}={value}")


# --- the profiles ------------------------------------------------------------------------------

def test_the_profiles_say_what_each_law_needs() -> None:
    profiles = jurisdictions.PROFILES
    assert {"default", "illinois", "nyc", "eu", "china"} <= set(profiles)
    for p in profiles.values():
        assert "en" in p.notice.texts, p.id
        assert p.retention_days > 0
        # The words a consent record points at are fixed by (profile, version, language).
        assert len(p.notice.texts["en"].sha256()) == 64
    eu, china, illinois, nyc, default = (profiles[k] for k in ("eu", "china", "illinois", "nyc", "default"))
    assert "smile_ratio" in eu.forbidden_signals and "expression" in eu.forbidden_analyses
    assert jurisdictions.AFFECT_SIGNALS <= eu.forbidden_signals  # any affect signal, not only smiles
    assert not default.forbidden_signals and not default.forbidden_analyses
    assert china.separate_biometric_consent and china.notice.texts["en"].biometric
    assert "zh" in china.notice.texts and china.notice.texts["zh"].biometric
    assert illinois.deletion_on_request_days == 30 and "30 days" in illinois.notice.texts["en"].canonical()
    assert "retention schedule" in illinois.notice.texts["en"].canonical().lower()
    assert "bias audit" in nyc.notice.texts["en"].canonical()
    # The EU notice does not promise what the server would not do, and says what it does not do.
    assert "emotion" in eu.notice.texts["en"].canonical().lower()
    # Texts differ per profile, so their digests tell them apart.
    assert len({p.notice.texts["en"].sha256() for p in profiles.values()}) == len(profiles)
    assert jurisdictions.profile("no-such") is default and jurisdictions.profile("") is default
    # Every profile speaks the candidate pages' languages, with the same parts in each.
    for p in profiles.values():
        assert set(p.notice.texts) == {"en", "zh", "ko"}, p.id
        for text in p.notice.texts.values():
            assert len(text.items) == len(p.notice.texts["en"].items) and bool(text.biometric) == \
                p.separate_biometric_consent, p.id
    assert jurisdictions.shown("eu", "ko").language == "ko"  # type: ignore[union-attr]
    assert jurisdictions.shown("eu", "ja").language == "en"  # type: ignore[union-attr]  # no Japanese: English
    assert jurisdictions.shown("default", "ko").language == "ko"  # type: ignore[union-attr]
    assert jurisdictions.shown("eu", "en", "1999-01-01") is None


async def test_jurisdictions_are_listed_for_hr(client: Any, hr: Api) -> None:
    resp = await client.get("/api/jurisdictions")
    assert resp.status == 401
    _, body = await hr.call("GET", "/api/jurisdictions", expect=200)
    by_id = {p["id"]: p for p in body["jurisdictions"]}
    assert by_id["eu"]["forbidden_signals"] == ["smile_ratio"]
    assert by_id["china"]["separate_biometric_consent"] is True
    assert by_id["default"]["notice_versions"][0]["version"] == by_id["default"]["notice_version"]
    assert by_id["illinois"]["deletion_on_request_days"] == 30


# --- jobs ------------------------------------------------------------------------------------

async def test_a_job_with_a_rule_its_profile_forbids_is_refused(hr: Api) -> None:
    status, body = await hr.call("POST", "/api/jobs", json=job_body("eu", smile_rule=True))
    assert status == 422 and "smile_ratio" in body["error"] and "European Union" in body["error"], body
    # An explicit request for expression analysis under the EU profile: refused too.
    status, body = await hr.call("POST", "/api/jobs", json=job_body("eu", analyze_expression=True))
    assert status == 422 and "analyze_expression" in body["error"], body
    status, body = await hr.call("POST", "/api/jobs", json=job_body("atlantis"))
    assert status == 422 and "atlantis" in body["error"] and "eu" in body["error"], body
    status, body = await hr.call("POST", "/api/jobs", json=job_body("eu", analyze_expression=False))
    assert status == 201
    # The default profile keeps today's behaviour: smile rules are allowed.
    await hr.call("POST", "/api/jobs", json=job_body(None, smile_rule=True), expect=201)


async def test_an_eu_job_never_analyses_expression(hr: Api, store: Any) -> None:
    _, job = await hr.call("POST", "/api/jobs", json=job_body("eu"), expect=201)
    _, detail = await hr.call("GET", f"/api/jobs/{job['id']}", expect=200)
    assert detail["jurisdiction"] == "eu"
    # Left at its default, the switch is off: the vision analyser is built without expression.
    assert detail["analyze_expression"] is False and detail["analyze_eye_contact"] is True
    _, default = await hr.call("POST", "/api/jobs", json=job_body(None), expect=201)
    _, detail = await hr.call("GET", f"/api/jobs/{default['id']}", expect=200)
    assert detail["jurisdiction"] == "default" and detail["analyze_expression"] is True


async def test_an_eu_interview_plan_and_session_carry_no_smile(client: Any, hr: Api, store: Any) -> None:
    token, iid, _ = await invite_for(hr, "eu")
    plan = store.run_sync(lambda db: load_plan(db, iid))
    assert plan.analyze_expression is False
    ws = await client.ws_connect(f"/i/{token}/ws")
    await ws.send_json({"type": "start", "consent": True})
    await receive_until(ws, "state", "connecting")
    session = client.app[sessions_key].sessions[iid]
    # Even a sample that somehow carries a smile loses it before it reaches the signals.
    sample = VisionSample(faces=1, eye_contact=True, smile=True, upright=True, motion=0.0, smile_score=0.9)
    permitted = session._permitted(sample)
    assert permitted.smile is None and permitted.smile_score is None and permitted.eye_contact is True
    await ws.close()


# --- the candidate's page ------------------------------------------------------------------------

async def test_the_page_shows_the_profiles_notice_and_its_version(client: Any, hr: Api) -> None:
    token, _, _ = await invite_for(hr, "eu", language="en")
    html = await (await client.get(f"/i/{token}")).text()
    version = jurisdictions.PROFILES["eu"].notice.version
    assert "emotions and facial expressions" in html and f'data-version="{version}"' in html
    korean, _, _ = await invite_for(hr, "eu", email="kim@example.com")  # a Korean job: the Korean notice
    assert "감정과 얼굴 표정" in await (await client.get(f"/i/{korean}")).text()
    assert 'id="biometric-consent"' not in html
    config = json.loads(html.split('id="candor-config">', 1)[1].split("</script>", 1)[0])
    assert config["notice_version"] == version and config["biometric_question"] is False
    token, _, _ = await invite_for(hr, "china", email="li@example.com", language="en")
    html = await (await client.get(f"/i/{token}")).text()
    assert 'id="biometric-consent"' in html and "sensitive personal information" in html


# --- consent records -----------------------------------------------------------------------------

async def test_consent_is_recorded_with_the_notice_before_analysis(client: Any, hr: Api, store: Any) -> None:
    token, iid, _ = await invite_for(hr, "illinois")
    ws = await client.ws_connect(f"/i/{token}/ws")
    await ws.receive_json(timeout=5)  # joined
    # A version the profile never had: nothing recorded, nothing started.
    await ws.send_json({"type": "start", "consent": True, "notice_version": "1999-01-01"})
    reply = await ws.receive_json(timeout=5)
    assert reply["type"] == "error" and "1999-01-01" in reply["error"], reply
    assert store.run_sync(lambda db: db.exec(select(ConsentRecord)).all()) == []
    assert store.run_sync(lambda db: db.get(Interview, iid).state) == "invited"
    await ws.send_json({"type": "start", "consent": True, "notice_version": "x" * 40})
    assert (await ws.receive_json(timeout=5))["type"] == "error"

    version = jurisdictions.PROFILES["illinois"].notice.version
    await ws.send_json({"type": "start", "consent": True, "notice_version": version, "biometric_consent": False})
    await receive_until(ws, "state", "consented")
    records = store.run_sync(lambda db: db.exec(select(ConsentRecord).where(ConsentRecord.interview_id == iid)
                                                 .order_by(ConsentRecord.id)).all())
    text = jurisdictions.PROFILES["illinois"].notice.texts["en"]
    assert [(r.kind, r.answer, r.notice_id, r.notice_version) for r in records] == [
        ("ai_analysis", True, "illinois", version), ("biometric", False, "illinois", version)]
    assert records[0].text_sha256 == text.sha256() and records[1].text_sha256 == text.sha256("biometric")
    # The biometric "no" reaches the live session: speech may be analysed, faces may not.
    session = client.app[sessions_key].sessions[iid]
    assert session.consent is True and session.vision_allowed() is False
    # A second start (a reconnect) records nothing new.
    await ws.send_json({"type": "start", "consent": False})
    await ws.receive_json(timeout=5)
    assert len(store.run_sync(lambda db: db.exec(select(ConsentRecord)).all())) == 2
    await ws.close()


async def test_a_human_only_choice_is_recorded_and_cannot_be_withdrawn(client: Any, hr: Api, store: Any) -> None:
    token, iid, _ = await invite_for(hr, "default")
    ws = await client.ws_connect(f"/i/{token}/ws")
    await ws.receive_json(timeout=5)
    await ws.send_json({"type": "withdraw"})  # before any choice
    assert (await ws.receive_json(timeout=5))["type"] == "error"
    await ws.send_json({"type": "start", "consent": False})
    await receive_until(ws, "state", "consented")
    await ws.send_json({"type": "withdraw"})
    reply = await receive_until(ws, "type", "error")
    assert "no consent" in reply["error"]
    _, detail = await hr.call("GET", f"/api/interviews/{iid}", expect=200)
    assert [(c["kind"], c["answer"], c["withdrawn_at"]) for c in detail["consents"]] == [("ai_analysis", False, None)]
    await ws.close()


async def test_withdrawal_stops_analysis_and_is_recorded(client: Any, hr: Api, store: Any) -> None:
    token, iid, _ = await invite_for(hr, "default")
    ws = await client.ws_connect(f"/i/{token}/ws")
    await ws.send_json({"type": "start", "consent": True})
    await receive_until(ws, "state", "connecting")
    session = client.app[sessions_key].sessions[iid]
    assert session.vision_allowed() is True
    await ws.send_json({"type": "withdraw"})
    msg = await receive_until(ws, "code", "consent_withdrawn")
    assert msg["type"] == "state" and msg["state"] == "connecting"
    # At once: the peer's per-batch and per-frame question (consent) says no, nothing is routed.
    assert session.consent is False and session.vision_allowed() is False
    assert session.withdrawn_at is not None
    assert session.signals_of(session.attempts.open(0)) == ({}, [])

    def stored(db: Any) -> tuple[Any, ...]:
        return (db.get(Interview, iid).consent,
                db.exec(select(ConsentRecord).where(ConsentRecord.interview_id == iid)).all(),
                db.exec(select(StateChange).where(StateChange.interview_id == iid,
                                                  StateChange.code == "consent_withdrawn")).all(),
                db.exec(select(AuditLog).where(AuditLog.action == "interview.consent_withdrawn")).all())

    consent, records, changes, audits = store.run_sync(stored)
    assert consent is False
    assert len(records) == 1 and records[0].answer is True and records[0].withdrawn_at is not None
    assert len(changes) == 1 and changes[0].actor_kind == "candidate"
    assert len(audits) == 1 and audits[0].target_id == iid
    assert "Ada" not in json.dumps(audits[0].detail) and "ada@" not in json.dumps(audits[0].detail)
    _, detail = await hr.call("GET", f"/api/interviews/{iid}", expect=200)
    assert detail["consent"] is False
    assert detail["consents"][0]["answer"] is True and detail["consents"][0]["withdrawn_at"]
    # Withdrawn once: a second withdrawal is refused, and a reconnecting page cannot undo it.
    await ws.send_json({"type": "withdraw"})
    assert "no consent" in (await receive_until(ws, "type", "error"))["error"]
    await ws.send_json({"type": "start", "consent": True})
    await ws.send_json({"type": "ping"})  # handled in order: the start is done once the pong comes
    await receive_until(ws, "type", "pong")
    assert session.consent is False
    await ws.close()


# --- the HR form ------------------------------------------------------------------------------

async def test_the_job_form_chooses_a_jurisdiction(aiohttp_client: Any, tmp_path: Any) -> None:
    from tests.test_pages_hr import HR_EMAIL, JOB_FORM, PASSWORD, log_in, post, text_of
    from server import auth
    from server.app import create_app
    from server.settings import Settings
    from server.tables import Job
    from server.web import store_key

    app = create_app(Settings(data_dir=tmp_path, load_models=False))
    client = await aiohttp_client(app)
    app[store_key].run_sync(lambda db: auth.create_user(db, HR_EMAIL, PASSWORD, "hr"))
    csrf = await log_in(client)
    page = await (await client.get("/jobs/new")).text()
    assert 'name="jurisdiction"' in page and 'value="eu"' in page and "European Union" in page
    # A smile rule under the EU profile: the form comes back with the reason.
    form = {**JOB_FORM, "jurisdiction": "eu", "analyze_expression": "on",
            "dim_rules_2": "smile_ratio >= 0.2 5", "csrf_token": csrf}
    resp = await post(client, "/jobs/new", form)
    assert resp.status == 422 and "smile_ratio" in text_of(await resp.text())
    # Without it the job is made, and the ticked expression box does not switch smiles on.
    resp = await post(client, "/jobs/new", {**form, "dim_rules_2": "eye_contact_ratio >= 0.6 20"})
    assert resp.status == 303, text_of(await resp.text())
    job = app[store_key].run_sync(lambda db: db.exec(select(Job)).one())
    assert (job.jurisdiction, job.analyze_expression, job.analyze_eye_contact) == ("eu", False, True)
    page = text_of(await (await client.get(resp.headers["Location"])).text())
    assert "jurisdiction: European Union" in page and "Facial expression (smiles) off" in page


async def test_a_notice_in_another_language_is_recorded_as_shown(client: Any, hr: Api, store: Any) -> None:
    token, iid, _ = await invite_for(hr, "china")
    ws = await client.ws_connect(f"/i/{token}/ws")
    version = jurisdictions.PROFILES["china"].notice.version
    await ws.send_json({"type": "start", "consent": True, "notice_version": version, "notice_language": "zh",
                        "biometric_consent": True})
    await receive_until(ws, "state", "connecting")
    records = store.run_sync(lambda db: db.exec(select(ConsentRecord).order_by(ConsentRecord.id)).all())
    zh = jurisdictions.PROFILES["china"].notice.texts["zh"]
    assert [(r.kind, r.answer, r.language, r.text_sha256) for r in records] == [
        ("ai_analysis", True, "zh", zh.sha256()), ("biometric", True, "zh", zh.sha256("biometric"))]
    assert client.app[sessions_key].sessions[iid].vision_allowed() is True
    await ws.close()


async def test_after_withdrawal_answers_are_stored_without_signals_or_scores(hr: Api, store: Any) -> None:
    from tests.test_session import FakeLink, make_session
    from server.tables import QuestionSignals, Score

    session, _ = await make_session(hr, store)
    await session.attach_candidate(FakeLink())
    await session.start(consent=True)
    await session.media_up()
    face = VisionSample(faces=1, eye_contact=True, smile=False, upright=True, motion=0.1)
    for i in range(5):
        session.on_vision(face, session.clock() + 0.01 * i)
    await session.candidate_next()  # question 0: analysed
    await session.settled()
    for i in range(5):
        session.on_vision(face, session.clock() + 0.01 * i)
    assert session.current_attempt().vision.frames == 5  # type: ignore[union-attr]
    assert await session.withdraw() is True
    # The open answer's frames are dropped, and new ones are not taken.
    assert session.current_attempt().vision.frames == 0  # type: ignore[union-attr]
    session.on_vision(face, session.clock())
    session.on_transcript("hello there", True, session.clock(), session.clock() + 0.5)
    assert session.current_attempt().vision.frames == 0 and not session.current_attempt().segments  # type: ignore[union-attr]
    assert session.live_scores() == []
    await session.candidate_next()  # question 1: completes the interview, human-only
    await session.settled()
    assert session.state.value == "completed"

    def stored(db: Any) -> tuple[Any, Any, Any]:
        signals = {r.question_index: (r.signals, r.timeline, r.live_start_s)
                   for r in db.exec(select(QuestionSignals).where(QuestionSignals.interview_id == session.id))}
        scores = [s.question_index for s in db.exec(select(Score).where(Score.interview_id == session.id))]
        return signals, scores, db.get(Interview, session.id).consent

    signals, scores, consent = store.run_sync(stored)
    assert signals[0][0]["face_present_ratio"] == 1.0
    assert signals[1][0] == {} and signals[1][1] == [] and signals[1][2] is not None  # its recording span is kept
    assert 1 not in scores and None not in scores  # no scores for it, and no overall any more
    assert consent is False
    await session.close()
