"""`python run.py audit verify|export|prune`: the audit log from the command line.

verify  prints the rows checked and the head's digest; exit 0 when the chain is intact, 1 naming
        the first bad row (id, seq, what is wrong) when not.
export  writes the log (JSON or CSV, with each row's digests) to stdout; the export is audited.
prune   removes the chain's oldest rows written before a date at least 183 days ago (retention);
        the chain stays verifiable and the removal is audited.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from server import audit_chain
from server.audit_export import AuditQuery, BadQuery, csv_text, export, parse_time, row_json


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py audit", description="Verify, export or prune the audit log")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("verify", help="check the hash chain from its start to its head")
    p = sub.add_parser("export", help="write the log to stdout with each row's digests")
    p.add_argument("--format", choices=("json", "csv"), default="json")
    p.add_argument("--since", help="rows from this ISO 8601 time or date on (UTC if no zone)")
    p.add_argument("--until", help="rows before this time")
    p.add_argument("--action", help="only this action, or a prefix ending in .* (e.g. review.*)")
    p.add_argument("--limit", help="at most this many rows (default 100000)")
    p.add_argument("--offset", help="rows to skip")
    p = sub.add_parser("prune", help="remove rows written before a date at least 183 days ago")
    p.add_argument("--before", required=True, help="ISO 8601 date or time (UTC if no zone)")
    return parser


def main(argv: list[str], store: Any, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = _parser().parse_args(argv)
    if args.command == "verify":
        verdict = store.run_sync(audit_chain.verify)
        if verdict.ok:
            print(f"audit log intact: {verdict.rows} rows checked; head seq {verdict.head_seq} "
                  f"sha256 {verdict.head_sha256}", file=out)
            return 0
        bad = verdict.first_bad
        print(f"audit log BROKEN at row id {bad.id} (seq {bad.seq}): {bad.problem}; "
              f"{verdict.rows} rows checked before it", file=out)
        return 1
    try:
        if args.command == "export":
            raw = {k: v for k, v in (("format", args.format), ("since", args.since), ("until", args.until),
                                     ("action", args.action),
                                     ("limit", args.limit), ("offset", args.offset)) if v}
            return _export(store, raw, out)
        cutoff = parse_time(args.before, "--before")
    except BadQuery as exc:
        print(f"error: {exc}", file=err)
        return 2
    try:
        pruned = store.run_sync(lambda db: audit_chain.prune_before(db, cutoff, "cli", None))
    except audit_chain.PruneRefused as exc:
        print(f"refused: {exc}", file=err)
        return 1
    print(f"removed {pruned.rows_removed} rows (up to seq {pruned.up_to_seq})", file=out)
    return 0


def _export(store: Any, raw: dict[str, str], out: TextIO) -> int:
    q = AuditQuery.parse(raw)
    total, rows = store.run_sync(lambda db: export(db, q, "cli", None))
    if q.format == "csv":
        out.write(csv_text(rows))
    else:
        json.dump({"total": total, "offset": q.offset, "rows": [row_json(r) for r in rows]}, out,
                  ensure_ascii=False, indent=1)
        out.write("\n")
    return 0
