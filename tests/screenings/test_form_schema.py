"""The marshmallow schema built from the field-screening Questionnaire: types, limits,
enableWhen over the posted answers, repeating groups, Persian digits, calculated items,
and what the answers mean (findings and suggestions)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from screening.fhir.packages import default_registry
from screening.fhir.validation import shared_validator
from screening.screenings.calculated import CalculationError, complete
from screening.screenings.findings import Person, read_screening
from screening.screenings.form_schema import QuestionnaireForm
from screening.screenings.questionnaire import Form, form_of
from screening.screenings.response import response_items
from screening.screenings.service import FIELD_SCREENING

SKIPPED = ("wgss", "tug", "berg", "walk10m", "walk6min", "chair-stand", "barthel", "pain")
SKIPPED += ("limb-absence", "device", "cause")


def form() -> Form:
    return form_of(default_registry(), FIELD_SCREENING)


def posted(**answers: Any) -> dict[str, list[str]]:
    """Every instrument skipped, then `answers` (names with '.' written as '__')."""
    data: dict[str, list[str]] = {f"{g}.performed": ["false"] for g in SKIPPED}
    data["conclusion.referral-needed"] = ["false"]
    for name, value in answers.items():
        key = name.replace("__", ".").replace("_AT_", "@")
        data[key] = value if isinstance(value, list) else [value]
    return data


def check(lang: str = "en", **answers: Any) -> Any:
    return QuestionnaireForm(form(), lang).check(posted(**answers))


def response_of(checked: Any) -> dict[str, Any]:
    return complete(
        form(),
        {
            "resourceType": "QuestionnaireResponse",
            "questionnaire": form().canonical,
            "status": "completed",
            "subject": {"reference": "Patient/p"},
            "authored": "2026-11-24",
            "item": response_items(form(), checked),
        },
    )


def test_nothing_performed_is_valid() -> None:
    assert check().errors == {}


def test_required_only_when_enabled() -> None:
    errors = check(tug__performed="true").errors
    assert set(errors) == {"tug.seconds"}
    assert errors["tug.seconds"].key == "error.required"


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("abc", "error.number"),
        ("0.5", "error.range"),
        ("301", "error.range"),
        ("12.345", "error.decimals"),
        ("NaN", "error.number"),
        ("1e400", "error.range"),
    ],
)
def test_numbers_are_checked_against_the_item(value: str, key: str) -> None:
    errors = check(tug__performed="true", tug__seconds=value).errors
    assert errors["tug.seconds"].key == key
    assert errors["tug.seconds"].values["max"] == "300"


def test_persian_and_arabic_digits_are_numbers() -> None:
    checked = check(
        "fa", tug__performed="true", tug__seconds="۱۸٫۴", pain__performed="true", pain__score="٧"
    )
    assert checked.errors == {}
    assert checked.answers["tug.seconds"] == [Decimal("18.4")]
    assert checked.answers["pain.score"] == [7]


def test_integer_items_refuse_fractions() -> None:
    errors = check(pain__performed="true", pain__score="6.5").errors
    assert errors["pain.score"].key == "error.integer"


def test_unknown_options_are_refused() -> None:
    errors = check(tug__performed="true", tug__seconds="10", tug__aid="jetpack").errors
    assert errors["tug.aid"].key == "error.choice"


def test_not_equal_condition_and_answers_of_disabled_items_are_dropped() -> None:
    limb = {
        "limb-absence__performed": "true",
        "limb-absence__present": "true",
        "limb-absence__limb__side_AT_1": "right",
        "limb-absence__limb__level_AT_1": "transfemoral",
        "limb-absence__limb__cause_AT_1": "congenital",
        "limb-absence__limb__date_AT_1": "2020-01-01",  # not asked for a congenital absence
    }
    checked = check(**limb)
    assert checked.errors == {}
    assert "limb-absence.limb.date@1" not in checked.answers
    limb["limb-absence__limb__cause_AT_1"] = "road-traffic"
    assert check(**limb).answers["limb-absence.limb.date@1"][0].isoformat() == "2020-01-01"


def test_other_device_needs_its_description() -> None:
    errors = check(device__performed="true", device__type=["crutches", "other"]).errors
    assert set(errors) == {"device.other"}
    checked = check(device__performed="true", device__type=["crutches"], device__other="x")
    assert "device.other" not in checked.answers  # disabled: dropped


def test_a_second_limb_is_checked_only_once_started() -> None:
    base = {
        "limb-absence__performed": "true",
        "limb-absence__present": "true",
        "limb-absence__limb__side_AT_1": "left",
        "limb-absence__limb__level_AT_1": "transtibial",
        "limb-absence__limb__cause_AT_1": "landmine-erw",
    }
    assert check(**base).errors == {}
    errors = check(**base, **{"limb-absence__limb__side_AT_2": "right"}).errors
    assert set(errors) == {"limb-absence.limb.level@2", "limb-absence.limb.cause@2"}
    del base["limb-absence__limb__side_AT_1"]
    assert set(check(**base).errors) == {"limb-absence.limb.side@1"}


def test_dates_in_the_page_calendar_and_not_in_the_future() -> None:
    limb = {
        "limb-absence__performed": "true",
        "limb-absence__present": "true",
        "limb-absence__limb__side_AT_1": "left",
        "limb-absence__limb__level_AT_1": "transtibial",
        "limb-absence__limb__cause_AT_1": "landmine-erw",
        "limb-absence__limb__date_AT_1": "۱۳۹۸/۰۱/۲۰",
    }
    checked = check("fa", **limb)
    assert checked.answers["limb-absence.limb.date@1"][0].isoformat() == "2019-04-09"
    limb["limb-absence__limb__date_AT_1"] = "1499/01/01"
    assert check("fa", **limb).errors["limb-absence.limb.date@1"].key == "error.future_date"
    limb["limb-absence__limb__date_AT_1"] = "1398/13/01"
    assert check("fa", **limb).errors["limb-absence.limb.date@1"].key == "error.date_or_year"
    limb["limb-absence__limb__date_AT_1"] = "۱۳۹۸"  # the year alone is enough
    assert check("fa", **limb).answers["limb-absence.limb.date@1"] == ["2019"]
    limb["limb-absence__limb__date_AT_1"] = "2019"
    assert check("en", **limb).answers["limb-absence.limb.date@1"] == ["2019"]
    response = response_of(check("en", **limb))
    assert '"valueDate": "2019"' in json.dumps(response)


def test_a_checked_form_makes_a_valid_response_with_calculated_totals() -> None:
    berg = {f"berg__{name}": "berg-score-3" for name in BERG_ITEMS}
    checked = check(berg__performed="true", walk10m__performed="true", walk10m__distance="6",
                    walk10m__seconds="10", **berg)  # fmt: skip
    assert checked.errors == {}
    response = response_of(checked)
    issues = [i for i in shared_validator(default_registry()).validate(response) if i.is_error]
    assert issues == []
    by_link = {i["linkId"]: i for g in response["item"] for i in g.get("item", [])}
    assert by_link["berg.total"]["answer"] == [{"valueInteger": 42}]
    assert by_link["walk10m.speed"]["answer"] == [{"valueDecimal": 0.6}]


def test_a_total_that_disagrees_with_its_items_is_refused() -> None:
    berg = {f"berg__{name}": "berg-score-4" for name in BERG_ITEMS}
    response = response_of(check(berg__performed="true", **berg))
    group = next(g for g in response["item"] if g["linkId"] == "berg")
    total = next(i for i in group["item"] if i["linkId"] == "berg.total")
    total["answer"] = [{"valueInteger": 50}]
    with pytest.raises(CalculationError) as raised:
        complete(form(), response)
    assert raised.value.link_id == "berg.total"


def test_what_the_answers_mean() -> None:
    berg = {f"berg__{name}": "berg-score-3" for name in BERG_ITEMS}
    chair = {"chair-stand__performed": "true", "chair-stand__count": "9"}
    checked = check(berg__performed="true", **chair, **berg)
    reading = read_screening(response_of(checked), Person(age=67, sex="female"))
    found = {f.instrument: f for f in reading.findings}
    assert found["berg"].value == 42 and found["berg"].flagged
    assert found["chair-stand"].flagged and found["chair-stand"].values["norm"] == 11
    assert reading.suggested_services == ("physiotherapy",)


BERG_ITEMS = (
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
