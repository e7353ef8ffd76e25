"""Letter PDFs: the Jinja template of `templates/letters/` laid out by WeasyPrint as PDF/A-3b,
with the referral's FHIR Bundle embedded as an associated file (AFRelationship Data) and a
QR code of the referral number and its versioned FHIR reference.

The renderer fetches nothing but its own assets (the stylesheet and the fonts, read once
into memory): any other URL, on the network or the file system, is refused. Dates, ids
and the PDF identifier come from the records, so the same input gives the same bytes.
"""

from __future__ import annotations

import hashlib
import threading
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import segno
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from weasyprint import CSS, HTML, Attachment
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from screening.letters.content import Letter
from screening.paths import data_dir
from screening.web.i18n import Catalogue

PDF_VARIANT = "pdf/a-3b"
ASSETS = ("letter.css", "fonts/Vazirmatn-Regular.ttf", "fonts/Vazirmatn-Bold.ttf")
MEDIA_TYPES = {".css": "text/css", ".ttf": "font/ttf"}
BASE = "file:///letter-assets/"  # where the template's relative URLs point (never read)
LTR_KEYS = frozenset({"letter.case_code", "letter.national_id", "letter.phone"})
# explicit embeddings, overrides and isolates: one left open in a record's text would turn
# the rest of the line around (marks such as U+200F stay: they end with the character)
DIRECTION_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)], None)


class AssetFetcher(URLFetcher):  # type: ignore[misc]  # WeasyPrint ships no type hints
    """Serves the letter's own assets from memory and refuses every other URL."""

    def __init__(self, folder: Path) -> None:
        super().__init__(allowed_protocols=("file",), allow_redirects=False)
        self.files = {name: (folder / name).read_bytes() for name in ASSETS}
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        name = url.removeprefix(BASE) if url.startswith(BASE) else None
        if name not in self.files:
            self.refused.append(url[:200])
            raise ValueError(f"A letter may load only its own assets, not {url[:80]}")
        media = MEDIA_TYPES[Path(name).suffix]
        return URLFetcherResponse(url, self.files[name], headers={"Content-Type": media})


@dataclass(frozen=True)
class Embedded:
    """The FHIR Bundle a letter carries, with the moments it stands for."""

    data: bytes  # UTF-8 FHIR JSON
    name: str  # file name inside the PDF
    created: str  # instant the referral was written
    modified: str  # latest lastUpdated of the records in it


class Renderer:
    """Renders letters; built once per process (fonts, stylesheet and template cached)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or data_dir("templates") / "letters"
        self.fetcher = AssetFetcher(self.folder)
        self.env = Environment(
            loader=FileSystemLoader(self.folder),
            autoescape=True,
            undefined=StrictUndefined,
            finalize=without_direction_controls,
        )
        self.fonts = FontConfiguration()
        self.stylesheet = CSS(
            string=self.fetcher.files["letter.css"].decode("utf-8"),
            base_url=BASE,
            url_fetcher=self.fetcher,
            font_config=self.fonts,
        )
        self.lock = threading.Lock()  # WeasyPrint's font configuration is not shared safely

    def html(self, letter: Letter, catalogue: Catalogue, embedded: Embedded) -> str:
        """The letter as HTML (what WeasyPrint lays out)."""
        template = self.env.get_template("letter.html")
        return template.render(
            letter=letter,
            _=partial(catalogue.text, letter.lang),
            qr=qr_code(f"{letter.number}\n{letter.fhir_reference}"),
            css_text=css_text,
            text_direction=text_direction,
            counter="persian" if letter.lang == "fa" else "decimal",
            ltr_keys=LTR_KEYS,
            separator="، " if letter.lang == "fa" else ", ",
            created=embedded.created,
            modified=embedded.modified,
        )

    def pdf(self, letter: Letter, catalogue: Catalogue, embedded: Embedded) -> bytes:
        """The letter as a PDF/A-3b with the Bundle embedded."""
        html = self.html(letter, catalogue, embedded)
        attachment = Attachment(
            string=embedded.data,
            name=embedded.name,
            description=f"FHIR R4 Bundle of referral {letter.number}",
            relationship="Data",
            created=_moment(embedded.created),
            modified=_moment(embedded.modified),
        )
        identifier = hashlib.sha256(html.encode("utf-8") + embedded.data).hexdigest()[:32]
        with self.lock:
            document = HTML(string=html, base_url=BASE, url_fetcher=self.fetcher)
            found: bytes = document.write_pdf(
                stylesheets=[self.stylesheet],
                font_config=self.fonts,
                pdf_variant=PDF_VARIANT,
                attachments=[attachment],
                pdf_identifier=identifier.encode("ascii"),
            )
        return found


def qr_code(text: str) -> Markup:
    """An inline SVG QR code (error correction M) that scales to its box."""
    code = segno.make(text, error="m", micro=False)
    return Markup(code.svg_inline(scale=1, border=2, omitsize=True, dark="#000"))


def without_direction_controls(value: Any) -> Any:
    """Every printed value without explicit direction controls (the template's finalize)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return value.translate(DIRECTION_CONTROLS)
    return value


def text_direction(text: str) -> str:
    """The direction of a text from its first strong character (what dir=auto would do)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return "auto"


def css_text(text: str) -> str:
    """Text safe inside a double-quoted CSS string."""
    return "".join(
        f"\\{ord(ch):x} " if ch in '"\\' or not ch.isprintable() else ch for ch in str(text)
    )


def _moment(instant: str) -> datetime:
    """A FHIR instant as an aware datetime (the epoch when missing)."""
    try:
        moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
