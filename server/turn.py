"""TURN REST credentials (coturn `use-auth-secret`): a short-lived user name and password that
coturn checks with the shared secret alone, so no per-candidate account is stored anywhere.

username = "<expiry unix time>:<label>", credential = base64(HMAC-SHA1(secret, username)).
coturn refuses the name once the expiry time has passed."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from server.settings import Settings


@dataclass(frozen=True, slots=True)
class TurnCredential:
    urls: tuple[str, ...]
    username: str
    credential: str
    expires_at: int  # unix seconds

    def ice_server(self) -> dict[str, Any]:
        """The entry for RTCPeerConnection's iceServers."""
        return {"urls": list(self.urls), "username": self.username, "credential": self.credential}


def turn_password(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def mint(urls: tuple[str, ...], secret: str, ttl_s: int, label: str | None = None,
         now: float | None = None) -> TurnCredential:
    """Credentials valid for ttl_s from now. label: an interview id (so coturn's log can be tied
    to an interview; never personal data), else a random id."""
    expires = int(now if now is not None else time.time()) + int(ttl_s)
    username = f"{expires}:{label or secrets.token_hex(8)}"
    return TurnCredential(tuple(urls), username, turn_password(secret, username), expires)


def page_ice_servers(settings: Settings, label: str | None = None) -> list[dict[str, Any]]:
    """The candidate page's iceServers: CANDOR_ICE_SERVERS plus fresh TURN credentials when a
    TURN server is configured."""
    servers = [dict(s) for s in settings.ice_servers]
    if settings.turn_urls and settings.turn_secret:
        servers.append(mint(settings.turn_urls, settings.turn_secret, settings.turn_ttl_s, label).ice_server())
    return servers
