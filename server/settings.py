"""One frozen settings object, read from CANDOR_* environment variables once at start-up."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A CANDOR_* variable has a value we cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("data")
    models_dir: Path = REPO_ROOT / "models"
    database_url: str | None = None
    redis_url: str | None = None
    public_url: str | None = None
    ice_servers: tuple[dict[str, Any], ...] = ()
    ice_host_addresses: tuple[str, ...] = ()
    max_sessions: int = 16
    host: str = "127.0.0.1"
    port: int = 8080
    default_language: str = "ko"
    # Tokens from POST /api/login and page sessions stay valid this long.
    session_hours: float = 12.0
    # A candidate's resume matching a dimension's keywords multiplies that dimension's weight
    # in each question by this factor (see server/invitations.py).
    resume_boost: float = 1.5
    # Live analysis: frames analysed per second per interview, and the threads all interviews
    # share for vision inference.
    analysis_fps: float = 5.0
    vision_threads: int = 2
    # Faults: an interview with no media for media_timeout_s is `interrupted`; after
    # abandon_after_s more it is `abandoned` (HR can reopen it before the deadline).
    media_timeout_s: float = 4.0
    abandon_after_s: float = 120.0
    # Ways out of every waiting state (server/interview_machine.py EXITS): media held but never
    # arriving goes back to waiting after connect_timeout_s (the page keeps retrying); a pause
    # longer than pause_limit_s ends as `abandoned` (HR can reopen it before the deadline).
    connect_timeout_s: float = 20.0
    pause_limit_s: float = 1800.0
    # Recommendation thresholds (overall score 0-100) while a job has no hiring history.
    recommend_at: float = 70.0
    second_interview_at: float = 50.0
    weak_dimension_at: float = 40.0
    load_models: bool = True
    log_level: str = "INFO"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "candor.sqlite3"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}

        def get(name: str) -> str | None:
            value = env.get(f"CANDOR_{name}")
            return value if value not in (None, "") else None

        if (v := get("DATA_DIR")) is not None:
            values["data_dir"] = Path(v)
        if (v := get("MODELS_DIR")) is not None:
            values["models_dir"] = Path(v)
        values["database_url"] = get("DATABASE_URL")
        values["redis_url"] = get("REDIS_URL")
        if (v := get("PUBLIC_URL")) is not None:
            values["public_url"] = v.rstrip("/")
        if (v := get("ICE_SERVERS")) is not None:
            values["ice_servers"] = _parse_ice_servers(v)
        if (v := get("ICE_HOST_ADDRESSES")) is not None:
            values["ice_host_addresses"] = tuple(a.strip() for a in v.split(",") if a.strip())
        for name, key, conv in (
            ("MAX_SESSIONS", "max_sessions", int),
            ("HOST", "host", str),
            ("PORT", "port", int),
            ("DEFAULT_LANGUAGE", "default_language", str),
            ("SESSION_HOURS", "session_hours", float),
            ("RESUME_BOOST", "resume_boost", float),
            ("LOG_LEVEL", "log_level", str.upper),
            ("ANALYSIS_FPS", "analysis_fps", float),
            ("VISION_THREADS", "vision_threads", int),
            ("MEDIA_TIMEOUT_S", "media_timeout_s", float),
            ("RECOMMEND_AT", "recommend_at", float),
            ("SECOND_INTERVIEW_AT", "second_interview_at", float),
            ("WEAK_DIMENSION_AT", "weak_dimension_at", float),
            ("ABANDON_AFTER_S", "abandon_after_s", float),
            ("CONNECT_TIMEOUT_S", "connect_timeout_s", float),
            ("PAUSE_LIMIT_S", "pause_limit_s", float),
        ):
            if (v := get(name)) is not None:
                try:
                    values[key] = conv(v)
                except ValueError as exc:
                    raise SettingsError(f"CANDOR_{name}={v!r}: {exc}") from None
        if (v := get("LOAD_MODELS")) is not None:
            values["load_models"] = v.lower() not in ("0", "false", "no", "off")
        values.update(overrides)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        data = self.data_dir.resolve()
        models = self.models_dir.resolve()
        if models == data or data in models.parents:
            raise SettingsError(
                f"CANDOR_MODELS_DIR ({models}) must not be inside CANDOR_DATA_DIR ({data}): "
                "a fresh data directory must still find its models"
            )
        if self.max_sessions < 1:
            raise SettingsError("CANDOR_MAX_SESSIONS must be at least 1")
        if not 0.2 <= self.analysis_fps <= 30:
            raise SettingsError("CANDOR_ANALYSIS_FPS must be between 0.2 and 30")
        if self.vision_threads < 1:
            raise SettingsError("CANDOR_VISION_THREADS must be at least 1")
        for name, value in (("MEDIA_TIMEOUT_S", self.media_timeout_s), ("ABANDON_AFTER_S", self.abandon_after_s),
                            ("CONNECT_TIMEOUT_S", self.connect_timeout_s), ("PAUSE_LIMIT_S", self.pause_limit_s)):
            if not value > 0:
                raise SettingsError(f"CANDOR_{name} must be a number of seconds > 0")
        if self.resume_boost < 1:
            raise SettingsError("CANDOR_RESUME_BOOST must be >= 1")


def _parse_ice_servers(raw: str) -> tuple[dict[str, Any], ...]:
    try:
        servers = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"CANDOR_ICE_SERVERS is not JSON: {exc}") from None
    if not isinstance(servers, list) or not all(
        isinstance(s, dict) and "urls" in s for s in servers
    ):
        raise SettingsError(
            'CANDOR_ICE_SERVERS must be a JSON list like [{"urls": "stun:host:3478"}]'
        )
    return tuple(servers)
