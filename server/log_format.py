"""The log's shape: `text` (one readable line per record) or `json` (CANDOR_LOG_FORMAT=json: one
JSON object per line, for a log shipper: Loki, Elasticsearch, journald's JSON readers).

A JSON line has `ts` (UTC, ISO 8601 with milliseconds), `level`, `logger` and `message`, plus
`interview_id` when the record is about one interview, and `exc_info` (the traceback's text)
when it carries an exception. The interview comes from `extra={"interview_id": ...}` if a
caller gave it, else from the message ("interview 12: ...", the project's convention), else from
the thread's name (`asr-interview-12`), so the lines of one interview can be filtered without
touching every logging call.

`configure()` sets up the root logger once, at start-up (run.py); the token redaction filter
(server/log_redaction.py) is installed on its handler after it and runs before either formatter,
so a JSON line never holds a link token either.
"""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
_INTERVIEW = re.compile(r"\binterview[ -](\d+)\b", re.IGNORECASE)


def interview_id(record: logging.LogRecord, message: str) -> int | None:
    given = getattr(record, "interview_id", None)
    if given is not None:
        try:
            return int(given)
        except (TypeError, ValueError):
            return None
    for text in (message, record.threadName or ""):
        if (m := _INTERVIEW.search(text)) is not None:
            return int(m.group(1))
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside the message are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        iid = interview_id(record, message)
        if iid is not None:
            line["interview_id"] = iid
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def handler(fmt: str, stream: TextIO | None = None) -> logging.Handler:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    return out


def configure(level: str, fmt: str = "text") -> None:
    """The root logger writes to stderr in `fmt` at `level` (a root logger that already has
    handlers is left alone, as logging.basicConfig does)."""
    root = logging.getLogger()
    if root.handlers:
        return
    root.addHandler(handler(fmt))
    root.setLevel(level)
