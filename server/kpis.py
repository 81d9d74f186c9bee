"""Recruitment KPIs per job and period (`GET /api/jobs/{id}/kpis?period=month|quarter`).

Per calendar month or quarter (UTC):
- `invitations_sent`: invitations created in the period;
- `completed_of_sent` and `completion_rate`: of those invitations, how many interviews have been
  completed so far (a cohort rate, so a period's rate never mixes in other periods' invitations);
- `interviews_completed`: interviews completed in the period (whenever invited);
- `days_to_decision` {n, median, mean}: for the decisions made in the period, days from the
  invitation to the (first) decision;
- `decisions`: the decisions made in the period by kind (a decision changed later counts under
  its current kind, at the time it was first made).
`total` sums the same over every period."""
from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from sqlmodel import Session, col, select

from server.auth import Principal
from server.errors import Malformed
from server.jobs import get_job
from server.tables import Decision, Interview, Invitation

logger = logging.getLogger(__name__)

Period = Literal["month", "quarter"]
PERIODS: tuple[Period, ...] = ("month", "quarter")
DECISION_KINDS = ("hire", "second_interview", "talent_pool", "not_recommended")


def parse_period(raw: str | None) -> Period:
    value = (raw or "month").strip() or "month"
    if value == "month":
        return "month"
    if value == "quarter":
        return "quarter"
    raise Malformed(f"period must be month or quarter, got {value[:30]!r}")


def period_of(moment: datetime, period: Period) -> str:
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    if period == "quarter":
        return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"
    return f"{moment.year}-{moment.month:02d}"


@dataclass(slots=True)
class Tally:
    invitations_sent: int = 0
    completed_of_sent: int = 0
    interviews_completed: int = 0
    days: list[float] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        sent = self.invitations_sent
        return {
            "invitations_sent": sent,
            "completed_of_sent": self.completed_of_sent,
            "completion_rate": round(self.completed_of_sent / sent, 4) if sent else None,
            "interviews_completed": self.interviews_completed,
            "days_to_decision": {"n": len(self.days),
                                 "median": round(statistics.median(self.days), 2) if self.days else None,
                                 "mean": round(statistics.fmean(self.days), 2) if self.days else None},
            "decisions": {k: self.decisions.get(k, 0) for k in (*DECISION_KINDS, *sorted(
                set(self.decisions) - set(DECISION_KINDS)))},
        }


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def job_kpis(db: Session, who: Principal, job_id: int, period: Period = "month") -> dict[str, Any]:
    """The job's KPIs by period, oldest first (404 for a job this user cannot see)."""
    get_job(db, who, job_id)
    by_period: dict[str, Tally] = {}
    total = Tally()

    def tally(moment: datetime) -> Tally:
        return by_period.setdefault(period_of(moment, period), Tally())

    rows = db.exec(select(Interview, Invitation, Decision)
                   .join(Invitation, col(Invitation.id) == Interview.invitation_id)
                   .outerjoin(Decision, col(Decision.interview_id) == Interview.id)
                   .where(Interview.job_id == job_id)).all()
    for interview, invitation, decision in rows:
        sent = _aware(invitation.created_at)
        completed = interview.state == "completed"
        for t in (tally(sent), total):
            t.invitations_sent += 1
            t.completed_of_sent += int(completed)
        if completed and interview.completed_at is not None:
            for t in (tally(interview.completed_at), total):
                t.interviews_completed += 1
        if decision is not None:
            decided = _aware(decision.created_at)
            days = max(0.0, (decided - sent).total_seconds() / 86400.0)
            for t in (tally(decided), total):
                t.days.append(days)
                t.decisions[decision.decision] = t.decisions.get(decision.decision, 0) + 1
    return {"job_id": job_id, "period": period,
            "periods": [{"period": key, **by_period[key].to_json()} for key in sorted(by_period)],
            "total": total.to_json()}
