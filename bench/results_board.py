"""The results board with a big job: 2,000 candidates, 10 dimensions.

    .venv/bin/python bench/results_board.py [--candidates 2000] [--dimensions 10] [--requests 20]

Everything runs in a private network namespace (bench.live.ensure_private_netns: only loopback).
A fresh CANDOR_DATA_DIR gets an admin (run.py adduser), one job with `--dimensions` dimensions and
a template whose questions link them, `--candidates` candidates each invited (the real
create_invitations: weights frozen, resume boosts), 90% of the interviews completed with
interview-level scores for every dimension (10% of them one dimension not assessed), 20% of the
completed ones decided; the rest invited. Then `run.py serve` (models off) and, over HTTP as the
admin: `GET /api/jobs/{id}/results` (the default sort, first page), a filtered and name-sorted
page, and the CSV of every row, each `--requests` times. Prints p50/p95/max per request kind and
a verdict (p95 under 1 s for the JSON pages, 2 s for the CSV). Results: bench/results/results-board.txt.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
sys.path.insert(0, str(REPO))

from bench.live import ensure_private_netns  # noqa: E402
from bench.login_flood import Server  # noqa: E402  (serve with models off; start/stop)

ADMIN = "flood-admin@example.com"  # bench.login_flood.Server makes this account


def seed(data_dir: Path, candidates: int, dimensions: int) -> int:
    """The job's id; everything written straight into the store the server will open."""
    os.environ["CANDOR_DATA_DIR"] = str(data_dir)
    from sqlmodel import select

    from server.auth import Principal
    from server.candidates import create_candidate
    from server.interview_templates import create_template
    from server.invitations import create_invitations
    from server.jobs import create_job, dimensions_of
    from server.schemas import CandidateIn, InvitationIn, JobIn, TemplateIn
    from server.settings import Settings
    from server.store import Store, stored_id
    from server.tables import Decision, Interview, Score, User, utcnow

    rng = random.Random(7)
    settings = Settings.from_env()
    store = Store(settings.db_url)
    admin = store.run_sync(lambda db: db.exec(select(User).where(User.email == ADMIN)).one())
    who = Principal(id=stored_id(admin), email=admin.email, role=admin.role)
    names = [f"Dimension {i + 1}" for i in range(dimensions)]
    job = store.run_sync(lambda db: create_job(db, who, JobIn.model_validate({
        "title": "Big job", "language": "en",
        "dimensions": [{"name": n, "keywords": [f"kw{i}"], "weight": 1 + i % 3} for i, n in enumerate(names)]}),
        "en", None))
    dims = store.run_sync(lambda db: [stored_id(d) for d in dimensions_of(db, stored_id(job))])
    template = store.run_sync(lambda db: create_template(db, who, TemplateIn.model_validate({
        "job_id": job.id, "name": "T", "questions": [
            {"text": f"Question {q + 1}", "time_limit_s": 60,
             "dimensions": [{"dimension_id": d, "weight": 1} for d in dims[q * 2:q * 2 + 2]]}
            for q in range((dimensions + 1) // 2)]})))
    ids = []
    for start in range(0, candidates, 500):
        def add(db: object, start: int = start) -> list[int]:
            return [stored_id(create_candidate(db, who, CandidateIn(  # type: ignore[arg-type]
                name=f"Candidate {n:05d}", email=f"c{n:05d}@example.com",
                resume_text="kw1 and kw3" if n % 4 == 0 else ""))) for n in range(start, min(candidates, start + 500))]
        ids += store.run_sync(add)
    for start in range(0, len(ids), 500):
        batch = ids[start:start + 500]
        store.run_sync(lambda db, batch=batch: create_invitations(db, who, InvitationIn(
            template_id=stored_id(template), candidate_ids=batch, deadline=utcnow() + timedelta(days=30)), 1.5))

    def complete(db: object) -> None:
        from sqlmodel import Session

        assert isinstance(db, Session)
        for itv in db.exec(select(Interview).where(Interview.job_id == job.id)).all():
            if rng.random() > 0.9:
                continue
            itv.state, itv.consent, itv.completed_at = "completed", True, utcnow()
            db.add(itv)
            skip = rng.randrange(dimensions) if rng.random() < 0.1 else None
            for k, d in enumerate(dims):
                if k != skip:
                    db.add(Score(interview_id=itv.id, dimension_id=d, question_index=None,
                                 score=round(rng.uniform(10, 95), 1), evidence=[]))
            if rng.random() < 0.2:
                db.add(Decision(interview_id=itv.id, user_id=who.id, decision=rng.choice(
                    ["hire", "talent_pool", "second_interview", "not_recommended"])))
    store.run_sync(complete)
    store.close()
    return int(job.id)  # type: ignore[arg-type]


async def measure(base: str, token: str, job_id: int, requests: int) -> dict[str, list[float]]:
    import aiohttp

    kinds = {
        "default page (JSON)": f"/api/jobs/{job_id}/results",
        "filtered, by name (JSON)": f"/api/jobs/{job_id}/results?state=completed&min_1=50&sort=name&order=asc",
        "every row (CSV)": f"/api/jobs/{job_id}/results?format=csv",
    }
    out: dict[str, list[float]] = {k: [] for k in kinds}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(requests):
            for kind, path in kinds.items():
                t0 = time.perf_counter()
                async with http.get(base + path) as r:
                    body = await r.read()
                    assert r.status == 200, (r.status, body[:200])
                out[kind].append((time.perf_counter() - t0) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", type=int, default=2000)
    ap.add_argument("--dimensions", type=int, default=10)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "results-board.txt"))
    args = ap.parse_args()
    ensure_private_netns()
    work = Path(tempfile.mkdtemp(prefix="results-board-"))
    server = Server(REPO, work, live=False)
    try:
        subprocess.run([PY, str(REPO / "run.py"), "adduser", ADMIN, "--role", "admin", "--password-stdin"],
                       input=(server.password + "\n").encode(), env=server.env, cwd=REPO, check=True,
                       capture_output=True)
        t0 = time.monotonic()
        job_id = seed(work / "data", args.candidates, args.dimensions)
        seeded_s = time.monotonic() - t0
        server.start = lambda: None  # type: ignore[method-assign]  (the account exists already)
        with open(server.log, "wb") as log:
            server.proc = subprocess.Popen(
                [PY, str(REPO / "run.py"), "serve", "--host", "127.0.0.1", "--port", str(server.port)],
                env=server.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

        async def run() -> dict[str, list[float]]:
            import aiohttp

            async with aiohttp.ClientSession() as http:
                await server.wait_ready(http)
                async with http.post(f"{server.base}/api/login",
                                     json={"email": ADMIN, "password": server.password}) as r:
                    token = (await r.json())["token"]
            return await measure(server.base, token, job_id, args.requests)

        times = asyncio.run(run())
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    lines = [f"bench/results_board.py  {time.strftime('%Y-%m-%d %H:%M:%S')}  candidates={args.candidates}  "
             f"dimensions={args.dimensions}  requests={args.requests} each  nproc={os.cpu_count()}  "
             f"load={os.getloadavg()[0]:.2f}  (seeded in {seeded_s:.0f} s)"]
    ok = True
    for kind, values in times.items():
        goal = 2000.0 if "CSV" in kind else 1000.0
        p95 = pct(values, 0.95)
        ok &= p95 < goal
        lines.append(f"{kind:<26} p50 {statistics.median(values):7.1f} ms  p95 {p95:7.1f} ms  "
                     f"max {max(values):7.1f} ms  (goal p95 < {goal:.0f} ms)")
    lines.append(f"verdict: {'PASS' if ok else 'FAIL'}")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "a") as f:
        f.write(text + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
