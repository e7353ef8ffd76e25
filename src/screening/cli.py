"""The `screening` command: serve, db, validate, ig."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from screening.config import Config


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `screening` console command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    result: int = args.handler(args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="screening", description=__doc__)
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="run the web service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--workers", type=int, default=2, help="worker processes")
    serve.add_argument("--threads", type=int, default=4, help="threads per worker")
    serve.set_defaults(handler=_serve)

    db = commands.add_parser("db", help="database migrations")
    db_commands = db.add_subparsers(title="db commands")
    up = db_commands.add_parser("upgrade", help="migrate the database to the newest schema")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=_db_upgrade)
    down = db_commands.add_parser("downgrade", help="migrate the database down")
    down.add_argument("revision")
    down.set_defaults(handler=_db_downgrade)

    validate = commands.add_parser("validate", help="validate FHIR JSON files")
    validate.add_argument(
        "--load",
        action="append",
        default=[],
        metavar="FILE_OR_DIR",
        help="conformance resources to load first (repeatable)",
    )
    validate.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="URL_OR_FILE",
        help="a profile to validate against (repeatable)",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(handler=_validate)

    ig = commands.add_parser("ig", help="the implementation guide's published files")
    ig_commands = ig.add_subparsers(title="ig commands")
    snapshots = ig_commands.add_parser(
        "snapshots", help="write the IG's StructureDefinitions with generated snapshots"
    )
    snapshots.add_argument("--out", metavar="DIR", help="folder (default fhir_profiles/snapshots)")
    snapshots.add_argument(
        "--check", action="store_true", help="only report files that are out of date (exit 1)"
    )
    snapshots.set_defaults(handler=_ig_snapshots)
    return parser


def _ig_snapshots(args: argparse.Namespace) -> int:
    from pathlib import Path

    from screening.fhir.ig_snapshots import snapshot_folder, stale_files, write_snapshots
    from screening.fhir.packages import default_registry

    folder = Path(args.out) if args.out else snapshot_folder()
    if args.check:
        stale = stale_files(default_registry(), folder)
        for name in stale:
            print(f"out of date: {folder / name}")
        return 1 if stale else 0
    changed = write_snapshots(default_registry(), folder)
    print(f"{len(changed)} snapshot file(s) written to {folder}.")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from screening.fhir.validate_cli import run_validate

    return run_validate(args.load, args.profile, args.files)


def _serve(args: argparse.Namespace) -> int:
    from screening import create_app
    from screening.server import serve

    config = Config.from_env()
    serve(lambda: create_app(config), args.host, args.port, args.workers, args.threads)
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from screening.migrate import upgrade

    config = Config.from_env()
    upgrade(config.database_url, args.revision)
    print(f"Database at revision {args.revision}.")
    if args.revision == "head":
        from screening.store.seed import seed_database

        changed = seed_database(config.database_url)
        print(f"Implementation guide resources added or updated: {changed}.")
    return 0


def _db_downgrade(args: argparse.Namespace) -> int:
    from screening.migrate import downgrade

    downgrade(Config.from_env().database_url, args.revision)
    print(f"Database at revision {args.revision}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
