"""Leaked personal data: identifiers with check digits first, then shapes that need no checksum.

Checksummed kinds (Belgian national register and BIS numbers, IBAN, payment cards, phone numbers)
are validated with python-stdnum and phonenumbers, so a random run of digits is not reported.
Shapes without a checksum (e-mail, licence plates, GPS coordinates, street addresses) get lower
scores. Values are never copied into explanations: an alert must not spread the leak further.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Final, NamedTuple

import daachorse
import phonenumbers
from stdnum import iban, luhn
from stdnum.be import bis, nn

from veille.enrich.base import Document, case_blind, drop_overlaps
from veille.model import Finding

KINDS: Final = (
    "national_id",
    "iban",
    "payment_card",
    "phone",
    "email",
    "licence_plate",
    "gps",
    "address",
)
"""Every kind this detector reports, in the order of its checks."""

_DIGIT = re.compile(r"\d")
_DIGIT_RUN = re.compile(r"\d+")
# Two digits after two letters, as every IBAN starts; an "@" between an address's characters
# (not a mention's). The literal or digits first: a fast scan.
_IBAN_START = re.compile(r"\d\d(?<=[A-Za-z]{2}\d\d)")
_EMAIL_AT = re.compile(r"@(?<=[A-Za-z0-9._%+\-]@)[A-Za-z0-9]")
_SEPARATORS = re.compile(r"[\s./()\-]")

_NATIONAL_ID = re.compile(r"(?<![\d.\-])\d\d[. ]?\d\d[. ]?\d\d[-. ]?\d{3}[. ]?\d\d(?![\d\-]|\.\d)")
_CARD = re.compile(r"(?<![\d.\-])\d(?:[ -]?\d){12,18}(?![\d\-]|\.\d)")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00|0)\(?[1-9](?:[ ./\-]{0,2}\(?\d\)?){6,14}(?!\d)")
_IBAN = re.compile(r"(?<![\w])[A-Za-z]{2}\d\d(?: ?[A-Za-z0-9]){11,30}(?!\w)")
_EMAIL = re.compile(
    r"(?<![\w.@+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}"
    r"@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}\.){1,8}[A-Za-z]{2,24}(?![\w\-])"
)
_PLATE_NEW = re.compile(r"(?<![\w\-])[1-9][-. ]?[A-Z]{3}[-. ]?\d{3}(?![\w\-])")
_PLATE_OLD = re.compile(r"(?<![\w\-])(?:[A-Z]{3}-\d{3}|\d{3}-[A-Z]{3})(?![\w\-])")
_GPS_DECIMAL = re.compile(
    r"(?<![\d.])(-?\d{1,2}\.\d{4,10})(?!\d)°?(?:\s?[NS](?!\w))?\s?[,;]\s?"
    r"(-?\d{1,3}\.\d{4,10})(?![\d.]\d|\d)°?(?:\s?[EWO](?!\w))?"
)
_GPS_DMS = re.compile(
    r"(\d{1,2})°\s?(\d{1,2})['′]\s?(\d{1,2}(?:[.,]\d{1,4})?)(?:[\"″]|'')?\s?([NS])[,;]?\s{0,3}"
    r"(\d{1,3})°\s?(\d{1,2})['′]\s?(\d{1,2}(?:[.,]\d{1,4})?)(?:[\"″]|'')?\s?([EWO])"
)

_CAP = r"[A-ZÀ-ÖØ-Þ][\w'’\-]*"
_HOUSE = r"\d{1,4}(?:\s?(?:bis|ter|[a-zA-Z])(?!\w))?(?:\s?(?:bus|boîte|bte|/)\s?\d{1,4})?"
_POSTCODE = r"(?:,?\s{1,3}(?:B-?)?[1-9]\d{3}\s{1,3}" + _CAP + r")?"
# Street words, in the order the address pattern tries them (French ones in any case).
_FR_STREETS: Final = (
    "rue", "avenue", "av.", "boulevard", "bd", "chaussée", "chée", "place", "quai", "chemin",
    "allée", "impasse", "square", "drève", "clos", "sentier", "route", "galerie", "parvis",
    "passage", "cité",
)  # fmt: skip
_COMPOUND_STREETS: Final = (
    "straat", "laan", "plein", "steenweg", "lei", "dreef", "weg", "kaai", "markt", "singel",
    "gracht", "baan", "dijk", "vest", "kade", "straße", "strasse", "str.", "platz", "allee",
    "gasse", "ring", "damm", "ufer", "chaussee", "pfad",
)  # fmt: skip
_EN_STREETS: Final = (
    "Street", "St.", "Road", "Rd.", "Avenue", "Ave.", "Lane", "Drive", "Boulevard", "Way",
    "Square", "Place",
)  # fmt: skip


def _words(words: tuple[str, ...]) -> str:
    return "|".join(map(re.escape, words))


_ADDRESS = re.compile(
    "(?:"
    + "|".join(
        (
            # French, Belgian style (number after) or French style (number before).
            r"(?:\b\d{1,4}(?:\s?(?:bis|ter))?,?\s{1,3})?(?i:\b(?:" + _words(_FR_STREETS) + "))"
            r"\s{1,3}(?:(?i:de la|de l['’]|du|des|de|d['’]|la|le|"
            r"les|l['’])\s?)?" + _CAP + r"(?:[ \-]" + _CAP + r"){0,3}(?:,?\s{1,3}" + _HOUSE + ")?",
            # Dutch and German compounds: Wetstraat 16, Bahnhofstr. 5, Sint-Jansplein 3 bus 2.
            r"\b" + _CAP + r"(?<=[a-zäöüßé])(?:" + _words(_COMPOUND_STREETS) + r")\s{1,3}" + _HOUSE,
            # English: 10 Downing Street.
            r"\b\d{1,5}\s{1,3}(?:[A-Z][a-z]+\s{1,3}){1,3}(?:" + _words(_EN_STREETS) + r")(?!\w)",
        )
    )
    + ")"
    + _POSTCODE
)
_FR_STREET_WORDS: Final = daachorse.CharwiseDoubleArrayAhoCorasick(
    sorted({case_blind(w) for w in _FR_STREETS})
)
_COMPOUND_STREET_WORDS: Final = daachorse.CharwiseDoubleArrayAhoCorasick(list(_COMPOUND_STREETS))
_EN_STREET_WORDS: Final = daachorse.CharwiseDoubleArrayAhoCorasick(list(_EN_STREETS))


def _street_word(text: str) -> bool:
    """Whether ``text`` has a street word where :data:`_ADDRESS` needs one: a French word (any
    case) starting a word and followed by a space, a Dutch or German compound ending followed
    by a space, an English word after a space and ending a word. Without one, no address."""
    size = len(text)
    try:
        # case_blind keeps every character's offset, so offsets are the text's.
        for start, end, _ in _FR_STREET_WORDS.find_overlapping(case_blind(text)):
            if (start == 0 or not _is_word(text[start - 1])) and end < size and text[end].isspace():
                return True
        for _, end, _ in _COMPOUND_STREET_WORDS.find_overlapping(text):
            if end < size and text[end].isspace():
                return True
        for start, end, _ in _EN_STREET_WORDS.find_overlapping(text):
            if start > 0 and text[start - 1].isspace() and (end == size or not _is_word(text[end])):
                return True
    except UnicodeEncodeError:  # lone surrogates: the automata cannot read them
        return True
    return False


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


_CARD_BRANDS: Final = (
    ("4", "Visa"),
    ("34", "American Express"),
    ("37", "American Express"),
    ("6703", "Bancontact"),
    ("5", "Mastercard or Maestro"),
    ("2", "Mastercard"),
    ("6", "Maestro or Discover"),
)


def _hit(kind: str, start: int, end: int, score: float, why: str) -> Finding:
    return Finding(
        kind=kind, detector="personal_data", score=score, spans=((start, end),), explanation=why
    )


def _national_ids(text: str) -> Iterator[Finding]:
    for m in _NATIONAL_ID.finditer(text):
        digits = _SEPARATORS.sub("", m.group())
        if nn.is_valid(digits):
            yield _hit(
                "national_id", *m.span(), 0.99, "Belgian national register number (check digits)"
            )
        elif bis.is_valid(digits):
            yield _hit("national_id", *m.span(), 0.99, "Belgian BIS number (check digits)")


def _cards(text: str) -> Iterator[Finding]:
    for m in _CARD.finditer(text):
        digits = _SEPARATORS.sub("", m.group())
        if not 13 <= len(digits) <= 19 or not luhn.is_valid(digits):
            continue
        brand = next((name for prefix, name in _CARD_BRANDS if digits.startswith(prefix)), None)
        if brand is not None:
            yield _hit("payment_card", *m.span(), 0.95, f"payment card number ({brand}, Luhn)")


def _phones(text: str, region: str) -> Iterator[Finding]:
    for m in _PHONE.finditer(text):
        # A greedy run may swallow a following number ("0470 12 34 56 2024"): retry shorter
        # prefixes that end on a group boundary, longest first.
        raw = m.group()
        cuts = [len(raw)] + [i for i in range(len(raw) - 1, 7, -1) if raw[i] in " ./-"]
        for cut in cuts:
            number = _valid_phone(raw[:cut].rstrip(" ./-"), region)
            if number is not None:
                end = m.start() + len(raw[:cut].rstrip(" ./-"))
                where = phonenumbers.region_code_for_number(number) or "unknown region"
                yield _hit("phone", m.start(), end, 0.9, f"phone number (valid in {where})")
                break


def _valid_phone(candidate: str, region: str) -> phonenumbers.PhoneNumber | None:
    if sum(c.isdigit() for c in candidate) < 8:
        return None
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _ibans(text: str) -> Iterator[Finding]:
    for m in _IBAN.finditer(text):
        raw = m.group()
        # Map each compact character back to its offset, then try the longest valid prefix:
        # the pattern may run into a following word written in capitals.
        offsets = [i for i, c in enumerate(raw) if c != " "]
        compact = raw.replace(" ", "").upper()
        for length in range(len(compact), 14, -1):
            if iban.is_valid(compact[:length]):
                end = m.start() + offsets[length - 1] + 1
                yield _hit("iban", m.start(), end, 0.99, f"IBAN ({compact[:2]}, check digits)")
                break


def _emails(text: str) -> Iterator[Finding]:
    for m in _EMAIL.finditer(text):
        yield _hit("email", *m.span(), 0.95, "e-mail address")


def _plates(text: str) -> Iterator[Finding]:
    for m in _PLATE_NEW.finditer(text):
        yield _hit("licence_plate", *m.span(), 0.8, "Belgian licence plate (1-ABC-123 format)")
    for m in _PLATE_OLD.finditer(text):
        yield _hit("licence_plate", *m.span(), 0.5, "licence plate (older ABC-123 format)")


def _coordinates(text: str) -> Iterator[Finding]:
    for m in _GPS_DECIMAL.finditer(text):
        lat, lon = float(m.group(1)), float(m.group(2))
        if abs(lat) <= 90 and abs(lon) <= 180 and (lat, lon) != (0.0, 0.0):
            yield _hit("gps", *m.span(), 0.85, "GPS coordinates (decimal degrees)")
    for m in _GPS_DMS.finditer(text):
        if int(m.group(1)) <= 90 and int(m.group(5)) <= 180:
            yield _hit("gps", *m.span(), 0.9, "GPS coordinates (degrees, minutes, seconds)")


def _addresses(text: str) -> Iterator[Finding]:
    for m in _ADDRESS.finditer(text):
        if _DIGIT.search(m.group()):
            yield _hit("address", *m.span(), 0.75, "street address (street word and number)")


class _Digits(NamedTuple):
    """How many digits a text holds, and its longest run of them."""

    total: int
    longest: int


# What each kind needs to be found at all, read off its pattern and checks: 11 digits for a
# national number, 13 for a card, 8 for a valid phone number, two letters then two digits for
# an IBAN, three digits in a row ending a plate, four decimals or a degree sign for
# coordinates, a street word in place for an address. A post that lacks it skips that kind.
_NEEDS: Final[Mapping[str, Callable[[str, _Digits], bool]]] = {
    "national_id": lambda text, d: d.total >= 11,
    "iban": lambda text, d: d.longest >= 2 and _IBAN_START.search(text) is not None,
    "payment_card": lambda text, d: d.total >= 13,
    "phone": lambda text, d: d.total >= 8,
    "licence_plate": lambda text, d: d.longest >= 3,
    "gps": lambda text, d: (d.longest >= 4 and "." in text) or "°" in text,
    "address": lambda text, d: _street_word(text),
}


class PersonalDataDetector:
    """Finds identifiers and contact details of people in a post."""

    name = "personal_data"

    def __init__(
        self, kinds: tuple[str, ...] = KINDS, phone_region: str = "BE", prefilter: bool = True
    ) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown personal-data kinds {sorted(unknown)}; known: {KINDS}")
        checks: dict[str, Callable[[str], Iterator[Finding]]] = {
            "national_id": _national_ids,
            "iban": _ibans,
            "payment_card": _cards,
            "phone": lambda text: _phones(text, phone_region),
            "email": _emails,
            "licence_plate": _plates,
            "gps": _coordinates,
            "address": _addresses,
        }
        # E-mail last, plates just before it: the order of hits before overlaps are resolved.
        order = [k for k in kinds if k not in ("email", "licence_plate")]
        order += [k for k in ("licence_plate",) if k in kinds]
        self._with_digits = [(_NEEDS[k], checks[k]) for k in order]
        self._email = "email" in kinds
        self.prefilter = prefilter

    def detect(self, doc: Document) -> list[Finding]:
        """Every personal-data hit in ``doc``, overlapping readings resolved by score.

        Every kind but e-mail needs digits and e-mail needs an ``@`` inside a word; each kind
        runs only on a post that has what it needs (:data:`_NEEDS`). ``prefilter=False`` runs every
        pattern on every post, for the same result.
        """
        text = doc.text
        found: list[Finding] = []
        if not self.prefilter:
            for _, check in self._with_digits:
                found.extend(check(text))
        elif doc.has_digit:
            runs = [len(run) for run in _DIGIT_RUN.findall(text)]
            digits = _Digits(sum(runs), max(runs))
            for needs, check in self._with_digits:
                if needs(text, digits):
                    found.extend(check(text))
        if self._email and (not self.prefilter or _EMAIL_AT.search(text) is not None):
            found.extend(_emails(text))
        return drop_overlaps(found) if len(found) > 1 else found
