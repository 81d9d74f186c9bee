"""Several Candor processes on one machine, for a trial: Redis, N workers and nginx in front.

    ./candor cluster 3                # or: .venv/bin/python deploy/cluster.py 3
    CANDOR_DATABASE_URL=postgresql+psycopg://... ./candor cluster 4 --port 8080

Everything runs in the foreground under one directory (default .cluster/: logs, Redis's and
nginx's files); Ctrl-C stops it all. nginx uses deploy/nginx.conf with the workers' ports put
in. The workers share CANDOR_DATA_DIR and the database: PostgreSQL (CANDOR_DATABASE_URL) is
the one to use with several processes. tests/test_cluster.py starts its Redis and nginx with
the functions here. Production: docs/OPERATIONS.md "Several processes"."""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

logger = logging.getLogger("candor.cluster")

REPO_ROOT = Path(__file__).resolve().parents[1]
NGINX_TEMPLATE = REPO_ROOT / "deploy" / "nginx.conf"


def wait_port(port: int, timeout_s: float, process: subprocess.Popen[bytes] | None = None,
              host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]!r} exited with code {process.returncode}")  # type: ignore[index]
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout_s:.0f} s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
    """Stop a process started here (its own process group) and wait for it."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout_s)


def _spawn(argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=REPO_ROOT, env=env, start_new_session=True)


@contextlib.contextmanager
def running_redis(workdir: Path, port: int) -> Iterator[str]:
    """redis-server on 127.0.0.1:port, nothing kept on disk; yields its URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    process = _spawn(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                      "--appendonly", "no", "--dir", str(workdir), "--protected-mode", "yes"],
                     workdir / "redis.log")
    try:
        wait_port(port, 20, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


ROUTES_BEGIN = "# -- per-process routes (deploy/cluster.py writes this part from its worker list) --\n"
ROUTES_END = "# -- end of per-process routes --\n"


def route_name(n: int) -> str:
    """The n-th worker's (0-based) CANDOR_ROUTE, as nginx's per-process routes name it."""
    return f"w{n + 1}"


def _routes(worker_ports: Sequence[int]) -> str:
    """nginx's `via` map and one upstream per worker, the others its backups."""
    names = [route_name(n) for n in range(len(worker_ports))]
    lines = ["map $arg_via $candor_route {", "    default candor_interviews;"]
    lines += [f"    {name:<7} candor_{name};" for name in names]
    lines.append("}")
    for name, port in zip(names, worker_ports, strict=True):
        lines.append(f"upstream candor_{name} {{")
        lines.append(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;")
        lines += [f"    server 127.0.0.1:{other} backup;" for other in worker_ports if other != port]
        lines.append("}")
    return "\n".join(lines) + "\n"


def self_signed_certificate(workdir: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway certificate and key for `host` (an IP address), made with openssl: for a
    trial or a test of TLS termination, never for production."""
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=IP:{host}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    key.chmod(0o600)
    return cert, key


def nginx_config(workdir: Path, listen_port: int, worker_ports: Sequence[int],
                 template: Path = NGINX_TEMPLATE, tls: tuple[Path, Path] | None = None) -> Path:
    """A complete nginx.conf that runs unprivileged from `workdir` and includes the template
    with its two pooled upstreams' servers replaced by `worker_ports`, its per-process routes
    written for them (worker n is `route_name(n)`) and its listen by `listen_port`. With `tls`
    (certificate, key), the template's TLS lines are used: HTTPS on `listen_port`."""
    workdir.mkdir(parents=True, exist_ok=True)
    text = template.read_text()
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n" for p in worker_ports)
    text, n = re.subn(r"(?m)^(upstream candor_(?:interviews|any) \{\n(?:    (?!server ).*\n)*)(?:    server .*\n)+",
                      r"\1" + servers, text)
    if n != 2:
        raise ValueError(f"{template}: expected the upstreams candor_interviews and candor_any, found {n}")
    begin, end = text.find(ROUTES_BEGIN), text.find(ROUTES_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{template}: the per-process routes' marker lines are missing")
    text = text[:begin + len(ROUTES_BEGIN)] + _routes(worker_ports) + text[end:]
    text, n = re.subn(r"(?m)^    listen 80;$", f"    listen 127.0.0.1:{listen_port};", text)
    if n != 1:
        raise ValueError(f"{template}: expected one `listen 80;` line")
    if tls is not None:
        cert, key = tls
        for pattern, line in ((r"    listen 127\.0\.0\.1:\d+;\n", ""),
                              (r"    # listen 443 ssl;", f"    listen 127.0.0.1:{listen_port} ssl;"),
                              (r"    # ssl_certificate .*", f"    ssl_certificate     {cert};"),
                              (r"    # ssl_certificate_key .*", f"    ssl_certificate_key {key};")):
            text, n = re.subn(f"(?m)^{pattern}", line, text)
            if n != 1:
                raise ValueError(f"{template}: expected the TLS lines as shipped ({pattern!r})")
    (workdir / "candor.conf").write_text(text)
    temp = "\n".join(f"    {kind}_temp_path {workdir / kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root root;\n" if os.geteuid() == 0 else ""
    main = (f"{user}daemon off;\nworker_processes 1;\npid {workdir / 'nginx.pid'};\n"
            f"error_log {workdir / 'nginx-error.log'} notice;\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n    access_log {workdir / 'nginx-access.log'};\n{temp}\n"
            f"    include {workdir / 'candor.conf'};\n}}\n")
    conf = workdir / "nginx.conf"
    conf.write_text(main)
    return conf


@contextlib.contextmanager
def running_nginx(workdir: Path, listen_port: int, worker_ports: Sequence[int], tls: bool = False) -> Iterator[str]:
    """nginx on 127.0.0.1:listen_port in front of the workers (HTTPS with a self-signed
    certificate when `tls`); yields its base URL."""
    conf = nginx_config(workdir, listen_port, worker_ports,
                        tls=self_signed_certificate(workdir / "tls") if tls else None)
    check = subprocess.run(["nginx", "-t", "-q", "-c", str(conf), "-p", str(workdir)], capture_output=True,
                           text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx refused {conf}: {check.stderr}")
    process = _spawn(["nginx", "-c", str(conf), "-p", str(workdir)], workdir / "nginx.log")
    try:
        wait_port(listen_port, 20, process)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{listen_port}"
    finally:
        stop(process, signal.SIGQUIT)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="candor cluster", description=__doc__.split("\n")[0])
    parser.add_argument("workers", type=int, nargs="?", default=os.cpu_count() or 2,
                        help="server processes (default: one per core)")
    parser.add_argument("--port", type=int, default=8080, help="nginx listens here (127.0.0.1)")
    parser.add_argument("--first-worker-port", type=int, default=8001)
    parser.add_argument("--redis-port", type=int, default=None, help="default: a free port")
    parser.add_argument("--dir", type=Path, default=REPO_ROOT / ".cluster", help="logs and run files")
    parser.add_argument("--tls", action="store_true",
                        help="HTTPS at nginx with a self-signed certificate (a trial of TLS termination)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.workers < 1:
        parser.error("at least one worker")
    if not os.environ.get("CANDOR_DATABASE_URL"):
        logger.warning("CANDOR_DATABASE_URL is not set: the workers share one SQLite file, fine for a look, "
                       "not for load (use PostgreSQL)")
    workdir = args.dir.resolve()
    ports = [args.first_worker_port + i for i in range(args.workers)]
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(running_redis(workdir / "redis", args.redis_port or _free_port()))
        env = {**os.environ, "CANDOR_REDIS_URL": redis_url, "CANDOR_TRUSTED_PROXIES": "127.0.0.1",
               "CANDOR_PUBLIC_URL": os.environ.get("CANDOR_PUBLIC_URL",
                                                   f"{'https' if args.tls else 'http'}://127.0.0.1:{args.port}")}
        workers = []
        for n, port in enumerate(ports):
            process = _spawn([sys.executable, str(REPO_ROOT / "run.py"), "serve", "--host", "127.0.0.1",
                              "--port", str(port)], workdir / f"worker-{port}.log",
                             {**env, "CANDOR_ROUTE": route_name(n)})
            stack.callback(stop, process)
            workers.append(process)
            wait_port(port, 120, process)  # the first one creates the database (and the first admin)
            logger.info("worker %d: http://127.0.0.1:%d (log %s)", n + 1, port, workdir / f"worker-{port}.log")
        base = stack.enter_context(running_nginx(workdir / "nginx", args.port, ports, tls=args.tls))
        logger.info("cluster up: %s (nginx) -> %d worker(s), Redis %s; Ctrl-C stops it", base, len(ports), redis_url)
        logger.info("on a fresh database the first worker's log shows the first admin's login")
        try:
            while not stopping:
                dead = [p for p in workers if p.poll() is not None]
                if dead:
                    logger.error("a worker exited (code %s); see its log; stopping", dead[0].returncode)
                    return 1
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        logger.info("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
