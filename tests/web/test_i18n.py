"""Every message on screen is translated into French and Dutch; the switch works."""

from __future__ import annotations

import json
import re
from importlib.resources import files

import pytest

from veille.web.i18n import LANGUAGES, Translator
from veille.web.i18n_extract import messages, missing

from .conftest import Env, login


@pytest.mark.parametrize("lang", ["fr", "nl"])
def test_catalogue_is_complete(lang: str) -> None:
    assert missing(lang) == []


@pytest.mark.parametrize("lang", ["fr", "nl"])
def test_catalogue_has_no_stale_or_broken_entries(lang: str) -> None:
    data = json.loads(files("veille.web").joinpath("locales", f"{lang}.json").read_text("utf-8"))
    assert set(data) <= messages(), sorted(set(data) - messages())
    for english, translated in data.items():
        assert translated.strip(), english
        # Placeholders survive translation.
        assert sorted(re.findall(r"\{\w+\}", english)) == sorted(re.findall(r"\{\w+\}", translated))


def test_translator_fills_placeholders() -> None:
    assert Translator("fr")("posts matched in the last {days} days", days=7).endswith(
        "7 derniers jours"
    )
    assert Translator("xx").lang == "en"
    assert set(LANGUAGES) == {"fr", "nl", "en"}


def test_language_switch_and_accept_language(env: Env) -> None:
    client = env.client()
    login(client, "viewer")
    assert (
        "Gesprekken"
        in client.get("/conversations", headers={"Accept-Language": "nl-BE,nl;q=0.9"}).text
    )
    client.get("/lang/fr?next=/conversations")
    page = client.get("/conversations", headers={"Accept-Language": "nl"})
    assert 'lang="fr"' in page.text
    assert "Conversations signalées" in page.text
    assert client.get("/lang/xx", follow_redirects=False).status_code == 404
