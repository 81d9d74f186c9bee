"""`GET /api/jurisdictions`: the jurisdiction profiles a job may choose (server/jurisdictions.py)."""
from __future__ import annotations

from typing import Any

from server import jurisdictions
from server.api import router
from server.api_router import Call


@router.route("GET", "/api/jurisdictions", summary="Jurisdiction profiles a job may use", tag="jobs",
              response={"type": "object", "properties": {"jurisdictions": {"type": "array"}}})
async def get_jurisdictions(call: Call) -> dict[str, Any]:
    return {"jurisdictions": [p.to_json() for p in jurisdictions.PROFILES.values()]}
