"""Where the project's data folders live, in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent.parent


def data_dir(name: str) -> Path:
    """Return the folder `name` (templates, fhir_profiles, migrations) for this install."""
    installed = _PACKAGE / "_data" / name
    if installed.exists():
        return installed
    return _CHECKOUT / name


def core_package() -> Path:
    """The vendored hl7.fhir.r4.core 4.0.1 package archive."""
    return data_dir("fhir_profiles") / "packages" / "hl7.fhir.r4.core-4.0.1.tgz"


def dependency_packages() -> list[Path]:
    """The vendored packages the IG builds on, in load order: FHIR R4 core, then SDC (for
    the Questionnaire extensions, e.g. observation-based extraction)."""
    folder = data_dir("fhir_profiles") / "packages"
    return [core_package(), folder / "hl7.fhir.uv.sdc-4.0.0-ballot.tgz"]
