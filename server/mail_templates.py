"""The wording of messages to candidates: defaults, the variables HR may use, checking HR's
edits, and rendering one message as plain text and HTML.

Variables are written `{name}`; a literal brace is `{{` or `}}`. The link is not rendered here:
messages are queued with LINK_MARK in its place and the outbox puts the real link in when it
sends (the link is stored sealed, never in a queued message)."""
from __future__ import annotations

import html
import re
import string
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session

from server.errors import Invalid
from server.tables import MailTemplate, utcnow

KINDS = ("invitation", "reminder", "continue")
KIND_LABELS = {
    "invitation": "Invitation",
    "reminder": "Reminder before the deadline",
    "continue": "Continue an interrupted interview",
}
LINK_MARK = "\x00candor-link\x00"
DATA_PATH = "/my-data"  # under the candidate's link: their data as a ZIP (server/my_data.py)

VARIABLES: dict[str, str] = {
    "candidate_name": "The candidate's name",
    "job_title": "The job's title",
    "deadline": "The deadline, in the candidate's time zone (e.g. Friday 4 December 2026, 17:00 (Europe/Berlin))",
    "link": "The candidate's own interview link (required)",
    "data_link": "Where the candidate downloads everything held about them (works after the interview too)",
    "question_count": "How many questions the interview has",
    "minutes": "The most the answers can take, in minutes (the questions' time limits added up)",
    "contact_email": "The HR person who invited the candidate (replies go there)",
    "what_happens": "What the interview involves and what is analysed (from the consent page)",
    "human_review": "How to ask for a human-only review or an accommodation",
}

WHAT_HAPPENS = (
    "You answer {question_count} questions out loud on camera, one at a time, each with a time limit "
    "(about {minutes} minutes in all). Use a computer or phone with a camera and a microphone and a "
    "recent browser (Chrome, Edge, Firefox or Safari). If you agree, software helps the hiring team "
    "by measuring your speech (turned into text), your face (in view, eye contact, smiles) and your "
    "posture. People decide, not software: the hiring team reviews everything before any decision."
)
HUMAN_REVIEW = (
    "On the interview's first page you can choose a human-only review: the same questions, nothing "
    "analysed by software, a person watches your recording. If you need an accommodation (more "
    "time, captions, another format), reply to this email or write to {contact_email} before you start."
)

DEFAULTS: dict[str, tuple[str, str]] = {
    "invitation": (
        "Your video interview for {job_title}",
        "Hello {candidate_name},\n\n"
        "thank you for applying for {job_title}. We invite you to a video interview that you take "
        "in your browser, whenever suits you before {deadline}.\n\n"
        "Your interview link:\n{link}\n\n"
        "{what_happens}\n\n"
        "{human_review}\n\n"
        "The link is yours alone: please do not share it. You can download everything we hold "
        "about you at any time, also after the interview, here:\n{data_link}\n\n"
        "Kind regards,\nThe hiring team",
    ),
    "reminder": (
        "Reminder: your video interview for {job_title}",
        "Hello {candidate_name},\n\n"
        "a reminder that your video interview for {job_title} is open until {deadline}.\n\n"
        "Your interview link:\n{link}\n\n"
        "{what_happens}\n\n"
        "{human_review}\n\n"
        "If you have already decided not to take part, you can ignore this message.\n\n"
        "Kind regards,\nThe hiring team",
    ),
    "continue": (
        "Continue your video interview for {job_title}",
        "Hello {candidate_name},\n\n"
        "your video interview for {job_title} was interrupted. Your answers so far are saved: "
        "open your link to continue where you stopped, before {deadline}.\n\n"
        "Your interview link:\n{link}\n\n"
        "{human_review}\n\n"
        "Kind regards,\nThe hiring team",
    ),
}
_LINKS = re.compile(re.escape(LINK_MARK) + f"(?:{re.escape(DATA_PATH)})?")
MAX_SUBJECT = 300
MAX_BODY = 20_000


@dataclass(frozen=True, slots=True)
class Wording:
    kind: str
    subject: str
    body: str
    is_default: bool


@dataclass(frozen=True, slots=True)
class Values:
    """What one message says about its candidate and interview."""

    candidate_name: str
    job_title: str
    deadline: datetime
    time_zone: str
    question_count: int
    minutes: int
    contact_email: str


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str  # with LINK_MARK where the link goes
    html: str  # likewise


def wording(db: Session, kind: str) -> Wording:
    row = db.get(MailTemplate, kind)
    if row is not None:
        return Wording(kind, row.subject, row.body, False)
    subject, body = DEFAULTS[kind]
    return Wording(kind, subject, body, True)


def check(kind: str, subject: str, body: str) -> list[str]:
    """Every problem with HR's wording (empty: fine), so a form can show them all at once."""
    problems = []
    if kind not in KINDS:
        return [f"unknown message kind {kind!r}: one of {', '.join(KINDS)}"]
    if not subject.strip():
        problems.append("the subject is empty")
    elif len(subject) > MAX_SUBJECT:
        problems.append(f"the subject is longer than {MAX_SUBJECT} characters")
    if "\n" in subject.strip() or "\r" in subject:
        problems.append("the subject must be one line")
    if len(body) > MAX_BODY:
        problems.append(f"the text is longer than {MAX_BODY} characters")
    for where, text in (("subject", subject), ("text", body)):
        try:
            names = _fields(text)
        except ValueError as exc:
            problems.append(f"the {where} has a stray brace ({exc}); write {{{{ or }}}} for a literal brace")
            continue
        unknown = sorted(n for n in names if n not in VARIABLES)
        if unknown:
            problems.append(f"the {where} uses unknown variable{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join('{' + n + '}' for n in unknown)}; known: "
                            f"{', '.join('{' + n + '}' for n in VARIABLES)}")
        if where == "subject" and names & {"link", "data_link"}:
            problems.append("the subject must not hold {link} (it is the candidate's credential)")
        if where == "text" and "link" not in names:
            problems.append("the text must contain {link}: without it the candidate cannot open the interview")
    return problems


def save(db: Session, kind: str, subject: str, body: str, user_id: int) -> MailTemplate:
    problems = check(kind, subject, body)
    if problems:
        raise Invalid("; ".join(problems))
    row = db.get(MailTemplate, kind) or MailTemplate(kind=kind, subject="", body="")
    row.subject, row.body, row.updated_by = subject.strip(), body, user_id
    row.updated_at = utcnow()
    db.add(row)
    return row


def reset(db: Session, kind: str) -> None:
    row = db.get(MailTemplate, kind)
    if row is not None:
        db.delete(row)


def render(words: Wording, values: Values) -> Rendered:
    fields = _values(values)
    subject = string.Formatter().vformat(words.subject, (), {**fields, "link": "", "data_link": ""})
    text = string.Formatter().vformat(words.body, (), {**fields, "link": LINK_MARK,
                                                       "data_link": LINK_MARK + DATA_PATH})
    return Rendered(" ".join(subject.split()), text, to_html(text))


def fill_link(text: str, url: str, *, as_html: bool = False) -> str:
    if as_html:
        return text.replace(LINK_MARK, html.escape(url, quote=True))
    return text.replace(LINK_MARK, url)


def format_deadline(when: datetime, zone: str) -> str:
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz, zone = ZoneInfo("UTC"), "UTC"
    local = when.astimezone(tz)
    offset = local.strftime("%z")
    utc_offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    label = zone if zone == "UTC" else f"{zone}, {utc_offset}"
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({label})"


def to_html(text: str) -> str:
    """Paragraphs from blank lines, line breaks kept, the link as a link; everything escaped."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        escaped = html.escape(block)
        linked = _LINKS.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
        paragraphs.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    body = "\n".join(paragraphs)
    return ('<!doctype html>\n<html><head><meta charset="utf-8"></head>\n'
            '<body style="font-family: sans-serif; line-height: 1.5; max-width: 40em">\n'
            f"{body}\n</body></html>\n")


def _values(values: Values) -> dict[str, str]:
    plain = {
        "candidate_name": values.candidate_name,
        "job_title": values.job_title,
        "deadline": format_deadline(values.deadline, values.time_zone),
        "question_count": str(values.question_count),
        "minutes": str(values.minutes),
        "contact_email": values.contact_email,
    }
    plain["what_happens"] = WHAT_HAPPENS.format(**plain)
    plain["human_review"] = HUMAN_REVIEW.format(**plain)
    return plain


def _fields(text: str) -> set[str]:
    names = set()
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not name or not name.isidentifier() or spec or conversion:
            raise ValueError(f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}")
        names.add(name)
    return names
