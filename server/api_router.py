"""Declared API routes: one place knows each route's auth, body and response shapes, so the
wrapper enforces them and server/openapi.py describes exactly what runs."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Literal, cast

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.auth import Principal, csrf_matches
from server.errors import Forbidden, Invalid, Malformed, NotFound, Unauthorized, from_validation_error
from server.schemas import MAX_ID
from server.web import CSRF_HEADER, SAFE_METHODS, json_response, principal_of

logger = logging.getLogger(__name__)

Auth = Literal["public", "hr", "admin"]

# An integer in a path or query: ASCII digits only (int() would also take "\u0661" or "1_0").
INTEGER_RE = re.compile(r"-?[0-9]+", re.ASCII)


def parse_int(raw: str, what: str) -> int:
    """A path or query integer; 400 when it is not one."""
    if not INTEGER_RE.fullmatch(raw):
        raise Malformed(f"{what} must be an integer, got {raw[:50]!r}")
    if len(raw.lstrip("-0")) > 19:  # beyond any 64-bit id (and int()'s 4300-digit limit)
        return -(MAX_ID + 1) if raw.startswith("-") else MAX_ID + 1
    return int(raw)


def path_id(raw: str, name: str) -> int:
    """A row id in a path: 400 when not an integer, 404 when outside 1..2^63-1 (it cannot
    name a row; the database would refuse to bind it)."""
    value = parse_int(raw, name)
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"{name.removesuffix('_id')} {raw[:50]} not found")
    return value


def query_id(raw: str | None, name: str) -> int | None:
    """A row id in a query string (absent or empty: None): 400 when not an integer, 422 when
    outside 1..2^63-1."""
    if raw is None or raw == "":
        return None
    value = parse_int(raw, f"query parameter {name}")
    if not 1 <= value <= MAX_ID:
        raise Invalid(f"query parameter {name} must be an id between 1 and {MAX_ID}")
    return value


@dataclass(slots=True)
class Call:
    """What a handler gets: the request, the authenticated user, the validated body."""

    request: web.Request
    principal: Principal | None
    body: Any

    @property
    def who(self) -> Principal:
        assert self.principal is not None
        return self.principal

    def int_param(self, name: str) -> int:
        """A row id in the path: 400 when not an integer, 404 when out of range."""
        return path_id(self.request.match_info[name], name)

    def query_int(self, name: str) -> int | None:
        """A row id in the query string: None when absent, 400/422 when bad."""
        return query_id(self.request.query.get(name), name)


Handler = Callable[[Call], Awaitable[web.StreamResponse | Any]]
RawHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class QueryParam:
    name: str
    description: str
    type: str = "string"


@dataclass(frozen=True, slots=True)
class ApiRoute:
    method: str
    path: str
    handler: Handler
    summary: str
    auth: Auth | Literal["candidate"]  # "candidate": raw routes only (the invitation token)
    body: type[BaseModel] | None
    response: type[BaseModel] | dict[str, Any] | None
    status: int
    errors: tuple[int, ...]
    query: tuple[QueryParam, ...]
    tag: str
    # A raw route's handler takes the aiohttp request itself (pages, websockets); it is only
    # recorded here so that the OpenAPI document lists it.
    raw: bool = False
    content_type: str = "application/json"


@dataclass
class ApiRouter:
    routes: list[ApiRoute] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        auth: Auth = "hr",
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | dict[str, Any] | None = None,
        status: int = 200,
        errors: tuple[int, ...] = (),
        query: tuple[QueryParam, ...] = (),
        tag: str = "hr",
        content_type: str = "application/json",
    ) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            self.routes.append(
                ApiRoute(method, path, fn, summary, auth, body, response, status, errors, query, tag,
                         content_type=content_type)
            )
            return fn

        return decorate

    def raw(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        auth: Auth | Literal["candidate"] = "public",
        content_type: str = "text/html",
        status: int = 200,
        errors: tuple[int, ...] = (),
        query: tuple[QueryParam, ...] = (),
        tag: str = "pages",
    ) -> Callable[[Any], Any]:
        def decorate(fn: Any) -> Any:
            self.routes.append(
                ApiRoute(method, path, fn, summary, auth, None, None, status, errors, query,
                         tag, raw=True, content_type=content_type)
            )
            return fn

        return decorate

    def install(self, app: web.Application) -> None:
        for route in self.routes:
            # A raw route's handler takes the request itself (see ApiRoute.raw).
            handler = cast(RawHandler, route.handler) if route.raw else _wrap(route)
            app.router.add_route(route.method, route.path, handler)


def _wrap(route: ApiRoute) -> RawHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        principal = None
        # Auth before the body: an anonymous client learns nothing about validation.
        if route.auth != "public":
            principal = await principal_of(request)
            if principal is None:
                raise Unauthorized("authentication required: log in and send 'Authorization: Bearer <token>'")
            if (
                principal.token_kind == "session"
                and request.method not in SAFE_METHODS
                and not csrf_matches(principal, request.headers.get(CSRF_HEADER))
            ):
                raise Forbidden(f"a page session needs the {CSRF_HEADER} header for this request")
            if route.auth == "admin" and not principal.is_admin:
                raise Forbidden("this needs the admin role")
        # Declared integer query parameters are ids: checked here, whoever reads them.
        for param in route.query:
            if param.type == "integer":
                query_id(request.query.get(param.name), param.name)
        body = None
        if route.body is not None:
            raw = await request.read()
            if not raw.strip():
                raise Malformed("request body is empty; send a JSON object")
            try:
                body = route.body.model_validate_json(raw, strict=True)
            except ValidationError as exc:
                if any(e["type"] == "json_invalid" for e in exc.errors()):
                    raise Malformed("request body is not valid JSON") from None
                raise from_validation_error(exc) from None
        result = await route.handler(Call(request, principal, body))
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result, status=route.status)

    handler.__name__ = getattr(route.handler, "__name__", "handler")
    return handler
