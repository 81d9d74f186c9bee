"""CANDOR_LOG_FORMAT (server/log_format.py): `json` writes one JSON object per line with ts,
level, logger, message, the interview when the record is about one, and the traceback's text;
run.py sets it up for the whole process, with the link-token redaction still applied."""
from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from server import log_format, log_redaction
from server.settings import Settings, SettingsError

REPO = Path(__file__).resolve().parent.parent


def json_logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(name)
    logger.handlers[:] = [log_format.handler("json", stream)]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_a_json_line_has_the_fields_the_interview_and_the_traceback() -> None:
    logger, stream = json_logger("candor.test.json")
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        logger.exception("interview %d: tick failed\nsecond line", 12)
    logger.info("mail sender: %d sent", 3)
    logger.warning("about a session", extra={"interview_id": 7})
    first, second, third = lines(stream)  # one object per line: the message's newline is escaped

    assert first["level"] == "ERROR" and first["logger"] == "candor.test.json"
    assert first["message"] == "interview 12: tick failed\nsecond line"
    assert first["interview_id"] == 12
    assert "Traceback (most recent call last)" in str(first["exc_info"])
    assert "ZeroDivisionError: division by zero" in str(first["exc_info"])
    ts = datetime.fromisoformat(str(first["ts"]))
    assert ts.utcoffset() is not None and ts.utcoffset().total_seconds() == 0  # type: ignore[union-attr]

    assert second == {"ts": second["ts"], "level": "INFO", "logger": "candor.test.json",
                      "message": "mail sender: 3 sent"}
    assert third["interview_id"] == 7  # given by the caller: wins over the message


def test_the_interview_may_come_from_the_thread_name() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "speech recognition failed", None, None)
    record.threadName = "asr-interview-41"
    assert log_format.interview_id(record, record.getMessage()) == 41
    record.threadName = "MainThread"
    assert log_format.interview_id(record, "interviews 3 and 4 were mid-way") is None


def test_link_tokens_are_redacted_in_json_too() -> None:
    logger, stream = json_logger("candor.test.redact")
    log_redaction.install(logger)
    logger.warning("GET /i/%s/ws refused", "Sup3rSecretToken")
    (line,) = lines(stream)
    assert line["message"] == "GET /i/<redacted>/ws refused"


def test_the_setting_and_its_check() -> None:
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"CANDOR_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(SettingsError, match="CANDOR_LOG_FORMAT"):
        Settings.from_env({"CANDOR_LOG_FORMAT": "xml"})


def _run(fmt: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """run.py's start-up in a fresh interpreter, then a record from a server module."""
    code = ("import logging, run\n"
            "assert run.main(['schema']) == 0\n"
            "logging.getLogger('server.sessions').warning('interview %d: session opened (/i/%s/ws)', 5, 'tok3n')\n")
    env = {**os.environ, "CANDOR_LOG_FORMAT": fmt, "CANDOR_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_run_py_logs_json_lines_when_asked(tmp_path: Path) -> None:
    done = _run("json", tmp_path)
    assert done.returncode == 0, done.stderr
    (line,) = [json.loads(x) for x in done.stderr.splitlines()]
    assert line["logger"] == "server.sessions" and line["level"] == "WARNING"
    assert line["interview_id"] == 5 and line["message"] == "interview 5: session opened (/i/<redacted>/ws)"

    text = _run("text", tmp_path)
    assert text.returncode == 0, text.stderr
    assert text.stderr.rstrip().endswith("WARNING server.sessions: interview 5: session opened (/i/<redacted>/ws)")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.stderr)
