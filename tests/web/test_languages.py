"""English and Persian pages: the catalogues, the switch, directions and digits."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from screening import web
from screening.auth.roles import Role
from screening.paths import data_dir
from screening.web.admin import NOTICES
from screening.web.forms import INTERACTIONS, OUTCOMES
from screening.web.i18n import LANGUAGES, Catalogue, Message, load_catalogue, localize_digits
from screening.web.render import ERROR_PAGES
from web.conftest import Browser, text_of

Factory = Callable[..., Any]
MESSAGES = data_dir("templates") / "messages"
KEY_IN_TEMPLATE = re.compile(r"""_\(\s*["']([a-z_.0-9-]+)["']""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalogue() -> Catalogue:
    return load_catalogue(MESSAGES)


def _files(lang: str) -> list[str]:
    """The names of the catalogue files of one language, with the language taken out."""
    names = [MESSAGES / f"{lang}.json", *MESSAGES.glob(f"*.{lang}.json")]
    return sorted(p.name.removesuffix(f"{lang}.json") for p in names)


def test_catalogues_have_the_same_files_keys_and_placeholders() -> None:
    for lang in LANGUAGES:
        assert _files(lang) == _files("en"), lang
    for feature in _files("en"):
        english = json.loads((MESSAGES / f"{feature}en.json").read_text(encoding="utf-8"))
        for lang in LANGUAGES:
            other = json.loads((MESSAGES / f"{feature}{lang}.json").read_text(encoding="utf-8"))
            assert _without_one(other) == _without_one(english), (feature, lang)
            for key, text in other.items():
                base = key.removesuffix(".one")
                found = set(PLACEHOLDER.findall(text))
                assert found == set(PLACEHOLDER.findall(english[base])), key
                assert text.strip(), key


def _without_one(messages: dict[str, str]) -> set[str]:
    """The keys but the `.one` forms (a language without plural nouns needs none), each of
    which must have its general form."""
    ones = {k.removesuffix(".one") for k in messages if k.endswith(".one")}
    assert ones <= set(messages), ones - set(messages)
    return {k for k in messages if not k.endswith(".one")}


def test_one_takes_its_own_form_where_the_language_has_one() -> None:
    texts = catalogue()
    english = [texts.text("en", "users.count", n=n) for n in (0, 1, 2)]
    assert english == ["0 accounts", "1 account", "2 accounts"]
    assert texts.text("en", "referrals.waiting_days", n=1) == "waiting 1 day"
    assert [texts.text("fa", "users.count", n=n) for n in (1, 2)] == ["۱ حساب", "۲ حساب"]


def test_a_key_defined_in_two_catalogues_is_refused(tmp_path: Path) -> None:
    for lang in LANGUAGES:
        (tmp_path / f"{lang}.json").write_text('{"a.b": "x"}', encoding="utf-8")
        (tmp_path / f"feature.{lang}.json").write_text('{"a.b": "y"}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"a\.b"):
        load_catalogue(tmp_path)


def test_every_key_in_the_templates_and_code_exists() -> None:
    keys = catalogue().keys("en")
    sources = [*(data_dir("templates") / "pages").rglob("*.html")]
    sources += [*Path(web.__file__).parent.parent.rglob("*.py")]
    for source in sources:
        text = source.read_text(encoding="utf-8")
        used = {k for k in KEY_IN_TEMPLATE.findall(text) if not k.endswith(".")}
        used |= set(re.findall(r'"((?:error|menu|notice|login)\.[a-z_]+)"', text))
        assert used <= keys, (source.name, used - keys)
    built = {f"notice.{n}" for n in NOTICES} | {f"page.error.{c}" for c in ERROR_PAGES}
    built |= {f"role.{r.value}" for r in Role} | {f"interaction.{i}" for i in INTERACTIONS}
    built |= {f"outcome.{o}" for o in OUTCOMES} | {f"action.{a}" for a in "CRUDE"}
    built |= {"page.error.500", "page.error.other"} | {f"language.{lang}" for lang in LANGUAGES}
    assert built <= keys, built - keys


def test_persian_digits() -> None:
    assert localize_digits(2024, "fa") == "۲۰۲۴"
    assert localize_digits("2024-05-01 09:30", "fa") == "۲۰۲۴-۰۵-۰۱ ۰۹:۳۰"
    assert localize_digits(2024, "en") == "2024"
    text = catalogue().text("fa", Message("users.count", {"n": 12}))
    assert text == "۱۲ حساب"


def test_anonymous_pages_switch_language_with_a_cookie(browser: Factory) -> None:
    person: Browser = browser()
    english = text_of(person.get("/login", headers={"Accept-Language": "en"}))
    assert '<html lang="en" dir="ltr">' in english
    assert 'href="/login?lang=fa"' in english
    persian = person.get("/login?next=/audit&lang=fa")
    assert '<html lang="fa" dir="rtl">' in text_of(persian)
    assert "ورود" in text_of(persian)
    assert 'value="/audit"' in text_of(persian)  # the switch keeps the page's next
    cookies = persian.headers.getlist("Set-Cookie")
    cookie = next(h for h in cookies if h.startswith("screening_lang"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    again = text_of(person.get("/login"))
    assert '<html lang="fa" dir="rtl">' in again
    assert '<html lang="fa"' in text_of(browser().get("/login", headers={"Accept-Language": "fa"}))


def test_signed_in_pages_follow_the_user_language(signed_in: Factory) -> None:
    person, _ = signed_in("administrator", language="fa", full_name="سارا کریمی")
    home = text_of(person.get("/"))
    assert '<html lang="fa" dir="rtl">' in home
    assert "سارا کریمی، خوش آمدید" in home
    assert "مدیر سامانه" in home
    users = text_of(person.get("/admin/users"))
    assert "۱ حساب" in users
    switched = person.post("/language", {"lang": "en", "next": "/admin/users"})
    assert switched.status_code == 303
    assert switched.headers["Location"] == "/admin/users"
    assert '<html lang="en" dir="ltr">' in text_of(person.get("/admin/users"))
    away = person.post("/language", {"lang": "fa", "next": "https://evil.example/"})
    assert away.headers["Location"] == "/"
    assert person.post("/language", {"lang": "de", "next": "/"}).status_code == 400
