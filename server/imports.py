"""`POST /api/imports/{kind}`: data from other systems as CSV (`Content-Type: text/csv`, a header
row, extra columns allowed; an XLSX workbook's first sheet is read the same way). Every row is
checked first; one bad row imports nothing, and the answer names each bad row (422
`{error, rows:[{row, error}]}`, rows numbered as in a spreadsheet: the header is row 1).

Kinds (DESIGN.md, "Employees, imports, validity"):
- `history`: past interviews from another system: `email, name, job_id, interviewed_at,
  decision` and one column per dimension of the job (named exactly as its current dimension,
  0-100; empty = not assessed); a `hire` row also needs `hired_at`. Makes the candidate when the
  email is new, the past interview (overall under the job's current weights) and, for a hire,
  the employee with its recruitment record. The same candidate, job and date again corrects it.
- `performance`: `email, period_end, rating` (0-100), optional `competency:<name>` columns.
- `departures`: `email, left_at, voluntary` (true/false, yes/no, 1/0).
- `training`: `email, course, completed_at`, optional `result` (0-100).
- `outcomes`: `email, metric, period_end, value`.
- `demographics` (voluntary self-identification: `email, sex, race_ethnicity`, optional
  `age_band`; free categories, empty = unknown), admins only.

Who may import: any HR user, each row limited to the jobs they see (a job or employee they
cannot see reads as unknown); admins see all. `email` finds the employee through the
candidate's email (any case). A record of the same employee and period as one stored corrects
it, so a corrected file can be imported again; the same twice in one file is a row error.

Fast for large files: every lookup is one query per kind of row (in chunks), never per row."""
from __future__ import annotations

import csv
import io
import logging
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, TypeVar

from pydantic import ValidationError
from sqlmodel import Session, col, func, select

from server import audit
from server.api import router
from server.api_router import Call
from server.auth import Principal
from server.employees import (
    MAX_COURSE, MAX_METRIC, parse_bool, parse_number, parse_rating, parse_when, plain, visible_job_ids,
)
from server.errors import ApiError, Forbidden, Invalid, Malformed
from server.i18n import N_
from server.jobs import dimensions_of
from server.schemas import CandidateIn
from server.store import stored_id
from server.tables import (
    Candidate, Dimension, Employee, Job, OutcomeRecord, PastInterview, PerformanceReview, RecruitmentRecord,
    SelfIdentification, TrainingRecord, User, utcnow,
)
from server.validity_data import overall_under
from server.web import store_key

logger = logging.getLogger(__name__)

MAX_ROWS = 100_000
MAX_VALUE = 64
CHUNK = 500  # ids or emails per IN (...): under every database's bound-parameter limit
COMPETENCY = "competency:"
DECISIONS = ("hire", "second_interview", "talent_pool", "not_recommended")
# A new candidate's status from an imported decision (as server/review.py sets it for live ones).
STATUS = {"hire": "hired", "second_interview": "second_interview", "talent_pool": "talent_pool",
          "not_recommended": "not_recommended"}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
T = TypeVar("T")
Rows = list[dict[str, str]]
Errors = list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Kind:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    admin_only: bool
    apply: Callable[[Session, Rows, Principal], Errors]
    # Shown with the columns (the import page, a header error): columns named by the data.
    more: str = ""


class RowErrors(ApiError):
    """422 `{error, rows:[{row, error}]}`."""

    def __init__(self, rows: list[tuple[int, str]]) -> None:
        shown = "; ".join(f"row {n}: {e}" for n, e in rows[:5])
        more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
        super().__init__(f"{len(rows)} bad row{'s' if len(rows) != 1 else ''}, nothing imported: {shown}{more}",
                         status=422, rows=[{"row": n, "error": e} for n, e in rows])


@dataclass(slots=True)
class Check:
    """One row's problems, collected field by field (each bad field named once)."""

    row: int
    errors: Errors = field(default_factory=list)

    def add(self, message: str) -> None:
        self.errors.append((self.row, message))

    def value(self, parse: Callable[..., T], *args: Any) -> T | None:
        try:
            return parse(*args)
        except Invalid as exc:
            self.add(exc.message)
            return None


def chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    items = list(values)
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def _email(row: dict[str, str]) -> str:
    return row.get("email", "").strip().lower()


def candidates_by_email(db: Session, emails: Iterable[str]) -> dict[str, Candidate]:
    found: dict[str, Candidate] = {}
    for part in chunks(sorted(set(emails))):
        for c in db.exec(select(Candidate).where(func.lower(Candidate.email).in_(part))):
            found[c.email.lower()] = c
    return found


def employees_by_candidate(db: Session, candidate_ids: Iterable[int]) -> dict[int, Employee]:
    found: dict[int, Employee] = {}
    for part in chunks(sorted(set(candidate_ids))):
        for e in db.exec(select(Employee).where(col(Employee.candidate_id).in_(part))):
            found[e.candidate_id] = e
    return found


def visible_employees(db: Session, who: Principal, rows: Rows) -> dict[str, Employee]:
    """email (lower case) -> the employee, for the rows' emails this user may see."""
    candidates = candidates_by_email(db, (_email(r) for r in rows if _email(r)))
    employees = employees_by_candidate(db, (stored_id(c) for c in candidates.values()))
    jobs = None if who.is_admin else set(visible_job_ids(db, who))
    return {email: employees[stored_id(c)] for email, c in candidates.items()
            if stored_id(c) in employees and (jobs is None or employees[stored_id(c)].job_id in jobs)}


def _employee(check: Check, found: dict[str, Employee], row: dict[str, str]) -> Employee | None:
    email = _email(row)
    if not email:
        check.add("email is empty")
        return None
    employee = found.get(email)
    if employee is None:
        check.add(f"no employee with email {row['email'].strip()[:320]!r}")
    return employee


def existing_rows(db: Session, table: Any, employee_ids: Iterable[int]) -> list[Any]:
    out: list[Any] = []
    for part in chunks(sorted(set(employee_ids))):
        out.extend(db.exec(select(table).where(col(table.employee_id).in_(part))))
    return out


def _no_dup(check: Check, seen: dict[Any, int], key: Any, what: str) -> None:
    if key in seen:
        check.add(f"the same {what} as row {seen[key]}")
    else:
        seen[key] = check.row


# --- the kinds ----------------------------------------------------------------------------------

def _demographics(db: Session, rows: Rows, who: Principal) -> Errors:
    emails = {_email(r) for r in rows}
    found = candidates_by_email(db, emails)
    errors: Errors = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=2):
        email = _email(row)
        if not email:
            errors.append((n, "email is empty"))
            continue
        if email not in found:
            errors.append((n, f"no candidate with email {row['email'].strip()!r}"))
        if email in seen:
            errors.append((n, f"the same email as row {seen[email]}"))
        seen.setdefault(email, n)
        for column in ("sex", "race_ethnicity", "age_band"):
            if len(row.get(column, "") or "") > MAX_VALUE:
                errors.append((n, f"{column} is longer than {MAX_VALUE} characters"))
    if errors:
        return errors
    for row in rows:
        candidate = found[_email(row)]
        entry = db.get(SelfIdentification, candidate.id) or SelfIdentification(candidate_id=candidate.id)  # type: ignore[arg-type]
        entry.sex = (row.get("sex") or "").strip()
        entry.race_ethnicity = (row.get("race_ethnicity") or "").strip()
        entry.age_band = (row.get("age_band") or "").strip()
        entry.source, entry.created_at = "import", utcnow()
        db.add(entry)
    return []


def _performance(db: Session, rows: Rows, who: Principal) -> Errors:
    found = visible_employees(db, who, rows)
    columns = [c for c in rows[0] if c.startswith(COMPETENCY) and c[len(COMPETENCY):].strip()]
    errors: Errors = []
    seen: dict[tuple[int, datetime], int] = {}
    good: list[tuple[int, datetime, float, dict[str, float]]] = []
    for n, row in enumerate(rows, start=2):
        check = Check(n)
        employee = _employee(check, found, row)
        period = check.value(parse_when, row["period_end"], "period_end")
        rating = check.value(parse_rating, row["rating"], "rating")
        competencies: dict[str, float] = {}
        for column in columns:
            if row.get(column, "").strip():
                value = check.value(parse_rating, row[column], column)
                if value is not None:
                    competencies[column[len(COMPETENCY):].strip()] = value
        if employee is not None and period is not None:
            _no_dup(check, seen, (stored_id(employee), period), "employee and period_end")
        errors += check.errors
        if not check.errors and employee is not None and period is not None and rating is not None:
            good.append((stored_id(employee), period, rating, competencies))
    if errors:
        return errors
    stored = {(r.employee_id, r.period_end): r for r in existing_rows(db, PerformanceReview, (g[0] for g in good))}
    for eid, period, rating, competencies in good:
        review = stored.get((eid, period)) or PerformanceReview(employee_id=eid, period_end=period, rating=rating)
        review.rating, review.competencies, review.source = rating, competencies, "import"
        db.add(review)
    return []


def _departures(db: Session, rows: Rows, who: Principal) -> Errors:
    found = visible_employees(db, who, rows)
    errors: Errors = []
    seen: dict[int, int] = {}
    good: list[tuple[Employee, datetime, bool]] = []
    for n, row in enumerate(rows, start=2):
        check = Check(n)
        employee = _employee(check, found, row)
        left_at = check.value(parse_when, row["left_at"], "left_at")
        voluntary = check.value(parse_bool, row["voluntary"], "voluntary")
        if employee is not None:
            _no_dup(check, seen, stored_id(employee), "employee")
            if left_at is not None and left_at.date() < employee.hired_at.date():
                check.add(f"left_at {left_at.date()} is before the hire ({employee.hired_at.date()})")
        errors += check.errors
        if not check.errors and employee is not None and left_at is not None and voluntary is not None:
            good.append((employee, left_at, voluntary))
    if errors:
        return errors
    for employee, left_at, voluntary in good:
        employee.left_at, employee.left_voluntary = left_at, voluntary
        db.add(employee)
    return []


def _course(raw: str) -> str:
    course = raw.strip()
    if not course or len(course) > MAX_COURSE:
        raise Invalid(f"course must be 1-{MAX_COURSE} characters")
    return course


def _training(db: Session, rows: Rows, who: Principal) -> Errors:
    found = visible_employees(db, who, rows)
    errors: Errors = []
    seen: dict[tuple[int, str, datetime], int] = {}
    good: list[tuple[int, str, datetime, float | None]] = []
    for n, row in enumerate(rows, start=2):
        check = Check(n)
        employee = _employee(check, found, row)
        course = check.value(_course, row["course"])
        completed = check.value(parse_when, row["completed_at"], "completed_at")
        result = check.value(parse_rating, row["result"], "result") if row.get("result", "").strip() else None
        if employee is not None and course is not None and completed is not None:
            _no_dup(check, seen, (stored_id(employee), course, completed), "employee, course and completed_at")
        errors += check.errors
        if not check.errors and employee is not None and course is not None and completed is not None:
            good.append((stored_id(employee), course, completed, result))
    if errors:
        return errors
    stored = {(r.employee_id, r.course, r.completed_at): r
              for r in existing_rows(db, TrainingRecord, (g[0] for g in good))}
    for eid, course, completed, result in good:
        record = stored.get((eid, course, completed)) or TrainingRecord(employee_id=eid, course=course,
                                                                        completed_at=completed)
        record.result, record.source = result, "import"
        db.add(record)
    return []


def _metric(raw: str) -> str:
    metric = raw.strip()
    if not metric or len(metric) > MAX_METRIC:
        raise Invalid(f"metric must be 1-{MAX_METRIC} characters")
    return metric


def _outcomes(db: Session, rows: Rows, who: Principal) -> Errors:
    found = visible_employees(db, who, rows)
    errors: Errors = []
    seen: dict[tuple[int, str, datetime], int] = {}
    good: list[tuple[int, str, datetime, float]] = []
    for n, row in enumerate(rows, start=2):
        check = Check(n)
        employee = _employee(check, found, row)
        metric = check.value(_metric, row["metric"])
        period = check.value(parse_when, row["period_end"], "period_end")
        value = check.value(parse_number, row["value"], "value")
        if employee is not None and metric is not None and period is not None:
            _no_dup(check, seen, (stored_id(employee), metric, period), "employee, metric and period_end")
        errors += check.errors
        if not check.errors and employee is not None and metric is not None and period is not None \
                and value is not None:
            good.append((stored_id(employee), metric, period, value))
    if errors:
        return errors
    stored = {(r.employee_id, r.metric, r.period_end): r
              for r in existing_rows(db, OutcomeRecord, (g[0] for g in good))}
    for eid, metric, period, value in good:
        record = stored.get((eid, metric, period)) or OutcomeRecord(employee_id=eid, metric=metric, period_end=period,
                                                                    value=value)
        record.value, record.source = value, "import"
        db.add(record)
    return []


# --- history: past interviews from another system -------------------------------------------------

@dataclass(slots=True)
class PastRow:
    row: int
    email: str
    name: str
    job: Job
    interviewed_at: datetime
    decision: str
    hired_at: datetime | None
    scores: dict[int, float | None]


def _job_id(raw: str) -> int:
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise Invalid(f"job_id {text[:40]!r} is not a job id")
    return int(text)


def _decision(raw: str) -> str:
    decision = raw.strip().lower()
    if decision not in DECISIONS:
        raise Invalid(f"decision {raw.strip()[:40]!r} is not one of {', '.join(DECISIONS)}")
    return decision


def _history(db: Session, rows: Rows, who: Principal) -> Errors:
    ids = set()
    for row in rows:
        try:
            ids.add(_job_id(row["job_id"]))
        except Invalid:
            pass
    jobs: dict[int, Job] = {}
    for part in chunks(sorted(ids)):
        jobs.update({stored_id(j): j for j in db.exec(select(Job).where(col(Job.id).in_(part)))})
    if not who.is_admin:
        visible = set(visible_job_ids(db, who))
        jobs = {i: j for i, j in jobs.items() if i in visible}
    dims: dict[int, list[Dimension]] = {i: dimensions_of(db, i) for i in jobs}
    header = set(rows[0])
    candidates = candidates_by_email(db, (_email(r) for r in rows if _email(r)))
    employees = employees_by_candidate(db, (stored_id(c) for c in candidates.values()))
    # The same candidate, job and date as a stored past interview corrects it.
    past: dict[tuple[int, int, datetime], PastInterview] = {}
    for part in chunks(sorted({stored_id(c) for c in candidates.values()})):
        for p in db.exec(select(PastInterview).where(col(PastInterview.candidate_id).in_(part))):
            past[(p.candidate_id, p.job_id, p.interviewed_at)] = p
    errors: Errors = []
    good: list[PastRow] = []
    seen: dict[tuple[str, int, datetime], int] = {}
    hires: dict[str, int] = {}
    for n, row in enumerate(rows, start=2):
        check = Check(n)
        email = name = ""
        try:
            valid = CandidateIn.model_validate({"name": row["name"] or "-", "email": row["email"]}, strict=False)
            email, name = valid.email, row["name"].strip()
        except ValidationError as exc:
            for err in exc.errors():
                where = str(err["loc"][0]) if err["loc"] else "row"
                check.add(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        if email and email not in candidates and not name:
            check.add("name is empty (needed for a candidate new to Candor)")
        job_id = check.value(_job_id, row["job_id"])
        job = jobs.get(job_id) if job_id is not None else None
        if job_id is not None and job is None:
            check.add(f"job {job_id} not found")
        interviewed_at = check.value(parse_when, row["interviewed_at"], "interviewed_at")
        decision = check.value(_decision, row["decision"])
        hired_at = None
        if decision == "hire":
            if not row.get("hired_at", "").strip():
                check.add("a hire needs hired_at")
            else:
                hired_at = check.value(parse_when, row["hired_at"], "hired_at")
                if hired_at is not None and interviewed_at is not None and hired_at.date() < interviewed_at.date():
                    check.add(f"hired_at {hired_at.date()} is before interviewed_at {interviewed_at.date()}")
        scores: dict[int, float | None] = {}
        if job is not None:
            named = [d for d in dims[stored_id(job)] if d.name in header]
            if not any(row.get(d.name, "").strip() for d in named):
                check.add(f"no score for any dimension of job {job.id} (columns named as its dimensions: "
                          f"{', '.join(d.name for d in dims[stored_id(job)])})")
            for d in named:
                raw = row.get(d.name, "").strip()
                scores[stored_id(d)] = check.value(parse_rating, raw, d.name) if raw else None
            if email and interviewed_at is not None:
                _no_dup(check, seen, (email, stored_id(job), interviewed_at), "email, job_id and interviewed_at")
        if decision == "hire" and email:
            if email in hires:
                check.add(f"a second hire of {email} (row {hires[email]} hires them too)")
            hires.setdefault(email, n)
            known = candidates.get(email)
            employee = employees.get(stored_id(known)) if known is not None else None
            if employee is not None and job is not None and interviewed_at is not None:
                stored = past.get((employee.candidate_id, stored_id(job), interviewed_at))
                if stored is None or employee.past_interview_id != stored.id:  # not a correction of this hire
                    check.add(f"{email} already is an employee (employee {employee.id})")
        errors += check.errors
        if not check.errors and job is not None and interviewed_at is not None and decision is not None:
            good.append(PastRow(n, email, name, job, interviewed_at, decision, hired_at, scores))
    if errors:
        return errors
    _save_history(db, who, good, candidates, employees, past, dims)
    return []


def _save_history(db: Session, who: Principal, good: list[PastRow], candidates: dict[str, Candidate],
                  employees: dict[int, Employee], past: dict[tuple[int, int, datetime], PastInterview],
                  dims: dict[int, list[Dimension]]) -> None:
    new = {r.email: Candidate(name=r.name, email=r.email, status=STATUS[r.decision], created_by=who.id)
           for r in good if r.email not in candidates}
    db.add_all(new.values())
    db.flush()
    candidates = {**candidates, **new}
    importer = db.get(User, who.id)
    now = utcnow()
    hires: list[tuple[PastRow, PastInterview, Employee | None]] = []
    for r in good:
        candidate = candidates[r.email]
        cid, jid = stored_id(candidate), stored_id(r.job)
        weights = {stored_id(d): d.weight for d in dims[jid]}
        entry = past.get((cid, jid, r.interviewed_at)) or PastInterview(
            candidate_id=cid, job_id=jid, interviewed_at=r.interviewed_at, decision=r.decision, imported_by=who.id)
        entry.decision, entry.imported_by = r.decision, who.id
        entry.scores = {str(d): s for d, s in r.scores.items()}
        entry.overall = overall_under(r.scores, weights)
        db.add(entry)
        if r.decision == "hire":
            if candidate.email not in new:
                candidate.status = STATUS["hire"]
                db.add(candidate)
            hires.append((r, entry, employees.get(cid)))
    db.flush()
    made: list[tuple[PastRow, PastInterview, Employee]] = []
    for r, entry, employee in hires:
        assert r.hired_at is not None, "checked"
        if employee is None:
            employee = Employee(candidate_id=entry.candidate_id, job_id=entry.job_id, past_interview_id=entry.id,
                                hired_at=r.hired_at, source="history")
        employee.hired_at = r.hired_at
        db.add(employee)
        made.append((r, entry, employee))
    db.flush()  # one flush for every employee: ids for their records
    records = {rec.employee_id: rec for part in chunks([stored_id(e) for _, _, e in made])
               for rec in db.exec(select(RecruitmentRecord).where(col(RecruitmentRecord.employee_id).in_(part)))}
    for r, entry, employee in made:
        names = {stored_id(d): d for d in dims[entry.job_id]}
        data = plain({
            "source": "history", "past_interview_id": entry.id,
            "job": {"id": r.job.id, "title": r.job.title, "version": r.job.version},
            "interviewed_at": r.interviewed_at,
            "dimensions": [{"id": d, "name": names[d].name, "weight": names[d].weight, "score": s}
                           for d, s in r.scores.items()],
            "overall": {"score": entry.overall}, "overall_score": entry.overall,
            "decision": {"decision": "hire", "note": "", "by": importer.email if importer else None,
                         "at": r.hired_at},
            "imported_at": now, "frozen_at": now})
        record = records.get(stored_id(employee)) or RecruitmentRecord(employee_id=stored_id(employee))
        record.data = data
        db.add(record)


KINDS: dict[str, Kind] = {
    "history": Kind(("email", "name", "job_id", "interviewed_at", "decision"), ("hired_at",), False, _history,
                    N_("one column per dimension of the job, named exactly as the dimension (0-100; empty = not "
                       "assessed); hired_at is needed on hire rows")),
    "performance": Kind(("email", "period_end", "rating"), (), False, _performance,
                        N_("optional competency:<name> columns (0-100)")),
    "departures": Kind(("email", "left_at", "voluntary"), (), False, _departures),
    "training": Kind(("email", "course", "completed_at"), ("result",), False, _training),
    "outcomes": Kind(("email", "metric", "period_end", "value"), (), False, _outcomes),
    "demographics": Kind(("email", "sex", "race_ethnicity"), ("age_band",), True, _demographics),
}


def xlsx_as_csv(raw: bytes) -> bytes:
    """An XLSX workbook's first sheet as CSV (dates as ISO text), so both read alike."""
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            if "xl/workbook.xml" not in z.namelist():
                raise Invalid("the file is a ZIP archive but not an XLSX workbook: send CSV or XLSX")
            if sum(i.file_size for i in z.infolist()) > 128 * 1024 * 1024:
                raise Invalid("the XLSX unpacks to more than 128 MB: split it")
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        out = io.StringIO()
        writer = csv.writer(out)
        for values in book.worksheets[0].iter_rows(values_only=True):
            cells = [cell_text(v) for v in values]
            if any(c.strip() for c in cells):
                writer.writerow(cells)
        book.close()
    except ApiError:
        raise
    except Exception as exc:  # openpyxl / zipfile on a damaged file
        logger.info("an XLSX import could not be read: %s: %s", type(exc).__name__, exc)
        raise Invalid("the XLSX cannot be read (damaged?)") from None
    return out.getvalue().encode()


def cell_text(value: Any) -> str:
    """A spreadsheet cell as CSV text (whole floats without .0, dates in ISO 8601)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def parse(raw: bytes, kind: Kind) -> list[dict[str, str]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Malformed("the CSV is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise Malformed("the CSV is empty: send a header row, then one row per record")
    missing = [c for c in kind.required if c not in header]
    if missing:
        raise Invalid(f"the header lacks {', '.join(missing)} (needs {', '.join(kind.required)}"
                      + (f"; optional {', '.join(kind.optional)}" if kind.optional else "")
                      + (f"; {kind.more}" if kind.more else "") + ")")
    reader.fieldnames = header
    rows: list[dict[str, str]] = []
    try:
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise Invalid(f"more than {MAX_ROWS} rows: split the file")
            if None in row:  # more cells than the header has columns
                raise RowErrors([(reader.line_num, "more cells than the header has columns")])
            rows.append({k: (v or "") for k, v in row.items()})
    except csv.Error as exc:
        raise Malformed(f"the CSV cannot be read at line {reader.line_num}: {exc}") from None
    if not rows:
        raise Invalid("the CSV has a header but no rows")
    return rows



def read_file(raw: bytes, kind: Kind) -> Rows:
    """CSV or XLSX (told by content: an XLSX is a ZIP archive) as rows."""
    return parse(xlsx_as_csv(raw) if raw.startswith(b"PK\x03\x04") else raw, kind)


def import_rows(db: Session, who: Principal, name: str, rows: Rows) -> int:
    """All rows or none (RowErrors names every bad row); audited."""
    kind = kind_for(who, name)
    errors = kind.apply(db, rows, who)
    if errors:
        raise RowErrors(sorted(errors))
    db.flush()
    audit.record(db, "hr", who.id, f"import.{name}", "import", None, rows=len(rows))
    logger.info("user %s imported %s rows of %s", who.id, len(rows), name)
    return len(rows)


def kind_for(who: Principal, name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise ApiError(f"no import of kind {name[:40]!r}; available: {', '.join(KINDS)}", status=404)
    if kind.admin_only and not who.is_admin:
        raise Forbidden(f"importing {name} needs the admin role")
    return kind


@router.route("POST", "/api/imports/{kind}", summary="Import CSV (or XLSX) data: all rows or none",
              errors=(400, 403, 404, 415, 422), tag="imports",
              response={"type": "object", "properties": {"imported": {"type": "integer"}}})
async def post_import(call: Call) -> dict[str, Any]:
    name = call.request.match_info["kind"]
    kind = kind_for(call.who, name)
    if call.request.content_type not in ("text/csv", "text/plain", "application/csv", XLSX_TYPE):
        raise ApiError(f"send the CSV as Content-Type: text/csv (got {call.request.content_type or 'none'})",
                       status=415)
    rows = read_file(await call.request.read(), kind)
    count = await call.request.app[store_key].run(lambda db: import_rows(db, call.who, name, rows))
    return {"imported": count}
