"""The candidate's side: the page behind an invitation link (the live interview is added by the
live-path issue)."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from sqlmodel import Session

from server.interview_machine import state_sets
from server.api import router
from server.invitations import OpenLink, open_link
from server.rendering import render
from server.tables import Candidate, Job
from server.web import settings_key, store_key


@router.raw("GET", "/i/{token}", summary="The candidate's interview page", auth="candidate",
            errors=(404, 410), tag="candidate")
async def interview_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]

    def work(db: Session) -> dict[str, Any] | OpenLink:
        link = open_link(db, token)
        if link.closed:
            return link
        job = db.get(Job, link.interview.job_id)
        candidate = db.get(Candidate, link.interview.candidate_id)
        return {
            "job_title": job.title,  # type: ignore[union-attr]
            "candidate_name": candidate.name,  # type: ignore[union-attr]
            "question_count": link.interview.question_count,
            "deadline": link.invitation.deadline,
            "state": link.interview.state,
        }

    context = await request.app[store_key].run(work)
    if isinstance(context, OpenLink):
        context.check()
        raise AssertionError("a closed link raises")  # check() raises Gone
    settings = request.app[settings_key]
    response = render(request, "interview.html", token=token, states=state_sets(),
                      ice_servers=json.dumps(list(settings.ice_servers)), **context)
    # The token is a credential: keep it out of Referer headers and shared caches.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
