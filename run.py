#!/usr/bin/env python3
"""Candor command line: serve, adduser, demo, models, schema, audit, keys, purge. See README.md."""
from __future__ import annotations

import argparse
import getpass
import logging
import secrets
import sys
from pathlib import Path

from server.settings import Settings, SettingsError

logger = logging.getLogger("candor")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    return Settings.from_env(**overrides)


def _store(settings: Settings):  # noqa: ANN202
    from server.store import Store

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Store(settings.db_url)


def _base_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from server import auth
    from server.app import create_app
    from server.demo import seed
    from server.tables import User
    from sqlmodel import select

    settings = _settings(args)
    store = _store(settings)
    first_run = store.run_sync(lambda db: db.exec(select(User)).first() is None)
    if first_run:
        # A fresh data directory: make a first admin and the demo so the newcomer can log in.
        password = secrets.token_urlsafe(12)
        email = "admin@candor.local"
        store.run_sync(lambda db: auth.create_user(db, email, password, "admin"))
        demo = store.run_sync(lambda db: seed(db, settings.default_language, settings.resume_boost, reset_password=False))
        base = _base_url(settings)
        print(
            "\n"
            "  Fresh data directory: created the first admin (password shown only once)\n"
            f"    log in at  {base}/login\n"
            f"    email      {email}\n"
            f"    password   {password}\n"
            f"  Demo job '{demo.job_title}', template and candidate seeded; the candidate's link:\n"
            f"    {base}/i/{demo.token}\n",
            flush=True,
        )
    app = create_app(settings, store=store)
    logger.info("serving on http://%s:%d (data: %s)", settings.host, settings.port, settings.data_dir)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass("Password (at least 12 characters): ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("passwords differ")
    return first


def cmd_adduser(args: argparse.Namespace) -> int:
    from server import audit, auth
    from server.errors import ApiError
    from server.schemas import EMAIL_RE

    email = args.email.strip().lower()
    if not EMAIL_RE.match(email):
        print(f"error: {args.email!r} is not a valid email address", file=sys.stderr)
        return 2
    password = _read_password(args)
    settings = _settings(args)
    store = _store(settings)

    def work(db):  # noqa: ANN001, ANN202
        user = auth.create_user(db, email, password, args.role)
        audit.record(db, "cli", None, "user.create", "user", user.id, role=user.role)
        return user.id

    try:
        user_id = store.run_sync(work)
    except ApiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"created {args.role} user {email} (id {user_id})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from server.demo import seed

    settings = _settings(args)
    store = _store(settings)
    demo = store.run_sync(lambda db: seed(db, settings.default_language, settings.resume_boost))
    base = _base_url(settings)
    print(f"HR login:       {base}/login")
    print(f"  email:        {demo.email}")
    print(f"  password:     {demo.password}")
    print(f"Invitation URL: {base}/i/{demo.token}  (new each time: earlier demo links stop working)")
    print(f"(job {demo.job_id}, template {demo.template_id}, candidate {demo.candidate_id}, interview {demo.interview_id})")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from models import cli

    settings = _settings(args)
    return cli.main(args.rest, settings.models_dir)


def cmd_audit(args: argparse.Namespace) -> int:
    from server import audit_cli

    return audit_cli.main(args.rest, _store(_settings(args)))


def cmd_keys(args: argparse.Namespace) -> int:
    from server import recording_keys_cli

    return recording_keys_cli.main(args.rest, _settings(args))


def cmd_i18n(args: argparse.Namespace) -> int:
    from server import i18n_cli

    return i18n_cli.main(args.rest)


def cmd_schema(args: argparse.Namespace) -> int:
    from server.store import SCHEMA_PATH, schema_ddl

    ddl = schema_ddl()
    if args.write:
        SCHEMA_PATH.write_text(ddl)
        print(f"wrote {SCHEMA_PATH}")
    else:
        sys.stdout.write(ddl)
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    import asyncio

    from server.erasure import Actor
    from server.retention import purge

    settings = _settings(args)
    store = _store(settings)
    try:
        done = asyncio.run(purge(store, settings, dry_run=args.dry_run, actor=Actor("cli")))
    finally:
        store.close()
    verb = "would erase" if args.dry_run else "erased"
    for p in done:
        ids = ", ".join(map(str, p.due.interview_ids))
        what = "candidate" if p.due.whole else f"interviews {ids} of candidate"
        if p.skipped:
            print(f"skipped {what} {p.due.candidate_id}: {p.skipped}")
        else:
            cert = f" (certificate {p.certificate_id}, sha256 {p.digest})" if p.certificate_id is not None else ""
            print(f"{verb} {what} {p.due.candidate_id}{cert}")
    print(f"{len([p for p in done if not p.skipped])} {verb}" if done else "nothing past its retention")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.py", description="Candor interview server")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("serve", help="run the server (the default)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(fn=cmd_serve)
    p = sub.add_parser("adduser", help="create an HR user")
    p.add_argument("email")
    p.add_argument("--role", choices=("admin", "hr"), default="hr")
    p.add_argument("--password-stdin", action="store_true", help="read the password as one line from stdin")
    p.set_defaults(fn=cmd_adduser)
    p = sub.add_parser("demo", help="seed a demo job, template and candidate; print a login and a link")
    p.set_defaults(fn=cmd_demo)
    p = sub.add_parser("models", help="obtain, verify and list models (run `models --help`)", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_models)
    p = sub.add_parser("schema", help="print the DDL generated from the tables (--write: update schema.sql)")
    p.add_argument("--write", action="store_true")
    p.set_defaults(fn=cmd_schema)
    p = sub.add_parser("i18n", help="languages: `i18n update` re-extracts the messages into the catalogues",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_i18n)
    p = sub.add_parser("keys", help="recording encryption keys: status, rotate, reencrypt, retire", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_keys)
    p = sub.add_parser("audit", help="verify, export or prune the audit log (`audit` alone: its usage)", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_audit)
    p = sub.add_parser("purge", help="erase candidates not hired whose retention period is over")
    p.add_argument("--dry-run", action="store_true", help="only print what would be erased")
    p.set_defaults(fn=cmd_purge)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve", *(argv or [])])
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from server import log_format, log_redaction

    log_format.configure(settings.log_level, settings.log_format)  # CANDOR_LOG_FORMAT: text or json

    log_redaction.install()  # candidates' link tokens never reach the log
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
