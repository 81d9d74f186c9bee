"""The Servers page (admin): every server process's load and the capacity left, from
server/cluster_api.py's view (the page reloads itself every 10 s)."""
from __future__ import annotations

from aiohttp import web

from server.cluster_api import cluster_state
from server.errors import ApiError
from server.pages.common import PageCall, hr_page
from server.sessions import sessions_key


@hr_page("GET", "/servers", summary="Admin: the server processes, their load and the capacity left",
         errors=(403, 503))
async def servers_page(call: PageCall) -> web.Response:
    if not call.who.is_admin:
        raise ApiError("only an admin sees the server processes", status=403)
    manager = call.request.app[sessions_key]
    state = await cluster_state(manager)
    return call.render("hr_servers.html", nav="servers", cluster=state, shared=manager.ownership is not None)
