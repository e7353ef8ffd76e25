"""Centres for the referral page tests, loaded through the FHIR door."""

from __future__ import annotations

from decimal import Decimal
from functools import partial

from flask import Flask

from screening.api.door import perform
from screening.auth.principal import operator
from screening.referrals.directory import CentreValues, Directory

CENTRES = (
    CentreValues(
        code="HER-01", name_en="Herat Physical Rehabilitation Centre", name_fa="مرکز توان‌بخشی فزیکی هرات",
        province="AF-HER", city="Herat", phone="+93 40 000 0100",
        services=("prosthetics-orthotics", "physiotherapy", "wheelchair-service"),
        days=("sat", "sun", "mon", "tue", "wed"), latitude=Decimal("34.35"), longitude=Decimal("62.20"),
    ),
    CentreValues(
        code="HER-02", name_en="Herat Community Physiotherapy", name_fa="فزیوتراپی اجتماعی هرات",
        province="AF-HER", city="Guzara", services=("physiotherapy", "psychosocial-support"),
        days=("sat", "sun"), latitude=Decimal("34.22"), longitude=Decimal("62.22"),
    ),
    CentreValues(
        code="KAB-01", name_en="Kabul Orthopaedic Centre", name_fa="مرکز ارتوپیدی کابل",
        province="AF-KAB", city="Kabul", services=("prosthetics-orthotics", "physiotherapy", "psychosocial-support"),
        days=("sat", "sun", "mon"), latitude=Decimal("34.53"), longitude=Decimal("69.17"),
    ),
)  # fmt: skip


def load_centres(app: Flask) -> dict[str, str]:
    """Store the centres; their ids by code."""
    state = app.extensions["screening"]
    send = partial(perform, state, operator("test"), base_url="http://localhost/fhir")
    directory = Directory(send)
    return {values.code: directory.create(values) for values in CENTRES}
