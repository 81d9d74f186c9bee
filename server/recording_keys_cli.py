"""``python run.py keys status|rotate|reencrypt|retire``: the keys recordings are sealed with
(server/recording_crypto.py).

Rotation: `rotate` puts a new current key first (new recordings use it; a running server picks
up a changed key file by itself, a changed CANDOR_RECORDING_KEYS at its restart) and keeps the
old ones for reading; `reencrypt` rewrites every file under an older key (or plaintext, from
before encryption) under the current one; `status` then shows no file under the old key, and
`retire ID` removes it."""
from __future__ import annotations

import argparse

from server import recording, recording_crypto
from server.settings import Settings


def main(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="run.py keys", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("status", help="the keyring, and how many recording files each key seals")
    sub.add_parser("rotate", help="add a new current key; old keys stay for reading")
    p = sub.add_parser("reencrypt", help="rewrite recordings under older keys (or plaintext) under the current key")
    p.add_argument("--min-age", type=float, default=600.0, metavar="SECONDS",
                   help="skip files written more recently than this (live interviews' streams); default 600")
    p = sub.add_parser("retire", help="remove a key no recording file uses any more")
    p.add_argument("key_id")
    args = parser.parse_args(argv)
    try:
        ring = recording_crypto.configure(settings.data_dir, settings.recording_keys)
    except recording_crypto.BadKeys as exc:
        print(f"error: {exc}")
        return 2
    root = recording.recordings_root(settings.data_dir)
    if args.action == "status":
        print(f"keyring: {ring.source}; current key {ring.current_id}; all: {', '.join(ring.ids)}")
        usage = recording.key_usage(root)
        for kid, count in sorted(usage.items()):
            note = "" if kid in ring.ids or kid == "plaintext" else "  (NOT in the keyring: unreadable)"
            print(f"  {kid}: {count} files{note}")
        if not usage:
            print("  no recording files")
        return 0
    if args.action == "rotate":
        new, written = recording_crypto.rotate(settings.data_dir)
        return _report_keyring(new, written, f"new current key {new.current_id}; older keys kept for reading. "
                                             "Next: `python run.py keys reencrypt`, then `keys retire` the old ones.")
    if args.action == "reencrypt":
        result = recording.reencrypt_recordings(root, ring, min_age_s=args.min_age)
        print(f"{result.resealed} files sealed again under {ring.current_id}, {result.current} already under it")
        for path in result.skipped or []:
            print(f"skipped (written in the last {args.min_age:g} s, run again later): {path}")
        for line in result.failed or []:
            print(f"FAILED: {line}")
        return 1 if result.failed else 0
    usage = recording.key_usage(root)
    if usage.get(args.key_id):
        print(f"error: {usage[args.key_id]} recording files are still sealed under {args.key_id}: "
              "run `python run.py keys reencrypt` first")
        return 1
    try:
        new, written = recording_crypto.retire(settings.data_dir, args.key_id)
    except recording_crypto.BadKeys as exc:
        print(f"error: {exc}")
        return 1
    return _report_keyring(new, written, f"retired {args.key_id}")


def _report_keyring(ring: recording_crypto.Keyring, written: bool, done: str) -> int:
    if written:
        print(f"{done} (written to {ring.source})")
    else:
        print(f"CANDOR_RECORDING_KEYS is set, so nothing was written: {done} once it is set to this, "
              "and the server restarted:")
        print(ring.text())
    return 0
