"""The 34 provinces of Afghanistan, for the address of a screened person. No Flask.

Codes are ISO 3166-2:AF as listed by the ISO 3166 Maintenance Agency after Newsletter
II-3 (2011-12-15), which changed AF-LOW to AF-LOG and AF-ORU to AF-URU. English names
are the ISO English short names without diacritics (the example resources of the IG
store "Herat" in `Patient.address.state`); Persian names are the usual Dari spellings,
written with Persian yeh and kaf (ی ک). The three letters after `AF-` start generated
case codes (`HER-0427-KX`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Province:
    """One province: ISO 3166-2 code, English name (stored in FHIR) and Persian name."""

    code: str
    en: str
    fa: str

    @property
    def prefix(self) -> str:
        """The three letters of the code after `AF-`."""
        return self.code.removeprefix("AF-")

    def name(self, lang: str) -> str:
        """The name in a page's language."""
        return self.fa if lang == "fa" else self.en


PROVINCES: tuple[Province, ...] = (
    Province("AF-BDS", "Badakhshan", "بدخشان"),
    Province("AF-BDG", "Badghis", "بادغیس"),
    Province("AF-BGL", "Baghlan", "بغلان"),
    Province("AF-BAL", "Balkh", "بلخ"),
    Province("AF-BAM", "Bamyan", "بامیان"),
    Province("AF-DAY", "Daykundi", "دایکندی"),
    Province("AF-FRA", "Farah", "فراه"),
    Province("AF-FYB", "Faryab", "فاریاب"),
    Province("AF-GHA", "Ghazni", "غزنی"),
    Province("AF-GHO", "Ghor", "غور"),
    Province("AF-HEL", "Helmand", "هلمند"),
    Province("AF-HER", "Herat", "هرات"),
    Province("AF-JOW", "Jowzjan", "جوزجان"),
    Province("AF-KAB", "Kabul", "کابل"),
    Province("AF-KAN", "Kandahar", "قندهار"),
    Province("AF-KAP", "Kapisa", "کاپیسا"),
    Province("AF-KHO", "Khost", "خوست"),
    Province("AF-KNR", "Kunar", "کنر"),
    Province("AF-KDZ", "Kunduz", "کندز"),
    Province("AF-LAG", "Laghman", "لغمان"),
    Province("AF-LOG", "Logar", "لوگر"),
    Province("AF-NAN", "Nangarhar", "ننگرهار"),
    Province("AF-NIM", "Nimruz", "نیمروز"),
    Province("AF-NUR", "Nuristan", "نورستان"),
    Province("AF-PKA", "Paktika", "پکتیکا"),
    Province("AF-PIA", "Paktia", "پکتیا"),
    Province("AF-PAN", "Panjshir", "پنجشیر"),
    Province("AF-PAR", "Parwan", "پروان"),
    Province("AF-SAM", "Samangan", "سمنگان"),
    Province("AF-SAR", "Sar-e Pol", "سرپل"),
    Province("AF-TAK", "Takhar", "تخار"),
    Province("AF-URU", "Uruzgan", "ارزگان"),
    Province("AF-WAR", "Wardak", "وردک"),
    Province("AF-ZAB", "Zabul", "زابل"),
)
PERSIAN_ALPHABET = "آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"  # the order of a Persian dictionary
BY_CODE = {p.code: p for p in PROVINCES}
_BY_NAME = {p.en.casefold(): p for p in PROVINCES}


def province_by_code(code: str) -> Province | None:
    """The province with this ISO 3166-2 code, or None."""
    return BY_CODE.get(code)


def province_by_name(name: str) -> Province | None:
    """The province whose English name (as stored in `address.state`) is `name`, or None."""
    return _BY_NAME.get(name.strip().casefold())


def province_options(lang: str) -> list[tuple[str, str]]:
    """(code, name) pairs for a select, sorted by the name in the page's language."""
    return sorted(((p.code, p.name(lang)) for p in PROVINCES), key=lambda pair: sort_key(pair[1]))


def sort_key(text: str) -> tuple[int, ...]:
    """A key that sorts Persian words in alphabetical order (code points do not: پ چ ژ گ
    come after the Arabic letters) and Latin words as they are."""
    return tuple(
        PERSIAN_ALPHABET.index(c) if c in PERSIAN_ALPHABET else 0x10000 + ord(c.casefold())
        for c in text
    )
