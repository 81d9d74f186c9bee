"""The OpenAPI 3.1 document, generated from the declared routes (server/api_router.py)."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from server.api_router import ApiRoute
from server.schemas import ReportOut

_PATH_PARAM = re.compile(r"\{(\w+)\}")
_STATUS_TEXT = {
    400: "Malformed request (bad JSON, missing or wrong-typed fields)",
    401: "Authentication required",
    403: "Wrong role, or missing CSRF token on a page session",
    404: "Unknown id or token",
    409: "Conflict with existing data",
    410: "The link expired or the interview is finished",
    413: "Request body too large",
    422: "Well-formed but invalid",
}
# Response shapes of routes that return plain dicts (their handler builds the JSON elsewhere).
RESPONSES: dict[tuple[str, str], type[BaseModel]] = {
    ("GET", "/api/interviews/{interview_id}/report"): ReportOut,
}


def _response(r: ApiRoute) -> type[BaseModel] | dict[str, Any] | None:
    return r.response if r.response is not None else RESPONSES.get((r.method, r.path))


def build(routes: list[ApiRoute], version: str) -> dict[str, Any]:
    models: list[type[BaseModel]] = []
    for r in routes:
        for m in (r.body, _response(r)):
            if isinstance(m, type) and issubclass(m, BaseModel) and m not in models:
                models.append(m)
    _, top = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["Error"] = {
        "type": "object",
        "properties": {"error": {"type": "string"}},
        "required": ["error"],
    }
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "summary": r.summary,
            "tags": [r.tag],
            "operationId": f"{r.method.lower()}_{re.sub(r'[^a-zA-Z0-9]+', '_', r.path).strip('_')}",
        }
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string" if name == "token" else "integer"},
            }
            for name in _PATH_PARAM.findall(r.path)
        ]
        params += [
            {"name": q.name, "in": "query", "required": False, "description": q.description,
             "schema": {"type": q.type}}
            for q in r.query
        ]
        if params:
            op["parameters"] = params
        if r.auth in ("hr", "admin"):
            op["security"] = [{"bearer": []}, {"session": []}]
            if r.auth == "admin":
                op["description"] = "Needs the admin role."
        elif r.auth == "candidate":
            op["description"] = "Authorised by the invitation token in the path."
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{r.body.__name__}"}}},
            }
        responses: dict[str, Any] = {}
        content: dict[str, Any] | None
        response = _response(r)
        if isinstance(response, type):
            content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{response.__name__}"}}}
        elif isinstance(response, dict):
            content = {"application/json": {"schema": response}}
        elif r.raw or r.content_type != "application/json":
            content = {r.content_type: {}} if r.content_type else None
        else:
            content = {"application/json": {"schema": {"type": "object"}}}
        responses[str(r.status)] = {"description": "Success", **({"content": content} if content else {})}
        codes = set(r.errors)
        if r.auth in ("hr", "admin"):
            codes.add(401)
        if r.auth == "admin":
            codes.add(403)
        if r.body is not None:
            codes.update((400, 422))
        for code in sorted(codes):
            responses[str(code)] = {
                "description": _STATUS_TEXT.get(code, "Error"),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        op["responses"] = responses
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Candor",
            "version": version,
            "description": "Self-hosted real-time AI video interview server. Errors are JSON "
            '`{"error": "..."}`. HR endpoints take `Authorization: Bearer <token>` from '
            "POST /api/login; websockets may pass `?token=`.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "candor_session"},
            },
        },
    }
