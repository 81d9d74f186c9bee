"""create_app(settings) -> web.Application: wires the store, models, routes and pages."""
from __future__ import annotations

import logging
from typing import AsyncIterator

from aiohttp import web
from sqlmodel import select

from server import (  # noqa: F401  (they register routes)
    api, auth, candidate_page, interview_controls, mail_api, monitor, pages, results, review, signaling, users,
)
from server import compare, report_pdf  # noqa: F401  (they register routes: comparison, PDF report)
from server import audit_api  # noqa: F401  (it registers GET /api/audit and /api/audit/verify)
from server import jurisdiction_api  # noqa: F401  (it registers GET /api/jurisdictions)
from server import adverse_impact_api, imports, self_id  # noqa: F401  (they register routes: fairness, imports)
from server import erasure_api, my_data  # noqa: F401  (they register routes: erasure, the candidate's data)
from server import resume_api  # noqa: F401  (it registers resume files, candidate fields, candidate import)
from server import metrics  # noqa: F401  (it registers GET /metrics and GET /api/ready)
from server import cluster_api  # noqa: F401  (it registers GET /api/cluster)
from server import versions_api  # noqa: F401  (it registers editing, versions, archive and copy)
from server import question_bank_api  # noqa: F401  (it registers GET/POST /api/question-bank)
from server import employees_api, validity_api, recalibration_api  # noqa: F401  (employee archive, validity)
from server.retention import retention_ctx
from server.bus import Bus
from server.mail_sender import mail_ctx
from server.webhook_admin import webhooks_ctx  # (importing it registers the webhook API)
from server.recording_crypto import configure as configure_recording_keys
from server.sealing import sealer_for, sealer_key
from server.model_bank import ModelBank, model_bank_ctx, models_key
from server.peer import restrict_host_addresses
from server.sessions import SessionManager, bus_key, sessions_ctx, sessions_key
from server.rendering import jinja_key, make_environment
from server.settings import REPO_ROOT, Settings
from server.store import Store
from server.tables import Job
from server.security_headers import hide_server_version, on_response_prepare, security_headers
from server.web import error_middleware, settings_key, store_key

logger = logging.getLogger(__name__)
STATIC_DIR = REPO_ROOT / "static"
# Bodies above this are refused with 413 before they are read into memory.
MAX_BODY_BYTES = 2 * 1024 * 1024


def create_app(settings: Settings, store: Store | None = None) -> web.Application:
    # security_headers first: it sees the final response, error pages included.
    app = web.Application(middlewares=[security_headers, error_middleware],
                          client_max_size=MAX_BODY_BYTES)
    app.on_response_prepare.append(on_response_prepare)
    hide_server_version()  # also on aiohttp's own 400s, which no middleware sees
    app[settings_key] = settings
    app[store_key] = store or Store(settings.db_url)
    app[jinja_key] = make_environment()
    languages = _languages_in_use(app[store_key], settings.default_language)
    app[models_key] = ModelBank(settings.models_dir, languages, enabled=settings.load_models)
    app[api.routes_key] = api.router.routes
    app[bus_key] = Bus()
    app[sealer_key] = sealer_for(settings)
    configure_recording_keys(settings.data_dir, settings.recording_keys)  # recordings sealed at rest
    app[interview_controls.throttle_key] = interview_controls.Throttle()
    app[auth.login_throttle_key] = auth.LoginThrottle()
    app[sessions_key] = SessionManager(settings, app[store_key], app[bus_key], app[models_key])
    restrict_host_addresses(settings.ice_host_addresses)
    api.router.install(app)
    app.router.add_static("/static/", STATIC_DIR, name="static")
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(model_bank_ctx)
    app.cleanup_ctx.append(sessions_ctx)
    app.cleanup_ctx.append(review.renderer_ctx)
    app.cleanup_ctx.append(report_pdf.pdf_ctx)  # PDF reports rendered off the event loop
    app.cleanup_ctx.append(mail_ctx)
    app.cleanup_ctx.append(webhooks_ctx)
    app.cleanup_ctx.append(retention_ctx)  # the daily retention purge
    app.cleanup_ctx.append(validity_api.validity_refresh_ctx)  # the scheduled validity analysis
    app.cleanup_ctx.append(metrics.metrics_ctx)  # GET /metrics reads this app's sessions
    return app


def _languages_in_use(store: Store, default: str) -> tuple[str, ...]:
    languages = store.run_sync(lambda db: set(db.exec(select(Job.language).distinct())))
    return tuple(sorted(languages | {default}))


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    app[store_key].close()
