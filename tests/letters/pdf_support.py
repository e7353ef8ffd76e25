"""What the letter PDF tests share: printing a referral's letter as someone, and reading the
PDF back the way a person or an archive would (pdftotext, pdftoppm, pikepdf).

pdftotext and RTL text: `pdftotext -layout` reorders Persian lines with its own bidi pass,
which moves neutrals (':', '(', digits) unpredictably; `pdftotext -raw` gives the glyph runs
of a line left to right as printed, i.e. the words of an RTL line in reverse. So the Persian
letter is read with `-raw` and compared with `visual(phrase)`: the phrase's words reversed,
the punctuation of each word on its other side. pdftotext also drops the zero-width non-joiner
(توان‌بخشی comes out as توانبخشی), writes the hamza above of ۀ/هٔ before the heh, and wraps
runs in bidi embedding marks: `plain()` drops all of these (category Cf and U+0654) on both
sides of a comparison, and writes the lam-alef ligature as alef, lam (هلال as هالل), which
`plain()` does to both sides too.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pikepdf
from flask import Flask

from screening.auth.principal import Principal
from screening.letters.service import PrintedLetter, print_letter
from screening.paths import data_dir
from screening.web.i18n import Catalogue, load_catalogue

BASE = "http://localhost/fhir"
PUNCTUATION = ":;()،؛.,"
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@cache
def catalogue() -> Catalogue:
    """The message catalogue of the installation (pages and letters)."""
    return load_catalogue(data_dir("templates") / "messages")


def print_as(app: Flask, principal: Principal, request_id: str, lang: str) -> PrintedLetter:
    """The letter of a referral, printed by `principal` (as the Print button does)."""
    return print_letter(app.extensions["screening"], principal, request_id, lang, BASE, catalogue())


def pdf_text(pdf: bytes, *, raw: bool = False, page: int | None = None) -> str:
    """The text of a PDF (or of one page) as `pdftotext -layout` (or `-raw`) gives it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "letter.pdf"
        path.write_bytes(pdf)
        pages = ["-f", str(page), "-l", str(page)] if page else []
        done = subprocess.run(
            ["pdftotext", "-raw" if raw else "-layout", *pages, str(path), "-"],
            capture_output=True,
            check=True,
            timeout=60,
        )
    return done.stdout.decode("utf-8")


def plain(text: str) -> str:
    """Text without format characters (bidi marks, ZWNJ) or the hamza above, lam-alef as
    pdftotext writes it, each run of white space one space."""
    kept = "".join(c for c in text if unicodedata.category(c) != "Cf" and c != "\u0654")
    return re.sub(r"\s+", " ", kept.replace("لا", "ال")).strip()


def parens_folded(text: str) -> str:
    """Text with '(' and ')' alike. A font subset maps each glyph to one character: on a
    Persian letter the ')' glyph first prints a mirrored '(' of RTL text, so pdftotext gives
    every ')' of LTR text there as '(' (and the other way round), though the page shows
    them right."""
    return text.translate(str.maketrans("()", "||"))


def plain_lines(text: str) -> list[str]:
    """The non-empty lines of a text, each `plain`."""
    return [line for line in (plain(x) for x in text.splitlines()) if line]


def visual(phrase: str) -> str:
    """An RTL phrase as `pdftotext -raw` gives it: words in reverse order, the punctuation
    before or after a word on its other side."""
    words = []
    for word in reversed(plain(phrase).split()):
        core = word.strip(PUNCTUATION)
        start = word.index(core) if core else 0
        lead, trail = word[:start], word[start + len(core) :]
        words.append(trail[::-1] + core + lead[::-1])
    return " ".join(words)


def persian_digits(value: object) -> str:
    return str(value).translate(PERSIAN_DIGITS)


def page_count(pdf: bytes) -> int:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return len(doc.pages)


def embedded_bundle(pdf: bytes) -> dict[str, Any]:
    """The FHIR Bundle a letter carries (its only attachment)."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        (spec,) = doc.attachments.values()
        found: dict[str, Any] = json.loads(spec.get_file().read_bytes())
    return found


def fonts_of(doc: pikepdf.Pdf) -> Iterator[tuple[int, str, pikepdf.Dictionary]]:
    """(page number, resource name, font) of every font used on the pages, in the page
    resources and in those of the form XObjects they draw (the QR code's SVG, say)."""
    for number, page in enumerate(doc.pages, start=1):
        seen: set[tuple[int, int]] = set()
        stack = [page.obj.get("/Resources")]
        while stack:
            resources = stack.pop()
            if not isinstance(resources, pikepdf.Dictionary):
                continue
            fonts = resources.get("/Font")
            if isinstance(fonts, pikepdf.Dictionary):
                for name, font in fonts.items():
                    yield number, str(name), font
            xobjects = resources.get("/XObject")
            if isinstance(xobjects, pikepdf.Dictionary):
                for xobject in xobjects.values():
                    if xobject.objgen in seen or xobject.get("/Subtype") != "/Form":
                        continue
                    seen.add(xobject.objgen)
                    stack.append(xobject.get("/Resources"))


def font_is_embedded(font: pikepdf.Dictionary) -> bool:
    """Whether a font's program is in the file (for Type0 fonts: each descendant's)."""
    if font.get("/Subtype") == "/Type0":
        descendants = font.get("/DescendantFonts")
        return bool(descendants) and all(font_is_embedded(d) for d in descendants)
    if font.get("/Subtype") == "/Type3":
        return True  # glyphs drawn by content streams, nothing to embed
    descriptor = font.get("/FontDescriptor")
    return isinstance(descriptor, pikepdf.Dictionary) and any(
        key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")
    )


def render_pngs(pdf: bytes, folder: Path, prefix: str, dpi: int = 60) -> list[Path]:
    """The pages as PNG images made by `pdftoppm -png -r <dpi>`, in page order."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{prefix}.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(dpi), str(source), str(folder / prefix)],
        check=True,
        timeout=60,
    )
    return sorted(folder.glob(f"{prefix}-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
