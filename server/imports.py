"""`POST /api/imports/{kind}`: data from other systems as CSV (`Content-Type: text/csv`, a header
row, extra columns allowed). Every row is checked first; one bad row imports nothing, and the
answer names each bad row (422 `{error, rows:[{row, error}]}`, rows numbered as in a
spreadsheet: the header is row 1).

Kinds available: `demographics` (voluntary self-identification: `email, sex, race_ethnicity`,
optional `age_band`; free categories, empty = unknown), admins only. The other kinds DESIGN.md
lists (history, performance, departures) come with the employee archive."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Callable

from sqlmodel import Session, func, select

from server import audit
from server.api import router
from server.api_router import Call
from server.errors import ApiError, Forbidden, Invalid, Malformed
from server.tables import Candidate, SelfIdentification, utcnow
from server.web import store_key

MAX_ROWS = 100_000
MAX_VALUE = 64


@dataclass(frozen=True, slots=True)
class Kind:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    admin_only: bool
    apply: Callable[[Session, list[dict[str, str]], int], list[tuple[int, str]]]


class RowErrors(ApiError):
    """422 `{error, rows:[{row, error}]}`."""

    def __init__(self, rows: list[tuple[int, str]]) -> None:
        shown = "; ".join(f"row {n}: {e}" for n, e in rows[:5])
        more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
        super().__init__(f"{len(rows)} bad row{'s' if len(rows) != 1 else ''}, nothing imported: {shown}{more}",
                         status=422, rows=[{"row": n, "error": e} for n, e in rows])


def _demographics(db: Session, rows: list[dict[str, str]], user_id: int) -> list[tuple[int, str]]:
    emails = {r["email"].strip().lower() for r in rows}
    found = {c.email.lower(): c for c in db.exec(select(Candidate).where(func.lower(Candidate.email).in_(emails)))}
    errors: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=2):
        email = row["email"].strip().lower()
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
        candidate = found[row["email"].strip().lower()]
        entry = db.get(SelfIdentification, candidate.id) or SelfIdentification(candidate_id=candidate.id)  # type: ignore[arg-type]
        entry.sex = (row.get("sex") or "").strip()
        entry.race_ethnicity = (row.get("race_ethnicity") or "").strip()
        entry.age_band = (row.get("age_band") or "").strip()
        entry.source, entry.created_at = "import", utcnow()
        db.add(entry)
    return []


KINDS: dict[str, Kind] = {
    "demographics": Kind(("email", "sex", "race_ethnicity"), ("age_band",), True, _demographics),
}
LATER = ("history", "performance", "departures")


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
                      + (f"; optional {', '.join(kind.optional)}" if kind.optional else "") + ")")
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


@router.route("POST", "/api/imports/{kind}", summary="Import CSV data (all rows or none)",
              errors=(400, 403, 404, 415, 422), tag="imports",
              response={"type": "object", "properties": {"imported": {"type": "integer"}}})
async def post_import(call: Call) -> dict[str, Any]:
    name = call.request.match_info["kind"]
    kind = KINDS.get(name)
    if kind is None:
        later = " (it comes with the employee archive)" if name in LATER else ""
        raise ApiError(f"no import of kind {name!r}{later}; available: {', '.join(KINDS)}", status=404)
    if kind.admin_only and not call.who.is_admin:
        raise Forbidden(f"importing {name} needs the admin role")
    if call.request.content_type not in ("text/csv", "text/plain", "application/csv"):
        raise ApiError(f"send the CSV as Content-Type: text/csv (got {call.request.content_type or 'none'})",
                       status=415)
    rows = parse(await call.request.read(), kind)

    def work(db: Session) -> dict[str, Any]:
        errors = kind.apply(db, rows, call.who.id)
        if errors:
            raise RowErrors(errors)
        audit.record(db, "hr", call.who.id, f"import.{name}", "import", None, rows=len(rows))
        return {"imported": len(rows)}

    return await call.request.app[store_key].run(work)
