"""`python run.py i18n update`: re-extract the pages' messages (templates, Python, static/*.js;
babel.cfg) and merge them into the catalogues under server/locale/, keeping every translation
that still applies. A translator then fills in the empty msgstr lines; the server reads the .po
files at start-up (server/i18n.py), so nothing is compiled."""
from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

from babel.messages.frontend import CommandLineInterface

from server.i18n import LOCALE_DIR, LOCALES

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = ("-k", "N_", "-k", "_", "-k", "ngettext:1,2")


def update() -> int:
    # From the repository root, so the catalogues name files by relative path ("static/..." marks
    # the page scripts' strings).
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(ROOT):
        pot = str(Path(tmp) / "messages.pot")
        cli = CommandLineInterface()
        cli.run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), *KEYWORDS, "--no-wrap",
                 "--sort-by-file", "--project", "Candor", "-o", pot, "."])
        for locale in LOCALES:
            po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
            if po.exists():
                cli.run(["pybabel", "-q", "update", "-i", pot, "-d", str(LOCALE_DIR), "-l", locale,
                         "--no-wrap", "--no-fuzzy-matching", "--ignore-obsolete"])
            else:
                cli.run(["pybabel", "-q", "init", "-i", pot, "-d", str(LOCALE_DIR), "-l", locale, "--no-wrap"])
            logger.info("updated %s", po.relative_to(ROOT))
    return 0


def main(args: list[str]) -> int:
    if args == ["update"]:
        return update()
    print("usage: run.py i18n update   (re-extract messages into server/locale/*/LC_MESSAGES/messages.po)")
    return 2
