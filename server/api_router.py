"""Declared API routes: one place knows each route's auth, body and response shapes, so the
wrapper enforces them and server/openapi.py describes exactly what runs."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Literal, cast

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.auth import Principal, csrf_matches
from server.errors import Forbidden, Malformed, Unauthorized, from_validation_error
from server.web import CSRF_HEADER, SAFE_METHODS, json_response, principal_of

logger = logging.getLogger(__name__)

Auth = Literal["public", "hr", "admin"]


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
        raw = self.request.match_info[name]
        try:
            return int(raw)
        except ValueError:
            raise Malformed(f"{name} must be an integer, got {raw!r}") from None


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
