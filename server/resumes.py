"""Resume files: the type told by the content (never the name or the client's Content-Type),
the text read out (pypdf for PDF, python-docx for DOCX, UTF-8/UTF-16 for plain text), and the
original stored sealed (server/recording_crypto.py) in ``<data_dir>/resumes/<candidate id>/``,
the directory erasure removes whole. A file that cannot be read gets a 422 saying why."""
from __future__ import annotations

import io
import json
import logging
import shutil
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, web

from server.errors import ApiError, Invalid
from server.executors import analysis_executor
from server.recording_crypto import SealError, keyring_for, open_file, seal_file

logger = logging.getLogger(__name__)
# Parsing an uploaded document (and sealing it) is CPU work on hostile input: off the event
# loop, one at a time, at the analysis threads' lower priority. Threads start on first use.
document_executor = analysis_executor(1, "documents")

MAX_RESUME_BYTES = 5 * 1024 * 1024
MAX_TEXT_CHARS = 100_000  # the resume_text column's limit
MAX_DOCX_UNPACKED = 64 * 1024 * 1024  # a DOCX that unpacks to more is refused (a zip bomb)
MAX_FORM_FIELD = 4096
MAX_FORM_FIELDS = 20
RESUMES_DIR = "resumes"
STORED_NAME = "resume.sealed"
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text": "text/plain",
}
RAW_TYPES = frozenset(MEDIA_TYPES.values()) | {"application/octet-stream"}
ACCEPTED = "upload a PDF, a DOCX or a plain-text (UTF-8) file"


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file with the form's other (text) fields."""

    data: bytes
    filename: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class Resume:
    kind: str  # pdf | docx | text
    text: str


@dataclass(frozen=True, slots=True)
class StoredResume:
    filename: str
    kind: str
    data: bytes

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.kind]


# --- reading the request -------------------------------------------------------------------

def too_large(limit: int) -> ApiError:
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
    return ApiError(f"the upload is larger than {size}", status=413)


async def _read_limited(part: BodyPartReader, limit: int) -> bytes:
    out = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        out += chunk
        if len(out) > limit:
            raise too_large(limit)
    return bytes(out)


async def read_upload(request: web.Request, limit: int = MAX_RESUME_BYTES, *,
                      raw_types: frozenset[str] = RAW_TYPES, what: str = "resume") -> Upload:
    """The file of a multipart form (field `file`, other fields as text) or a raw body, read in
    chunks so that no more than `limit` bytes are ever held (the app's general body limit is
    lower; this route streams instead)."""
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise too_large(limit)
    if request.content_type.startswith("multipart/"):
        try:
            reader = await request.multipart()
            data: bytes | None = None
            filename = ""
            fields: dict[str, str] = {}
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "file":
                    data = await _read_limited(part, limit)
                    # Browsers and aiohttp escape quotes and some characters as %XX in the name.
                    filename = unquote(part.filename or "")
                elif part.name:
                    if len(fields) >= MAX_FORM_FIELDS:
                        raise ApiError(f"the form has more than {MAX_FORM_FIELDS} fields", status=400)
                    value = await _read_limited(part, MAX_FORM_FIELD)
                    fields[part.name] = value.decode("utf-8", "replace")
        except (ValueError, AssertionError) as exc:
            raise ApiError(f"the form data could not be read: {exc}", status=400) from None
        if data is None:
            raise Invalid(f"the form has no file field named 'file': choose the {what} file")
        return Upload(data, filename, fields)
    if request.content_type not in raw_types:
        raise ApiError(f"send the {what} as multipart/form-data (field 'file') or as the raw body with "
                       f"Content-Type {', '.join(sorted(raw_types - {'application/octet-stream'}))} "
                       f"(got {request.content_type or 'none'})", status=415)
    out = bytearray()
    while chunk := await request.content.read(64 * 1024):
        out += chunk
        if len(out) > limit:
            raise too_large(limit)
    return Upload(bytes(out), request.query.get("filename", ""), {})


# --- telling the type and reading the text ---------------------------------------------------

def read_resume(data: bytes) -> Resume:
    """The kind and text of a resume file; Invalid (422) with the reason when it cannot be read."""
    if not data:
        raise Invalid(f"the file is empty: {ACCEPTED}")
    if b"%PDF-" in data[:1024]:
        text = _pdf_text(data)
        kind = "pdf"
    elif data.startswith(b"PK\x03\x04"):
        text = _docx_text(data)
        kind = "docx"
    elif data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise Invalid("this is an old Word (.doc) file or a password-protected Office file: save it as "
                      "DOCX without a password, or as PDF")
    else:
        text = _plain_text(data)
        kind = "text"
    text = text.replace("\x00", "").strip()
    if not text:
        raise Invalid(f"no text could be read from the {kind.upper() if kind != 'text' else 'text'} file "
                      "(a scanned image?): upload a file with a text layer, or paste the text")
    return Resume(kind, text[:MAX_TEXT_CHARS])


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Invalid("the PDF is password-protected: upload it without the password")
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except ApiError:
        raise
    except PdfReadError as exc:
        if "password" in str(exc).lower() or "decrypt" in str(exc).lower():
            raise Invalid("the PDF is password-protected: upload it without the password") from None
        raise Invalid(f"the PDF cannot be read (damaged or incomplete?): {exc}") from None
    except Exception as exc:  # pypdf on hostile input raises many kinds; none may become a 500
        logger.info("a resume PDF could not be parsed: %s: %s", type(exc).__name__, exc)
        raise Invalid("the PDF cannot be read (damaged or incomplete?)") from None


def _docx_text(data: bytes) -> str:
    from docx import Document

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            if "word/document.xml" not in names:
                raise Invalid(f"the file is a ZIP archive but not a Word document: {ACCEPTED}")
            if sum(i.file_size for i in z.infolist()) > MAX_DOCX_UNPACKED:
                raise Invalid("the DOCX unpacks to more than 64 MB: refused")
        document = Document(io.BytesIO(data))
        lines = [p.text for p in document.paragraphs]
        for table in document.tables:
            for row in table.rows:
                lines.append("\t".join(cell.text for cell in row.cells))
        return "\n".join(lines)
    except ApiError:
        raise
    except Exception as exc:  # zipfile / lxml / python-docx errors on a damaged file
        logger.info("a resume DOCX could not be parsed: %s: %s", type(exc).__name__, exc)
        raise Invalid("the DOCX cannot be read (damaged or incomplete?)") from None


def _plain_text(data: bytes) -> str:
    if data.startswith((b"\xff\xd8\xff", b"\x89PNG", b"GIF8")):
        raise Invalid(f"the file is an image, not a resume: {ACCEPTED}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise Invalid(f"the file is not a PDF, a DOCX or UTF-8 text: {ACCEPTED}") from None
    controls = sum(1 for c in text if c < " " and c not in "\t\n\r\f")
    if controls > max(8, len(text) // 100):
        raise Invalid(f"the file looks binary, not text: {ACCEPTED}")
    return text


# --- storage ---------------------------------------------------------------------------------

def _dir(data_dir: Path, candidate_id: int) -> Path:
    return Path(data_dir) / RESUMES_DIR / str(candidate_id)


def _identity(candidate_id: int, name: str) -> str:
    return f"{RESUMES_DIR}/{candidate_id}/{name}"


def store_resume(data_dir: Path, candidate_id: int, filename: str, kind: str, data: bytes) -> None:
    """The original with its name, sealed in one file (so the two always match; replaced
    atomically by a new upload): a 4-byte length, the JSON description, the file's bytes."""
    d = _dir(data_dir, candidate_id)
    d.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"filename": filename, "kind": kind}).encode()
    seal_file(d / STORED_NAME, struct.pack(">I", len(meta)) + meta + data,
              _identity(candidate_id, STORED_NAME), keyring_for(Path(data_dir)))


def load_resume(data_dir: Path, candidate_id: int) -> StoredResume | None:
    path = _dir(data_dir, candidate_id) / STORED_NAME
    if not path.is_file():
        return None
    try:
        blob = open_file(path, _identity(candidate_id, STORED_NAME), keyring_for(Path(data_dir)))
    except SealError as exc:
        logger.error("the resume file of candidate %s cannot be opened: %s", candidate_id, exc)
        raise ApiError("the stored resume file cannot be opened (a missing key or a damaged file; "
                       "see the server log)", status=500) from None
    (size,) = struct.unpack(">I", blob[:4])
    meta = json.loads(blob[4:4 + size])
    return StoredResume(str(meta["filename"]), str(meta["kind"]), blob[4 + size:])


def remove_resume(data_dir: Path, candidate_id: int) -> None:
    shutil.rmtree(_dir(data_dir, candidate_id), ignore_errors=True)


def clean_filename(name: str, kind: str) -> str:
    """The client's file name without any path, control characters or excess length; a
    default when nothing is left."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c >= " " and c != "\x7f").strip()[:120]
    ext = {"pdf": ".pdf", "docx": ".docx", "text": ".txt"}[kind]
    return name or f"resume{ext}"


def content_disposition(filename: str) -> str:
    ascii_name = "".join(c if c.isascii() and c.isalnum() or c in "._-" else "_" for c in filename) or "resume"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
