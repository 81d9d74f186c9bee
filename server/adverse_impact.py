"""Adverse impact per job: selection rates and score-based rates per self-identified category
(and the sex x race/ethnicity intersections), each category's impact ratio against the category
with the highest rate, four-fifths flags, unknowns counted apart, small samples warned about.

Definitions (as a bias audit under NYC Local Law 144 uses them):
- applicants of a selection rate are the job's interviews with a decision; `advanced` = decision
  `second_interview` or `hire`, `hired` = `hire`;
- a scoring rate is the share of completed, AI-scored interviews (enough coverage) whose overall is
  above the threshold: by default the median overall of those interviews;
- impact ratio = the category's rate / the highest category rate; flagged below 0.8 (the
  four-fifths rule of thumb);
- a category with fewer than MIN_N people, or under 2 % of those with a known category, is marked
  `small_sample`: its ratio is shown but means little;
- `unknown`: no answer, or "prefer not to say"; counted, never put into a rate.

Individual answers never leave this module: only counts and rates do."""
from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from sqlmodel import Session, col, select

from server.auth import Principal
from server.reports import Thresholds
from server.results import job_results
from server.tables import SelfIdentification

MIN_N = 5
MIN_SHARE = 0.02
FOUR_FIFTHS = 0.8
ADVANCED = frozenset({"second_interview", "hire"})
ATTRIBUTES = ("sex", "race_ethnicity", "age_band")
INTERSECTION = "sex × race_ethnicity"
UNKNOWN_VALUES = frozenset({"", "prefer_not_to_say", "prefer not to say", "unknown"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """One person in one rate: their categories and whether they were selected."""

    categories: dict[str, str]  # attribute -> category ("" unknown)
    selected: bool


@dataclass(slots=True)
class Group:
    category: str
    n: int
    selected: int
    rate: float
    impact_ratio: float | None = None
    flagged: bool = False
    small_sample: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category, "n": self.n, "selected": self.selected, "rate": round(self.rate, 4),
                "impact_ratio": None if self.impact_ratio is None else round(self.impact_ratio, 4),
                "flagged": self.flagged, "small_sample": self.small_sample}


@dataclass(slots=True)
class RateTable:
    attribute: str
    groups: list[Group] = field(default_factory=list)
    unknown: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "unknown": self.unknown, "groups": [g.to_json() for g in self.groups]}


def rate_table(attribute: str, outcomes: Iterable[Outcome]) -> RateTable:
    table = RateTable(attribute)
    counts: dict[str, list[int]] = {}
    for one in outcomes:
        category = _category(one.categories, attribute)
        if category is None:
            table.unknown += 1
            continue
        n_sel = counts.setdefault(category, [0, 0])
        n_sel[0] += 1
        n_sel[1] += int(one.selected)
    known = sum(n for n, _ in counts.values())
    for category, (n, selected) in sorted(counts.items()):
        table.groups.append(Group(category, n, selected, selected / n,
                                  small_sample=n < MIN_N or n < MIN_SHARE * known))
    highest = max((g.rate for g in table.groups), default=0.0)
    for group in table.groups:
        if highest > 0:
            group.impact_ratio = group.rate / highest
            group.flagged = group.impact_ratio < FOUR_FIFTHS
    return table


def _category(categories: dict[str, str], attribute: str) -> str | None:
    if attribute == INTERSECTION:
        sex, race = _category(categories, "sex"), _category(categories, "race_ethnicity")
        return None if sex is None or race is None else f"{sex} · {race}"
    value = categories.get(attribute, "").strip()
    return None if value.lower() in UNKNOWN_VALUES else value


def rates(kind: str, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    tables = [rate_table(a, outcomes) for a in (*ATTRIBUTES, INTERSECTION)]
    warnings = []
    for table in tables:
        small = [g.category for g in table.groups if g.small_sample]
        if small:
            warnings.append(f"{kind}, {table.attribute}: small samples ({', '.join(small)}): their ratios mean little")
        if table.unknown:
            warnings.append(f"{kind}, {table.attribute}: {table.unknown} of {len(outcomes)} unknown (not in any rate)")
    return {"kind": kind, "people": len(outcomes), "tables": [t.to_json() for t in tables], "warnings": warnings}


def job_report(db: Session, who: Principal, job_id: int, thresholds: Thresholds,
               threshold: float | None = None) -> dict[str, Any]:
    rows, _dims = job_results(db, who, job_id, thresholds)
    answers = {a.candidate_id: a for a in db.exec(
        select(SelfIdentification).where(col(SelfIdentification.candidate_id).in_({r.candidate_id for r in rows}))
    )}
    candidate_of = {r.interview_id: r.candidate_id for r in rows}

    def cats(interview_id: int) -> dict[str, str]:
        a = answers.get(candidate_of[interview_id])
        return {} if a is None else {"sex": a.sex, "race_ethnicity": a.race_ethnicity, "age_band": a.age_band}

    decided = [r for r in rows if r.decision is not None]
    scored = [r for r in rows if r.state == "completed" and r.overall is not None and r.coverage is not None
              and r.coverage >= thresholds.min_coverage]
    cut = threshold
    if cut is None and scored:
        cut = statistics.median(r.overall for r in scored)  # type: ignore[type-var]
    sections = [
        rates("advanced", [Outcome(cats(r.interview_id), r.decision in ADVANCED) for r in decided]),
        rates("hired", [Outcome(cats(r.interview_id), r.decision == "hire") for r in decided]),
        rates("scored_above", [Outcome(cats(r.interview_id), (r.overall or 0) > (cut or 0)) for r in scored]),
    ]
    flags = [f"{s['kind']}, {t['attribute']}: {g['category']} at {g['impact_ratio']:.2f} of the highest rate"
             for s in sections for t in s["tables"] for g in t["groups"] if g["flagged"]]
    return {
        "job_id": job_id,
        "interviews": len(rows),
        "self_identified": sum(1 for r in rows if r.candidate_id in answers),
        # DESIGN.md's flat list: every category of the main rate (advanced) with its flag.
        "categories": [{"group": g["category"], "attribute": t["attribute"], "n": g["n"], "selected": g["selected"],
                        "rate": g["rate"], "impact_ratio": g["impact_ratio"], "flag": g["flagged"],
                        "small_sample": g["small_sample"]}
                       for t in sections[0]["tables"] for g in t["groups"]],
        "score_threshold": None if cut is None else round(cut, 2),
        "threshold_kind": "given" if threshold is not None else "median",
        "sections": sections,
        "flags": flags,
        "definitions": {
            "advanced": "decision second_interview or hire, among interviews with a decision",
            "hired": "decision hire, among interviews with a decision",
            "scored_above": "overall above the threshold, among completed AI-scored interviews with enough coverage",
            "impact_ratio": "the category's rate divided by the highest category rate; flagged below 0.8",
            "small_sample": f"fewer than {MIN_N} people, or under {MIN_SHARE:.0%} of those with a known category",
        },
    }


def summary_csv(report: dict[str, Any], job_title: str) -> str:
    """An LL144-style summary: one row per rate, attribute and category, with the counts."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["job", job_title])
    writer.writerow(["interviews", report["interviews"]])
    writer.writerow(["self-identified", report["self_identified"]])
    writer.writerow(["score threshold", report["score_threshold"], report["threshold_kind"]])
    writer.writerow([])
    writer.writerow(["rate", "attribute", "category", "n", "selected", "rate", "impact_ratio", "flagged_below_0.8",
                     "small_sample"])
    for section in report["sections"]:
        for table in section["tables"]:
            for g in table["groups"]:
                writer.writerow([section["kind"], table["attribute"], g["category"], g["n"], g["selected"], g["rate"],
                                 g["impact_ratio"], g["flagged"], g["small_sample"]])
            writer.writerow([section["kind"], table["attribute"], "unknown", table["unknown"], "", "", "", "", ""])
    return out.getvalue()
