"""The audit log over HTTP (admin only): export it as JSON or CSV, verify its hash chain."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from server import audit_chain
from server.api_router import Call, QueryParam
from server.api import router
from server.audit_export import MAX_LIMIT, AuditQuery, BadQuery, csv_text, export, row_json
from server.errors import Invalid, Malformed
from server.web import store_key


@router.route("GET", "/api/audit", auth="admin", errors=(400, 422), tag="audit",
              summary="The audit log in chain order with each row's digests (admin): JSON or CSV; the export "
                      "itself is audited",
              query=(QueryParam("format", "json (default) or csv"),
                     QueryParam("since", "rows from this ISO 8601 time or date on (UTC if no zone)"),
                     QueryParam("until", "rows before this time"),
                     QueryParam("action", "only this action, or a prefix ending in .* (e.g. review.*)"),
                     QueryParam("limit", f"rows, a whole number (default 1000 for json, {MAX_LIMIT} for csv; "
                                         f"at most {MAX_LIMIT})"),
                     QueryParam("offset", "rows to skip, a whole number (default 0)")))
async def get_audit(call: Call) -> dict[str, Any] | web.Response:
    try:
        q = AuditQuery.parse(call.request.query)
    except BadQuery as exc:
        raise (Malformed if exc.malformed else Invalid)(str(exc)) from None
    total, rows = await call.request.app[store_key].run(lambda db: export(db, q, "hr", call.who.id))
    if q.format == "csv":
        return web.Response(text=csv_text(rows), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": 'attachment; filename="audit-log.csv"',
                                     "Cache-Control": "no-store"})
    return {"total": total, "offset": q.offset, "rows": [row_json(r) for r in rows]}


@router.route("GET", "/api/audit/verify", auth="admin", tag="audit",
              summary="Check the audit log's hash chain from its start to its head (admin): ok, rows checked, "
                      "and the first bad row with what is wrong (edited, removed, reordered)")
async def verify_audit(call: Call) -> dict[str, Any]:
    verdict = await call.request.app[store_key].run(audit_chain.verify)
    return verdict.to_json()
