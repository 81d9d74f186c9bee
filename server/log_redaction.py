"""Credentials never reach the log: a candidate's link token (`/i/<token>/...` in paths, as the
access log and error messages print them) and a `token=` query parameter (the monitor's
websocket) are replaced by `<redacted>` in every record's message, arguments, `extra` fields and
traceback.

`install()` puts the filter on the root logger's handlers (a filter on a logger would not see
records propagated from child loggers such as aiohttp.access); run.py calls it right after
logging.basicConfig.
"""
from __future__ import annotations

import logging
import re

REDACTED = "<redacted>"
# Attributes every LogRecord has; anything else came in through `extra=` (aiohttp's access
# log passes the request line and path that way too).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_LINK_TOKEN = re.compile(r"(/i/)[^/\s?#\"'<>]+")
_QUERY_TOKEN = re.compile(r"([?&](?:token|access_token)=)[^&\s#\"'<>]+", re.IGNORECASE)


def redact(text: str) -> str:
    if "/i/" not in text and "token=" not in text.lower():
        return text
    text = _LINK_TOKEN.sub(lambda m: m.group(1) + REDACTED, text)
    return _QUERY_TOKEN.sub(lambda m: m.group(1) + REDACTED, text)


class RedactTokens(logging.Filter):
    """Replace link tokens in a record before any handler formats it (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format: logging reports it when the handler formats
            message = None
        if message is not None:
            redacted = redact(message)
            if redacted != message:
                # The message as it will be printed, with the tokens replaced; formatting the
                # arguments here is the only sure way (a token may sit in any of them, or in
                # an object's str()).
                record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key in _STANDARD:
                continue
            if isinstance(value, str):
                setattr(record, key, redact(value))
            elif isinstance(value, dict):
                setattr(record, key, {k: redact(v) if isinstance(v, str) else v for k, v in value.items()})
        return True


def install(logger: logging.Logger | None = None) -> RedactTokens:
    """Put one RedactTokens filter on every handler of `logger` (default: the root logger)."""
    logger = logger or logging.getLogger()
    found = next((f for h in logger.handlers for f in h.filters if isinstance(f, RedactTokens)), None)
    redactor = found or RedactTokens()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactTokens) for f in handler.filters):
            handler.addFilter(redactor)
    return redactor
