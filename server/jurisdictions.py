"""Jurisdiction profiles: the rules a job's interviews run under, chosen per job.

A profile sets the notice a candidate reads before the interview (versioned, per language), the
consent wording and whether biometric processing needs its own, separate consent, which
analyses and signals may run at all (the server enforces this: a forbidden analysis is never
computed, a rule on a forbidden signal is refused), how long the data of a candidate who was not
hired is kept, and the alternative process offered instead of the AI-assisted interview.

The texts are plain data, kept here in code so a change is reviewed like code: a changed text
gets a new version (the old one stays, so a consent record still points at the words that were
shown). Summaries of the laws, not legal advice: the operator's counsel reviews the texts.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

DEFAULT = "default"
# Signals that infer emotion or affect from the face (smile_ratio is the only one today; a new
# affect signal must be listed here so profiles that forbid affect refuse it too).
AFFECT_SIGNALS = frozenset({"smile_ratio"})
# Signals measured on the face or body: biometric processing (separate consent where required).
BIOMETRIC_SIGNALS = frozenset({
    "face_present_ratio", "multiple_faces_ratio", "eye_contact_ratio", "smile_ratio", "upright_ratio",
    "gesture_activity",
})
# The job's analysis switches (server/tables.py Job.analyze_*) and the signals each produces.
ANALYSIS_SIGNALS = {
    "expression": frozenset({"smile_ratio"}),
    "eye_contact": frozenset({"eye_contact_ratio"}),
    "posture": frozenset({"upright_ratio", "gesture_activity"}),
}
KINDS = ("ai_analysis", "biometric")  # what a consent record is about
# The candidate's page is written in English, so its notice is the English one unless the page
# says it showed another language (`start` may carry "notice_language"); the other languages
# are kept here for when the page is localised.
PAGE_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class NoticeText:
    """What the candidate reads, in one language: an intro, what is analysed (label, words),
    closing paragraphs, the consent wording, the separate biometric consent wording (profiles
    that need one) and the alternative to the AI-assisted interview."""

    intro: str
    items: tuple[tuple[str, str], ...]
    outro: tuple[str, ...]
    consent: str
    alternative: str
    biometric: str = ""

    def canonical(self, kind: str = "ai_analysis") -> str:
        """The exact words behind one consent question, as one string (hashed in the record)."""
        if kind == "biometric":
            return self.biometric
        lines = [self.intro, *(f"{label}: {text}" for label, text in self.items), *self.outro,
                 self.alternative, self.consent]
        return "\n".join(lines)

    def sha256(self, kind: str = "ai_analysis") -> str:
        return hashlib.sha256(self.canonical(kind).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Notice:
    version: str  # e.g. "2026-12-01"; a changed text gets a new version
    texts: dict[str, NoticeText]  # language -> text; "en" always present

    def text(self, language: str) -> tuple[str, NoticeText]:
        """(the language used, the text): the requested one, else English."""
        if language in self.texts:
            return language, self.texts[language]
        return "en", self.texts["en"]


@dataclass(frozen=True, slots=True)
class Profile:
    id: str
    name: str
    notices: tuple[Notice, ...]  # oldest first; the last is shown now
    separate_biometric_consent: bool = False
    forbidden_analyses: frozenset[str] = frozenset()  # keys of ANALYSIS_SIGNALS
    forbidden_signals: frozenset[str] = frozenset()
    retention_days: int = 365  # data of a candidate not hired, after the decision
    deletion_on_request_days: int | None = None  # a legal deadline for erasure on request
    retention_note: str = ""
    summary: str = ""

    @property
    def notice(self) -> Notice:
        return self.notices[-1]

    def notice_version(self, version: str | None) -> Notice | None:
        """The notice of that version (None: the current one); None when unknown."""
        if version is None:
            return self.notice
        return next((n for n in self.notices if n.version == version), None)

    def forbids(self, signal: str) -> bool:
        return signal in self.forbidden_signals

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "summary": self.summary,
            "forbidden_signals": sorted(self.forbidden_signals),
            "forbidden_analyses": sorted(self.forbidden_analyses),
            "separate_biometric_consent": self.separate_biometric_consent,
            "retention_days": self.retention_days,
            "deletion_on_request_days": self.deletion_on_request_days,
            "retention_note": self.retention_note,
            "notice_version": self.notice.version,
            "notice_versions": [{"version": n.version, "languages": sorted(n.texts)} for n in self.notices],
        }


# --- the texts ----------------------------------------------------------------------------------

_SPEECH = ("Speech", "what you say is turned into text, so the team can look at the content of your answers "
                     "(for example the key points you mention and how clearly you explain them).")
_POSTURE = ("Posture", "whether you sit upright, and how much you gesture.")
_PEOPLE = ("People decide, not software. The hiring team reviews everything, including the recording, "
           "before any decision is made.")
_ALTERNATIVE = ("If you prefer, choose a human-only review: you get the same questions, nothing is analysed "
                "by AI, and a person watches your recording. You can also withdraw your consent at any "
                "time during the interview; from then on nothing more is analysed and a person reviews it.")
_CONSENT = "By choosing the AI-assisted interview you agree to the analysis described above."

_DEFAULT_EN = NoticeText(
    intro=("You will see the questions one at a time, each with a time limit, and answer them out loud on "
           "camera. If you choose the AI-assisted interview, software helps the hiring team by measuring:"),
    items=(
        _SPEECH,
        ("Face", "whether you are in view, eye contact with the camera, and smiles. Reading expressions is "
                 "imperfect and may not suit every job, so the team may switch it off."),
        _POSTURE,
    ),
    outro=(_PEOPLE,),
    consent=_CONSENT,
    alternative=_ALTERNATIVE,
)
_DEFAULT_KO = NoticeText(
    intro="질문은 한 번에 하나씩, 각각 제한 시간과 함께 표시되며 카메라 앞에서 소리 내어 답합니다. "
          "AI 지원 면접을 선택하면 소프트웨어가 다음을 측정하여 채용팀을 돕습니다:",
    items=(
        ("음성", "말한 내용을 텍스트로 변환하여 답변의 내용(언급한 핵심 내용, 설명의 명확성 등)을 검토합니다."),
        ("얼굴", "화면에 보이는지, 카메라와의 눈맞춤, 미소. 표정 판독은 불완전하므로 채용팀이 끌 수 있습니다."),
        ("자세", "바르게 앉아 있는지, 손동작의 정도."),
    ),
    outro=("결정은 소프트웨어가 아니라 사람이 합니다. 채용팀은 녹화를 포함한 모든 자료를 검토한 뒤 결정합니다.",),
    consent="AI 지원 면접을 선택하면 위에 설명된 분석에 동의하는 것입니다.",
    alternative="원하면 사람만 검토하는 방식을 선택할 수 있습니다. 같은 질문을 받고, AI 분석은 하지 않으며, "
                "사람이 녹화를 봅니다. 면접 중 언제든 동의를 철회할 수 있으며, 그 이후에는 아무것도 분석되지 않습니다.",
)

_EU_EN = NoticeText(
    intro=("You will see the questions one at a time, each with a time limit, and answer them out loud on "
           "camera. If you choose the AI-assisted interview, software helps the hiring team by measuring:"),
    items=(
        _SPEECH,
        ("Face", "whether you are in view and eye contact with the camera. Your emotions and facial "
                 "expressions (such as smiles) are never analysed: the EU AI Act forbids emotion recognition "
                 "at work, and this server does not compute it for this job."),
        _POSTURE,
    ),
    outro=(_PEOPLE + " A person oversees every AI-assisted step, and the records of this processing are kept "
           "for at least six months.",),
    consent=_CONSENT,
    alternative=_ALTERNATIVE,
)

_ILLINOIS_EN = NoticeText(
    intro=("This notice is given under the Illinois Artificial Intelligence Video Interview Act. If you choose "
           "the AI-assisted interview, artificial intelligence is used to analyse your video interview and "
           "help the hiring team evaluate your fitness for the position. It measures:"),
    items=(
        _SPEECH,
        ("Face", "whether you are in view, eye contact with the camera, and smiles (face geometry is a "
                 "biometric identifier under the Illinois Biometric Information Privacy Act)."),
        _POSTURE,
    ),
    outro=(_PEOPLE,
           "Your video is shared only with the people whose expertise is needed to evaluate you. You may ask "
           "us to delete your interview at any time; it is deleted, with every copy, within 30 days of your "
           "request.",
           "Retention schedule (BIPA): biometric data (face and posture measurements) is destroyed when the "
           "purpose of the interview is fulfilled and at the latest within 3 years of your last interaction "
           "with us, whichever comes first."),
    consent=_CONSENT,
    alternative=_ALTERNATIVE,
    biometric=("I give my written release for the collection and use of my biometric identifiers and "
               "information (face and posture measurements from my video) for this interview, under the "
               "retention schedule above. Without it, only my speech is analysed."),
)

_NYC_EN = NoticeText(
    intro=("This notice is given under New York City Local Law 144. An automated employment decision tool is "
           "used to help assess candidates for this position. If you choose the AI-assisted interview, it "
           "measures:"),
    items=(
        _SPEECH,
        ("Face", "whether you are in view, eye contact with the camera, and smiles."),
        _POSTURE,
    ),
    outro=(_PEOPLE,
           "The tool is subject to an independent bias audit every year; a summary of the latest audit "
           "(selection rates and impact ratios by sex and race/ethnicity) is published by the employer. "
           "You may ask the employer what data is collected, its source and how long it is kept."),
    consent=_CONSENT,
    alternative=_ALTERNATIVE + " You may also ask the employer for an alternative selection process or an "
                               "accommodation.",
)

_CHINA_EN = NoticeText(
    intro=("This notice is given under the Personal Information Protection Law of the People's Republic of "
           "China. If you choose the AI-assisted interview, software helps the hiring team by measuring:"),
    items=(
        _SPEECH,
        ("Face", "whether you are in view, eye contact with the camera, and smiles. Facial information is "
                 "sensitive personal information: it is processed only with your separate consent below."),
        _POSTURE,
    ),
    outro=(_PEOPLE, "The automated analysis does not decide alone; you may ask for an explanation of it and "
                    "refuse a decision made only by automated means."),
    consent=_CONSENT,
    alternative=_ALTERNATIVE,
    biometric=("I separately consent to the processing of my facial and body information (sensitive personal "
               "information) for this interview. Without it, only my speech is analysed."),
)
_CHINA_ZH = NoticeText(
    intro="本告知依据《中华人民共和国个人信息保护法》作出。如您选择AI辅助面试，软件将通过以下测量协助招聘团队：",
    items=(
        ("语音", "您所说的内容会被转为文字，以便团队查看回答内容（例如提到的要点及表达是否清晰）。"),
        ("面部", "您是否在画面中、与镜头的目光接触以及微笑。面部信息属于敏感个人信息，仅在您于下方单独同意后处理。"),
        ("姿态", "您是否坐姿端正，以及手势的多少。"),
    ),
    outro=("决定由人作出，而非软件。招聘团队会在作出任何决定前查看全部资料，包括录像。",
           "自动化分析不会单独作出决定；您可以要求对其作出说明，并拒绝仅通过自动化方式作出的决定。"),
    consent="选择AI辅助面试即表示您同意上述分析。",
    alternative="如您愿意，可选择仅由人工评审：问题相同，不进行任何AI分析，由人观看您的录像。"
                "您也可以在面试中随时撤回同意，此后不再进行任何分析。",
    biometric="我单独同意为本次面试处理我的面部及身体信息（敏感个人信息）。如不同意，仅分析我的语音。",
)

VERSION = "2026-12-01"

PROFILES: dict[str, Profile] = {p.id: p for p in (
    Profile(DEFAULT, "Default", (Notice(VERSION, {"en": _DEFAULT_EN, "ko": _DEFAULT_KO}),),
            retention_days=365, summary="Today's behaviour: every analysis the job switches on."),
    Profile("illinois", "Illinois (AI Video Interview Act, BIPA)", (Notice(VERSION, {"en": _ILLINOIS_EN}),),
            separate_biometric_consent=True, retention_days=365, deletion_on_request_days=30,
            retention_note=("Deletion within 30 days of a request (AI Video Interview Act); biometric data "
                            "destroyed within 3 years of the last interaction (BIPA retention schedule)."),
            summary="Notice and consent before the interview; a written release for biometrics; deletion on "
                    "request within 30 days."),
    Profile("nyc", "New York City (Local Law 144)", (Notice(VERSION, {"en": _NYC_EN}),),
            retention_days=365,
            summary="Notice of the automated tool and its annual bias audit; an alternative process on request."),
    Profile("eu", "European Union (AI Act, GDPR)", (Notice(VERSION, {"en": _EU_EN}),),
            forbidden_analyses=frozenset({"expression"}), forbidden_signals=AFFECT_SIGNALS,
            retention_days=180,
            retention_note="Logs of the processing are kept for at least 6 months (AI Act, high-risk systems).",
            summary="No emotion recognition: smile and any other affect signal is never computed, and rules "
                    "on them are refused."),
    Profile("china", "China (PIPL)", (Notice(VERSION, {"en": _CHINA_EN, "zh": _CHINA_ZH}),),
            separate_biometric_consent=True, retention_days=180,
            summary="Separate consent for sensitive personal information (face and body measurements)."),
)}


def profile(profile_id: str | None) -> Profile:
    """The profile of that id; unknown or empty ids read as the default (rows stored before
    profiles existed, or a profile that was retired)."""
    return PROFILES.get(profile_id or DEFAULT, PROFILES[DEFAULT])


def known(profile_id: str) -> bool:
    return profile_id in PROFILES


def ids_text() -> str:
    return ", ".join(PROFILES)


def forbidden_rule_signals(p: Profile, signals: list[str]) -> list[str]:
    """The rule signals the profile forbids, in order, without repeats."""
    seen: dict[str, None] = {}
    for s in signals:
        if p.forbids(s):
            seen.setdefault(s, None)
    return list(seen)


@dataclass(frozen=True, slots=True)
class Shown:
    """The notice a candidate was shown: which profile, version and language, and the words."""

    profile: Profile
    notice: Notice
    language: str
    text: NoticeText
    questions: tuple[str, ...] = field(default=("ai_analysis",))  # the consent questions asked


def shown(profile_id: str | None, language: str = PAGE_LANGUAGE, version: str | None = None) -> Shown | None:
    """What the page shows for a job (version None: the current notice; a language the notice
    lacks: English); None when that version is not one of the profile's."""
    p = profile(profile_id)
    notice = p.notice_version(version)
    if notice is None:
        return None
    used, text = notice.text(language)
    questions = ("ai_analysis", "biometric") if p.separate_biometric_consent else ("ai_analysis",)
    return Shown(p, notice, used, text, questions)
