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

from server.i18n import N_

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
# The notice's language when none is named: the candidate's page shows the notice in the job's
# language (every profile has en, ko and zh) and says which in `start` ("notice_language"),
# which the consent record keeps with the version.
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

# Chinese and Korean wordings of the profiles' notices (faithful translations of the English; a
# candidate reads the job's language, and the consent record names the language shown).
_SPEECH_ZH = ("语音", "您所说的内容会被转为文字，以便团队查看回答内容（例如提到的要点及表达是否清晰）。")
_POSTURE_ZH = ("姿态", "您是否坐姿端正，以及手势的多少。")
_PEOPLE_ZH = "决定由人作出，而非软件。招聘团队会在作出任何决定前查看全部资料，包括录像。"
_ALTERNATIVE_ZH = ("如您愿意，可选择仅由人工评审：问题相同，不进行任何AI分析，由人观看您的录像。"
                   "您也可以在面试中随时撤回同意，此后不再进行任何分析，由人进行评审。")
_CONSENT_ZH = "选择AI辅助面试即表示您同意上述分析。"
_INTRO_ZH = ("您将逐一看到问题，每题均有时间限制，请对着摄像头口头作答。"
             "如您选择AI辅助面试，软件将通过以下测量协助招聘团队：")
_SPEECH_KO = ("음성", "말한 내용을 텍스트로 변환하여 채용팀이 답변의 내용(언급한 핵심 내용, 설명의 명확성 등)을 검토할"
                    " 수 있게 합니다.")
_POSTURE_KO = ("자세", "바르게 앉아 있는지, 손동작의 정도.")
_PEOPLE_KO = "결정은 소프트웨어가 아니라 사람이 합니다. 채용팀은 녹화를 포함한 모든 자료를 검토한 뒤 결정합니다."
_ALTERNATIVE_KO = ("원하면 사람만 검토하는 방식을 선택할 수 있습니다. 같은 질문을 받고, AI 분석은 하지 않으며, "
                   "사람이 녹화를 봅니다. 면접 중 언제든 동의를 철회할 수도 있으며, 그 이후에는 더 이상 아무것도 "
                   "분석되지 않고 사람이 검토합니다.")
_CONSENT_KO = "AI 지원 면접을 선택하면 위에 설명된 분석에 동의하는 것입니다."
_INTRO_KO = ("질문은 한 번에 하나씩, 각각 제한 시간과 함께 표시되며 카메라 앞에서 소리 내어 답합니다. "
             "AI 지원 면접을 선택하면 소프트웨어가 다음을 측정하여 채용팀을 돕습니다:")

_DEFAULT_ZH = NoticeText(
    intro=_INTRO_ZH,
    items=(
        _SPEECH_ZH,
        ("面部", "您是否在画面中、与镜头的目光接触以及微笑。表情识别并不完善，也未必适合所有职位，因此团队可能会关闭此"
               "项。"),
        _POSTURE_ZH,
    ),
    outro=(_PEOPLE_ZH,),
    consent=_CONSENT_ZH,
    alternative=_ALTERNATIVE_ZH,
)

_EU_ZH = NoticeText(
    intro=_INTRO_ZH,
    items=(
        _SPEECH_ZH,
        ("面部", "您是否在画面中以及与镜头的目光接触。绝不分析您的情绪和面部表情（如微笑）：欧盟《人工智能法》禁止在工"
               "作场所"
                 "进行情绪识别，本服务器不会为此职位计算此类信息。"),
        _POSTURE_ZH,
    ),
    outro=(_PEOPLE_ZH + "每个AI辅助步骤均有人员监督，本处理活动的记录至少保存六个月。",),
    consent=_CONSENT_ZH,
    alternative=_ALTERNATIVE_ZH,
)
_EU_KO = NoticeText(
    intro=_INTRO_KO,
    items=(
        _SPEECH_KO,
        ("얼굴", "화면에 보이는지, 카메라와의 눈맞춤. 감정과 얼굴 표정(미소 등)은 절대 분석하지 않습니다. EU 인공지능"
               "법(AI Act)은 "
                 "직장에서의 감정 인식을 금지하며, 이 서버는 이 직무에 대해 이를 계산하지 않습니다."),
        _POSTURE_KO,
    ),
    outro=(_PEOPLE_KO + " AI 지원 단계는 모두 사람이 감독하며, 이 처리에 관한 기록은 최소 6개월간 보관됩니다.",),
    consent=_CONSENT_KO,
    alternative=_ALTERNATIVE_KO,
)

_ILLINOIS_ZH = NoticeText(
    intro=("本告知依据《伊利诺伊州人工智能视频面试法》(Illinois Artificial Intelligence Video Interview Act) 作出。"
           "如您选择AI辅助面试，将使用人工智能分析您的视频面试，协助招聘团队评估您是否适合该职位。测量内容如下："),
    items=(
        _SPEECH_ZH,
        ("面部", "您是否在画面中、与镜头的目光接触以及微笑（根据《伊利诺伊州生物识别信息隐私法》(BIPA)，面部几何特征属"
               "于生物识别标识符）。"),
        _POSTURE_ZH,
    ),
    outro=(_PEOPLE_ZH,
           "您的视频仅提供给评估您所需其专业知识的人员。您可随时要求我们删除您的面试；面试及其所有副本将在您提出请求后"
           " 30 天内删除。",
           "保存期限（BIPA）：生物识别数据（面部及姿态测量数据）在面试目的实现时销毁，最迟不超过您与我们最后一次互动后"
           " 3 年，"
           "以先到者为准。"),
    consent=_CONSENT_ZH,
    alternative=_ALTERNATIVE_ZH,
    biometric=("我书面授权为本次面试收集和使用我的生物识别标识符及信息（来自我视频的面部及姿态测量数据），并适用上述保"
               "存期限。"
               "如不授权，仅分析我的语音。"),
)
_ILLINOIS_KO = NoticeText(
    intro=("이 고지는 일리노이주 인공지능 영상 면접법(Illinois Artificial Intelligence Video Interview Act)에 따라 "
           "제공됩니다. AI 지원 면접을 선택하면 인공지능이 영상 면접을 분석하여 채용팀이 직무 적합성을 평가하도록 돕습"
           "니다. "
           "측정 항목은 다음과 같습니다:"),
    items=(
        _SPEECH_KO,
        ("얼굴", "화면에 보이는지, 카메라와의 눈맞춤, 미소(얼굴 형상은 일리노이주 생체정보 프라이버시법(BIPA)상 생체 "
               "식별자입니다)."),
        _POSTURE_KO,
    ),
    outro=(_PEOPLE_KO,
           "영상은 지원자를 평가하는 데 전문성이 필요한 사람에게만 공유됩니다. 언제든 면접 삭제를 요청할 수 있으며, 요"
           "청일로부터 "
           "30일 이내에 모든 사본과 함께 삭제됩니다.",
           "보관 일정(BIPA): 생체정보(얼굴 및 자세 측정값)는 면접 목적이 달성되었을 때, 늦어도 당사와의 마지막 상호작"
           "용 후 "
           "3년 이내 중 먼저 도래하는 시점에 파기됩니다."),
    consent=_CONSENT_KO,
    alternative=_ALTERNATIVE_KO,
    biometric=("본인은 위 보관 일정에 따라 이 면접을 위해 본인의 생체 식별자 및 생체정보(영상에서 얻은 얼굴 및 자세 측"
               "정값)를 "
               "수집하고 이용하는 데 서면으로 동의합니다. 동의하지 않으면 음성만 분석됩니다."),
)

_NYC_ZH = NoticeText(
    intro=("本告知依据纽约市《第 144 号地方法》(Local Law 144) 作出。本职位使用自动化雇用决策工具协助评估候选人。"
           "如您选择AI辅助面试，其测量内容如下："),
    items=(
        _SPEECH_ZH,
        ("面部", "您是否在画面中、与镜头的目光接触以及微笑。"),
        _POSTURE_ZH,
    ),
    outro=(_PEOPLE_ZH,
           "该工具每年接受独立的偏差审计；雇主会公布最近一次审计的摘要（按性别及种族/族裔划分的选拔率和影响比率）。"
           "您可以向雇主询问收集了哪些数据、数据来源以及保存期限。"),
    consent=_CONSENT_ZH,
    alternative=_ALTERNATIVE_ZH + "您也可以要求雇主提供替代的甄选流程或合理便利。",
)
_NYC_KO = NoticeText(
    intro=("이 고지는 뉴욕시 지방법 제144호(Local Law 144)에 따라 제공됩니다. 이 직무의 지원자 평가를 돕기 위해 자동화"
           "된 "
           "고용 결정 도구가 사용됩니다. AI 지원 면접을 선택하면 다음을 측정합니다:"),
    items=(
        _SPEECH_KO,
        ("얼굴", "화면에 보이는지, 카메라와의 눈맞춤, 미소."),
        _POSTURE_KO,
    ),
    outro=(_PEOPLE_KO,
           "이 도구는 매년 독립적인 편향 감사를 받으며, 고용주는 최근 감사의 요약(성별 및 인종/민족별 선발률과 영향 비"
           "율)을 "
           "공개합니다. 어떤 데이터가 수집되는지, 그 출처와 보관 기간을 고용주에게 문의할 수 있습니다."),
    consent=_CONSENT_KO,
    alternative=_ALTERNATIVE_KO + " 고용주에게 대체 선발 절차나 편의 제공을 요청할 수도 있습니다.",
)

_CHINA_KO = NoticeText(
    intro=("이 고지는 중화인민공화국 개인정보보호법에 따라 제공됩니다. AI 지원 면접을 선택하면 소프트웨어가 다음을 측"
           "정하여 "
           "채용팀을 돕습니다:"),
    items=(
        _SPEECH_KO,
        ("얼굴", "화면에 보이는지, 카메라와의 눈맞춤, 미소. 얼굴 정보는 민감 개인정보이며, 아래에서 별도로 동의한 경우"
               "에만 "
                 "처리됩니다."),
        _POSTURE_KO,
    ),
    outro=(_PEOPLE_KO, "자동화된 분석만으로 결정하지 않습니다. 분석에 대한 설명을 요구할 수 있으며, 자동화된 방식만으"
                       "로 "
                       "이루어진 결정을 거부할 수 있습니다."),
    consent=_CONSENT_KO,
    alternative=_ALTERNATIVE_KO,
    biometric=("본인은 이 면접을 위해 본인의 얼굴 및 신체 정보(민감 개인정보)를 처리하는 데 별도로 동의합니다. "
               "동의하지 않으면 음성만 분석됩니다."),
)

VERSION = "2026-12-01"

PROFILES: dict[str, Profile] = {p.id: p for p in (
    Profile(DEFAULT, N_("Default"), (Notice(VERSION, {"en": _DEFAULT_EN, "ko": _DEFAULT_KO, "zh": _DEFAULT_ZH}),),
            retention_days=365, summary=N_("Today's behaviour: every analysis the job switches on.")),
    Profile("illinois", N_("Illinois (AI Video Interview Act, BIPA)"),
            (Notice(VERSION, {"en": _ILLINOIS_EN, "zh": _ILLINOIS_ZH, "ko": _ILLINOIS_KO}),),
            separate_biometric_consent=True, retention_days=365, deletion_on_request_days=30,
            retention_note=("Deletion within 30 days of a request (AI Video Interview Act); biometric data "
                            "destroyed within 3 years of the last interaction (BIPA retention schedule)."),
            summary=N_("Notice and consent before the interview; a written release for biometrics; deletion on "
                       "request within 30 days.")),
    Profile("nyc", N_("New York City (Local Law 144)"),
            (Notice(VERSION, {"en": _NYC_EN, "zh": _NYC_ZH, "ko": _NYC_KO}),),
            retention_days=365,
            summary=N_("Notice of the automated tool and its annual bias audit; an alternative process on request.")),
    Profile("eu", N_("European Union (AI Act, GDPR)"), (Notice(VERSION, {"en": _EU_EN, "zh": _EU_ZH, "ko": _EU_KO}),),
            forbidden_analyses=frozenset({"expression"}), forbidden_signals=AFFECT_SIGNALS,
            retention_days=180,
            retention_note="Logs of the processing are kept for at least 6 months (AI Act, high-risk systems).",
            summary=N_("No emotion recognition: smile and any other affect signal is never computed, and rules "
                       "on them are refused.")),
    Profile("china", N_("China (PIPL)"), (Notice(VERSION, {"en": _CHINA_EN, "zh": _CHINA_ZH, "ko": _CHINA_KO}),),
            separate_biometric_consent=True, retention_days=180,
            summary=N_("Separate consent for sensitive personal information (face and body measurements).")),
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
