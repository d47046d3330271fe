"""The dashboard in French, Dutch and English.

Messages are written in English in the templates and code (``_("Alerts")``); each language has a
catalogue ``locales/<lang>.json`` mapping the English text to its translation. A test checks
that every message the templates and pages use is translated in every catalogue, so no screen
falls back to English by accident. The language comes from the switch (a cookie), then the
user's setting, then the browser's ``Accept-Language``, then ``[web] default_language``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Final

from fastapi import Request

LANGUAGES: Final = {"fr": "Français", "nl": "Nederlands", "en": "English"}
COOKIE: Final = "veille_lang"


@cache
def catalogue(lang: str) -> Mapping[str, str]:
    """The translations of one language (English has none: messages are English)."""
    if lang == "en" or lang not in LANGUAGES:
        return {}
    text = files("veille.web").joinpath("locales", f"{lang}.json").read_text("utf-8")
    data = json.loads(text)
    return {str(k): str(v) for k, v in data.items()}


def N_(message: str) -> str:
    """Marks a message for translation where it is defined; it is translated where shown."""
    return message


class Translator:
    """``_("text", n=3)``: the translation of ``text`` with ``{n}`` filled in."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "en"
        self._messages = catalogue(self.lang)

    def __call__(self, message: str, **values: object) -> str:
        text = self._messages.get(message, message)
        return text.format(**values) if values else text


def choose(request: Request, user_lang: str = "", default: str = "en") -> str:
    """The language of this request (see the module docstring for the order)."""
    chosen = request.cookies.get(COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    if user_lang in LANGUAGES:
        return user_lang
    for part in request.headers.get("accept-language", "").split(",")[:20]:
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default
