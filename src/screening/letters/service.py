"""Printing a referral letter: read the referral through the FHIR door as the person
printing, compose the letter in their language, render the PDF/A-3b with the referral's
Bundle inside, and record the print as an AuditEvent. No Flask."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache, partial

from screening.api.door import perform
from screening.audit.events import Access
from screening.audit.recorder import record_apart
from screening.auth.principal import Principal
from screening.boundary import AppState
from screening.fhir.outcome import BadRequest, Forbidden
from screening.fhir.searchset import version_of
from screening.letters.content import Setting, compose
from screening.letters.render import Embedded, Renderer
from screening.letters.sources import Sources, bundle_bytes, gather, letter_bundle
from screening.screenings.questionnaire import form_of
from screening.screenings.service import FIELD_SCREENING
from screening.screenings.wording import Wording
from screening.web.i18n import LANGUAGES, Catalogue

PRINT = "letter"  # the operation name of a print in the AuditEvent


@dataclass(frozen=True)
class PrintedLetter:
    """A rendered letter and what it was made from."""

    pdf: bytes
    number: str
    lang: str
    bundle: dict[str, object]

    @property
    def filename(self) -> str:
        return f"referral-{self.number or 'letter'}-{self.lang}.pdf"

    def disposition(self, attachment: bool = False) -> str:
        """The Content-Disposition of the letter in an HTTP response."""
        return f'{"attachment" if attachment else "inline"}; filename="{self.filename}"'


@cache
def renderer() -> Renderer:
    """The process's renderer (fonts, stylesheet and template loaded once)."""
    return Renderer()


def print_letter(
    state: AppState, principal: Principal, request_id: str, lang: str, base: str,
    catalogue: Catalogue,
) -> PrintedLetter:  # fmt: skip
    """The letter of referral `request_id` in `lang`, audited as a print."""
    if lang not in LANGUAGES:
        raise BadRequest(f"Unknown letter language '{lang[:10]}': use en or fa")
    if not principal.may_print():
        raise Forbidden(f"{principal.label} may not print referral letters")
    sources = gather(partial(perform, state, principal, base_url=base), request_id)
    bundle = letter_bundle(sources, base)
    letter = compose(sources, setting(state, catalogue, lang, base))
    embedded = Embedded(
        data=bundle_bytes(bundle),
        name=f"referral-{sources.number or request_id}.json",
        created=str(sources.request.get("authoredOn") or ""),
        modified=str(bundle.get("timestamp") or ""),
    )
    pdf = renderer().pdf(letter, catalogue, embedded)
    record_apart(state.sessions, state.fhir.indexer, principal, [printed(sources)])
    return PrintedLetter(pdf, sources.number, lang, bundle)


def setting(state: AppState, catalogue: Catalogue, lang: str, base: str) -> Setting:
    """What a letter needs from the installation, in `lang`."""
    cfg = state.config
    registry = state.fhir.registry
    return Setting(
        registry=registry,
        wording=Wording(catalogue, form_of(registry, FIELD_SCREENING), lang),
        issuer=cfg.issuer_fa if lang == "fa" else cfg.issuer_en,
        tug_cutoff=Decimal(cfg.tug_cutoff),
        zone=cfg.timezone,
        base=base,
    )


def printed(sources: Sources) -> Access:
    """The AuditEvent of a print: the versions the letter was made from and the person."""
    access = Access("operation", operation=PRINT)
    patient = str(sources.patient.get("id") or "") or None
    for resource in (sources.request, sources.task, sources.patient, sources.consent):
        if resource.get("id"):
            access.add(resource["resourceType"], resource["id"], version_of(resource), patient)
    return access
