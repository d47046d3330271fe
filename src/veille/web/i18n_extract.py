"""Which messages the dashboard shows: found in the templates and page code, for the catalogues.

``python -m veille.web.i18n_extract`` lists the messages a catalogue misses; the test suite
fails while any is missing.
"""

from __future__ import annotations

import re
import sys
from importlib.resources import files
from typing import Final

from veille.enrich.draft import ADVICE, SECRECY_ADVICE
from veille.model import SEVERITIES
from veille.store.accounts import ROLES

_CALL: Final = re.compile(
    r"""(?<![A-Za-z0-9])N?_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')"""
)
_TITLE: Final = re.compile(r"""\btitle="([^"]+)\"""")
FIXED: Final = (
    *SEVERITIES,
    *ROLES,
    *("error", "warning"),
    *("rule", "urgent", "trend", "source"),
    *("firing", "acknowledged", "resolved", "all"),
    *("created", "updated", "assigned", "escalated", "note"),
    *("stop", "check", SECRECY_ADVICE, *(advice for _level, advice in ADVICE.values())),
)
"""Values shown through ``_(value)``: severities, roles, problem levels, alert kinds, statuses
history actions, and the draft check's levels and advice."""


def messages() -> set[str]:
    """Every English message the templates and page modules ask to translate."""
    found: set[str] = set(FIXED)
    package = files("veille.web")
    for folder, pattern in (("templates", _CALL), ("pages", None)):
        for item in package.joinpath(folder).iterdir():
            name = item.name
            if not name.endswith((".html", ".py")):
                continue
            text = item.read_text("utf-8")
            for m in _CALL.finditer(text):
                found.add(m.group(1) if m.group(1) is not None else m.group(2))
            if pattern is None:
                found.update(_TITLE.findall(text))
    return found


def missing(lang: str) -> list[str]:
    from veille.web.i18n import catalogue

    known = catalogue(lang)
    return sorted(m for m in messages() if m not in known)


if __name__ == "__main__":
    for lang in ("fr", "nl"):
        for message in missing(lang):
            print(f"{lang}\t{message}")
    sys.exit(0)
