"""`screening letter`: print a referral's letter to a file, or take a referral over from a
letter PDF (`screening letter import FILE.pdf`). Runs as the operator on the server
machine; both are audited like the pages and the API."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from screening.config import Config
from screening.fhir.outcome import FhirError
from screening.web.i18n import LANGUAGES

if TYPE_CHECKING:
    from screening.auth.principal import Principal
    from screening.boundary import AppState


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `screening letter`."""
    letter = commands.add_parser(
        "letter",
        help="print a referral letter (PDF/A-3b), or import one: screening letter import FILE",
        description=(
            "screening letter REFERRAL_ID --lang fa|en -o FILE writes the letter of a referral"
            " (a ServiceRequest id); screening letter import FILE.pdf stores the referral a"
            " letter carries."
        ),
    )
    letter.add_argument("target", metavar="REFERRAL_ID|import", help="a referral id, or 'import'")
    letter.add_argument("file", nargs="?", metavar="FILE.pdf", help="the letter to import")
    letter.add_argument("--lang", choices=LANGUAGES, default="en", help="language of the letter")
    letter.add_argument("-o", "--output", metavar="FILE", help="where to write the PDF")
    letter.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print or import; 2 with the reason on standard error when refused."""
    from screening.auth.principal import operator
    from screening.boundary import AppState

    config = Config.from_env()
    state = AppState.build(config)
    principal = operator(getpass.getuser())
    base = config.base_url or "http://localhost/fhir"
    try:
        if args.target == "import":
            return _import(state, principal, args.file, base)
        return _print(state, principal, args.target, args.lang, args.output, base)
    except FhirError as error:
        print(f"screening letter: {error.diagnostics}", file=sys.stderr)
        return 2
    finally:
        state.engine.dispose()


def _print(
    state: AppState, principal: Principal, request_id: str, lang: str, output: str | None,
    base: str,
) -> int:  # fmt: skip
    from screening.letters.service import print_letter
    from screening.paths import data_dir
    from screening.web.i18n import load_catalogue

    if not output:
        print("screening letter: give the file to write with -o FILE", file=sys.stderr)
        return 2
    catalogue = load_catalogue(data_dir("templates") / "messages")
    printed = print_letter(state, principal, request_id, lang, base, catalogue)
    Path(output).write_bytes(printed.pdf)
    print(f"{output}: letter {printed.number} ({lang}), {len(printed.pdf)} bytes")
    return 0


def _import(state: AppState, principal: Principal, file: str | None, base: str) -> int:
    from screening.letters.importing import bundle_from_pdf, take_over

    if not file:
        print("screening letter import: give the letter's PDF file", file=sys.stderr)
        return 2
    try:
        data = Path(file).read_bytes()
    except OSError as error:
        print(f"screening letter import: {file}: {error.strerror}", file=sys.stderr)
        return 2
    done = take_over(state, principal, bundle_from_pdf(data, state.config.max_letter_bytes), base)
    word = "stored" if done.created else "already here, unchanged"
    print(f"referral {done.number}: ServiceRequest/{done.request_id} {word}")
    return 0
