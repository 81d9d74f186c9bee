"""The HR API fuzzed from its own OpenAPI document (schemathesis), against the real server
process, as an admin and anonymously: no generated request may get a 5xx or hang. Bounded:
a few examples per operation here; bench/fuzz.py runs 10,000+."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.server import running_server

EXAMPLES_PER_OPERATION = 8
RUN_TIMEOUT_S = 420


def admin_token(base: str, log: str) -> str:
    email = re.search(r"^\s+email\s+(\S+)$", log, re.M)
    password = re.search(r"^\s+password\s+(\S+)$", log, re.M)
    assert email and password, log[-2000:]
    request = urllib.request.Request(f"{base}/api/login", method="POST",
                                     data=json.dumps({"email": email[1], "password": password[1]}).encode(),
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return str(json.load(response)["token"])


def fuzz(base: str, report: Path, *headers: str, examples: int = EXAMPLES_PER_OPERATION) -> tuple[int, str]:
    cli = Path(sys.executable).with_name("schemathesis")
    args = [str(cli), "run", f"{base}/api/openapi.json", "--checks", "not_a_server_error",
            "--max-examples", str(examples), "--request-timeout", "10", "--seed", "20261201",
            "--report", "junit", "--report-junit-path", str(report)]
    for header in headers:
        args += ["--header", header]
    done = subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=report.parent,
                          env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "HOME": str(report.parent)})
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("who", ["admin", "anonymous"])
def test_generated_requests_never_get_a_server_error(tmp_path: Path, who: str) -> None:
    with running_server(tmp_path, env={"CANDOR_LOAD_MODELS": "0"}) as base:
        headers = [f"Authorization: Bearer {admin_token(base, base.log())}"] if who == "admin" else []
        code, output = fuzz(str(base), tmp_path / "fuzz.xml", *headers)
        log = base.log()
    summary = re.search(r"(\d+) generated, (.*)", output)
    print(f"{who}: {summary[0] if summary else output[-500:]}")
    assert summary and int(summary[1]) > 500, output[-3000:]
    assert code == 0, output[-6000:]
    # aiohttp logs what its HTTP parser refuses (e.g. a NUL in a header) before answering 400;
    # the server's own code must log no error.
    assert not re.search(r" ERROR (server|candor|models|analyzers)\b", log), log[-4000:]
