"""Recordings encrypted at rest: AES-256-GCM (`cryptography`) in a chunked format that can be
appended to while an interview streams, read at random offsets, and rotated to a new key.

A sealed file is a header, then frames:

- header: ``MAGIC`` (8 bytes), version (1), key id length (1), key id (ASCII), file id (16
  random bytes);
- frame ``i``: ciphertext length (4, big-endian), nonce (12 random bytes), ciphertext + tag.
  Its associated data is the header, the file's identity (e.g. ``recordings/5/audio-0.pcm``)
  and ``i``: a frame moved to another file, another place in this file, or under another
  header fails authentication.

Readers use the complete frames only: a torn last frame (a killed process) is ignored, like the
partial tail of a plain file. A complete frame that fails authentication is `Tampered`; a key id
the keyring does not hold is `KeyMissing` (both ValueErrors with the reason in words). A file
without the magic is plaintext from an earlier version and reads as it is (`keys reencrypt`
seals it). Appending cannot be told from truncation at a frame boundary: cutting whole frames
off the end is not detected (a stream's end is wherever the process stopped).

Keys: a keyring of ``id:base64(32 bytes)`` entries, the first the current one (new files), the
others kept to read older files. From CANDOR_RECORDING_KEYS (comma-separated) when set, else
from ``<data_dir>/recording.keys`` (one entry a line, made on first use, mode 0600). `rotate`
puts a new current key first; `Keyring.current_id` then seals new files, and reencryption
(server/recording.py `reencrypt_recordings`) moves old files onto it.

`seal_file` / `open_file`: a whole file sealed at once (written atomically), for small files
such as uploads.
"""
from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

logger = logging.getLogger(__name__)

MAGIC = b"\x89CNDRv\r\n"  # the 0x89 and CR LF keep it from ever starting a text or PCM file by chance
VERSION = 1
FILE_ID_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
FRAME_HEAD = 4 + NONCE_BYTES  # length + nonce
RECORD_OVERHEAD = FRAME_HEAD + TAG_BYTES  # bytes a frame adds to its plaintext
MAX_FRAME = 64 * 1024 * 1024  # a larger length field is corruption, not a frame
WHOLE_FILE_FRAME = 256 * 1024  # seal_file's frame size: random access costs at most this much
KEY_FILE = "recording.keys"
SETTING = "CANDOR_RECORDING_KEYS"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class SealError(ValueError):
    """A sealed file cannot be opened; the message says why in words."""


class KeyMissing(SealError):
    """The file was sealed under a key id the keyring does not hold."""


class Tampered(SealError):
    """A frame or header failed authentication: changed, reordered or moved from another file."""


class BadKeys(ValueError):
    """The keyring's text (setting or key file) is malformed."""


# --- keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keyring:
    """Keys by id, the first one current. `source` names where they came from, for errors."""

    keys: tuple[tuple[str, bytes], ...]
    source: str
    _aeads: dict[str, AESGCM] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise BadKeys(f"{self.source}: no keys")
        ids = [k for k, _ in self.keys]
        if len(set(ids)) != len(ids):
            raise BadKeys(f"{self.source}: a key id appears twice")
        for kid, key in self.keys:
            self._aeads[kid] = AESGCM(key)

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    @property
    def ids(self) -> list[str]:
        return [k for k, _ in self.keys]

    def aead(self, key_id: str) -> AESGCM:
        try:
            return self._aeads[key_id]
        except KeyError:
            raise KeyMissing(f"sealed under recording key {key_id!r}, which is not in {self.source} "
                             f"(it holds {', '.join(self.ids)}): was a retired key removed too early?") from None

    def text(self) -> str:
        """The keyring as CANDOR_RECORDING_KEYS would hold it."""
        return ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in self.keys)


def parse_keys(text: str, source: str) -> Keyring:
    """``id:base64key`` entries separated by commas or new lines (``#`` starts a comment)."""
    keys = []
    entries = [e for line in text.splitlines() for e in line.split("#", 1)[0].split(",")]
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        kid, sep, b64 = entry.partition(":")
        kid = kid.strip()
        if not sep or not _KEY_ID.match(kid):
            raise BadKeys(f"{source}: each entry is id:base64key (id: letters, digits, _.-), not {kid[:20]!r}...")
        try:
            key = base64.b64decode(b64.strip().replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise BadKeys(f"{source}: the key of {kid!r} is not base64") from None
        if len(key) != 32:
            raise BadKeys(f"{source}: the key of {kid!r} has {len(key)} bytes; AES-256 needs 32")
        keys.append((kid, key))
    return Keyring(tuple(keys), source)


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _next_id(ids: list[str]) -> str:
    numbers = [int(m.group(1)) for i in ids if (m := re.fullmatch(r"k(\d+)", i))]
    n = max(numbers, default=0) + 1
    while f"k{n}" in ids:
        n += 1
    return f"k{n}"


_lock = threading.Lock()
_configured: dict[Path, str] = {}  # data dir -> CANDOR_RECORDING_KEYS, for servers that set it
_cache: dict[tuple[object, ...], Keyring] = {}


def configure(data_dir: Path, setting: str | None) -> Keyring:
    """Which keys recordings under `data_dir` use (the setting, or the key file when None);
    made and checked now, so a bad setting stops the server at start rather than mid-interview."""
    d = Path(data_dir).resolve()
    with _lock:
        if setting is None:
            _configured.pop(d, None)
        else:
            _configured[d] = setting
    return keyring_for(d)


def keyring_for(data_dir: Path) -> Keyring:
    """The keyring for recordings under `data_dir`; a key file changed by `rotate` (another
    process) is read again."""
    d = Path(data_dir).resolve()
    setting = _configured.get(d)
    if setting is not None:
        key: tuple[object, ...] = ("setting", setting)
        ring = _cache.get(key)
        if ring is None:
            ring = _cache[key] = parse_keys(setting, SETTING)
        return ring
    path = d / KEY_FILE
    try:
        st = path.stat()
    except FileNotFoundError:
        _make_key_file(path)
        st = path.stat()
    key = ("file", str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    ring = _cache.get(key)
    if ring is None:
        ring = parse_keys(path.read_text(), str(path))
        with _lock:
            for k in [k for k in _cache if k[:2] == ("file", str(path))]:
                del _cache[k]
            _cache[key] = ring
    return ring


def _make_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once agree on the first key written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(f"k1:{base64.b64encode(new_key()).decode()}\n")
    logger.warning("made a new recording key in %s: back it up (recordings cannot be read without it)", path)


def rotate(data_dir: Path) -> tuple[Keyring, bool]:
    """A keyring with a new current key first and every old key kept for reading. With the key
    file, it is written (atomically, 0600) and returned with True; with CANDOR_RECORDING_KEYS
    set, nothing is written (False): the operator sets the variable to `Keyring.text()`."""
    d = Path(data_dir).resolve()
    old = keyring_for(d)
    ring = Keyring(((_next_id(old.ids), new_key()), *old.keys), old.source)
    if d in _configured:
        return ring, False
    _write_key_file(d / KEY_FILE, ring)
    return keyring_for(d), True


def retire(data_dir: Path, key_id: str) -> tuple[Keyring, bool]:
    """The keyring without `key_id` (never the current key); written to the key file (True) or,
    with CANDOR_RECORDING_KEYS set, returned for the operator to set (False). The caller
    checks first that no file is sealed under it (server/recording.py `key_usage`)."""
    d = Path(data_dir).resolve()
    old = keyring_for(d)
    if key_id == old.current_id:
        raise BadKeys(f"{key_id} is the current recording key: rotate first")
    if key_id not in old.ids:
        raise BadKeys(f"{key_id} is not in {old.source} (it holds {', '.join(old.ids)})")
    ring = Keyring(tuple((k, v) for k, v in old.keys if k != key_id), old.source)
    if d in _configured:
        return ring, False
    _write_key_file(d / KEY_FILE, ring)
    return keyring_for(d), True


def _write_key_file(path: Path, ring: Keyring) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# recording keys, newest (current) first; keep old ones until `keys reencrypt` has run\n")
        f.write("\n".join(f"{kid}:{base64.b64encode(k).decode()}" for kid, k in ring.keys) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- the format -----------------------------------------------------------------------------


def _header(key_id: str) -> bytes:
    kid = key_id.encode("ascii")
    return MAGIC + bytes([VERSION, len(kid)]) + kid + os.urandom(FILE_ID_BYTES)


def _aad(header: bytes, identity: str, index: int) -> bytes:
    return header + identity.encode() + b"\0" + struct.pack(">Q", index)


def seal_frame(aead: AESGCM, header: bytes, identity: str, index: int, plain: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    ct = aead.encrypt(nonce, plain, _aad(header, identity, index))
    return struct.pack(">I", len(ct)) + nonce + ct


TORN = (b"", "")  # a header cut short by a kill: a sealed file with no frames yet


def _read_header(f: BinaryIO, path: Path) -> tuple[bytes, str] | None:
    """(header bytes, key id) of a sealed file, None for plaintext (no magic), TORN."""
    f.seek(0)
    start = f.read(len(MAGIC) + 2)
    if start and len(start) < len(MAGIC) + 2 and (MAGIC + bytes([VERSION])).startswith(start):
        return TORN
    if len(start) < len(MAGIC) or start[:len(MAGIC)] != MAGIC:
        return None
    if start[len(MAGIC)] != VERSION:
        raise SealError(f"{path.name}: sealed in format version {start[len(MAGIC)]}, this server reads {VERSION}")
    rest = f.read(start[-1] + FILE_ID_BYTES)
    if len(rest) < start[-1] + FILE_ID_BYTES:
        return TORN
    try:
        key_id = rest[:start[-1]].decode("ascii")
    except UnicodeDecodeError:
        raise Tampered(f"{path.name}: its sealed header is damaged") from None
    return start + rest, key_id


def is_sealed(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC


def key_id_of(path: Path) -> str | None:
    """The key id a file is sealed under, None for plaintext."""
    with open(path, "rb") as f:
        head = _read_header(f, path)
    return head[1] if head and head is not TORN else None


@dataclass(frozen=True, slots=True)
class Frame:
    index: int
    offset: int  # of its record, from the end of the header
    size: int  # of its record (RECORD_OVERHEAD more than its plaintext)
    plain_start: int

    @property
    def plain_size(self) -> int:
        return self.size - RECORD_OVERHEAD


_tables: dict[tuple[object, ...], tuple[bytes | None, str | None, tuple[Frame, ...]]] = {}


def _table(path: Path) -> tuple[bytes | None, str | None, tuple[Frame, ...], int]:
    """(header, key id, complete frames, file size) of `path`; plaintext: (None, None, one
    frame of the whole file). Cached by the file's inode, size and mtime (files only grow or
    are replaced)."""
    with open(path, "rb", buffering=0) as f:
        st = os.fstat(f.fileno())
        key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
        cached = _tables.get(key)
        if cached is not None:
            return (*cached, st.st_size)
        head = _read_header(f, path)
        frames: list[Frame] = []
        if head is None:
            frames.append(Frame(0, 0, st.st_size + RECORD_OVERHEAD, 0))
            header, key_id = None, None
        elif head is TORN:
            header, key_id = MAGIC, None
        else:
            header, key_id = head
            pos, plain = len(header), 0
            while pos + FRAME_HEAD <= st.st_size:
                f.seek(pos)
                (n,) = struct.unpack(">I", f.read(4))
                if n < TAG_BYTES or n > MAX_FRAME:
                    raise Tampered(f"{path.name}: frame {len(frames)} has an impossible length")
                size = FRAME_HEAD + n
                if pos + size > st.st_size:
                    break  # a torn last frame: the process was killed while writing it
                frames.append(Frame(len(frames), pos - len(header), size, plain))
                plain += n - TAG_BYTES
                pos += size
    if len(_tables) > 512:
        _tables.clear()
    _tables[key] = (header, key_id, tuple(frames))
    return header, key_id, tuple(frames), st.st_size


class SealedReader:
    """Reads a sealed (or plaintext) file's complete frames: all, by index, or a plaintext
    byte range. Opening costs one pass over the frame lengths (cached)."""

    def __init__(self, path: Path, identity: str, keys: Keyring) -> None:
        self.path = Path(path)
        self.identity = identity
        self.header, self.key_id, self.frames, self.file_size = _table(self.path)
        self.aead = keys.aead(self.key_id) if self.key_id is not None else None

    @property
    def sealed(self) -> bool:
        return self.header is not None

    @property
    def plain_size(self) -> int:
        last = self.frames[-1] if self.frames else None
        return last.plain_start + last.plain_size if last else 0

    def _open(self, f: BinaryIO, frame: Frame) -> bytes:
        if self.header is None:
            f.seek(frame.plain_start)
            return f.read(frame.plain_size)
        return open_record(self.aead, self.header, self.identity, frame.index,  # type: ignore[arg-type]
                           _pread(f, len(self.header) + frame.offset, frame.size), self.path)

    def frame(self, index: int) -> bytes:
        with open(self.path, "rb") as f:
            return self._open(f, self.frames[index])

    def all_frames(self) -> list[bytes]:
        with open(self.path, "rb") as f:
            return [self._open(f, fr) for fr in self.frames]

    def read_all(self) -> bytes:
        return b"".join(self.all_frames())

    def read_range(self, start: int, length: int) -> bytes:
        """Plaintext bytes [start, start + length), fewer at the end of the complete frames."""
        end = min(start + length, self.plain_size)
        if self.header is None:
            with open(self.path, "rb") as f:
                f.seek(start)
                return f.read(max(0, end - start))
        out = []
        with open(self.path, "rb") as f:
            for fr in self.frames:
                if fr.plain_start + fr.plain_size <= start or fr.plain_start >= end:
                    continue
                data = self._open(f, fr)
                out.append(data[max(0, start - fr.plain_start):end - fr.plain_start])
        return b"".join(out)


def _pread(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    return f.read(size)


def open_record(aead: AESGCM, header: bytes, identity: str, index: int, record: bytes, path: Path) -> bytes:
    """The plaintext of frame `index`, given its whole record."""
    if len(record) < RECORD_OVERHEAD:
        raise Tampered(f"{path.name}: frame {index} is cut short")
    nonce, ct = record[4:FRAME_HEAD], record[FRAME_HEAD:]
    if struct.unpack(">I", record[:4])[0] != len(ct):
        raise Tampered(f"{path.name}: frame {index} has the wrong length")
    try:
        return aead.decrypt(nonce, ct, _aad(header, identity, index))
    except InvalidTag:
        raise Tampered(f"{path.name}: frame {index} failed authentication (changed, moved, or from another "
                       "file)") from None


def read_record(path: Path, identity: str, keys: Keyring, index: int, offset: int, size: int) -> bytes:
    """One frame of a sealed file by its place (as an index of a stream keeps it), without
    scanning the file."""
    with open(path, "rb") as f:
        head = _read_header(f, path)
        if head is None or head is TORN:
            raise SealError(f"{path.name} is not sealed but its index says it is")
        header, key_id = head
        record = _pread(f, len(header) + offset, size)
    return open_record(keys.aead(key_id), header, identity, index, record, path)


class SealedWriter:
    """Appends frames to a new sealed file under the keyring's current key. Nothing reaches
    the file between `write_frame` calls; `flush` hands written frames to the kernel."""

    def __init__(self, path: Path, identity: str, keys: Keyring, *, exclusive: bool = False) -> None:
        self.path = Path(path)
        self.identity = identity
        self.key_id = keys.current_id
        self._aead = keys.aead(self.key_id)
        self.header = _header(self.key_id)
        mode = "xb" if exclusive else "ab"
        self._file = open(self.path, mode)
        if self._file.tell() != 0:
            self._file.close()
            raise FileExistsError(f"{self.path} is not empty: sealed streams are never appended to by another writer")
        self._file.write(self.header)
        self.frames = 0
        self.size = 0  # bytes after the header

    def write_frame(self, plain: bytes) -> tuple[int, int, int]:
        """(index, offset after the header, record size) of the new frame."""
        record = seal_frame(self._aead, self.header, self.identity, self.frames, plain)
        self._file.write(record)
        placed = (self.frames, self.size, len(record))
        self.frames += 1
        self.size += len(record)
        return placed

    def flush(self) -> None:
        self._file.flush()

    def sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def seal_bytes_to(path: Path, frames: list[bytes], identity: str, keys: Keyring) -> None:
    """Writes `frames` sealed to `path` atomically (a temporary file, fsynced, then renamed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        w = SealedWriter(tmp, identity, keys, exclusive=True)
        try:
            for plain in frames:
                w.write_frame(plain)
            w.sync()
        finally:
            w.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def seal_file(path: Path, data: bytes, identity: str, keys: Keyring) -> None:
    """`data` sealed into `path` (replaced atomically) in frames of WHOLE_FILE_FRAME bytes.
    `identity` (e.g. ``resumes/12/cv.pdf``) must be given again to open it: a sealed file
    copied over another one's path does not open as that one."""
    seal_bytes_to(Path(path), [data[i:i + WHOLE_FILE_FRAME] for i in range(0, len(data), WHOLE_FILE_FRAME)]
                  or [b""], identity, keys)


def open_file(path: Path, identity: str, keys: Keyring) -> bytes:
    """The plaintext of a file written by `seal_file` (or a plaintext file from before
    encryption, as it is). KeyMissing / Tampered (ValueErrors) when it cannot be opened."""
    return SealedReader(Path(path), identity, keys).read_all()
