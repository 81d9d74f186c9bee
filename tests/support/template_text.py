"""Finds user-visible words in a Jinja template that do not go through the catalogue: text
between tags, the attributes a person reads or hears (title, placeholder, aria-label, alt, a
submit input's value, label) and word-like string literals inside `{{ ... }}` that are not the
argument of `_()`/`gettext()`/`ngettext()`. What `{% trans %}` holds is translated by
definition. Used by tests/test_i18n.py."""
from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

READ_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "label", "aria-roledescription"}
# Names and units that read the same in every language.
BRAND = {"Candor", "MB", "HTTP"}
# A word a reader would see: two letters in a row (any script).
WORD = re.compile(r"[^\W\d_]{2,}")
HOLE = "\x00"  # where a {{ ... }} expression was

_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_TRANS = re.compile(r"\{%-?\s*trans\b.*?%\}.*?\{%-?\s*endtrans\s*-?%\}", re.S)
# Blocks that are not text: CSS classes, the names of the page's scripts (base.html).
_CLASS_BLOCK = re.compile(r"\{%-?\s*block\s+(?:body_class|page_scripts)\s*%\}.*?\{%-?\s*endblock\s*%\}", re.S)
_EXPR = re.compile(r"\{\{.*?\}\}", re.S)
_STMT = re.compile(r"\{%.*?%\}", re.S)
_LITERAL = re.compile(r"""(["'])((?:(?!\1)[^\\]|\\.)*)\1""")
_TRANSLATING = re.compile(r"""(?:\b_|gettext|ngettext)\(\s*$|ngettext\(\s*(["'])(?:(?!\1)[^\\]|\\.)*\1\s*,\s*$""")


@dataclass(frozen=True, slots=True)
class Finding:
    line: int
    text: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.text!r}"


def _wordy(text: str) -> bool:
    words = WORD.findall(text.replace(HOLE, " "))
    return any(w not in BRAND for w in words)


def _literal_words(expression: str) -> list[str]:
    """String literals in an expression that read as words and are not translated there."""
    found = []
    for m in _LITERAL.finditer(expression):
        value = m.group(2)
        before = expression[: m.start()]
        if _TRANSLATING.search(before) or expression[m.end():].lstrip().startswith(":"):
            continue  # translated, or a dict key (a lookup, not shown)
        # Words a reader sees: capitalised or several words; not keys such as "completed",
        # formats such as "%.1f" or ids such as "q-0".
        if re.search(r"[^\W\d_]{2,}\s+[^\W\d_]{2,}", value) or re.match(r"^[A-Z][a-z]{1,}", value):
            if value not in BRAND:
                found.append(value)
    return found


class _Parser(HTMLParser):
    def __init__(self, offsets: list[int]) -> None:
        super().__init__(convert_charrefs=True)
        self.findings: list[Finding] = []
        self.skip = 0  # inside <script> or <style>
        self.offsets = offsets

    def _line(self) -> int:
        return self.getpos()[0]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        kind = dict(attrs).get("type") or ""
        for name, value in attrs:
            if value is None:
                continue
            # A <button>'s value is sent, never shown; an <input type=submit> shows its value.
            read = name in READ_ATTRIBUTES or (name == "value" and tag == "input"
                                               and kind in ("submit", "button", "reset"))
            if read and _wordy(value):
                self.findings.append(Finding(self._line(), f"{tag}[{name}]={value.strip()}"))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip and _wordy(data):
            self.findings.append(Finding(self._line(), " ".join(data.replace(HOLE, "…").split())))


def untranslated(source: str) -> list[Finding]:
    """Every place in a template where a reader would meet words outside the catalogue."""
    findings: list[Finding] = []

    def blank(m: re.Match[str]) -> str:  # keep the line numbers
        return "\n" * m.group(0).count("\n")

    source = _COMMENT.sub(blank, source)
    source = _TRANS.sub(lambda m: HOLE + blank(m), source)
    source = _CLASS_BLOCK.sub(blank, source)

    def expression(m: re.Match[str]) -> str:
        line = source.count("\n", 0, m.start()) + 1
        findings.extend(Finding(line, f"literal in {{{{ }}}}: {w}") for w in _literal_words(m.group(0)))
        return HOLE + blank(m)

    def statement(m: re.Match[str]) -> str:
        line = source.count("\n", 0, m.start()) + 1
        findings.extend(Finding(line, f"literal in {{% %}}: {w}") for w in _literal_words(m.group(0)))
        return blank(m)

    source = _EXPR.sub(expression, source)
    source = _STMT.sub(statement, source)
    parser = _Parser([])
    parser.feed(source)
    parser.close()
    return sorted(findings + parser.findings, key=lambda f: f.line)
