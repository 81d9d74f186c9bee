"""The state machine as a Markdown table, for docs/ARCHITECTURE.md (a test keeps the two equal:
`python -m server.state_doc` prints it)."""
from __future__ import annotations

from server.interview_machine import EXITS, FINISHED, TABLE, Effect

_GUARDS = {"_last": "last question", "_not_last": "not the last question", "_no_room": "no free media slot",
           "_media": "media arriving", "_started_no_media": "a question was shown, no media",
           "_no_media": "no media", "_deadline": "deadline passed"}


def markdown() -> str:
    lines = ["| state | event | when | goes to | effects | code |", "|---|---|---|---|---|---|"]
    for state, rules in TABLE.items():
        for event, options in rules.items():
            for rule in options:
                when = _GUARDS.get(getattr(rule.when, "__name__", ""), "") if rule.when else ""
                if rule.refuse is not None:
                    reason, code, status = rule.refuse
                    lines.append(f"| {state} | {event} | {when} | refused ({status}) | | {code} |")
                    continue
                if rule.to is None and not rule.effects:
                    continue  # allowed, changes nothing: listed below
                to = rule.to.value if rule.to is not None else "(same, not recorded)"
                effects = ", ".join(e.value for e in rule.effects if e != Effect.FINISHED)
                if Effect.FINISHED in rule.effects:
                    effects += (", " if effects else "") + "finished"
                lines.append(f"| {state} | {event} | {when} | {to} | {effects} | {rule.code or ''} |")
    ignored = sorted(f"{s}: {e}" for s, rules in TABLE.items() for e, options in rules.items()
                     if all(r.to is None and not r.effects and r.refuse is None for r in options))
    lines += ["", "Allowed and changing nothing: " + "; ".join(ignored) + ".",
              "Every other (state, event) pair is refused: HR's controls answer 409 with the reason; "
              f"the finished states ({', '.join(sorted(FINISHED))}) refuse everything but HR's reopen of an "
              "abandoned interview before its deadline.", "", "Ways out that need nobody:", ""]
    lines += [f"- {state}: {event} ({setting})" for state, (event, setting) in EXITS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
