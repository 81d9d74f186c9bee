"""Candidates imported in a batch from CSV or XLSX (told by content: an XLSX is a ZIP archive):
columns name, email (required), resume_text, time_zone, education_level, years_experience,
current_title (optional; other columns ignored). Every row is checked first; one bad row
imports nothing, and the answer names each bad row (server/imports.py's 422
`{error, rows:[{row, error}]}`, rows numbered as in the spreadsheet: the header is row 1).
Structured fields left empty are read from the row's resume text (server/resume_fields.py)."""
from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass

from pydantic import ValidationError
from sqlmodel import Session, func, select

from server import audit
from server.errors import ApiError, Invalid, Malformed
from server.imports import Kind, RowErrors, cell_text, parse
from server.resume_fields import EDUCATION_LEVELS, MAX_TITLE, MAX_YEARS, extract_fields
from server.schemas import CandidateIn
from server.tables import Candidate

logger = logging.getLogger(__name__)

REQUIRED = ("name", "email")
OPTIONAL = ("resume_text", "time_zone", "education_level", "years_experience", "current_title")
MAX_IMPORT_ROWS = 10_000
MAX_IMPORT_BYTES = 5 * 1024 * 1024
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RAW_TYPES = frozenset({"text/csv", "application/csv", "text/plain", XLSX_TYPE, "application/octet-stream"})
# parse() checks only the columns; the rows are checked here.
_CSV_KIND = Kind(REQUIRED, OPTIONAL, False, lambda db, rows, user: [])


@dataclass(frozen=True, slots=True)
class Row:
    number: int  # as in the spreadsheet (header = 1)
    values: dict[str, str]


def read_rows(data: bytes) -> list[Row]:
    if data.startswith(b"PK\x03\x04"):
        return _xlsx_rows(data)
    rows = parse(data, _CSV_KIND)
    if len(rows) > MAX_IMPORT_ROWS:
        raise Invalid(f"more than {MAX_IMPORT_ROWS} rows: split the file")
    return [Row(n, values) for n, values in enumerate(rows, start=2)]


def _xlsx_rows(data: bytes) -> list[Row]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if "xl/workbook.xml" not in z.namelist():
                raise Invalid("the file is a ZIP archive but not an XLSX workbook: send CSV or XLSX")
            if sum(i.file_size for i in z.infolist()) > 128 * 1024 * 1024:
                raise Invalid("the XLSX unpacks to more than 128 MB: split it")
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        cells = iter(sheet.iter_rows(values_only=True))
        header = [cell_text(v).strip() for v in next(cells, ())]
        rows: list[Row] = []
        for n, values in enumerate(cells, start=2):
            texts = [cell_text(v) for v in values]
            if not any(t.strip() for t in texts):
                continue  # an empty row, as a spreadsheet often has at the end
            if len(rows) >= MAX_IMPORT_ROWS:
                raise Invalid(f"more than {MAX_IMPORT_ROWS} rows: split the file")
            rows.append(Row(n, {h: t for h, t in zip(header, texts, strict=False) if h}))
        book.close()
    except ApiError:
        raise
    except Exception as exc:  # openpyxl / zipfile on a damaged file
        logger.info("an XLSX import could not be read: %s: %s", type(exc).__name__, exc)
        raise Invalid("the XLSX cannot be read (damaged?)") from None
    if not header or not any(header):
        raise Malformed("the sheet is empty: put a header row first, then one row per candidate")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise Invalid(f"the header lacks {', '.join(missing)} (needs {', '.join(REQUIRED)}; "
                      f"optional {', '.join(OPTIONAL)})")
    if not rows:
        raise Invalid("the sheet has a header but no rows")
    return rows


def _check(row: Row) -> tuple[Candidate | None, list[str]]:
    # NUL never reaches the database (PostgreSQL refuses it in text).
    v = {k: (row.values.get(k) or "").replace("\x00", "") for k in REQUIRED + OPTIONAL}
    problems: list[str] = []
    base: CandidateIn | None = None
    try:
        base = CandidateIn.model_validate(
            {"name": v["name"], "email": v["email"], "resume_text": v["resume_text"].replace("\r\n", "\n"),
             "time_zone": v["time_zone"]}, strict=False)
    except ValidationError as exc:
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "row"
            problems.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
    level = v["education_level"].strip().lower()
    if level and level not in EDUCATION_LEVELS:
        problems.append(f"education_level must be one of {', '.join(EDUCATION_LEVELS)} (got {level[:30]!r})")
    years: float | None = None
    if v["years_experience"].strip():
        try:
            years = float(v["years_experience"])
        except ValueError:
            problems.append(f"years_experience is not a number ({v['years_experience'][:30]!r})")
        else:
            if not 0 <= years <= MAX_YEARS:
                problems.append(f"years_experience must be between 0 and {MAX_YEARS:g}")
    title = v["current_title"].strip()
    if len(title) > MAX_TITLE:
        problems.append(f"current_title is longer than {MAX_TITLE} characters")
    if problems or base is None:
        return None, problems
    found = extract_fields(base.resume_text)
    return Candidate(
        name=base.name, email=base.email, resume_text=base.resume_text, time_zone=base.time_zone,
        education_level=level or found.education_level or "",
        years_experience=years if years is not None else found.years_experience,
        current_title=title or found.current_title or "", created_by=0,
    ), []


def import_candidates(db: Session, rows: list[Row], user_id: int) -> int:
    """All rows or none: RowErrors naming every bad row."""
    errors: list[tuple[int, str]] = []
    made: list[Candidate] = []
    seen: dict[str, int] = {}
    for row in rows:
        candidate, problems = _check(row)
        errors.extend((row.number, p) for p in problems)
        if candidate is None:
            continue
        if candidate.email in seen:
            errors.append((row.number, f"the same email as row {seen[candidate.email]}"))
            continue
        seen[candidate.email] = row.number
        candidate.created_by = user_id
        made.append(candidate)
    if seen:
        existing = set(db.exec(select(Candidate.email).where(func.lower(Candidate.email).in_(list(seen)))))
        errors.extend((seen[e.lower()], f"a candidate with email {e} is already in the pool") for e in existing)
    if errors:
        raise RowErrors(sorted(errors))
    for candidate in made:
        db.add(candidate)
    db.flush()
    for candidate in made:
        audit.record(db, "hr", user_id, "candidate.import", "candidate", candidate.id)
    return len(made)
