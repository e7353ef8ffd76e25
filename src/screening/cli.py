"""The `screening` command: serve, db, user, client, validate, letter, ig, demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from screening.config import Config

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


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
    reindex = db_commands.add_parser(
        "reindex", help="rebuild the search index of stored resources (after an IG change)"
    )
    reindex.add_argument("types", nargs="+", metavar="TYPE", help="resource types, e.g. Task")
    reindex.set_defaults(handler=_db_reindex)

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

    user = commands.add_parser("user", help="clinician and staff accounts")
    user_commands = user.add_subparsers(title="user commands")
    user_create = user_commands.add_parser("create", help="create an account")
    user_create.add_argument("--username", required=True)
    user_create.add_argument(
        "--role",
        required=True,
        help="screener, clinician, centre-staff, administrator or auditor",
    )
    user_create.add_argument("--organization", metavar="ORG_ID", help="centre staff: the centre")
    user_create.add_argument("--full-name", default="")
    user_create.add_argument("--language", default="en", choices=["fa", "en"])
    user_create.add_argument(
        "--registration",
        default="",
        help="registration number printed on letters (professional council or staff number)",
    )
    user_create.add_argument(
        "--profession",
        default="",
        help="a code of the health-profession CodeSystem, e.g. physiotherapist",
    )
    user_create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    user_create.set_defaults(handler=_user_create)
    user_list = user_commands.add_parser("list", help="list the accounts")
    user_list.set_defaults(handler=_user_list)

    client = commands.add_parser("client", help="API clients (other systems)")
    client_commands = client.add_subparsers(title="client commands")
    client_create = client_commands.add_parser(
        "create", help="create a client and print its bearer token once"
    )
    client_create.add_argument("--name", required=True)
    client_create.add_argument(
        "--scope", required=True, help='e.g. "system/Patient.read system/Observation.write"'
    )
    client_create.add_argument(
        "--organization", metavar="ORG_ID", help="a centre's own system: sees what it is sent"
    )
    client_create.set_defaults(handler=_client_create)
    client_list = client_commands.add_parser("list", help="list the clients")
    client_list.set_defaults(handler=_client_list)
    client_revoke = client_commands.add_parser("revoke", help="revoke a client's token")
    client_revoke.add_argument("name")
    client_revoke.set_defaults(handler=_client_revoke)

    from screening.letters.cli import add_parser as add_letter

    add_letter(commands)

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

    demo = commands.add_parser("demo", help="load a fictional demo data set (idempotent)")
    demo.add_argument(
        "--password", help="password of the demo accounts (default: read from standard input)"
    )
    demo.set_defaults(handler=_demo)
    return parser


def _demo(args: argparse.Namespace) -> int:
    import getpass

    from screening.auth.principal import operator
    from screening.boundary import AppState
    from screening.referrals.demo import USERS, DemoError, load_demo

    password = args.password or sys.stdin.readline().rstrip("\n")
    config = Config.from_env()
    state = AppState.build(config)
    try:
        loaded = load_demo(
            state, operator(getpass.getuser()), config.base_url or "http://localhost/fhir", password
        )
    except DemoError as error:
        print(f"screening demo: {error}", file=sys.stderr)
        return 2
    finally:
        state.engine.dispose()
    for username, role, _, centre in USERS:
        state_text = "created" if username in loaded.users else "already there, unchanged"
        print(f"user {username}\t{role.value}{f' centre={centre}' if centre else ''}\t{state_text}")
    print("The new accounts' password is the one given with --password or on standard input.")
    return 0


def _user_create(args: argparse.Namespace) -> int:
    import getpass

    from screening.auth.professions import set_details
    from screening.auth.service import AccountError, create_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("The passwords differ.", file=sys.stderr)
            return 2
    try:
        with _accounts_session() as session:
            user = create_user(
                session,
                args.username,
                args.role,
                password,
                organization=args.organization,
                full_name=args.full_name,
                language=args.language,
            )
            set_details(user, args.registration, args.profession)
            print(f"User {user.username} ({user.role}) created.")
    except AccountError as error:
        print(f"screening user create: {error}", file=sys.stderr)
        return 2
    return 0


def _user_list(args: argparse.Namespace) -> int:
    from screening.auth.service import list_users

    with _accounts_session() as session:
        for user in list_users(session):
            state = "active" if user.active else "disabled"
            centre = f" centre={user.organization_id}" if user.organization_id else ""
            details = " ".join(d for d in (user.profession, user.registration) if d)
            print(f"{user.username}\t{user.role}{centre}\t{state}\t{details}".rstrip("\t"))
    return 0


def _client_create(args: argparse.Namespace) -> int:
    from screening.auth.service import AccountError, create_client
    from screening.fhir.packages import default_registry

    types = frozenset(default_registry().resource_types())
    try:
        with _accounts_session() as session:
            client, token = create_client(session, args.name, args.scope, types, args.organization)
            print(f"Client {client.name} created with scopes: {client.scopes}", file=sys.stderr)
            print("Its bearer token (shown only now; keep it secret):", file=sys.stderr)
            print(token)
    except AccountError as error:
        print(f"screening client create: {error}", file=sys.stderr)
        return 2
    return 0


def _client_list(args: argparse.Namespace) -> int:
    from screening.auth.service import list_clients

    with _accounts_session() as session:
        for client in list_clients(session):
            state = "active" if client.active else "revoked"
            centre = f" centre={client.organization_id}" if client.organization_id else ""
            print(f"{client.name}\t{client.scopes}{centre}\t{state}")
    return 0


def _client_revoke(args: argparse.Namespace) -> int:
    from screening.auth.service import list_clients, set_client_active

    with _accounts_session() as session:
        found = [c for c in list_clients(session) if c.name == args.name]
        if not found:
            print(f"screening client revoke: no client named '{args.name}'", file=sys.stderr)
            return 2
        set_client_active(session, found[0].id, False)
        print(f"Client {args.name} revoked.")
    return 0


@contextmanager
def _accounts_session() -> Iterator[Session]:
    """A write session on the configured database, committed when the block succeeds."""
    from screening.db import make_engine, make_session_factory, transaction

    engine = make_engine(Config.from_env().database_url)
    try:
        with transaction(make_session_factory(engine), write=True) as session:
            yield session
    finally:
        engine.dispose()


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


def _db_reindex(args: argparse.Namespace) -> int:
    from screening.boundary import AppState, unit_of_work
    from screening.store.resources import ResourceStore

    state = AppState.build(Config.from_env())
    unknown = sorted(set(args.types) - set(state.fhir.resource_types))
    if unknown:
        print(
            f"screening db reindex: not FHIR R4 resource types: {', '.join(unknown)}",
            file=sys.stderr,
        )
        return 2
    try:
        with unit_of_work(state, write=True) as session:
            done = ResourceStore(session, state.fhir.indexer).reindex(args.types)
    finally:
        state.engine.dispose()
    print(f"Resources reindexed: {done}.")
    return 0


def _db_downgrade(args: argparse.Namespace) -> int:
    from screening.migrate import downgrade

    downgrade(Config.from_env().database_url, args.revision)
    print(f"Database at revision {args.revision}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
