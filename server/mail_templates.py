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

from babel.dates import format_datetime
from sqlmodel import Session

from server.errors import Invalid
from server.i18n import N_
from server.tables import MailTemplate, utcnow

KINDS = ("invitation", "reminder", "continue")
# The labels and the variables' descriptions are msgids (server/i18n.py): HR's pages translate
# them. The messages' own wording is HR's, English by default.
KIND_LABELS = {
    "invitation": N_("Invitation"),
    "reminder": N_("Reminder before the deadline"),
    "continue": N_("Continue an interrupted interview"),
}
LINK_MARK = "\x00candor-link\x00"
DATA_PATH = "/my-data"  # under the candidate's link: their data as a ZIP (server/my_data.py)

VARIABLES: dict[str, str] = {
    "candidate_name": N_("The candidate's name"),
    "job_title": N_("The job's title"),
    "deadline": N_("The deadline, in the candidate's time zone (e.g. Friday 4 December 2026, 17:00 (Europe/Berlin))"),
    "link": N_("The candidate's own interview link (required)"),
    "data_link": N_("Where the candidate downloads everything held about them (works after the interview too)"),
    "question_count": N_("How many questions the interview has"),
    "minutes": N_("The most the answers can take, in minutes (the questions' time limits added up)"),
    "contact_email": N_("The HR person who invited the candidate (replies go there)"),
    "what_happens": N_("What the interview involves and what is analysed (from the consent page)"),
    "human_review": N_("How to ask for a human-only review or an accommodation"),
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
# The defaults in the candidate's language (the job's: server/i18n.py job_locale). HR's own
# wording, once saved, is used whatever the language (HR wrote it for their candidates).
WHAT_HAPPENS_BY_LOCALE = {
    "en": WHAT_HAPPENS,
    "zh_CN": (
        "您将在摄像头前逐一口头回答 {question_count} 道题，"
        "每题都有时间限制（总共约 {minutes} 分钟）。请使用带摄像头和"
        "麦克风的电脑或手机，以及较新版本的浏览器（Chrome、Edge、Firefox 或 Safari）。如果您同意，软件会通过测量您的"
        "语音（转为文字）、面部（是否在画面中、眼神交流、微笑）"
        "和姿势来协助招聘团队。作决定的是人而不是软件：招聘团队会在"
        "作出任何决定之前审阅全部内容。"
    ),
    "ko": (
        "카메라 앞에서 {question_count}개 질문에 하나씩 소리 내어 "
        "답하며, 질문마다 제한 시간이 있습니다(모두 약 {minutes}분). "
        "카메라와 마이크가 있는 컴퓨터나 휴대전화, 최신 브라우저(Chrome, Edge, Firefox 또는 Safari)를 사용해 주세요. "
        "동의하시면 소프트웨어가 음성(텍스트로 변환), 얼굴(화면 안 "
        "여부, 시선 맞춤, 미소), 자세를 측정해 채용팀을 돕습니다. "
        "결정은 소프트웨어가 아닌 사람이 합니다. 채용팀은 결정을 내리기 전에 모든 내용을 검토합니다."
    ),
}
HUMAN_REVIEW_BY_LOCALE = {
    "en": HUMAN_REVIEW,
    "zh_CN": (
        "在面试的第一页，您可以选择仅由人工评审：题目相同，"
        "软件不做任何分析，由评审人员观看您的录像。如果您需要特殊便利安排"
        "（更多时间、字幕或其他形式），请在开始前回复此邮件或写信至 {contact_email}。"
    ),
    "ko": (
        "면접 첫 페이지에서 사람만 검토하는 방식을 선택할 수 있습니다."
        " 질문은 같고, 소프트웨어 분석은 하지 않으며, 사람이 "
        "녹화 영상을 봅니다. 편의 제공(추가 시간, 자막, 다른 "
        "형식)이 필요하시면 시작하기 전에 이 이메일에 회신하시거나 "
        "{contact_email}(으)로 연락해 주세요."
    ),
}
DEFAULTS_BY_LOCALE: dict[str, dict[str, tuple[str, str]]] = {
    "en": DEFAULTS,
    "zh_CN": {
        "invitation": (
            "{job_title} 视频面试邀请",
            "{candidate_name}，您好：\n\n"
            "感谢您应聘{job_title}职位。我们诚邀您参加视频面试，您可以在 {deadline} 之前任选方便的时间，"
            "在浏览器中完成面试。\n\n"
            "您的面试链接：\n{link}\n\n"
            "{what_happens}\n\n"
            "{human_review}\n\n"
            "此链接仅供您本人使用，请勿分享。您可以随时（包括面试结束后）"
            "在此下载我们保存的您的全部资料：\n{data_link}\n\n"
            "此致\n招聘团队",
        ),
        "reminder": (
            "提醒：{job_title} 视频面试",
            "{candidate_name}，您好：\n\n"
            "提醒您，{job_title}职位的视频面试将开放至 {deadline}。\n\n"
            "您的面试链接：\n{link}\n\n"
            "{what_happens}\n\n"
            "{human_review}\n\n"
            "如果您已决定不参加，请忽略此邮件。\n\n"
            "此致\n招聘团队",
        ),
        "continue": (
            "继续您的 {job_title} 视频面试",
            "{candidate_name}，您好：\n\n"
            "您的{job_title}职位视频面试中断了。您已作答的内容均已保存："
            "请在 {deadline} 之前打开您的链接，从中断处继续。\n\n"
            "您的面试链接：\n{link}\n\n"
            "{human_review}\n\n"
            "此致\n招聘团队",
        ),
    },
    "ko": {
        "invitation": (
            "{job_title} 화상 면접 안내",
            "{candidate_name} 님, 안녕하세요.\n\n"
            "{job_title} 직무에 지원해 주셔서 감사합니다. {deadline}까지 편하신 시간에 브라우저에서 보실 수 있는 "
            "화상 면접에 초대합니다.\n\n"
            "면접 링크:\n{link}\n\n"
            "{what_happens}\n\n"
            "{human_review}\n\n"
            "이 링크는 본인만 사용할 수 있으니 공유하지 마세요. "
            "면접이 끝난 후에도 언제든지 여기에서 보관 중인 본인 정보 "
            "전체를 내려받을 수 있습니다:\n{data_link}\n\n"
            "감사합니다.\n채용팀 드림",
        ),
        "reminder": (
            "안내: {job_title} 화상 면접",
            "{candidate_name} 님, 안녕하세요.\n\n"
            "{job_title} 화상 면접은 {deadline}까지 응시하실 수 있음을 다시 알려 드립니다.\n\n"
            "면접 링크:\n{link}\n\n"
            "{what_happens}\n\n"
            "{human_review}\n\n"
            "이미 참여하지 않기로 하셨다면 이 메일은 무시하셔도 됩니다.\n\n"
            "감사합니다.\n채용팀 드림",
        ),
        "continue": (
            "{job_title} 화상 면접 이어서 하기",
            "{candidate_name} 님, 안녕하세요.\n\n"
            "{job_title} 화상 면접이 중단되었습니다. 지금까지의 답변은 저장되어 있습니다. {deadline}까지 링크를 열어 "
            "멈춘 곳에서 이어서 진행해 주세요.\n\n"
            "면접 링크:\n{link}\n\n"
            "{human_review}\n\n"
            "감사합니다.\n채용팀 드림",
        ),
    },
}
# How a deadline is written (Babel date patterns; English keeps its strftime form below).
DEADLINE_PATTERNS = {"zh_CN": "y年M月d日 EEEE HH:mm", "ko": "y년 M월 d일 EEEE HH:mm"}
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
    language: str = "en"  # the candidate's (the job's) locale: en, zh_CN or ko


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str  # with LINK_MARK where the link goes
    html: str  # likewise


def wording(db: Session, kind: str, language: str = "en") -> Wording:
    """HR's wording of `kind`, else the default in `language` (a locale of server/i18n.py)."""
    row = db.get(MailTemplate, kind)
    if row is not None:
        return Wording(kind, row.subject, row.body, False)
    subject, body = DEFAULTS_BY_LOCALE.get(language, DEFAULTS)[kind]
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


def format_deadline(when: datetime, zone: str, language: str = "en") -> str:
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz, zone = ZoneInfo("UTC"), "UTC"
    local = when.astimezone(tz)
    offset = local.strftime("%z")
    utc_offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    label = zone if zone == "UTC" else f"{zone}, {utc_offset}"
    if language in DEADLINE_PATTERNS:
        return f"{format_datetime(local, DEADLINE_PATTERNS[language], locale=language)} ({label})"
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
        "deadline": format_deadline(values.deadline, values.time_zone, values.language),
        "question_count": str(values.question_count),
        "minutes": str(values.minutes),
        "contact_email": values.contact_email,
    }
    plain["what_happens"] = WHAT_HAPPENS_BY_LOCALE.get(values.language, WHAT_HAPPENS).format(**plain)
    plain["human_review"] = HUMAN_REVIEW_BY_LOCALE.get(values.language, HUMAN_REVIEW).format(**plain)
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
