"""Sealing secrets the server must read back later (a link waiting in the outbox, a webhook's
signing secret): authenticated encryption (Fernet: AES-CBC + HMAC-SHA256, from `cryptography`)
under a key kept outside the database, so a copy of the database alone reveals none of them.

The key is CANDOR_SECRET_KEY when set (any string of 32+ characters), else a random key made
once into <data_dir>/secret.key (mode 0600). Losing the key makes sealed values unreadable:
queued mail then fails with a clear reason and HR issues new links."""
from __future__ import annotations

import base64
import hashlib
import logging
import os
from pathlib import Path

from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken

from server.settings import Settings

logger = logging.getLogger(__name__)
KEY_FILE = "secret.key"


class Unsealable(Exception):
    """The sealed value was made under another key, or was changed."""


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def unseal(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise Unsealable("sealed under another secret key (was CANDOR_SECRET_KEY or secret.key changed?)") from None


def sealer_for(settings: Settings) -> Sealer:
    if settings.secret_key is not None:
        # Any passphrase-like string becomes a 32-byte Fernet key.
        digest = hashlib.sha256(settings.secret_key.encode()).digest()
        return Sealer(base64.urlsafe_b64encode(digest))
    return Sealer(_key_file(settings.data_dir / KEY_FILE))


def _key_file(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        # O_EXCL: two processes starting at once agree on the first key written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    logger.warning("made a new secret key in %s: back it up with the database", path)
    return key


sealer_key = web.AppKey("sealer", Sealer)
