"""What every HR page shares: the logged-in user, CSRF-checked forms, friendly form errors,
error pages and redirects.

`hr_page(...)` is the one way to declare an HR page: it registers the route on the API router
(so the OpenAPI document lists it), sends a visitor without a session to the login page, refuses
a POST whose `csrf_token` field does not match the session's, and turns domain errors (unknown
id, invisible job...) into a clear page with the right status. Nothing reaches the user as 500.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Sequence
from urllib.parse import quote, urlsplit

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from pydantic import ValidationError

from server.api import router
from server.api_router import QueryParam
from server.auth import Principal, csrf_matches
from server.errors import ApiError, NotFound
from server.i18n import N_, _, current_locale, use_locale, user_locale
from server.rendering import render
from server.schemas import MAX_ID
from server.settings import Settings
from server.store import Store
from server.web import principal_of, settings_key, store_key

logger = logging.getLogger(__name__)

# HR pages never belong in a shared cache. (Content-Security-Policy, X-Frame-Options and the
# other security headers are on every response: server/security_headers.py.)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
}

STATUS_TITLES = {
    400: N_("Bad request"),
    401: N_("Please log in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("Already done"),
    410: N_("No longer available"),
    422: N_("Please check the form"),
}

CSRF_MESSAGE = N_(
    "This form could not be accepted because it did not come with a valid security token. "
    "This happens when a page was open for a long time or you logged in again elsewhere. "
    "Go back, reload the page and submit the form again."
)


# Domain errors name what was not found ("candidate 5 not found"); the page says it in its
# language (other domain messages are shown as written until their modules are translated).
_NOT_FOUND = re.compile(r"(candidate|interview|template|job|user|webhook|question|clip|delivery|erasure certificate)"
                        r" (\S{1,60}) not found")
_THINGS = {"candidate": N_("candidate"), "interview": N_("interview"), "template": N_("template"), "job": N_("job"),
           "user": N_("user"), "webhook": N_("webhook"), "question": N_("question"), "clip": N_("clip"),
           "delivery": N_("delivery"), "erasure certificate": N_("erasure certificate")}


def localised(message: str) -> str:
    """A domain error's words in the request's language, where the catalogue has them."""
    found = _NOT_FOUND.fullmatch(message.strip())
    if found:
        return _("%(thing)s %(id)s not found", thing=_(_THINGS[found.group(1)]), id=found.group(2))
    return _(message)


def sentence(message: str) -> str:
    """Domain errors are lower-case fragments ('job 5 not found'); pages show sentences."""
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message[-1] in ".!?。！？" else message + ("。" if current_locale() == "zh_CN" else ".")


def see_other(location: str) -> web.Response:
    """303: after a POST the browser GETs the new page (no resubmission on reload)."""
    return web.Response(status=303, headers={"Location": location})


def safe_next(target: str | None, default: str = "/jobs") -> str:
    """A `next` parameter is followed only when it is a path on this server (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def login_location(request: web.Request) -> str:
    if request.method == "GET":
        target = request.path_qs
    elif request.path == "/logout":
        return "/login"
    else:
        target = request.path  # the page the form came from: every form posts to its page
    return "/login?next=" + quote(target, safe="/")


# An id as a page writes it: ASCII digits (int() would also take "\u0661", "1_0" or " 1").
ID_RE = re.compile(r"[0-9]{1,19}", re.ASCII)
# Form fields that carry row ids (candidate_id, template_id...).
ID_FIELD_RE = re.compile(r"(?:[a-z_]+_)?id")


def id_or_none(raw: str | None) -> int | None:
    """The row id `raw` names, or None when it cannot name one (not ASCII digits, 0, beyond
    2^63-1)."""
    if raw is None or not ID_RE.fullmatch(raw):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def parse_id(raw: str | None, what: str) -> int:
    """A path or form id; anything that cannot name a row is a 404 for that thing."""
    value = id_or_none(raw)
    if value is None:
        raise NotFound(f"{what} {(raw or '')[:50]!r} not found")
    return value


def odd_id_field(form: MultiDictProxy[Any] | MultiDict[Any]) -> str | None:
    """The name of an id field (`candidate_id`...) holding non-ASCII text, if any. Our pages
    only ever put ASCII digits there; anything else is a tampered form (and would reach int(),
    which takes some non-ASCII digits and chokes on others such as "\u00b2")."""
    for name, value in form.items():
        if ID_FIELD_RE.fullmatch(name) and isinstance(value, str) and not value.isascii():
            return name
    return None


def with_page_headers(response: web.Response) -> web.Response:
    for name, value in PAGE_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def page_response(
    request: web.Request, template: str, who: Principal | None, /, status: int = 200,
    **context: Any,
) -> web.Response:
    context.setdefault("nav", "")
    response = render(
        request, template, status=status, who=who,
        csrf_token=(who.csrf_token if who is not None else None) or "", **context,
    )
    return with_page_headers(response)


def error_page(request: web.Request, who: Principal | None, status: int, message: str) -> web.Response:
    return page_response(
        request, "hr_error.html", who, status=status,
        title=_(STATUS_TITLES.get(status, N_("Something went wrong"))), message=sentence(localised(message)),
        code=status,
    )


# --- forms ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FormError:
    """One problem with a submitted form; `where` names the row it belongs to (e.g. "dim-2",
    "q-0") so the page can show it next to that row as well as in the summary."""

    message: str
    where: str = ""


@dataclass(slots=True)
class FormErrors:
    items: list[FormError] = field(default_factory=list)
    # 422 for input that breaks a rule; a domain error may say otherwise (409 duplicate...).
    status: int = 422

    def add(self, message: str, where: str = "") -> None:
        self.items.append(FormError(sentence(message), where))

    def at(self, where: str) -> list[str]:
        return [e.message for e in self.items if e.where == where]

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self) -> Any:
        return iter(self.items)


def describe(err: Any) -> str:
    """A pydantic error in words an HR person understands."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return _("is required")
    if kind == "string_too_short":
        return _("must not be empty")
    if kind == "string_too_long":
        return _("is too long (at most %(n)s characters)", n=ctx.get('max_length'))
    if kind == "too_short":
        return _("needs at least %(n)s", n=ctx.get('min_length'))
    if kind == "too_long":
        return _("allows at most %(n)s", n=ctx.get('max_length'))
    if kind == "greater_than":
        return _("must be greater than %(n)s", n=_num(ctx.get('gt')))
    if kind == "greater_than_equal":
        return _("must be at least %(n)s", n=_num(ctx.get('ge')))
    if kind == "less_than":
        return _("must be less than %(n)s", n=_num(ctx.get('lt')))
    if kind == "less_than_equal":
        return _("must be at most %(n)s", n=_num(ctx.get('le')))
    if kind in ("float_parsing", "float_type", "finite_number"):
        return _("must be a number")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("must be a whole number")
    if kind.startswith("datetime") or kind.startswith("date_"):
        return _("is not a valid date and time")
    if kind == "literal_error":
        return _("must be one of %(values)s", values=ctx.get('expected'))
    if kind == "string_pattern_mismatch":
        return _("is not in the expected format")
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return str(err["msg"])


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def validation_errors(
    exc: ValidationError, label: Callable[[tuple[Any, ...], str, str], tuple[str, str]]
) -> FormErrors:
    """`label(loc, kind, described)` -> (where, message) for each pydantic error."""
    errors = FormErrors()
    for err in exc.errors(include_url=False):
        where, message = label(tuple(err["loc"]), err["type"], describe(err))
        errors.add(message, where)
    return errors


def form_text(form: MultiDictProxy[Any] | MultiDict[Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def form_texts(form: MultiDictProxy[Any] | MultiDict[Any], name: str) -> list[str]:
    return [v for v in form.getall(name, []) if isinstance(v, str)]


def form_rows(form: MultiDictProxy[Any] | MultiDict[Any], default: int, maximum: int) -> int:
    try:
        rows = int(form_text(form, "rows"))
    except ValueError:
        return default
    return max(1, min(rows, maximum))


# --- the page declaration ------------------------------------------------------------------

@dataclass(slots=True)
class PageCall:
    """What an HR page handler gets: the request, the logged-in user and (for POST) the form,
    whose CSRF token has already been checked."""

    request: web.Request
    who: Principal
    form: MultiDictProxy[Any] | MultiDict[Any]

    @property
    def store(self) -> Store:
        return self.request.app[store_key]

    @property
    def settings(self) -> Settings:
        return self.request.app[settings_key]

    def id_param(self, name: str, what: str) -> int:
        return parse_id(self.request.match_info.get(name), what)

    def text(self, name: str) -> str:
        return form_text(self.form, name)

    def render(self, template: str, /, status: int = 200, **context: Any) -> web.Response:
        return page_response(self.request, template, self.who, status=status, **context)

    def error(self, status: int, message: str) -> web.Response:
        return error_page(self.request, self.who, status, message)


PageHandler = Callable[[PageCall], Awaitable[web.StreamResponse]]


async def require_hr(request: web.Request) -> PageCall | web.Response:
    """The one gate of every HR page: a session (else the login page), and for a POST the
    session's CSRF token in the form (else 403). Returns the call or the response to send."""
    who = await principal_of(request)
    if who is None:
        return see_other(login_location(request))
    use_locale(user_locale(who.language, request.headers.get("Accept-Language")))
    form: MultiDictProxy[Any] | MultiDict[Any] = MultiDict()
    if request.method not in ("GET", "HEAD"):
        try:
            form = await request.post()
        except (ValueError, UnicodeDecodeError):
            return error_page(request, who, 400, N_("the form data could not be read"))
        submitted = form.get("csrf_token")
        if who.token_kind != "session" or not csrf_matches(
            who, submitted if isinstance(submitted, str) else None
        ):
            logger.info("refused %s %s: bad CSRF token (user %s)", request.method, request.path, who.id)
            return error_page(request, who, 403, CSRF_MESSAGE)
        odd = odd_id_field(form)
        if odd is not None:
            return error_page(request, who, 400, f"the form's {odd} field does not hold an id")
    return PageCall(request, who, form)


def hr_page(
    method: str,
    path: str,
    *,
    summary: str,
    errors: Sequence[int] = (),
    query: Iterable[QueryParam] = (),
) -> Callable[[PageHandler], PageHandler]:
    """Declare an HR page (HTML) at `method path`."""
    codes = set(errors)
    if method != "GET":
        codes.add(403)

    def decorate(fn: PageHandler) -> PageHandler:
        async def handler(request: web.Request) -> web.StreamResponse:
            call = await require_hr(request)
            if isinstance(call, web.Response):
                return call
            try:
                return await fn(call)
            except ApiError as exc:
                return call.error(exc.status, exc.message)

        handler.__name__ = fn.__name__
        handler.__doc__ = fn.__doc__
        router.raw(method, path, summary=summary, auth="hr", errors=tuple(sorted(codes)),
                   query=tuple(query))(handler)
        return fn

    return decorate
