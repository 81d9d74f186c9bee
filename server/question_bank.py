"""The question bank: suggested questions by job family ("system recommendation by job type").

Built-in questions live in server/question_bank.json, each in English, Korean and Chinese with
the dimension names it typically assesses in each language; HR's own questions are saved to the
`bank_questions` table (shared by every HR user, each save audited). Suggestions are matched to a
job's dimensions by name (case and surrounding spaces ignored, in any of the bank's languages),
so adding one to a template links it to the job's dimensions of those names.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from server import audit
from server.auth import Principal
from server.errors import Invalid
from server.schemas import BankQuestionIn
from server.store import stored_id
from server.tables import BankQuestion

logger = logging.getLogger(__name__)

BANK_FILE = Path(__file__).with_name("question_bank.json")
LANGUAGES = ("en", "ko", "zh")


@dataclass(frozen=True, slots=True)
class BankEntry:
    id: str  # "eng-1" for a built-in question, "hr-12" for one HR saved
    family: str
    kind: str
    time_limit_s: int
    text: dict[str, str]  # language -> text
    scenario: dict[str, str]
    dimensions: dict[str, tuple[str, ...]]  # language -> typical dimension names
    source: str  # builtin | hr


def bank_language(language: str) -> str:
    """The bank's language for a job's or user's language tag ("zh-CN" -> "zh"); English when
    the bank has none of it."""
    primary = language.strip().lower().split("-")[0].split("_")[0]
    return primary if primary in LANGUAGES else "en"


@lru_cache(maxsize=1)
def _builtin() -> tuple[dict[str, dict[str, str]], tuple[BankEntry, ...]]:
    data = json.loads(BANK_FILE.read_text(encoding="utf-8"))
    names: dict[str, dict[str, str]] = {}
    entries: list[BankEntry] = []
    for family, body in data["families"].items():
        names[family] = dict(body["name"])
        for q in body["questions"]:
            entries.append(BankEntry(q["id"], family, q["kind"], int(q["time_limit_s"]), dict(q["text"]),
                                     dict(q.get("scenario", {})),
                                     {lang: tuple(v) for lang, v in q["dimensions"].items()}, "builtin"))
    return names, tuple(entries)


def families(language: str = "en") -> list[dict[str, str]]:
    lang = bank_language(language)
    names, _ = _builtin()
    return [{"id": f, "name": n.get(lang, n["en"])} for f, n in names.items()]


def _hr_entries(db: Session, family: str | None) -> list[BankEntry]:
    query = select(BankQuestion).order_by(col(BankQuestion.id))
    if family is not None:
        query = query.where(BankQuestion.family == family)
    out = []
    for row in db.exec(query):
        lang = bank_language(row.language)
        out.append(BankEntry(f"hr-{row.id}", row.family, row.kind, row.time_limit_s, {lang: row.text},
                             {lang: row.scenario} if row.scenario else {}, {lang: tuple(row.dimensions)}, "hr"))
    return out


def _key(name: str) -> str:
    return name.strip().casefold()


def suggestions(db: Session, family: str | None, language: str,
                job_dimensions: dict[int, str] | None = None) -> dict[str, Any]:
    """The bank's questions for `family` (every family when None) in `language` (a built-in
    question is shown in English when it lacks the language; HR's own only in theirs), each
    with its typical dimension names and, given a job's dimensions, the ids of those it
    matches by name (`unmatched` names the rest)."""
    names, builtin = _builtin()
    if family is not None and family not in names:
        raise Invalid(f"unknown job family {family!r}: one of {', '.join(names)}", families=list(names))
    lang = bank_language(language)
    by_name = {_key(n): i for i, n in (job_dimensions or {}).items()}
    out = []
    for e in [*(e for e in builtin if family is None or e.family == family), *_hr_entries(db, family)]:
        shown = lang if lang in e.text else ("en" if e.source == "builtin" else None)
        if shown is None:
            continue  # HR's question in another language
        dims = list(e.dimensions.get(shown, ()))
        item: dict[str, Any] = {
            "id": e.id, "family": e.family, "source": e.source, "language": shown, "kind": e.kind,
            "text": e.text[shown], "scenario": e.scenario.get(shown, ""), "time_limit_s": e.time_limit_s,
            "dimensions": dims,
        }
        if job_dimensions is not None:
            # The names are parallel across languages: a dimension matches by its name in any of
            # them (a Korean job whose dimensions have English names still matches).
            matched: dict[int, None] = {}
            unmatched = []
            for p, shown_name in enumerate(dims):
                names_p = [n[p] for n in e.dimensions.values() if p < len(n)]
                hit = next((by_name[_key(n)] for n in names_p if _key(n) in by_name), None)
                if hit is None:
                    unmatched.append(shown_name)
                else:
                    matched.setdefault(hit, None)
            item["dimension_ids"] = list(matched)
            item["unmatched"] = unmatched
        out.append(item)
    return {"family": family, "language": lang, "families": families(lang), "questions": out}


def save(db: Session, who: Principal, body: BankQuestionIn) -> BankQuestion:
    names, _ = _builtin()
    if body.family not in names:
        raise Invalid(f"unknown job family {body.family!r}: one of {', '.join(names)}", families=list(names))
    row = BankQuestion(family=body.family, language=bank_language(body.language), kind=body.kind, text=body.text,
                       scenario=body.scenario, dimensions=[d.strip() for d in body.dimensions],
                       time_limit_s=body.time_limit_s, created_by=who.id)
    db.add(row)
    db.flush()
    audit.record(db, "hr", who.id, "question_bank.add", "bank_question", stored_id(row), family=row.family,
                 language=row.language, kind=row.kind, text_sha256=audit.text_digest(row.text))
    logger.info("question bank: %s added question %d to %s", who.id, row.id, row.family)
    return row
