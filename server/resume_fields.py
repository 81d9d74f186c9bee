"""Structured candidate fields (education level, years of experience, current title): their
allowed values, and the simple rules that read them from resume text.

Rules (documented for HR; HR can always correct the result):

- education level: the highest degree named anywhere in the text. English words (PhD,
  doctorate; master's, MSc, MBA; bachelor's, BSc, BA; associate degree; high school), Korean
  (박사, 석사, 학사, 전문학사, 고등학교) and Chinese (博士, 硕士/碩士, 本科/学士, 大专/专科, 高中).
  Nothing named: unknown.
- years of experience: the largest "N years" / "N+ yrs" / "N년" / "N年" with N between 0 and 50
  (so "2019年" or "2019년", a year, is never read as experience). Nothing found: unknown.
- current title: the rest of a line that starts with "Current title:", "Title:", "Position:",
  "직함:", "직위:", "현 직책:", "职位:", "现任职位:" or "职务:". Nothing found: unknown.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Lowest first: a level's rank is its index.
EDUCATION_LEVELS: tuple[str, ...] = ("none", "high_school", "associate", "bachelor", "master", "doctorate")
MAX_YEARS = 70.0
MAX_TITLE = 200

_DEGREES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("doctorate", re.compile(r"\bph\.?\s?d\b|\bdoctorate\b|\bdoctoral\b|\bdoctor of\b|박사|博士", re.I)),
    ("master", re.compile(r"\bmasters?\b(?:'s)?(?=\s+(?:of|degree|in)\b)|\bmaster's\b|\bm\.?sc\b|\bmba\b|"
                          r"\bm\.eng\b|석사|硕士|碩士", re.I)),
    ("bachelor", re.compile(r"\bbachelor|\bb\.?sc\b|\bb\.a\.|\bb\.eng\b|(?<!전문)학사|本科|学士|學士", re.I)),
    ("associate", re.compile(r"\bassociate(?:'s)? degree\b|\bassociate of\b|전문학사|大专|专科|專科", re.I)),
    ("high_school", re.compile(r"\bhigh school\b|고등학교|高中", re.I)),
)
_YEARS = re.compile(r"(\d{1,4}(?:\.\d+)?)\s*\+?\s*(?:years?\b|yrs?\b|년|年)", re.I)
_TITLE = re.compile(r"^\s*(?:current title|title|current position|position|직함|직위|현 직책|现任职位|职位|职务)"
                    r"\s*[:：]\s*(.+?)\s*$", re.I | re.M)


@dataclass(frozen=True, slots=True)
class ResumeFields:
    """What the rules found; None where they found nothing."""

    education_level: str | None
    years_experience: float | None
    current_title: str | None

    def as_dict(self) -> dict[str, object]:
        return {"education_level": self.education_level, "years_experience": self.years_experience,
                "current_title": self.current_title}


def education_rank(level: str) -> int:
    return EDUCATION_LEVELS.index(level)


def levels_at_least(level: str) -> tuple[str, ...]:
    return EDUCATION_LEVELS[education_rank(level):]


def extract_fields(text: str) -> ResumeFields:
    level = next((name for name, pattern in _DEGREES if pattern.search(text)), None)
    years = [float(m.group(1)) for m in _YEARS.finditer(text) if float(m.group(1)) <= 50]
    title = _TITLE.search(text)
    return ResumeFields(
        education_level=level,
        years_experience=max(years) if years else None,
        current_title=title.group(1)[:MAX_TITLE] if title else None,
    )
