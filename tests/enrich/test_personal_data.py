import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import iban, luhn
from stdnum.be import nn

from veille.enrich.base import Document
from veille.enrich.personal_data import KINDS, PersonalDataDetector

DETECT = PersonalDataDetector()


def found(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.spans[0][0] : f.spans[0][1]]) for f in DETECT.detect(Document(text))]


def national_number(birth: str, serial: str) -> str:
    """A valid number for someone born in the 1900s (check = 97 - body mod 97)."""
    body = birth + serial
    number = body + f"{97 - int(body) % 97:02d}"
    assert nn.is_valid(number)
    return number


def test_belgian_national_number_needs_valid_check_digits() -> None:
    number = national_number("850730", "033")
    dotted = f"{number[:2]}.{number[2:4]}.{number[4:6]}-{number[6:9]}.{number[9:]}"
    assert found(f"RRN {dotted} lekt") == [("national_id", dotted)]
    assert found(f"nummer {number}") == [("national_id", number)]
    wrong = number[:-2] + f"{(int(number[-2:]) + 1) % 97:02d}"
    assert found(f"nummer {wrong}") == []


def test_iban_is_checked_and_stops_before_the_next_word() -> None:
    account = "BE32 1234 5678 9002"
    assert iban.is_valid(account)
    assert found(f"Stort op {account} MERCI") == [("iban", account)]
    assert found("Stort op BE33 1234 5678 9002") == []


def test_payment_card_needs_luhn_and_a_known_prefix() -> None:
    card = "4111 1111 1111 1111"
    assert found(f"carte {card} exp 12/27") == [("payment_card", card)]
    body = "411111111111111"
    bad = body + str((int(luhn.calc_check_digit(body)) + 1) % 10)
    assert found(f"carte {bad}") == []
    digits = "9" + "0" * 14
    assert found(f"ref {digits}{luhn.calc_check_digit(digits)}") == []


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("bel 0470 12 34 56 nu", "0470 12 34 56"),
        ("appelle le +32 2 555 12 12", "+32 2 555 12 12"),
        ("ruf an: +49 30 1234567", "+49 30 1234567"),
        ("0470/12.34.56", "0470/12.34.56"),
        ("tel 0470 12 34 56 2024 was het", "0470 12 34 56"),
    ],
)
def test_phone_numbers(text: str, number: str) -> None:
    assert found(text) == [("phone", number)]


def test_not_phone_numbers() -> None:
    assert found("en 2024 zijn er 12345678 bezoekers") == []
    assert found("Score 3-1 na 90 minuten") == []


def test_email_but_not_a_fediverse_handle() -> None:
    assert found("mail jan.peeters@example.be") == [("email", "jan.peeters@example.be")]
    assert found("volg @alice@mastodon.social") == []


def test_licence_plates() -> None:
    assert found("auto 1-ABC-123 gezien") == [("licence_plate", "1-ABC-123")]
    assert found("plaque 2XYZ999") == [("licence_plate", "2XYZ999")]
    assert found("oude plaat ABC-123") == [("licence_plate", "ABC-123")]
    assert found("version 1-abc-123") == []


def test_gps_coordinates() -> None:
    assert found("il est à 50.8466, 4.3528 ce soir") == [("gps", "50.8466, 4.3528")]
    assert found("50°50'47.8\"N 4°21'10.1\"E") == [("gps", "50°50'47.8\"N 4°21'10.1\"E")]
    assert found("prix 12.500, 13.750 euros") == []
    assert found("latitude 95.1234, 4.3528") == []


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Il habite rue de la Loi 16, 1000 Bruxelles.", "rue de la Loi 16, 1000 Bruxelles"),
        ("au 12 avenue Louise", "12 avenue Louise"),
        ("Hij woont in de Wetstraat 16 bus 3", "Wetstraat 16 bus 3"),
        ("Er wohnt in der Bahnhofstr. 5a, 4700 Eupen", "Bahnhofstr. 5a, 4700 Eupen"),
        ("lives at 10 Downing Street", "10 Downing Street"),
    ],
)
def test_street_addresses(text: str, address: str) -> None:
    assert found(text) == [("address", address)]


def test_a_street_name_without_number_is_no_address() -> None:
    assert found("On se retrouve rue de la Loi demain") == []


def test_explanations_never_repeat_the_value() -> None:
    number = national_number("900101", "123")
    text = f"{number} jan@example.be 0470 12 34 56 BE32 1234 5678 9002"
    for finding in DETECT.detect(Document(text)):
        start, end = finding.spans[0]
        assert text[start:end] not in finding.explanation


def test_kinds_can_be_restricted_and_unknown_kinds_are_refused() -> None:
    only_email = PersonalDataDetector(("email",))
    assert [f.kind for f in only_email.detect(Document("jan@example.be 0470 12 34 56"))] == [
        "email"
    ]
    with pytest.raises(ValueError, match="unknown personal-data kinds"):
        PersonalDataDetector(("email", "passport"))
    assert set(KINDS) >= {"national_id", "iban", "phone"}


@given(st.text(max_size=300))
def test_any_text_gives_sorted_spans_inside_the_text(text: str) -> None:
    last_end = 0
    for finding in DETECT.detect(Document(text)):
        start, end = finding.spans[0]
        assert last_end <= start < end <= len(text)
        assert 0 < finding.score <= 1
        last_end = end


@given(st.from_regex(r"[0-9 .+/()\-]{0,60}", fullmatch=True))
def test_digit_soup_never_breaks_the_detector(text: str) -> None:
    for finding in DETECT.detect(Document(text)):
        start, end = finding.spans[0]
        assert 0 <= start < end <= len(text)


def test_every_blns_string(shared_data: Path) -> None:
    strings = json.loads((shared_data / "bad-input" / "blns" / "blns.json").read_text("utf-8"))
    for text in strings:
        for finding in DETECT.detect(Document(text)):
            assert 0 <= finding.spans[0][0] < finding.spans[0][1] <= len(text)
