"""Job pages: the list, the new-job form (title, language, competency dimensions with keywords
and scoring rules, analysis switches), the same form to edit a job (each save a new version:
server/versions.py), and one job with its versions, templates and interviews."""
from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from server import jurisdictions
from server.errors import ApiError
from server.i18n import N_, _
from server.interview_templates import list_templates
from server.model_bank import models_key
from server.jobs import create_job, get_job, job_detail, list_jobs
from server.pages.common import (
    MAX_ID, FormErrors, PageCall, form_rows, hr_page, see_other, validation_errors,
)
from server.pages.interviews import interview_rows
from server.pages.rule_words import OPS, SCOPES, SIGNALS, rule_sentence, split_signal
from server.report_words import translated
from server.schemas import DimensionEdit, JobEdit, JobIn
from server.store import stored_id
from server.tables import Dimension, Interview, Template
from server.versions import archive_job, edit_job, job_history, templates_linking_retired, version_counts

DIMENSION_ROWS = 5
MORE_ROWS = 3
MAX_DIMENSIONS = 30
SWITCHES = (
    ("analyze_expression", N_("Facial expression (smiles)"),
     N_("Some jurisdictions forbid inferring emotion from the face in hiring; switch it off there.")),
    ("analyze_eye_contact", N_("Eye contact"), N_("How often the candidate looks at the camera.")),
    ("analyze_posture", N_("Posture and gestures"), N_("Upright posture and hand movement.")),
)
SIGNAL_HELP = (
    "keyword_hits:<one of the dimension's keywords>", "mentions:<phrase>", "keyword_density", "word_count",
    "speech_rate_wpm", "filler_ratio", "answer_seconds", "coherence", "pause_count", "longest_pause_s",
    "face_present_ratio", "multiple_faces_ratio", "eye_contact_ratio", "smile_ratio", "upright_ratio",
    "gesture_activity",
)
# A rule line starting with this word is checked over the whole interview (scope "interview").
INTERVIEW_PREFIX = "interview"
LANGUAGES = (("ko", N_("Korean")), ("en", N_("English")), ("ja", N_("Japanese")), ("zh", N_("Chinese")),
             ("de", N_("German")), ("fr", N_("French")), ("es", N_("Spanish")))
LANGUAGE_NAMES = dict(LANGUAGES)
_RULE_OPS = (">=", "<=", "==", ">", "<")
RULE_ROWS = 3  # rule builder rows per dimension (more through the API or the text form)
RULE_FIELDS = ("scope", "signal", "arg", "op", "value", "points")
# The writing a speech model puts out, by language: a keyword in another script is never heard.
SCRIPTS_OF = {"ko": {"hangul"}, "ja": {"kana", "han"}, "zh": {"han"}}
SCRIPT_NAMES = {"hangul": N_("Hangul (Korean)"), "kana": N_("kana (Japanese)"), "han": N_("Chinese characters"),
                "latin": N_("Latin letters"), "cyrillic": N_("Cyrillic")}


def scripts_in(text: str) -> set[str]:
    found = set()
    for ch in text:
        o = ord(ch)
        if 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
            found.add("hangul")
        elif 0x3040 <= o <= 0x30FF:
            found.add("kana")
        elif 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF:
            found.add("han")
        elif 0x0400 <= o <= 0x04FF:
            found.add("cyrillic")
        elif ch.isalpha() and o < 0x0250:
            found.add("latin")
    return found


def script_warnings(language: str, rows: list[dict[str, Any]]) -> list[str]:
    """Keywords and phrases in a writing the job's speech model never puts out: they can never
    be heard (e.g. "procedure" in a Korean interview, whose transcripts are in Hangul)."""
    expected = SCRIPTS_OF.get(language, {"latin"})
    name = _(LANGUAGE_NAMES[language]) if language in LANGUAGE_NAMES else language
    out = []
    for i, row in enumerate(rows):
        words = list(row.get("keywords_list", [])) + list(row.get("phrases", []))
        for word in words:
            scripts = scripts_in(word)
            if scripts and not scripts & expected:
                out.append(_("dimension %(n)s: “%(word)s” is written in %(scripts)s, but %(language)s "
                             "transcripts are in %(expected)s: it would never be heard", n=i + 1, word=word,
                             scripts=_(" and ").join(_script_name(s) for s in sorted(scripts)), language=name,
                             expected=_(" or ").join(_script_name(s) for s in sorted(expected))))
    return out


def _script_name(script: str) -> str:
    return _(SCRIPT_NAMES[script]) if script in SCRIPT_NAMES else script


def analysis_names(analyses: frozenset[str]) -> str:
    """A profile's forbidden analyses ("expression") by the new-job form's names for them."""
    labels = {name.removeprefix("analyze_"): label for name, label, _hint in SWITCHES}
    return ", ".join(_(labels[a]) if a in labels else a for a in sorted(analyses))


@hr_page("GET", "/jobs", summary="HR: the jobs this user may see")
async def jobs_list(call: PageCall) -> web.Response:
    def work(db: Session) -> list[dict[str, Any]]:
        jobs = list_jobs(db, call.who)
        ids = [j.id for j in jobs]
        counts: dict[str, dict[int, int]] = {}
        for name, column in (("dimensions", col(Dimension.job_id)),
                             ("templates", col(Template.job_id)),
                             ("interviews", col(Interview.job_id))):
            query = select(column, func.count()).where(column.in_(ids))
            if name == "dimensions":
                query = query.where(Dimension.retired == False)  # noqa: E712  (the newest version's)
            rows = db.exec(query.group_by(column)).all() if ids else []
            counts[name] = {job_id: count for job_id, count in rows}
        return [
            {"id": j.id, "title": j.title, "language": j.language, "created_at": j.created_at,
             "language_name": LANGUAGE_NAMES.get(j.language, j.language),
             "version": j.version, "archived": j.archived_at is not None,
             **{name: counts[name].get(stored_id(j), 0) for name in counts}}
            for j in jobs
        ]

    return call.render("hr_jobs.html", nav="jobs", jobs=await call.store.run(work))


def _blank_job_values(default_language: str) -> dict[str, Any]:
    return {"title": "", "language": default_language, "jurisdiction": jurisdictions.DEFAULT,
            **{name: True for name, _, _ in SWITCHES}}


def _languages(call: PageCall, current: str) -> list[tuple[str, str]]:
    """The languages a job can be interviewed in: those with an installed speech model (all
    known ones when models are switched off), the default first; the current value kept."""
    installed = call.request.app[models_key].speech_languages()
    codes = sorted(installed) if installed is not None else [code for code, _ in LANGUAGES]
    default = call.settings.default_language
    ordered = ([default] if default in codes else []) + [c for c in codes if c != default]
    if current and current not in ordered:
        ordered.append(current)
    return [(code, LANGUAGE_NAMES.get(code, code)) for code in ordered]


def _job_form(call: PageCall, *, values: dict[str, Any], rows: list[dict[str, Any]],
              errors: FormErrors | None = None, status: int = 200, warnings: list[str] | None = None,
              edit: dict[str, Any] | None = None) -> web.Response:
    """The new-job form, or with `edit` ({"id", "version", "note"}) the same form editing that job."""
    for row in rows:
        fields = row.setdefault("rule_fields", [])
        fields.extend(_empty_rule() for _ in range(RULE_ROWS - len(fields)))
        row.setdefault("id", None)
        row.setdefault("retire", False)
    action = f"/jobs/{edit['id']}/edit" if edit else "/jobs/new"
    return call.render(
        "hr_job_new.html", status=status, nav="jobs", values=values, rows=rows, edit=edit, form_action=action,
        errors=errors or FormErrors(), switches=SWITCHES, signals=SIGNAL_HELP,
        languages=_languages(call, values.get("language", "")), default_language=call.settings.default_language,
        rule_signals=SIGNALS, rule_ops=OPS, rule_scopes=SCOPES, warnings=warnings or [],
        jurisdictions=list(jurisdictions.PROFILES.values()), analysis_names=analysis_names,
    )


def _empty_rule() -> dict[str, str]:
    return {"scope": "answer", "signal": "", "arg": "", "op": ">=", "value": "", "points": ""}


@hr_page("GET", "/jobs/new", summary="HR: the new-job form")
async def job_new(call: PageCall) -> web.Response:
    rows = [_empty_row() for _ in range(DIMENSION_ROWS)]
    return _job_form(call, values=_blank_job_values(call.settings.default_language), rows=rows)


def _empty_row() -> dict[str, Any]:
    return {"name": "", "description": "", "keywords": "", "rules": "", "weight": "",
            "rule_fields": [_empty_rule() for _ in range(RULE_ROWS)], "id": None, "retire": False}


def split_keywords(text: str) -> list[str]:
    return [k.strip() for k in re.split(r"[,\n]", text) if k.strip()]


def parse_rules(text: str, row: int, errors: FormErrors) -> list[dict[str, str]]:
    """One rule a line: `signal op value points`, e.g. `keyword_hits:procedure >= 1 10`, or with
    `interview` first for a rule over the whole interview (`interview mentions:follow operating
    procedures > 0.8 10`). The signal may contain spaces (a keyword of two words), so the line
    is split from the right."""
    rules = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        scope = "answer"
        first, _sep, rest = line.partition(" ")
        if first.lower() == INTERVIEW_PREFIX and rest.strip():
            scope, line = "interview", rest.strip()
        parts = line.rsplit(None, 3)
        if len(parts) != 4 or parts[1] not in _RULE_OPS:
            errors.add(
                _("dimension %(n)s, rule line %(line)s (%(text)s): write 'signal op value points', "
                  "e.g. 'keyword_hits:procedure >= 1 10'; op is one of %(ops)s",
                  n=row + 1, line=n, text=repr(line), ops=" ".join(_RULE_OPS)),
                f"dim-{row}",
            )
            continue
        signal, op, value, points = parts
        rules.append({"signal": signal, "op": op, "value": value, "points": points, "scope": scope})
    return rules


def read_job_form(call: PageCall) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    values: dict[str, Any] = {
        "title": call.text("title"),
        "language": call.text("language").strip(),
        "jurisdiction": call.text("jurisdiction").strip() or jurisdictions.DEFAULT,
        **{name: bool(call.text(name)) for name, _, _ in SWITCHES},
    }
    count = form_rows(call.form, DIMENSION_ROWS, MAX_DIMENSIONS)
    rows: list[dict[str, Any]] = []
    for i in range(count):
        row: dict[str, Any] = {key: call.text(f"dim_{key}_{i}")
                               for key in ("name", "description", "keywords", "rules", "weight")}
        row["rule_fields"] = [{f: call.text(f"rule_{f}_{i}_{k}").strip() for f in RULE_FIELDS}
                              for k in range(RULE_ROWS)]
        # Editing: the dimension this row is (kept across versions), and whether to retire it.
        raw_id = call.text(f"dim_id_{i}").strip()
        row["id"] = int(raw_id) if raw_id.isdigit() and 0 < int(raw_id) <= MAX_ID else None
        row["retire"] = bool(call.text(f"dim_retire_{i}")) and row["id"] is not None
        rows.append(row)
    return values, rows


def built_rules(fields: list[dict[str, str]], row: int, errors: FormErrors) -> list[tuple[str, dict[str, str]]]:
    """The rule builder's filled rows as rules (with how to name each in an error)."""
    out = []
    for k, f in enumerate(fields):
        if not (f.get("signal") or f.get("value") or f.get("points")):
            continue  # an untouched row
        where = _("dimension %(n)s, rule %(k)s", n=row + 1, k=k + 1)
        prefix = f.get("signal", "")
        if not prefix:
            errors.add(_("%(where)s: choose what the rule looks at", where=where), f"dim-{row}")
            continue
        if prefix.endswith(":") and not f.get("arg"):
            if prefix == "keyword_hits:":
                errors.add(_("%(where)s: type the keyword the rule looks for", where=where), f"dim-{row}")
            else:
                errors.add(_("%(where)s: type the phrase the rule looks for", where=where), f"dim-{row}")
            continue
        if not f.get("value") or not f.get("points"):
            errors.add(_("%(where)s: give both the value to compare with and the points", where=where), f"dim-{row}")
            continue
        signal = prefix + f["arg"] if prefix.endswith(":") else prefix
        out.append((where, {"signal": signal, "op": f.get("op") or ">=", "value": f["value"],
                            "points": f["points"], "scope": f.get("scope") or "answer"}))
    return out


def build_job(values: dict[str, Any], rows: list[dict[str, Any]]) -> JobIn | FormErrors:
    """The job from the form, or every problem at once (the rule rows that cannot be read, and
    everything the validation finds in the rest)."""
    errors = FormErrors()
    dimensions: list[dict[str, Any]] = []
    row_of: list[int] = []  # the form row of each dimension sent to validation
    rule_names: list[list[str]] = []  # per dimension sent: how to name each of its rules
    for i, row in enumerate(rows):
        if row.get("retire"):
            continue  # editing: a dimension to retire is left out of the new version
        texts = [v for k, v in row.items() if isinstance(v, str)]
        builder = built_rules(row.get("rule_fields", []), i, errors)
        if not any(v.strip() for v in texts) and not builder:
            continue  # a blank row: ignored
        text_rules = parse_rules(row["rules"], i, errors)
        names = [where for where, _ in builder] + [
            _("dimension %(n)s, rule line %(line)s", n=i + 1, line=n + 1) for n in range(len(text_rules))]
        dimensions.append({
            "name": row["name"],
            "description": row["description"].strip(),
            "keywords": split_keywords(row["keywords"]),
            "rules": [rule for _, rule in builder] + text_rules,
            **({"weight": row["weight"].strip()} if row["weight"].strip() else {}),
        })
        row_of.append(i)
        rule_names.append(names)
    if not dimensions:
        errors.add(_("add at least one competency dimension (fill in its name)"), "dim-0")
    data = {
        "title": values["title"],
        "language": values["language"] or None,
        "dimensions": dimensions,
        "jurisdiction": values["jurisdiction"],
        # An analysis the profile forbids is left out: the server switches it off whatever
        # the checkbox said (the form says so next to the profile).
        **{name: values[name] for name, _, _ in SWITCHES
           if name.removeprefix("analyze_") not in jurisdictions.profile(values["jurisdiction"]).forbidden_analyses},
    }

    def label(loc: tuple[Any, ...], kind: str, described: str) -> tuple[str, str]:
        if loc[:1] == ("title",):
            return "title", _("job title %(problem)s", problem=described)
        if loc[:1] == ("language",):
            return "language", _("language: choose one of the languages offered")
        if loc[:1] == ("jurisdiction",):
            return "jurisdiction", _("jurisdiction: choose one of the profiles offered")
        if loc[:1] == ("dimensions",) and len(loc) >= 2 and isinstance(loc[1], int):
            row = row_of[loc[1]]
            where = f"dim-{row}"
            rest = loc[2:]
            if rest[:1] == ("rules",) and len(rest) >= 3 and isinstance(rest[1], int):
                names = rule_names[loc[1]]
                name = names[rest[1]] if rest[1] < len(names) else _(
                    "dimension %(n)s, rule %(k)s", n=row + 1, k=rest[1] + 1)
                field = rest[2]
                if field == "signal":
                    described = _("is not a known signal; use one of %(signals)s", signals=", ".join(SIGNAL_HELP))
                return where, f"{name}: {field} {described}"
            if rest[:1] == ("keywords",):
                return where, _("dimension %(n)s, keywords: %(problem)s", n=row + 1, problem=described)
            if not rest:  # the dimension as a whole, e.g. a keyword_hits: rule on another keyword
                return where, _("dimension %(n)s: %(problem)s", n=row + 1, problem=described)
            return where, _("dimension %(n)s: %(field)s %(problem)s", n=row + 1, field=rest[0], problem=described)
        if loc[:1] == ("dimensions",):
            return "dim-0", _("dimensions: %(problem)s", problem=described)
        return "", f"{'.'.join(map(str, loc))}: {described}"

    try:
        job = JobIn.model_validate(data, strict=False)
    except ValidationError as exc:
        found = validation_errors(exc, label)
        for item in found:
            if (item.message, item.where) not in {(e.message, e.where) for e in errors}:
                errors.items.append(item)
        errors.status = 422
        return errors
    return errors if errors else job


@hr_page("POST", "/jobs/new", summary="HR: create a job from the form", errors=(422,))
async def job_create(call: PageCall) -> web.Response:
    values, rows = read_job_form(call)
    if call.text("action") == "more":
        rows += [_empty_row() for _ in range(min(MORE_ROWS, MAX_DIMENSIONS - len(rows)))]
        return _job_form(call, values=values, rows=rows)
    body = build_job(values, rows)
    if isinstance(body, FormErrors):
        return _job_form(call, values=values, rows=rows, errors=body, status=422)
    language = call.settings.default_language
    for dim, row in zip(body.dimensions, [r for r in rows if _filled(r)], strict=False):
        row["keywords_list"] = dim.keywords
        row["phrases"] = [split_signal(r.signal)[1] for r in dim.rules if r.signal.startswith("mentions:")]
    warnings = script_warnings(body.language or language, [r for r in rows if _filled(r)])
    if warnings and not call.text("accept_warnings"):
        return _job_form(call, values=values, rows=rows, status=422, warnings=warnings)
    bank = call.request.app[models_key]
    installed = bank.speech_languages()
    try:
        job = await call.store.run(lambda db: create_job(db, call.who, body, language, installed))
        bank.ensure_language(job.language)
    except ApiError as exc:
        errors = FormErrors()
        errors.add(exc.message)
        return _job_form(call, values=values, rows=rows, errors=errors, status=exc.status)
    return see_other(f"/jobs/{job.id}")


def _filled(row: dict[str, Any]) -> bool:
    return any(v.strip() for k, v in row.items() if isinstance(v, str)) or any(
        f.get("signal") or f.get("value") or f.get("points") for f in row.get("rule_fields", []))


@hr_page("GET", "/jobs/{job_id}", summary="HR: one job with its dimensions, templates and interviews",
         errors=(404,))
async def job_page(call: PageCall) -> web.Response:
    job_id = call.id_param("job_id", "job")

    def work(db: Session) -> dict[str, Any]:
        job = get_job(db, call.who, job_id)
        return {
            "job": job_detail(db, job),
            "templates": list_templates(db, call.who, job_id),
            "interviews": interview_rows(db, call.who, job_id=job_id),
            "history": job_history(db, job)["versions"],
            "interview_counts": version_counts(db, job_id),
            "to_update": templates_linking_retired(db, job),
        }

    context = await call.store.run(work)
    for dim in context["job"]["dimensions"]:
        for rule in dim["rules"]:
            rule["sentence"] = rule_sentence(rule)
    profile = jurisdictions.profile(context["job"].get("jurisdiction") or jurisdictions.DEFAULT)
    return call.render("hr_job.html", nav="jobs", switches=SWITCHES, jurisdiction_name=_(profile.name),
                       report_text=translated, **context)


# --- editing (each save a new version), archiving ------------------------------------------------

def _rows_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The edit form's rows for a job's dimensions (rules as text lines, which the form reads
    back exactly: `[interview] signal op value points`)."""
    rows = []
    for d in job["dimensions"]:
        lines = [("interview " if r["scope"] == "interview" else "")
                 + f"{r['signal']} {r['op']} {r['value']:g} {r['points']:g}" for r in d["rules"]]
        rows.append({"name": d["name"], "description": d["description"], "keywords": ", ".join(d["keywords"]),
                     "rules": "\n".join(lines), "weight": f"{d['weight']:g}", "rule_fields": [],
                     "id": d["id"], "retire": False})
    return rows


def _job_values(job: dict[str, Any], title: str) -> dict[str, Any]:
    """The fixed part of an edited job (language, jurisdiction, analyses are not edited: its
    interviews, consent records and speech model depend on them)."""
    return {"title": title, "language": job["language"], "jurisdiction": job["jurisdiction"],
            **{name: job[name] for name, _, _ in SWITCHES}}


@hr_page("GET", "/jobs/{job_id}/edit", summary="HR: the form to edit a job (saves a new version)",
         errors=(404,))
async def job_edit_form(call: PageCall) -> web.Response:
    job_id = call.id_param("job_id", "job")
    job = await call.store.run(lambda db: job_detail(db, get_job(db, call.who, job_id)))
    rows = _rows_of(job) + [_empty_row() for _ in range(MORE_ROWS)]
    return _job_form(call, values=_job_values(job, job["title"]), rows=rows,
                     edit={"id": job_id, "version": job["version"], "note": "", "archived": bool(job["archived_at"])})


@hr_page("POST", "/jobs/{job_id}/edit", summary="HR: save a job's next version from the form",
         errors=(404, 409, 422))
async def job_edit(call: PageCall) -> web.Response:
    job_id = call.id_param("job_id", "job")
    job = await call.store.run(lambda db: job_detail(db, get_job(db, call.who, job_id)))
    _values, rows = read_job_form(call)
    values = _job_values(job, call.text("title"))
    note = call.text("note").strip()
    edit = {"id": job_id, "version": job["version"], "note": note, "archived": bool(job["archived_at"])}
    if call.text("action") == "more":
        rows += [_empty_row() for _ in range(min(MORE_ROWS, MAX_DIMENSIONS - len(rows)))]
        return _job_form(call, values=values, rows=rows, edit=edit)
    body = build_job(values, rows)
    if isinstance(body, FormErrors):
        return _job_form(call, values=values, rows=rows, errors=body, status=422, edit=edit)
    kept = [r for r in rows if not r["retire"] and _filled(r)]
    for dim, row in zip(body.dimensions, kept, strict=False):
        row["keywords_list"] = dim.keywords
        row["phrases"] = [split_signal(r.signal)[1] for r in dim.rules if r.signal.startswith("mentions:")]
    warnings = script_warnings(job["language"], kept)
    if warnings and not call.text("accept_warnings"):
        return _job_form(call, values=values, rows=rows, status=422, warnings=warnings, edit=edit)
    try:
        change = JobEdit(title=body.title, note=note[:500], dimensions=[
            DimensionEdit(id=row["id"], **dim.model_dump()) for dim, row in zip(body.dimensions, kept, strict=True)])
        await call.store.run(lambda db: edit_job(db, call.who, job_id, change))
    except ApiError as exc:
        errors = FormErrors()
        errors.add(exc.message)
        return _job_form(call, values=values, rows=rows, errors=errors, status=exc.status, edit=edit)
    except ValidationError as exc:  # e.g. a note too long: said, not a crash
        errors = FormErrors()
        errors.add("; ".join(str(e["msg"]) for e in exc.errors()))
        return _job_form(call, values=values, rows=rows, errors=errors, status=422, edit=edit)
    return see_other(f"/jobs/{job_id}#versions")


@hr_page("POST", "/jobs/{job_id}/archive", summary="HR: archive a job (no new invitations)", errors=(404, 409))
async def job_archive(call: PageCall) -> web.Response:
    job_id = call.id_param("job_id", "job")
    await call.store.run(lambda db: archive_job(db, call.who, job_id, True))
    return see_other(f"/jobs/{job_id}")


@hr_page("POST", "/jobs/{job_id}/restore", summary="HR: restore an archived job", errors=(404, 409))
async def job_restore(call: PageCall) -> web.Response:
    job_id = call.id_param("job_id", "job")
    await call.store.run(lambda db: archive_job(db, call.who, job_id, False))
    return see_other(f"/jobs/{job_id}")
