"""The candidate's copy of everything held about them: `GET /i/{token}/my-data`, a ZIP.

The link works while the interview can be taken and after it has finished (completed, expired,
abandoned), until the candidate is erased: a revoked or replaced link, an erased candidate and
an unknown token are all 404. The candidate is the link's candidate; the copy covers all their
interviews, not only this link's.

What is in it (`data.json` lists the rows by table, exactly the rows erasure would remove, so
the two cannot drift apart; secrets such as link hashes are left out):
- the candidate record (name, email, resume, status), invitations, interviews, state changes;
- transcripts, per-question signals, scores with their evidence, the report;
- HR's review notes, the decision, interventions and which clips HR watched: included, since
  the right of access covers opinions recorded about a person;
- messages queued or sent to them and webhook deliveries that name them;
- per interview, `transcript.txt` (questions and what they said), `audio.wav` (the recording's
  audio, silence where nothing was received) and `video/frame-NNNNN.jpg` (the recorded pictures),
  read through server/clips.py's readers.
The ZIP is built in memory off the event loop (a 30-minute interview is about 100 MB)."""
from __future__ import annotations

import asyncio
import io
import json
import wave
import zipfile
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from server import audit, clips, erasure
from server.api import router
from server.auth import token_digest
from server.candidate_page import UNKNOWN_LINK, closed_page
from server.errors import NotFound
from server.recording import RATE, recordings_root
from server.tables import Candidate, Interview, Invitation, Job, Question, TranscriptSegment
from server.web import dumps, settings_key, store_key

# Columns whose values are secrets of the server, not data about the candidate.
SECRET_WORDS = ("token", "sealed", "secret", "password")


def candidate_of_link(db: Session, token: str) -> Candidate:
    """The candidate behind a link, whatever the interview's state (404 when unknown, revoked,
    replaced or erased)."""
    if not token or len(token) > 64:
        raise NotFound("this link is not valid")
    invitation = db.exec(select(Invitation).where(Invitation.token_sha256 == token_digest(token))).first()
    candidate = db.get(Candidate, invitation.candidate_id) if invitation is not None else None
    if candidate is None:
        raise NotFound("this link is not valid")
    return candidate


def _row(mapping: Any) -> dict[str, Any]:
    return {k: ("(withheld: a server secret)" if any(w in k for w in SECRET_WORDS) and v is not None else v)
            for k, v in mapping.items()}


def _transcript_text(db: Session, interview: Interview) -> str:
    job = db.get(Job, interview.job_id)
    questions = db.exec(select(Question).where(Question.template_id == interview.template_id)
                        .order_by(col(Question.position))).all()
    segments = db.exec(select(TranscriptSegment).where(TranscriptSegment.interview_id == interview.id)
                       .order_by(col(TranscriptSegment.start_s))).all()
    lines = [f"Interview {interview.id}: {job.title if job else ''} ({interview.state})", ""]
    for q in questions:
        lines.append(f"Question {q.position + 1}: {q.text}")
        said = [s for s in segments if s.question_index == q.position]
        lines.extend(f"  [{s.start_s:7.1f} s, attempt {s.attempt + 1}] {s.text}" for s in said)
        if not said:
            lines.append("  (nothing recognised)")
        lines.append("")
    return "\n".join(lines)


def collect(db: Session, candidate: Candidate, data_dir: Path) -> tuple[dict[str, Any], dict[int, str]]:
    """(the rows by table, the transcript text per interview)."""
    plan = erasure.plan_candidate(db, candidate, data_dir)
    tables: dict[str, list[dict[str, Any]]] = {}
    for target in plan.targets:
        rows = db.execute(sa_select(target.table).where(target.where)).mappings().all()
        tables[target.table.name] = [_row(r) for r in rows]
    interviews = db.exec(select(Interview).where(Interview.candidate_id == candidate.id)).all()
    texts = {int(i.id): _transcript_text(db, i) for i in interviews}  # type: ignore[arg-type]
    audit.record(db, "candidate", None, "candidate.data_export", "candidate", candidate.id,
                 interview_ids=sorted(texts))
    return {"candidate_id": candidate.id, "tables": tables}, texts


def _wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return out.getvalue()


def build_zip(data: dict[str, Any], texts: dict[int, str], data_dir: Path) -> bytes:
    """The ZIP (blocking: audio and pictures are read from the recordings)."""
    root = recordings_root(data_dir)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("README.txt", README)
        z.writestr("data.json", json.dumps(json.loads(dumps(data)), indent=2, ensure_ascii=False))
        for interview_id, text in sorted(texts.items()):
            base = f"interview-{interview_id}"
            z.writestr(f"{base}/transcript.txt", text)
            rng = clips.recorded_range(root, interview_id)
            if rng is None:
                continue
            spans = clips.audio_spans(root, interview_id)
            if spans:
                start, end = min(s.start_s for s in spans), max(s.end_s for s in spans)
                z.writestr(f"{base}/audio.wav", _wav(clips.clip_audio(spans, start, end).tobytes()),
                           compress_type=zipfile.ZIP_STORED)
            for n, frame in enumerate(clips.video_frames(root, interview_id)):
                z.writestr(f"{base}/video/frame-{n:05d}.jpg", frame.read(), compress_type=zipfile.ZIP_STORED)
    return out.getvalue()


README = """Everything the company's interview system (Candor) holds about you.

data.json           every stored record about you, by table (times in UTC)
interview-N/        one folder per interview:
  transcript.txt    the questions and what the speech recogniser heard
  audio.wav         the recorded audio
  video/            the recorded pictures (two a second), in order

To have all of it erased, ask the company that invited you.
"""


@router.raw("GET", "/i/{token}/my-data", summary="The candidate's copy of everything held about them (ZIP)",
            auth="candidate", content_type="application/zip", errors=(404,), tag="candidate")
async def my_data(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    data_dir = request.app[settings_key].data_dir

    def work(db: Session) -> tuple[dict[str, Any], dict[int, str]]:
        return collect(db, candidate_of_link(db, token), data_dir)

    try:
        data, texts = await request.app[store_key].run(work)
    except NotFound:
        return closed_page(request, 404, UNKNOWN_LINK)
    body = await asyncio.to_thread(build_zip, data, texts, data_dir)
    return web.Response(body=body, content_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="my-interview-data.zip"',
        "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
