"""QuestionnaireResponses for tests: small builders and a complete field screening.

`field_screening()` answers every instrument of the field-screening Questionnaire for the IG's
example patient (Ahmad Karimi), with two absent limbs and two assistive products; its
keyword arguments change the parts a test is about.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

Json = dict[str, Any]
IG = "https://fhir.rehab-screening.example"
FIELD_SCREENING = f"{IG}/Questionnaire/field-screening"
PATIENT = "Patient/example-ahmad-karimi"
PRACTITIONER = "Practitioner/example-zahra-ahmadi"
ENCOUNTER = "Encounter/example-screening-karimi"
AUTHORED = "2026-10-12T10:30:00+04:30"

BERG_TASKS = (
    "sit-to-stand",
    "standing-unsupported",
    "sitting-unsupported",
    "stand-to-sit",
    "transfers",
    "eyes-closed",
    "feet-together",
    "reach-forward",
    "pick-up-object",
    "look-behind",
    "turn-360",
    "alternate-foot-on-step",
    "tandem-stance",
    "one-leg-stance",
)
BERG_SCORES = (3, 4, 4, 3, 3, 3, 2, 2, 3, 3, 2, 1, 2, 1)  # total 36
BARTHEL_SCORES = {  # total 70, as the IG's Barthel example
    "feeding": 10,
    "bathing": 0,
    "grooming": 5,
    "dressing": 5,
    "bowels": 10,
    "bladder": 10,
    "toilet": 5,
    "transfers": 10,
    "mobility": 10,
    "stairs": 5,
}
KARIMI_LIMBS = (
    {"side": "left", "level": "transtibial", "cause": "landmine-erw", "date": "2019-04", "k": "K3"},
    {"side": "right", "level": "partial-hand", "cause": "landmine-erw", "date": "2019-04"},
)


# answers ------------------------------------------------------------------------------------


def coding(code_system: str, code: str) -> Json:
    """A valueCoding answer of one of the IG's CodeSystems (by its id)."""
    return {"valueCoding": {"system": f"{IG}/CodeSystem/{code_system}", "code": code}}


def boolean(value: bool) -> Json:
    return {"valueBoolean": value}


def decimal(value: float) -> Json:
    return {"valueDecimal": value}


def integer(value: int) -> Json:
    return {"valueInteger": value}


def date(value: str) -> Json:
    return {"valueDate": value}


def string(value: str) -> Json:
    return {"valueString": value}


def question(link_id: str, *answers: Json) -> Json:
    """A response item with its answers."""
    return {"linkId": link_id, "answer": list(answers)}


def group(link_id: str, *items: Json) -> Json:
    """A response group with its items."""
    return {"linkId": link_id, "item": list(items)}


def response(
    questionnaire: str,
    *items: Json,
    subject: str = PATIENT,
    author: str = PRACTITIONER,
    encounter: str | None = ENCOUNTER,
    authored: str = AUTHORED,
    status: str = "completed",
) -> Json:
    """A QuestionnaireResponse of `questionnaire` (a canonical) with these items."""
    qr: Json = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": questionnaire,
        "status": status,
        "subject": {"reference": subject},
    }
    if encounter:
        qr["encounter"] = {"reference": encounter}
    qr.update(authored=authored, author={"reference": author}, item=list(items))
    return qr


# the field screening ------------------------------------------------------------------------


def skipped(instrument: str) -> Json:
    """An instrument group answered 'not done'."""
    return group(instrument, question(f"{instrument}.performed", boolean(False)))


def limb(side: str, level: str, cause: str, date_text: str | None, k: str | None = None) -> Json:
    """One instance of the repeating limb-absence.limb group."""
    items = [
        question("limb-absence.limb.side", coding("laterality", side)),
        question("limb-absence.limb.level", coding("limb-level", level)),
        question("limb-absence.limb.cause", coding("cause-of-impairment", cause)),
    ]
    if date_text:
        items.append(question("limb-absence.limb.date", date(date_text)))
    if k:
        items.append(
            question("limb-absence.limb.prosthetic-potential", coding("prosthetic-potential", k))
        )
    return group("limb-absence.limb", *items)


def instruments(
    limbs: Sequence[Json] = KARIMI_LIMBS, devices: Sequence[str] = ("crutches", "prosthesis")
) -> dict[str, Json]:
    """Every instrument group of the field screening, answered, by linkId."""
    done = {name: question(f"{name}.performed", boolean(True)) for name in INSTRUMENTS}
    berg = [
        question(f"berg.{t}", coding("screening-concepts", f"berg-score-{s}"))
        for t, s in zip(BERG_TASKS, BERG_SCORES, strict=True)
    ]
    barthel = [
        question(f"barthel.{name}", coding("screening-concepts", f"barthel-{name}-{score}"))
        for name, score in BARTHEL_SCORES.items()
    ]
    limb_groups = [
        limb(lb["side"], lb["level"], lb["cause"], lb.get("date"), lb.get("k")) for lb in limbs
    ]
    return {
        "wgss": group(
            "wgss",
            done["wgss"],
            question("wgss.mobility", coding("wg-difficulty", "a-lot-of-difficulty")),
            question("wgss.extended", boolean(False)),
        ),
        "tug": group(
            "tug",
            done["tug"],
            question("tug.seconds", decimal(18.4)),
            question("tug.aid", coding("assistive-device-type", "crutches")),
        ),
        "berg": group(
            "berg", done["berg"], *berg, question("berg.total", integer(sum(BERG_SCORES)))
        ),
        "walk10m": group(
            "walk10m",
            done["walk10m"],
            question("walk10m.distance", decimal(10)),
            question("walk10m.seconds", decimal(16.1)),
            question("walk10m.speed", decimal(0.62)),
        ),
        "walk6min": group("walk6min", done["walk6min"], question("walk6min.metres", decimal(240))),
        "chair-stand": group(
            "chair-stand", done["chair-stand"], question("chair-stand.count", integer(6))
        ),
        "barthel": group(
            "barthel",
            done["barthel"],
            *barthel,
            question("barthel.total", integer(sum(BARTHEL_SCORES.values()))),
        ),
        "pain": group(
            "pain",
            done["pain"],
            question("pain.score", integer(4)),
            question("pain.site", string("left stump")),
        ),
        "limb-absence": group(
            "limb-absence",
            done["limb-absence"],
            question("limb-absence.present", boolean(bool(limbs))),
            *limb_groups,
        ),
        "device": group(
            "device",
            done["device"],
            question("device.type", *(coding("assistive-device-type", d) for d in devices)),
        ),
        "cause": group(
            "cause",
            done["cause"],
            question("cause.code", coding("cause-of-impairment", "landmine-erw")),
        ),
    }


INSTRUMENTS = (
    "wgss",
    "tug",
    "berg",
    "walk10m",
    "walk6min",
    "chair-stand",
    "barthel",
    "pain",
    "limb-absence",
    "device",
    "cause",
)


def field_screening(
    *,
    skip: Collection[str] = (),
    limbs: Sequence[Json] = KARIMI_LIMBS,
    devices: Sequence[str] = ("crutches", "prosthesis"),
    **kw: Any,
) -> Json:
    """A completed field screening: every instrument answered except those in `skip`
    (answered 'not done'); `kw` goes to `response` (subject, author, encounter, ...)."""
    groups = instruments(limbs, devices)
    items = [skipped(name) if name in skip else groups[name] for name in INSTRUMENTS]
    return response(FIELD_SCREENING, *items, **kw)


def find_item(qr: Json, link_id: str) -> Json:
    """The first response item with this linkId (depth first), for tests that change it."""
    stack = list(qr.get("item", []))
    while stack:
        element = stack.pop(0)
        if element.get("linkId") == link_id:
            return element
        stack[:0] = element.get("item", [])
    raise KeyError(link_id)
