"""The real Candor server in a subprocess, for end-to-end tests.

``running_server(tmp_path)`` starts ``python run.py serve --host 127.0.0.1 --port <free>``
from the repository root with a fresh ``CANDOR_DATA_DIR`` under ``tmp_path``, waits until
``GET /api/health`` answers 200, and yields the base URL (``http://127.0.0.1:PORT``). The
process is stopped at the end (SIGTERM, then SIGKILL). Its output goes to a log file; the log
is printed when the server does not come up, and when the body of the ``with`` raises, so a
failing test shows what the server said.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_CHARS = 20_000
PORT_ATTEMPTS = 3

# Defaults that keep a test server on loopback and away from the outside world; the
# caller's env= overrides them.
TEST_ENV = {
    "CANDOR_ICE_SERVERS": "[]",
    "CANDOR_ICE_HOST_ADDRESSES": "127.0.0.1",
    "PYTHONUNBUFFERED": "1",
}

# No proxy for 127.0.0.1, whatever the environment says.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerError(RuntimeError):
    """The server did not start."""


class RunningServer(str):
    """The base URL (a ``str``), with the process and its log file attached."""

    process: subprocess.Popen[bytes]
    log_path: Path
    data_dir: Path

    def __new__(
        cls, url: str, process: subprocess.Popen[bytes], log_path: Path, data_dir: Path
    ) -> RunningServer:
        self = super().__new__(cls, url)
        self.process = process
        self.log_path = log_path
        self.data_dir = data_dir
        return self

    @property
    def url(self) -> str:
        return str(self)

    def log(self) -> str:
        return read_log(self.log_path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_log(path: Path, limit: int = LOG_TAIL_CHARS) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return text if len(text) <= limit else "...\n" + text[-limit:]


def _healthy(base_url: str) -> bool:
    try:
        with _opener.open(f"{base_url}/api/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # The server runs in its own process group, so helpers it started go too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        logger.warning("server %d ignored SIGTERM for %.0f s; killing it", process.pid, STOP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT_S)


@contextlib.contextmanager
def running_server(
    tmp_path: Path,
    env: Mapping[str, str] | None = None,
    *,
    args: Sequence[str] = (),
    command: Sequence[str] | None = None,
    timeout: float = START_TIMEOUT_S,
    port: int | None = None,
    data_dir: Path | None = None,
) -> Iterator[RunningServer]:
    """Run the server until the ``with`` ends; yield its base URL.

    ``env`` adds to (and overrides) the environment, e.g. ``CANDOR_DATABASE_URL``; ``args``
    go after ``serve --host 127.0.0.1 --port N``. ``command`` replaces
    ``[python, run.py, serve]`` (the helper's own tests use it). ``port`` (default: a free one)
    and ``data_dir`` (default: ``tmp_path / "server-data"``) let a test start a second server
    where a first one was, e.g. after killing it; a second log on the same port gets its own
    file (``server-PORT.2.log``, ...).
    """
    explicit_port = port is not None
    data_dir = tmp_path / "server-data" if data_dir is None else data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **TEST_ENV, "CANDOR_DATA_DIR": str(data_dir), **(env or {})}
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port() if not explicit_port else port
        assert port is not None
        base_url = f"http://127.0.0.1:{port}"
        log_path = tmp_path / f"server-{port}.log"
        n = 1
        while log_path.exists():
            n += 1
            log_path = tmp_path / f"server-{port}.{n}.log"
        argv = [
            *(command or [sys.executable, str(REPO_ROOT / "run.py"), "serve"]),
            "--host", "127.0.0.1",
            "--port", str(port),
            *args,
        ]
        process = _spawn(argv, full_env, log_path)
        try:
            _wait_healthy(process, argv, base_url, log_path, timeout)
            break
        except BaseException as exc:
            _stop(process)
            # Between free_port() and the server's bind, anything on the machine may take the
            # port (a client's connect() picks from the same range): pick another.
            if not (isinstance(exc, ServerError) and not explicit_port and attempt < PORT_ATTEMPTS
                    and _port_taken(log_path)):
                raise
            logger.warning("port %d was taken before the server bound it; trying another", port)
    try:
        logger.info("server %d healthy at %s", process.pid, base_url)
        try:
            yield RunningServer(base_url, process, log_path, data_dir)
        except BaseException:
            # pytest shows captured output of a failing test: put the server's there.
            print(f"--- server log ({log_path}) ---\n{read_log(log_path)}", file=sys.stderr)
            raise
    finally:
        _stop(process)


def _spawn(argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_healthy(
    process: subprocess.Popen[bytes], argv: Sequence[str], base_url: str, log_path: Path,
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    # Healthy counts only while our process runs: another server on a taken port would answer.
    while not (_healthy(base_url) and process.poll() is None):
        if process.poll() is not None:
            raise ServerError(
                f"server exited with code {process.returncode} before it was healthy\n"
                f"command: {' '.join(argv)}\n--- server log ({log_path}) ---\n"
                f"{read_log(log_path)}"
            )
        if time.monotonic() > deadline:
            raise ServerError(
                f"server not healthy at {base_url}/api/health after {timeout:.0f} s\n"
                f"command: {' '.join(argv)}\n--- server log ({log_path}) ---\n"
                f"{read_log(log_path)}"
            )
        time.sleep(0.1)


def _port_taken(log_path: Path) -> bool:
    return "address already in use" in read_log(log_path).lower()


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh server (SQLite in its own data directory) for one test; its base URL."""
    with running_server(tmp_path) as url:
        yield url
