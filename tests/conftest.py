"""Shared fixtures: an app on a fresh data directory, HR users and their tokens."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from server import auth
from server.app import create_app
from server.settings import Settings
from server.store import Store

pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", load_models=False, public_url="http://candor.test")


@pytest.fixture
def store(settings: Settings) -> Any:
    s = Store(settings.db_url)
    yield s
    s.close()


PASSWORD = "correct horse battery staple"


@dataclass
class Api:
    """A test client bound to one HR user's bearer token."""

    client: Any
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, json: Any = None, data: Any = None,
                   expect: int | None = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"headers": self.headers}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        resp = await self.client.request(method, path, **kwargs)
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        if expect is not None:
            assert resp.status == expect, (resp.status, body)
        return resp.status, body


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, store: Store) -> Any:
    return await aiohttp_client(create_app(settings, store=store))


async def login(client: Any, store: Store, email: str, role: str = "hr") -> Api:
    store.run_sync(lambda db: auth.create_user(db, email, PASSWORD, role))
    resp = await client.post("/api/login", json={"email": email, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return Api(client, (await resp.json())["token"])


@pytest.fixture
async def admin(client: Any, store: Store) -> Api:
    return await login(client, store, "admin@example.com", "admin")


@pytest.fixture
async def hr(client: Any, store: Store) -> Api:
    return await login(client, store, "hr@example.com", "hr")


JOB = {
    "title": "Site engineer",
    "dimensions": [
        {"name": "Project management", "keywords": ["large project", "schedule"],
         "rules": [{"signal": "keyword_hits:schedule", "op": ">=", "value": 1, "points": 10}]},
        {"name": "Safety", "keywords": ["procedure"],
         "rules": [{"signal": "eye_contact_ratio", "op": ">=", "value": 0.6, "points": 20}]},
    ],
}


async def make_job_and_template(api: Api, language: str | None = None) -> tuple[int, list[int], int]:
    """`language`: the job's (None: the server's default, Korean)."""
    body = JOB if language is None else {**JOB, "language": language}
    _, job = await api.call("POST", "/api/jobs", json=body, expect=201)
    dims = [d["id"] for d in job["dimensions"]]
    _, tpl = await api.call("POST", "/api/templates", json={
        "job_id": job["id"], "name": "Standard",
        "questions": [
            {"text": "Tell us about a project.", "time_limit_s": 60,
             "dimensions": [{"dimension_id": dims[0], "weight": 2}, {"dimension_id": dims[1], "weight": 1}]},
            {"text": "How do you stay safe?", "time_limit_s": 45,
             "dimensions": [{"dimension_id": dims[1], "weight": 1}]},
        ],
    }, expect=201)
    return job["id"], dims, tpl["id"]


async def invite(hr: Api, name: str = "Ada", email: str = "ada@example.com") -> tuple[str, int]:
    """A new job and template, one candidate invited: (link token, interview id)."""
    from datetime import datetime, timedelta, timezone

    _, _, tpl_id = await make_job_and_template(hr)
    _, c = await hr.call("POST", "/api/candidates", json={"name": name, "email": email}, expect=201)
    _, inv = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl_id, "candidate_ids": [c["id"]],
        "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, expect=201)
    return inv["invitations"][0]["url"].rsplit("/", 1)[1], inv["invitations"][0]["interview_id"]


# --- running in parallel (pytest-xdist: `./candor test` uses -n 2 --dist loadgroup) -------------

# Modules that stream live media (aiortc or Chromium over WebRTC) and analyse it: they run one
# after another on one worker, so two live interviews never compete for the two cores and a
# test's timing matches a single run; everything else runs beside them on the other worker.
MEDIA_MODULES = frozenset({
    "test_analyzers_independent", "test_audio_gaps", "test_candidate_page", "test_capacity", "test_cluster",
    "test_connect_failure", "test_consent_withdrawal", "test_durability", "test_e2e_interview", "test_e2e_no_evidence",
    "test_employee_browser", "test_faults", "test_follow_up_live", "test_frame_budget", "test_language_live",
    "test_live_scores", "test_live_session", "test_metrics", "test_monitor_page", "test_offer_limits",
    "test_recording", "test_report_page", "test_restart", "test_signaling", "test_speech_waits_for_model",
    "test_turn",
})
# Modules that cut the network of the whole namespace (iptables on loopback): while one of their
# tests runs, no other test may run at all (tests.support.fixtures `exclusive_network`).
NETWORK_FAULT_MODULES = frozenset({"test_faults", "test_connect_failure"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rpartition(".")[2] if item.module is not None else ""
        if module in MEDIA_MODULES:
            item.add_marker(pytest.mark.xdist_group("media"))
        if module in NETWORK_FAULT_MODULES:
            item.add_marker(pytest.mark.network_fault)
