"""One frozen settings object, read from CANDOR_* environment variables once at start-up."""
from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A CANDOR_* variable has a value we cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("data")
    models_dir: Path = REPO_ROOT / "models"
    database_url: str | None = None
    redis_url: str | None = None
    # With Redis: how long a process that stopped still holds its interviews (its heartbeat
    # renews them every third of this); then a live process adopts them.
    owner_ttl_s: float = 15.0
    # With Redis behind nginx: this process's name in nginx's per-process routes (`?via=NAME`,
    # deploy/nginx.conf). A process without room sends a new candidate to a named process that
    # has room; unnamed processes neither send nor receive them.
    route: str | None = None
    public_url: str | None = None
    # Without public_url, links (invitations, report clips) are built from the request's Host
    # header only when it names one of these: "name" allows any port, "name:port" that port.
    # The serve host:port is allowed too (see allowed_host).
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    # The session cookie's Secure flag; None: on when public_url is https (request.scheme is
    # http behind a TLS-terminating proxy, so it cannot decide).
    secure_cookies: bool | None = None
    # Reverse proxies (addresses or networks) whose X-Forwarded-For is believed: the per-address
    # limits (logins, offers) then count the client's address, not the proxy's. Empty: the
    # connection's own address is the client (a forged header from anyone else is ignored).
    trusted_proxies: tuple[str, ...] = ()
    ice_servers: tuple[dict[str, Any], ...] = ()
    ice_host_addresses: tuple[str, ...] = ()
    # TURN (coturn, `use-auth-secret`): each candidate page gets short-lived TURN REST
    # credentials for these URLs, minted with the shared secret (server/turn.py).
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_ttl_s: int = 3600
    # The candidate's RTCPeerConnection iceTransportPolicy: "all", or "relay" (media only
    # through TURN: the candidate's own addresses are never offered; needs turn_urls).
    ice_transport_policy: str = "all"
    # Addresses or networks that may read GET /metrics (others get 403).
    metrics_allow: tuple[str, ...] = ("127.0.0.1", "::1")
    # Live interviews holding media at once in this process: what bench/live.py measured on 2
    # cores (clients on the same cores), speech on the static graph, vision in worker processes:
    # 8 pass every strict criterion over 30 s and over 10 minutes with question changes
    # (bench/results/live-sweep-workers.txt, live-10min-n8.txt); 10 miss the speech -> panel
    # latency goal and 12 break real time.
    max_sessions: int = 8
    # The validity analysis of every job with hires is recomputed this often (days; 0 = only on
    # request): server/validity_api.py.
    validity_refresh_days: int = 90
    host: str = "127.0.0.1"
    port: int = 8080
    default_language: str = "ko"
    # Tokens from POST /api/login and page sessions stay valid this long.
    session_hours: float = 12.0
    # A candidate's resume matching a dimension's keywords multiplies that dimension's weight
    # in each question by this factor (see server/invitations.py).
    resume_boost: float = 1.5
    # Live analysis: frames analysed per second per interview, and the vision workers all
    # interviews share: worker processes (each with its own GIL: at 8 interviews on 2 cores
    # threads of the server process fell behind with a quarter of a core idle, lost in GIL
    # hand-offs: server/vision_workers.py), or with CANDOR_VISION_PROCESSES=0 threads of the server.
    analysis_fps: float = 5.0
    vision_threads: int = 2
    vision_processes: bool = True
    # Voice gate in front of speech recognition: "silero" (Silero VAD, models/vad/), "energy"
    # (audio level; also the fallback when the Silero model is missing) or "off"; and the audio
    # kept either side of detected speech (s) so no word is cut.
    vad: str = "silero"
    vad_pad_s: float = 0.3
    # Faults: an interview with no media for media_timeout_s is `interrupted`; after
    # abandon_after_s more it is `abandoned` (HR can reopen it before the deadline).
    media_timeout_s: float = 4.0
    abandon_after_s: float = 120.0
    # Ways out of every waiting state (server/interview_machine.py EXITS): media held but never
    # arriving goes back to waiting after connect_timeout_s (the page keeps retrying); a pause
    # longer than pause_limit_s ends as `abandoned` (HR can reopen it before the deadline).
    connect_timeout_s: float = 15.0  # the candidate is told well within 20 s
    pause_limit_s: float = 1800.0
    # Recommendation thresholds (overall score 0-100) while a job has no hiring history.
    recommend_at: float = 70.0
    second_interview_at: float = 50.0
    weak_dimension_at: float = 40.0
    # Below this share of the job's dimension weight assessed, the recommendation is
    # "insufficient_evidence" and the interview is left out of percentile pools.
    min_coverage: float = 0.6
    # Mail (server/mail_outbox.py): None = mail off, HR copies links by hand.
    # smtp://[user:pass@]host:port, smtp+starttls://... or smtps://...
    smtp_url: str | None = None
    mail_from: str | None = None
    mail_time_zone: str = "UTC"  # for candidates without their own time zone
    mail_retry_s: float = 60.0  # first retry after a failure; doubles each time
    mail_max_attempts: int = 8
    reminder_before_h: float = 24.0  # reminders this long before the deadline; 0 = none
    # Webhooks (server/webhooks.py): retries and the receiver's time to answer.
    webhook_retry_s: float = 30.0
    webhook_max_attempts: int = 8
    webhook_timeout_s: float = 10.0
    # How often the outbox and webhook workers look for due work (they are also woken at once
    # when work is queued by this process).
    outbox_poll_s: float = 5.0
    # Key that seals secrets the server must read back (links in queued mail, webhook
    # secrets); unset: generated once into <data_dir>/secret.key (server/sealing.py).
    secret_key: str | None = None
    # Keys that seal recordings at rest: "id:base64key,..." (32-byte keys), the first current,
    # the rest kept to read older files; unset: <data_dir>/recording.keys, made on first use
    # (server/recording_crypto.py; `run.py keys rotate|reencrypt|status`).
    recording_keys: str | None = None
    # Retention (server/retention.py): days after the decision (or the interview's end) that a
    # candidate not hired is kept, for jobs on the "default" jurisdiction profile; None: the
    # profile's own. Other profiles set their own period.
    retention_days: int | None = None
    load_models: bool = True
    log_level: str = "INFO"
    # "text" (a readable line per record) or "json" (one JSON object per line; server/log_format.py).
    log_format: str = "text"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return (self.public_url or "").lower().startswith("https://")

    def allowed_host(self, host: str | None) -> bool:
        """Whether a Host header may be used to build links (when public_url is unset)."""
        parsed = _split_host(host or "")
        if parsed is None:
            return False
        name, port = parsed
        entries = list(self.allowed_hosts)
        if self.host not in ("", "0.0.0.0", "::"):
            entries.append(f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}")
        for entry in entries:
            allowed = _split_host(entry.strip())
            if allowed is not None and allowed[0] == name and allowed[1] in (None, port):
                return True
        return False

    @property
    def mail_on(self) -> bool:
        return self.smtp_url is not None

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
        values["route"] = get("ROUTE")
        values["smtp_url"] = get("SMTP_URL")
        values["mail_from"] = get("MAIL_FROM")
        values["secret_key"] = get("SECRET_KEY")
        values["recording_keys"] = get("RECORDING_KEYS")
        if (v := get("MAIL_TIME_ZONE")) is not None:
            values["mail_time_zone"] = v
        if (v := get("PUBLIC_URL")) is not None:
            values["public_url"] = v.rstrip("/")
        if (v := get("ALLOWED_HOSTS")) is not None:
            values["allowed_hosts"] = tuple(h.strip().lower() for h in v.split(",") if h.strip())
        if (v := get("TRUSTED_PROXIES")) is not None:
            values["trusted_proxies"] = tuple(h.strip() for h in v.split(",") if h.strip())
        if (v := get("SECURE_COOKIES")) is not None:
            values["secure_cookies"] = _flag("SECURE_COOKIES", v)
        if (v := get("VISION_PROCESSES")) is not None:
            values["vision_processes"] = _flag("VISION_PROCESSES", v)
        if (v := get("ICE_SERVERS")) is not None:
            values["ice_servers"] = _parse_ice_servers(v)
        if (v := get("ICE_HOST_ADDRESSES")) is not None:
            values["ice_host_addresses"] = tuple(a.strip() for a in v.split(",") if a.strip())
        if (v := get("TURN_URLS")) is not None:
            values["turn_urls"] = tuple(u.strip() for u in v.split(",") if u.strip())
        values["turn_secret"] = get("TURN_SECRET")
        if (v := get("ICE_TRANSPORT_POLICY")) is not None:
            values["ice_transport_policy"] = v.strip().lower()
        if (v := get("METRICS_ALLOW")) is not None:
            values["metrics_allow"] = tuple(a.strip() for a in v.split(",") if a.strip())
        for name, key, conv in (
            ("MAX_SESSIONS", "max_sessions", int),
            ("VALIDITY_REFRESH_DAYS", "validity_refresh_days", int),
            ("HOST", "host", str),
            ("PORT", "port", int),
            ("DEFAULT_LANGUAGE", "default_language", str),
            ("SESSION_HOURS", "session_hours", float),
            ("RESUME_BOOST", "resume_boost", float),
            ("LOG_LEVEL", "log_level", str.upper),
            ("LOG_FORMAT", "log_format", str.lower),
            ("ANALYSIS_FPS", "analysis_fps", float),
            ("VISION_THREADS", "vision_threads", int),
            ("VAD", "vad", str.lower),
            ("VAD_PAD_S", "vad_pad_s", float),
            ("MEDIA_TIMEOUT_S", "media_timeout_s", float),
            ("RECOMMEND_AT", "recommend_at", float),
            ("SECOND_INTERVIEW_AT", "second_interview_at", float),
            ("WEAK_DIMENSION_AT", "weak_dimension_at", float),
            ("MIN_COVERAGE", "min_coverage", float),
            ("ABANDON_AFTER_S", "abandon_after_s", float),
            ("CONNECT_TIMEOUT_S", "connect_timeout_s", float),
            ("PAUSE_LIMIT_S", "pause_limit_s", float),
            ("MAIL_RETRY_S", "mail_retry_s", float),
            ("MAIL_MAX_ATTEMPTS", "mail_max_attempts", int),
            ("REMINDER_BEFORE_H", "reminder_before_h", float),
            ("WEBHOOK_RETRY_S", "webhook_retry_s", float),
            ("WEBHOOK_MAX_ATTEMPTS", "webhook_max_attempts", int),
            ("WEBHOOK_TIMEOUT_S", "webhook_timeout_s", float),
            ("OUTBOX_POLL_S", "outbox_poll_s", float),
            ("RETENTION_DAYS", "retention_days", int),
            ("TURN_TTL_S", "turn_ttl_s", int),
            ("OWNER_TTL_S", "owner_ttl_s", float),
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
        if self.validity_refresh_days < 0:
            raise SettingsError("CANDOR_VALIDITY_REFRESH_DAYS must be a number of days >= 0 (0: only on request)")
        if self.route is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", self.route):
            raise SettingsError("CANDOR_ROUTE must be 1-32 letters, digits, '-' or '_' (the name nginx's `via` map "
                                "gives this process)")
        if not 3 <= self.owner_ttl_s <= 600:
            raise SettingsError("CANDOR_OWNER_TTL_S must be between 3 and 600 seconds")
        if not 0.2 <= self.analysis_fps <= 30:
            raise SettingsError("CANDOR_ANALYSIS_FPS must be between 0.2 and 30")
        if self.vision_threads < 1:
            raise SettingsError("CANDOR_VISION_THREADS must be at least 1")
        if self.log_format not in ("text", "json"):
            raise SettingsError("CANDOR_LOG_FORMAT must be text or json")
        if self.vad not in ("silero", "energy", "off"):
            raise SettingsError("CANDOR_VAD must be silero, energy or off")
        if not 0.1 <= self.vad_pad_s <= 2.0:
            raise SettingsError("CANDOR_VAD_PAD_S must be between 0.1 and 2 seconds")
        for name, value in (("MEDIA_TIMEOUT_S", self.media_timeout_s), ("ABANDON_AFTER_S", self.abandon_after_s),
                            ("CONNECT_TIMEOUT_S", self.connect_timeout_s), ("PAUSE_LIMIT_S", self.pause_limit_s)):
            if not value > 0:
                raise SettingsError(f"CANDOR_{name} must be a number of seconds > 0")
        if not 0 <= self.min_coverage <= 1:
            raise SettingsError("CANDOR_MIN_COVERAGE must be between 0 and 1")
        if self.resume_boost < 1:
            raise SettingsError("CANDOR_RESUME_BOOST must be >= 1")
        if self.retention_days is not None and self.retention_days < 1:
            raise SettingsError("CANDOR_RETENTION_DAYS must be a number of days >= 1")
        self._check_mail()
        self._check_turn()
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise SettingsError(
                    f"CANDOR_TRUSTED_PROXIES: {entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24)"
                ) from None
        for entry in self.allowed_hosts:
            if _split_host(entry) is None:
                raise SettingsError(
                    f"CANDOR_ALLOWED_HOSTS: {entry!r} is not a host name or host:port"
                )


    def _check_turn(self) -> None:
        for url in self.turn_urls:
            if not url.lower().startswith(("turn:", "turns:")):
                raise SettingsError(f"CANDOR_TURN_URLS: {url!r} is not a turn: or turns: URL")
        if self.turn_urls and self.turn_secret is None:
            raise SettingsError("CANDOR_TURN_URLS is set: CANDOR_TURN_SECRET "
                                "(coturn's static-auth-secret) is needed too")
        if self.turn_ttl_s < 60:
            raise SettingsError("CANDOR_TURN_TTL_S must be at least 60 seconds")
        if self.ice_transport_policy not in ("all", "relay"):
            raise SettingsError("CANDOR_ICE_TRANSPORT_POLICY must be all or relay")
        if self.ice_transport_policy == "relay" and not (self.turn_urls or any(
                "turn" in str(s.get("urls", "")) for s in self.ice_servers)):
            raise SettingsError("CANDOR_ICE_TRANSPORT_POLICY=relay needs a TURN server (CANDOR_TURN_URLS)")
        for entry in self.metrics_allow:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise SettingsError(f"CANDOR_METRICS_ALLOW: {entry!r} is not an IP address or network") from None

    def _check_mail(self) -> None:
        for name, value in (("MAIL_RETRY_S", self.mail_retry_s), ("WEBHOOK_RETRY_S", self.webhook_retry_s),
                            ("WEBHOOK_TIMEOUT_S", self.webhook_timeout_s), ("OUTBOX_POLL_S", self.outbox_poll_s)):
            if not value > 0:
                raise SettingsError(f"CANDOR_{name} must be a number of seconds > 0")
        for name, count in (("MAIL_MAX_ATTEMPTS", self.mail_max_attempts),
                            ("WEBHOOK_MAX_ATTEMPTS", self.webhook_max_attempts)):
            if count < 1:
                raise SettingsError(f"CANDOR_{name} must be at least 1")
        if self.reminder_before_h < 0:
            raise SettingsError("CANDOR_REMINDER_BEFORE_H must be >= 0 (0: no reminders)")
        try:
            ZoneInfo(self.mail_time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(
                f"CANDOR_MAIL_TIME_ZONE={self.mail_time_zone!r} is not a time zone name (e.g. Europe/Berlin)"
            ) from None
        if self.secret_key is not None and len(self.secret_key) < 32:
            raise SettingsError("CANDOR_SECRET_KEY must be at least 32 characters")
        if self.recording_keys is not None:
            from server.recording_crypto import BadKeys, parse_keys

            try:
                parse_keys(self.recording_keys, "CANDOR_RECORDING_KEYS")
            except BadKeys as exc:
                raise SettingsError(str(exc)) from None
        if self.smtp_url is None:
            return
        parse_smtp_url(self.smtp_url)  # raises SettingsError
        if self.mail_from is None:
            raise SettingsError("CANDOR_SMTP_URL is set: CANDOR_MAIL_FROM (the sender address) is needed too")
        if "@" not in self.mail_from:
            raise SettingsError(f"CANDOR_MAIL_FROM={self.mail_from!r} is not an email address")


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """Where mail goes: from CANDOR_SMTP_URL."""

    host: str
    port: int
    tls: str  # none | starttls | tls
    username: str | None
    password: str | None


_SMTP_SCHEMES = {"smtp": ("none", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SMTP_SCHEMES:
        raise SettingsError(
            f"CANDOR_SMTP_URL: scheme {parts.scheme!r} is not smtp://, smtp+starttls:// or smtps://"
        )
    tls, default_port = _SMTP_SCHEMES[scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise SettingsError("CANDOR_SMTP_URL: the port is not a number between 1 and 65535") from None
    if not parts.hostname:
        raise SettingsError("CANDOR_SMTP_URL names no host (smtp://host:port)")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return SmtpTarget(parts.hostname, port, tls, username, password)


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True,
             "0": False, "false": False, "no": False, "off": False}


def _flag(name: str, value: str) -> bool:
    flag = value.strip().lower()
    if flag not in _BOOLEANS:
        raise SettingsError(f"CANDOR_{name}={value!r}: use 1/0, true/false, yes/no or on/off")
    return _BOOLEANS[flag]


# A Host header: a name or IPv4 address, or a bracketed IPv6 address, with an optional port.
_HOST_RE = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?)(?::([0-9]{1,5}))?$")


def _split_host(host: str) -> tuple[str, int | None] | None:
    """(name, port or None) of a Host header value or allow-list entry; None if malformed."""
    match = _HOST_RE.match(host.strip().lower().rstrip("."))
    if match is None:
        return None
    name, port = match.group(1), match.group(3)
    if port is not None and not 0 < int(port) < 65536:
        return None
    return name.rstrip("."), int(port) if port is not None else None


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
