"""A real, throwaway PostgreSQL server for the tests.

`running_postgres()` runs initdb into a fresh temporary directory, starts the server on
127.0.0.1 at a free port (and a unix socket in that directory) with trust authentication and
durability switched off, creates the database ``candor`` and yields its SQLAlchemy URL
(``postgresql+psycopg://postgres@127.0.0.1:PORT/candor``). On the way out it stops the server
(``pg_ctl stop -m immediate``) and removes the directory.

The binaries come from Debian's packages (``/usr/lib/postgresql/*/bin``; ``./candor test``
installs them), or from ``$CANDOR_TEST_PG_BIN``, or from ``PATH``. initdb refuses to run as
root, so as root the server runs as the ``postgres`` system user that Debian's package
creates. Nothing is skipped: a missing PostgreSQL is an error that says how to install it.

Fixtures (conftest imports them): ``postgres_url`` (session-scoped: one server and one
database for the whole session) and ``postgres_db_url`` (a fresh, empty database on that server
for each test, dropped afterwards).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

logger = logging.getLogger(__name__)

DATABASE = "candor"
SUPERUSER = "postgres"
START_TIMEOUT_S = 60

# Durability is worthless for a server that lives for one test session.
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
    "log_min_duration_statement": "-1",
}

INSTALL_HINT = (
    "PostgreSQL's server binaries (initdb, pg_ctl) were not found in "
    "$CANDOR_TEST_PG_BIN, /usr/lib/postgresql/*/bin or PATH. "
    "Install them with `apt-get install postgresql`, or run the tests with `./candor test`, "
    "which installs them."
)


class PostgresError(RuntimeError):
    """The throwaway PostgreSQL server could not be set up."""


def find_bin_dir() -> Path:
    """The directory with initdb and pg_ctl, newest major version first."""
    override = os.environ.get("CANDOR_TEST_PG_BIN")
    candidates: list[Path] = []
    if override:
        candidates.append(Path(override))

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    raise PostgresError(INSTALL_HINT)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Runner:
    """Runs the PostgreSQL binaries, as the ``postgres`` user when we are root."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.as_root = os.geteuid() == 0
        self.user: pwd.struct_passwd | None = None
        if self.as_root:
            try:
                self.user = pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise PostgresError(
                    "running as root, and initdb refuses to run as root, but there is no "
                    f"'{SUPERUSER}' system user to run it as (Debian's postgresql package "
                    "creates one: `apt-get install postgresql`)"
                ) from None

    def own(self, path: Path) -> None:
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def run(self, tool: str, *args: str, timeout: float = START_TIMEOUT_S) -> str:
        argv = [str(self.bin_dir / tool), *args]
        env = {
            "PATH": f"{self.bin_dir}:/usr/bin:/bin",
            "LANG": "C",
            "LC_ALL": "C",
            "TZ": "UTC",
            "HOME": self.user.pw_dir if self.user else os.environ.get("HOME", "/"),
        }
        kwargs: dict[str, object] = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        result = subprocess.run(  # noqa: PLW1510 - the return code is checked below
            argv,
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            **kwargs,  # type: ignore[arg-type]
        )
        if result.returncode != 0:
            raise PostgresError(
                f"{' '.join(argv)} failed with exit code {result.returncode}:\n{result.stdout}"
            )
        return result.stdout


@contextlib.contextmanager
def running_postgres(tmp_path: Path | None = None) -> Iterator[str]:
    """Start a throwaway PostgreSQL server; yield the SQLAlchemy URL of an empty database.

    ``tmp_path`` is where the cluster goes when we are not root. As root the cluster goes in
    a new directory of the system's temporary directory instead, owned by ``postgres``:
    pytest's own temporary directories are private to root, so that user could not enter them.
    """
    runner = _Runner(find_bin_dir())
    if runner.as_root or tmp_path is None:
        base = Path(tempfile.mkdtemp(prefix="candor-pg-"))
    else:
        base = Path(tempfile.mkdtemp(prefix="pg-", dir=tmp_path))
    runner.own(base)
    data = base / "data"
    log_file = base / "server.log"
    started = False
    try:
        runner.run(
            "initdb",
            "--pgdata", str(data),
            "--username", SUPERUSER,
            "--auth", "trust",
            "--encoding", "UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        )
        for attempt in range(3):
            port = free_port()
            settings = {
                **SERVER_SETTINGS,
                "listen_addresses": "'127.0.0.1'",
                "port": str(port),
                "unix_socket_directories": f"'{base}'",
            }
            options = " ".join(f"-c {name}={value}" for name, value in settings.items())
            try:
                runner.run(
                    "pg_ctl", "start", "--wait", f"--timeout={START_TIMEOUT_S}",
                    "--pgdata", str(data), "--log", str(log_file), "--options", options,
                    timeout=START_TIMEOUT_S + 10,
                )
            except PostgresError as exc:
                log = log_file.read_text(errors="replace") if log_file.exists() else ""
                # Someone else took the port between free_port() and the server's bind.
                if "could not bind" in log and attempt < 2:
                    continue
                raise PostgresError(f"{exc}\nserver log ({log_file}):\n{log}") from None
            started = True
            break
        _create_database(port)
        url = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
        logger.info("PostgreSQL from %s running at %s", runner.bin_dir, url)
        yield url
    finally:
        if started:
            try:
                runner.run("pg_ctl", "stop", "--mode", "immediate", "--wait", "--pgdata", str(data))
            except (PostgresError, subprocess.TimeoutExpired) as exc:
                logger.warning("could not stop PostgreSQL in %s: %s", data, exc)
        shutil.rmtree(base, ignore_errors=True)


def _admin_execute(port: int, statement: str) -> None:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - set-up installs it
        raise PostgresError("psycopg is not installed: run `./candor test`") from exc
    with psycopg.connect(
        host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", autocommit=True,
        connect_timeout=10,
    ) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def _create_database(port: int, name: str = DATABASE) -> None:
    _admin_execute(port, f'CREATE DATABASE "{name}"')


_database_counter = itertools.count(1)


@contextlib.contextmanager
def new_database(server_url: str) -> Iterator[str]:
    """Create a new empty database on the server of ``server_url``; yield its URL; drop it."""
    prefix, _, _ = server_url.rpartition("/")
    port = int(prefix.rpartition(":")[2])
    name = f"{DATABASE}_{os.getpid()}_{next(_database_counter)}"
    _create_database(port, name)
    try:
        yield f"{prefix}/{name}"
    finally:
        _admin_execute(port, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLAlchemy URL of an empty database on a PostgreSQL server for the whole session."""
    with running_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture
def postgres_db_url(postgres_url: str) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database for one test (on the session's server)."""
    with new_database(postgres_url) as url:
        yield url
