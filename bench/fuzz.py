"""The HR API fuzzed at volume: schemathesis generates requests from /api/openapi.json against the
real server (models off: the API, not the media, is under test), as an admin and anonymously,
and this prints how many requests were made, how many got a 5xx and how many hung.

    .venv/bin/python bench/fuzz.py [--examples 80] [--out bench/results/fuzz.txt]

Runs inside a private network namespace (re-executes itself under ``unshare -n``; root), so
only 127.0.0.1 is used. A hang is a request without an answer in 10 s."""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


from bench.live import ensure_private_netns  # noqa: E402  (the one private-namespace re-exec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=80, help="examples per operation and phase")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    ensure_private_netns()

    from tests.support.server import running_server
    from tests.test_fuzz_api import admin_token, fuzz

    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    say(f"bench/fuzz.py {time.strftime('%Y-%m-%dT%H:%M:%S')}  server@{commit}  examples={args.examples}  "
        f"load={os.getloadavg()[0]:.1f}")
    total = errors = hangs = 0
    with tempfile.TemporaryDirectory() as tmp:
        with running_server(Path(tmp), env={"CANDOR_LOAD_MODELS": "0"}) as base:
            for who in ("admin", "anonymous"):
                headers = [f"Authorization: Bearer {admin_token(base, base.log())}"] if who == "admin" else []
                started = time.monotonic()
                code, output = fuzz(str(base), Path(tmp) / f"{who}.xml", *headers, examples=args.examples)
                summary = re.search(r"(\d+) generated, (.*)", output)
                n = int(summary[1]) if summary else 0
                five = len(re.findall(r"Server error", output))
                hung = len(re.findall(r"timed out|Timeout", output, re.I))
                total, errors, hangs = total + n, errors + five, hangs + hung
                say(f"{who}: {n} requests in {time.monotonic() - started:.0f} s; schemathesis exit {code}; "
                    f"5xx findings {five}; hangs {hung}")
                if code != 0:
                    say(output[-4000:])
            log = base.log()
    own_errors = len(re.findall(r" ERROR (server|candor|models|analyzers)\b", log))
    ok = total >= 10_000 and errors == 0 and hangs == 0 and own_errors == 0
    say(f"total {total} generated requests, {errors} with a 5xx, {hangs} hung, {own_errors} server ERROR log lines")
    say(f"VERDICT: {'PASS' if ok else 'FAIL'} (>= 10,000 requests, 0 5xx, 0 hangs, no server errors logged)")
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
