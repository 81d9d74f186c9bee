"""Errors that become HTTP responses with a JSON body `{"error": "..."}`."""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class ApiError(Exception):
    status = 400

    def __init__(self, message: str, status: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.extra = extra


class Malformed(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Gone(ApiError):
    status = 410


class Invalid(ApiError):
    status = 422


# Pydantic error types that mean the request is malformed (missing, wrong type, unparseable)
# rather than well-formed but breaking a rule (too many dimensions, negative weight...).
_MALFORMED_TYPES = {"missing", "json_invalid", "json_type", "extra_forbidden", "int_from_float"}


def from_validation_error(exc: ValidationError) -> ApiError:
    errors = exc.errors(include_url=False)
    parts = []
    malformed = False
    for err in errors[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    for err in errors:
        kind = err["type"]
        if kind in _MALFORMED_TYPES or kind.endswith("_type") or kind.endswith("_parsing"):
            malformed = True
    message = "; ".join(parts)
    if len(errors) > 5:
        message += f" (and {len(errors) - 5} more)"
    return Malformed(message) if malformed else Invalid(message)
