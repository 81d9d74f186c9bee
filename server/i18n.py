"""The pages' languages: gettext catalogues (Babel) for English, Simplified Chinese and Korean.

The catalogues are the committed `server/locale/<locale>/LC_MESSAGES/messages.po` files; they are
read and compiled in memory once, at the first use (no build step, no .mo files). Which language
a response speaks is one value per request, held in a context variable (`use_locale`), because
an aiohttp handler runs in its own task: the HR page gate sets it from the user's choice (else
the browser's Accept-Language), the candidate's pages from the job's language. Templates
(`{% trans %}`, `_()`) and Python (`_()`) read it; messages written in Python as module
constants are marked with `N_()` and translated where they are shown.

Strings of the page scripts (static/*.js, `_("...")`) are in the same catalogues; a page gets the
ones of its language as JSON (`js_messages`), since the Content-Security-Policy forbids inline
scripts. Re-extract and update the catalogues with `python run.py i18n update` (README.md).
"""
from __future__ import annotations

import functools
import io
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

logger = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_LOCALE = "en"
LOCALES = ("en", "zh_CN", "ko")  # the order of the language menus
# Each language by its own name (a menu is read by someone who may not read the others).
LOCALE_NAMES = {"en": "English", "zh_CN": "简体中文", "ko": "한국어"}
# What goes into <html lang> and Intl.DateTimeFormat.
HTML_LANG = {"en": "en", "zh_CN": "zh-CN", "ko": "ko"}

_locale: ContextVar[str] = ContextVar("candor_locale", default="")


@dataclass(frozen=True, slots=True)
class Catalogue:
    translations: Translations
    js: dict[str, dict[str, str]]  # script (static/<name>) -> {msgid: translation}


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown (`_(constant)`)."""
    return message


@functools.cache
def catalogue(locale: str) -> Catalogue:
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return Catalogue(Translations(), {})
    with path.open("rb") as f:
        catalog = read_po(f, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    js: dict[str, dict[str, str]] = {}
    for m in catalog:
        if not (m.id and m.string and isinstance(m.id, str) and isinstance(m.string, str)):
            continue
        for file, _line in m.locations:
            if file.startswith("static/"):
                js.setdefault(file.removeprefix("static/"), {})[m.id] = m.string
    return Catalogue(Translations(fp=buffer), js)


def normalise(language: str | None) -> str | None:
    """A supported locale for a language tag ('ko-KR', 'zh-Hans', 'zh_CN', 'en-GB'), or None."""
    if not language:
        return None
    tag = language.strip().replace("_", "-").lower()
    primary = tag.split("-")[0]
    if primary == "zh":
        # Simplified Chinese only: a Taiwanese or Hong Kong reader still reads it, and it is
        # the written form of the people this is for.
        return "zh_CN"
    if primary == "ko":
        return "ko"
    if primary == "en":
        return "en"
    return None


def job_locale(job_language: str | None) -> str:
    """The candidate's pages speak the job's language ('ko', 'zh', 'zh-CN', 'en'); English for
    any other."""
    return normalise(job_language) or DEFAULT_LOCALE


def negotiate(accept_language: str | None) -> str:
    """The best supported locale of an Accept-Language header, else English."""
    if not accept_language:
        return DEFAULT_LOCALE
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        pieces = part.strip().split(";")
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        locale = normalise(pieces[0])
        if locale is not None and quality > 0:
            ranked.append((-quality, position, locale))
    return min(ranked)[2] if ranked else DEFAULT_LOCALE


def user_locale(chosen: str | None, accept_language: str | None) -> str:
    """An HR user's language: their choice, else the browser's."""
    return chosen if chosen in LOCALES else negotiate(accept_language)


def use_locale(locale: str) -> None:
    """The language of the rest of this request (its task)."""
    _locale.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def current_locale() -> str:
    return _locale.get() or DEFAULT_LOCALE


def locale_is_set() -> bool:
    return bool(_locale.get())


def gettext(message: str) -> str:
    return catalogue(current_locale()).translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return catalogue(current_locale()).translations.ngettext(singular, plural, n)


def _(message: str, **variables: Any) -> str:
    """The message in the request's language, with %(name)s placeholders filled in."""
    text = gettext(message)
    return text % variables if variables else text


def js_messages(scripts: str) -> dict[str, str]:
    """The translations of the strings of the page's scripts ("hr.js monitor.js") in the
    request's language (English: none, the scripts' own words)."""
    by_script = catalogue(current_locale()).js
    out: dict[str, str] = {}
    for name in scripts.split():
        out.update(by_script.get(name, {}))
    return out
