"""`GET /api/cluster`: every server process's load and the capacity left, as their heartbeats
announce it in Redis (with CANDOR_REDIS_URL; without it, this process alone). The Servers page
(server/pages/servers.py) shows the same."""
from __future__ import annotations

import logging
import time
from typing import Any

from server.api import router
from server.api_router import Call
from server.errors import ApiError
from server.sessions import SessionManager, free_slots, sessions_key

logger = logging.getLogger(__name__)


async def cluster_state(manager: SessionManager) -> dict[str, Any]:
    """The processes (each as its last heartbeat announced it, with `age_s` since then) and the
    totals; 503 when Redis cannot be reached."""
    if manager.ownership is None:
        processes = [manager.load()]
    else:
        try:
            processes = await manager.ownership.processes()
        except Exception:
            logger.warning("cluster: process loads unavailable", exc_info=True)
            raise ApiError("the servers' shared state (Redis) cannot be reached", status=503) from None
        if not any(p.get("process_id") == manager.process_id for p in processes):
            processes.append(manager.load())  # before its first heartbeat
    processes.sort(key=lambda p: str(p.get("process_id")))
    now = time.time()
    for p in processes:
        p["age_s"] = round(max(0.0, now - float(p.get("ts", now))), 1)
        p["this"] = p.get("process_id") == manager.process_id
    total = sum(int(p.get("max_sessions", 0)) for p in processes)
    media = sum(int(p.get("media", 0)) for p in processes)
    free = sum(free_slots(p) for p in processes)
    return {"processes": processes, "max_sessions": total, "media": media, "free": free}


@router.route("GET", "/api/cluster", auth="admin", errors=(503,), tag="meta",
              summary="The server processes (admin): each one's sessions, interviews holding media, capacity, "
                      "overload and route, and the totals",
              response={"type": "object", "properties": {"processes": {"type": "array"},
                                                          "max_sessions": {"type": "integer"},
                                                          "media": {"type": "integer"},
                                                          "free": {"type": "integer"}}})
async def cluster(call: Call) -> dict[str, Any]:
    return await cluster_state(call.request.app[sessions_key])
